package probe

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends the JSON form of the transcript (see MarshalJSON) to
// b, field by field, as encoding/json would write transcriptJSON: a batch
// of thousands of probes spends a tenth of its CPU encoding reports, and
// the transcript, their largest part, costs a quarter of that through
// reflection. The caller holds t.mu.
func (t *Transcript) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"start":`...)
	b, ok := appendJSONTime(b, t.start)
	if !ok {
		return nil, timeError(t.start)
	}
	b = append(b, `,"entries":[`...)
	for i, e := range t.entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"time":`...)
		if b, ok = appendJSONTime(b, e.Time); !ok {
			return nil, timeError(e.Time)
		}
		b = append(b, `,"offset_ns":`...)
		b = strconv.AppendInt(b, int64(e.Offset), 10)
		b = append(b, `,"kind":`...)
		b = appendJSONString(b, e.Kind.String())
		b = append(b, `,"text":`...)
		b = appendJSONString(b, e.Text)
		if e.TLS {
			b = append(b, `,"tls":true`...)
		}
		if e.Redacted {
			b = append(b, `,"redacted":true`...)
		}
		if !utf8.ValidString(e.Text) {
			b = append(b, `,"bytes":"`...)
			b = base64.StdEncoding.AppendEncode(b, []byte(e.Text))
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// timeError is time.Time's own error for a time JSON cannot hold.
func timeError(t time.Time) error {
	_, err := t.MarshalJSON()
	return err
}

// appendJSONTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted); false for a year outside 0…9999, which it refuses.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// jsonSafe marks with 'y' the ASCII bytes a JSON string holds as they
// are: printable, but for ", \ and the HTML specials <, > and &.
const jsonSafe = "" +
	"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn" + // control bytes
	"yynyyynyyyyyyyyyyyyyyyyyyyyynyny" + // ' ' to '?': not " & < >
	"yyyyyyyyyyyyyyyyyyyyyyyyyyyynyyy" + // '@' to '_': not \
	"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy" //   '`' to DEL

// appendJSONString appends s as encoding/json writes a string by default:
// quoted, with <, > and & escaped for HTML, control bytes as \n, \t … or
// \u00XX, invalid UTF-8 as \ufffd, and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] == 'y' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
