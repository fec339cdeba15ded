package main

import (
	"bytes"
	"encoding/base64"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// headerField is one header field of a message: its name and every line
// it spans, line endings included.
type headerField struct {
	name, text string
}

// splitHeader splits a message into its header fields and the rest (the
// blank line and the body). A message whose first line is no header
// field has none.
func splitHeader(msg []byte) ([]headerField, []byte) {
	var fields []headerField
	rest := msg
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		switch {
		case line[0] == ' ' || line[0] == '\t':
			if len(fields) == 0 {
				return nil, msg
			}
			fields[len(fields)-1].text += string(line)
		default:
			name, _, ok := strings.Cut(string(line), ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
				return fields, rest
			}
			fields = append(fields, headerField{name: name, text: string(line)})
		}
		rest = rest[len(line):]
	}
	return fields, rest
}

// setHeaders applies the -header lines to fields: each replaces the
// fields of its name (the first in place, the others dropped), or goes on
// top when there is none. Values outside ASCII are encoded (RFC 2047).
func setHeaders(fields []headerField, headers []string) []headerField {
	var top []headerField
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		f := headerField{name: name, text: name + ": " + encodeHeaderValue(strings.TrimSpace(value)) + "\r\n"}
		replaced := false
		kept := fields[:0:0]
		for _, old := range fields {
			switch {
			case !strings.EqualFold(old.name, name):
				kept = append(kept, old)
			case !replaced:
				kept, replaced = append(kept, f), true
			}
		}
		fields = kept
		if !replaced {
			top = append(top, f)
		}
	}
	return append(top, fields...)
}

// encodeHeaderValue is v, as an RFC 2047 encoded word when it holds more
// than ASCII: Q encoding when it is mostly ASCII, B otherwise.
func encodeHeaderValue(v string) string {
	nonASCII := 0
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			nonASCII++
		}
	}
	switch {
	case nonASCII == 0:
		return v
	case nonASCII*3 < len(v):
		return mime.QEncoding.Encode("utf-8", v)
	}
	return mime.BEncoding.Encode("utf-8", v)
}

// joinMessage writes the header fields, and the rest of the message
// after them.
func joinMessage(fields []headerField, rest []byte) []byte {
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f.text)
	}
	b.Write(rest)
	return b.Bytes()
}

// withAttachments turns a body into a multipart/mixed one (RFC 2046): the
// text first, then each file. It returns the header fields the message
// needs for it and the new body.
func withAttachments(text string, files []attachment) ([]headerField, []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	part, _ := w.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"7bit"},
	})
	part.Write([]byte(text))
	for _, f := range files {
		writeAttachment(w, f)
	}
	w.Close()
	fields := []headerField{
		{name: "MIME-Version", text: "MIME-Version: 1.0\r\n"},
		{name: "Content-Type", text: "Content-Type: " + mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": w.Boundary()}) + "\r\n"},
	}
	return fields, b.Bytes()
}

// writeAttachment adds f as a part: its type from the extension, quoted-
// printable for text that is UTF-8, base64 for anything else.
func writeAttachment(w *multipart.Writer, f attachment) {
	ctype := mime.TypeByExtension(strings.ToLower(filepath.Ext(f.name)))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	enc := "base64"
	if strings.HasPrefix(ctype, "text/") && utf8.Valid(f.data) && !bytes.ContainsRune(f.data, 0) {
		enc = "quoted-printable"
	}
	part, _ := w.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {ctype},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": f.name})},
		"Content-Transfer-Encoding": {enc},
	})
	if enc == "quoted-printable" {
		qp := quotedprintable.NewWriter(part)
		qp.Write(f.data)
		qp.Close()
		return
	}
	enc64 := base64.StdEncoding.EncodeToString(f.data)
	for len(enc64) > 76 {
		part.Write([]byte(enc64[:76] + "\r\n"))
		enc64 = enc64[76:]
	}
	part.Write([]byte(enc64 + "\r\n"))
}
