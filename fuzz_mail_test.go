package probe

import (
	"bytes"
	"strings"
	"testing"
)

// unstuffRef is the test's own reading of SMTP message data, as a server
// does it: lines up to the "." line, one leading dot removed from each.
// ok is false when the data has no terminator line.
func unstuffRef(data []byte) (body []byte, ok bool) {
	lines := strings.Split(string(data), "\r\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "." {
			return []byte(b.String()), true
		}
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteString("\r\n")
	}
	return nil, false
}

func FuzzDotStuffRoundTrip(f *testing.F) {
	for _, s := range []string{"", ".", "..", "a\r\n.\r\nb", "\r\r\n\n\r", ".\n.\r.", "x\ry", "\xff\x00."} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		var out bytes.Buffer
		w := newDotWriter(&out)
		step := len(in)
		if split > 0 {
			step = int(split%7) + 1
		}
		for rest := in; len(rest) > 0; {
			n := min(step, len(rest))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got := out.Bytes()
		for i, b := range got {
			if b == '\n' && (i == 0 || got[i-1] != '\r') {
				t.Fatalf("bare LF at %d in %q", i, got)
			}
			if b == '\r' && (i+1 == len(got) || got[i+1] != '\n') {
				t.Fatalf("bare CR at %d in %q", i, got)
			}
		}
		if end := bytes.Index(append([]byte("\r\n"), got...), []byte("\r\n.\r\n")); end != len(got)-3 {
			t.Fatalf("terminator at %d, data is %d bytes: %q", end, len(got), got)
		}
		body, ok := unstuffRef(got)
		if !ok {
			t.Fatalf("no terminator in %q", got)
		}
		if want := normalizeRef(in); !bytes.Equal(body, want) {
			t.Fatalf("unstuffed %q\nwant      %q", body, want)
		}
	})
}

func FuzzXtext(f *testing.F) {
	for _, s := range []string{"", "a+b=c", "<>", "+41", "\x00\xff", "e=mc2@example.com", "+2", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := xtextEncode(s)
		for i := 0; i < len(enc); i++ {
			c := enc[i]
			if c < '!' || c > '~' || c == '=' {
				t.Fatalf("XtextEncode(%q) = %q: byte %q not allowed", s, enc, c)
			}
		}
		dec, err := xtextDecode(enc)
		if err != nil || dec != s {
			t.Fatalf("XtextDecode(XtextEncode(%q)) = %q, %v", s, dec, err)
		}
		if d, err := xtextDecode(s); err == nil {
			if len(d) > len(s) {
				t.Fatalf("XtextDecode(%q) grew to %q", s, d)
			}
			if again, err := xtextDecode(xtextEncode(d)); err != nil || again != d {
				t.Fatalf("re-encoding %q gave %q, %v", d, again, err)
			}
		}
	})
}
