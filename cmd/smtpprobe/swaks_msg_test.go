package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// sentMessage runs the command against a new server with args and
// returns the one message it received.
func sentMessage(t *testing.T, args ...string) (fakeserver.Message, result) {
	t.Helper()
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	r := runCLI(t, append(args, "-no-starttls", "-to", "bob@example.test", srv.Addr())...)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return onlyMessage(t, srv), r
}

// TestAttach: -attach builds a multipart/mixed message around the test
// text, each file with its type from the extension and the encoding that
// fits it; a -header outside ASCII is RFC 2047-encoded and replaces the
// generated one.
func TestAttach(t *testing.T) {
	dir := t.TempDir()
	text := "Grüße aus dem Test.\nZweite Zeile = gleich.\n"
	binary := []byte{0, 1, 2, 0xff, 0xfe, 'P', 'K', 3, 4}
	for name, data := range map[string][]byte{"notes.txt": []byte(text), "archive.zip": binary, "blob": binary} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	msg, _ := sentMessage(t, "-attach", filepath.Join(dir, "notes.txt"), "-attach", filepath.Join(dir, "archive.zip"),
		"-attach", filepath.Join(dir, "blob"), "-header", "Subject: Grüße, Welt")
	m, err := mail.ReadMessage(bytes.NewReader(msg.Data))
	if err != nil {
		t.Fatal(err)
	}
	if subj := m.Header["Subject"]; len(subj) != 1 || !strings.HasPrefix(subj[0], "=?utf-8?q?") {
		t.Errorf("Subject fields %q: want one, encoded", subj)
	}
	var dec mime.WordDecoder
	if s, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || s != "Grüße, Welt" {
		t.Errorf("Subject decodes to %q, %v", s, err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" || m.Header.Get("MIME-Version") != "1.0" {
		t.Fatalf("Content-Type %q (%v), MIME-Version %q", m.Header.Get("Content-Type"), err, m.Header.Get("MIME-Version"))
	}
	want := []struct{ ctype, enc, file, data string }{
		{"text/plain; charset=utf-8", "7bit", "", "This is a test message sent by smtpprobe to check delivery.\n"},
		{"text/plain; charset=utf-8", "quoted-printable", "notes.txt", text},
		{"application/zip", "base64", "archive.zip", string(binary)},
		{"application/octet-stream", "base64", "blob", string(binary)},
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i, w := range want {
		part, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if part.Header.Get("Content-Type") != w.ctype || part.Header.Get("Content-Transfer-Encoding") != w.enc || part.FileName() != w.file {
			t.Errorf("part %d: %v", i, part.Header)
		}
		if got := decodePart(t, part); got != w.data {
			t.Errorf("part %d: %q, want %q", i, got, w.data)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more parts than %d: %v", len(want), err)
	}
}

// decodePart reads a part and undoes its transfer encoding, as a mail
// reader does.
func decodePart(t *testing.T, part *multipart.Part) string {
	t.Helper()
	var r io.Reader = part
	switch part.Header.Get("Content-Transfer-Encoding") {
	case "quoted-printable":
		r = quotedprintable.NewReader(part)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, part)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// TestHeaderReplaces: -header replaces the field of its name in the
// generated message and in a -body message, whatever the case of the
// name, continuation lines included; a new name goes on top.
func TestHeaderReplaces(t *testing.T) {
	msg, _ := sentMessage(t, "-header", "subject: replaced", "-header", "X-Extra: 1")
	if got := string(msg.Data); strings.Count(strings.ToLower(got), "subject:") != 1 || !strings.HasPrefix(got, "X-Extra: 1\r\n") ||
		!strings.Contains(got, "\r\nsubject: replaced\r\nDate: ") {
		t.Errorf("generated message:\n%s", got)
	}
	body := filepath.Join(t.TempDir(), "msg.eml")
	eml := "Subject: first\r\n folded\r\nFrom: <a@example.test>\r\nSUBJECT: second\r\n\r\nSubject: in the body\r\n"
	if err := os.WriteFile(body, []byte(eml), 0o600); err != nil {
		t.Fatal(err)
	}
	msg, _ = sentMessage(t, "-body", body, "-header", "Subject: only")
	if got, want := string(msg.Data), "Subject: only\r\nFrom: <a@example.test>\r\n\r\nSubject: in the body\r\n"; got != want {
		t.Errorf("-body message %q, want %q", got, want)
	}
}

// TestShowBodyBDATTimings: -show-body records the message line by line,
// -bdat sends it with BDAT, -timings puts each line's offset in front.
func TestShowBodyBDATTimings(t *testing.T) {
	msg, r := sentMessage(t, "-show-body", "-bdat", "-timings")
	if !msg.BDAT {
		t.Error("message not sent with BDAT")
	}
	assertContains(t, r.stdout, "C: BDAT ", "This is a test message sent by smtpprobe")
	offset := regexp.MustCompile(`^ +\d+\.\d{3}s {7}[CS*]: `)
	for _, line := range strings.Split(strings.Trim(strings.Split(r.stdout, "\n\n")[0], "\n"), "\n") {
		if !offset.MatchString(line) {
			t.Errorf("line without its offset: %q", line)
		}
	}
}

// TestEncodeHeaderValue: ASCII stays as it is; a value mostly ASCII takes
// Q encoding, one mostly not B; both decode back.
func TestEncodeHeaderValue(t *testing.T) {
	var dec mime.WordDecoder
	for _, tt := range []struct{ in, prefix string }{
		{"plain ASCII", "plain ASCII"},
		{"Grüße from the test suite", "=?utf-8?q?"},
		{"Привет, мир", "=?utf-8?b?"},
		{strings.Repeat("Ünïcödé ", 20), "=?utf-8?b?"},
	} {
		got := encodeHeaderValue(tt.in)
		back, err := dec.DecodeHeader(got)
		if !strings.HasPrefix(got, tt.prefix) || err != nil || back != tt.in || strings.ContainsAny(got, "\r\n") {
			t.Errorf("%q: %q decodes to %q, %v", tt.in, got, back, err)
		}
	}
}
