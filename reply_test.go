package probe

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseReplyLine(t *testing.T) {
	tests := []struct {
		line  string
		code  int
		more  bool
		text  string
		notes int
		bad   bool
	}{
		{line: "250 OK", code: 250, text: "OK"},
		{line: "250-smtp.yourdomain.com", code: 250, more: true, text: "smtp.yourdomain.com"},
		{line: "250", code: 250},
		{line: "250-", code: 250, more: true},
		{line: "250ok", code: 250, text: "ok", notes: 1},
		{line: "354 End data with <CR><LF>.<CR><LF>", code: 354, text: "End data with <CR><LF>.<CR><LF>"},
		{line: "334 VXNlcm5hbWU6", code: 334, text: "VXNlcm5hbWU6"},
		{line: "250 a\x00b", code: 250, text: "a\x00b", notes: 1},
		{line: "250 a\x1b[31mred", code: 250, text: "a\x1b[31mred", notes: 1},
		{line: "250 \xff\xfe", code: 250, text: "\xff\xfe", notes: 1},
		{line: "250 tab\tok", code: 250, text: "tab\tok"},
		{line: "25", bad: true},
		{line: "", bad: true},
		{line: "abc def", bad: true},
		{line: "2x0 ok", bad: true},
		{line: "199 nope", bad: true},
		{line: "600 nope", bad: true},
		{line: "099 nope", bad: true},
	}
	for _, tt := range tests {
		rl, err := parseReplyLine(tt.line)
		if tt.bad {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Errorf("%q: err = %v, want *ProtocolError", tt.line, err)
			}
			continue
		}
		if err != nil || rl.code != tt.code || rl.more != tt.more || rl.text != tt.text || len(rl.notes) != tt.notes {
			t.Errorf("%q: got %+v, %v; want code %d more %v text %q notes %d", tt.line, rl, err, tt.code, tt.more, tt.text, tt.notes)
		}
	}
}

func TestParseEnhanced(t *testing.T) {
	tests := []struct {
		code  int
		lines []string
		want  string
	}{
		{235, []string{"2.7.0 Authentication successful"}, "2.7.0"},
		{535, []string{"5.7.8 Error: authentication failed: authentication failure"}, "5.7.8"},
		{250, []string{"2.0.0 Ok: queued as 6A4C1D5153E"}, "2.0.0"},
		{250, []string{"2.1.5 OK"}, "2.1.5"},
		{235, []string{"ok, go ahead (#2.0.0)"}, "2.0.0"},
		{535, []string{"authorization failed (#5.7.0)"}, "5.7.0"},
		{250, []string{"ok 1113954693 qp 29052"}, ""},
		{250, []string{"ok"}, ""},
		{550, []string{"2.1.0 class mismatch"}, ""},
		{550, []string{"5.1.1000 too long"}, ""},
		{550, []string{"5.1 short"}, ""},
		{550, []string{"6.1.1 bad class"}, ""},
		{550, []string{"5.1.1"}, "5.1.1"},
		{550, []string{"5.1.1.1 four parts"}, ""},
		{550, []string{"5..1 empty"}, ""},
		{550, []string{"5.1. empty"}, ""},
		{550, []string{".5.1.1 leading dot"}, ""},
		{550, []string{"55.1.1 two-digit class"}, ""},
		{550, []string{"5.1.1x trailing"}, ""},
		{550, []string{"5.123.456 widest"}, "5.123.456"},
		{550, []string{"refused (#5.1.1.1)"}, ""},
		{250, []string{"2.0.0", "second"}, "2.0.0"},
		{250, nil, ""},
	}
	for _, tt := range tests {
		if got := parseEnhanced(tt.code, tt.lines).String(); got != tt.want {
			t.Errorf("parseEnhanced(%d, %q) = %q, want %q", tt.code, tt.lines, got, tt.want)
		}
	}
}

func TestReplyString(t *testing.T) {
	r := &Reply{Code: 250, Lines: []string{"mail.example.test", "PIPELINING", "8BITMIME"}}
	if got, want := r.String(), "250-mail.example.test\n250-PIPELINING\n250 8BITMIME"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := (&Reply{Code: 250}).String(); got != "250" {
		t.Errorf("bare String = %q", got)
	}
	if r.Text() != "mail.example.test\nPIPELINING\n8BITMIME" {
		t.Errorf("Text = %q", r.Text())
	}
	var nilReply *Reply
	if nilReply.String() != "" || nilReply.Text() != "" || nilReply.Positive() {
		t.Error("nil reply misbehaves")
	}
	classes := map[int][4]bool{250: {true}, 354: {false, true}, 421: {false, false, true}, 554: {false, false, false, true}}
	for code, want := range classes {
		r := &Reply{Code: code}
		if got := [4]bool{r.Positive(), r.Intermediate(), r.Temporary(), r.Permanent()}; got != want {
			t.Errorf("%d classes = %v, want %v", code, got, want)
		}
	}
}

func TestLineReader(t *testing.T) {
	type line struct {
		text string
		end  lineEnding
	}
	tests := []struct {
		in   string
		want []line
	}{
		{"250 ok\r\n", []line{{"250 ok", endCRLF}}},
		{"250 ok\n250 b\r\n", []line{{"250 ok", endLF}, {"250 b", endCRLF}}},
		{"250-a\r250 b\r\n", []line{{"250-a", endCR}, {"250 b", endCRLF}}},
		{"250 a\rb\r\n", []line{{"250 a", endCR}, {"b", endCRLF}}},
		{"\r\n", []line{{"", endCRLF}}},
	}
	for _, tt := range tests {
		// Feed one byte at a time: the reader must not depend on segments.
		lr := newLineReader(&oneByteReader{s: tt.in}, 100)
		var got []line
		for {
			l, end, err := lr.readLine()
			if err != nil {
				break
			}
			got = append(got, line{string(l), end})
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLineReaderTooLong(t *testing.T) {
	for _, in := range []string{strings.Repeat("x", 101) + "\r\n", strings.Repeat("y", 5000)} {
		lr := newLineReader(strings.NewReader(in), 100)
		_, _, err := lr.readLine()
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Errorf("len %d: err = %v, want *ProtocolError", len(in), err)
		}
	}
	lr := newLineReader(strings.NewReader(strings.Repeat("z", 100)+"\r\n"), 100)
	if l, _, err := lr.readLine(); err != nil || len(l) != 100 {
		t.Errorf("a line at the limit: %d bytes, %v", len(l), err)
	}
}

type oneByteReader struct{ s string }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.s) == 0 {
		return 0, errEOFForTest
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}

var errEOFForTest = errors.New("eof")

func TestTruncateKeepsUTF8(t *testing.T) {
	for _, s := range []string{"ééééé", "abc日本語", "📬📬📬"} {
		for n := 0; n < len(s); n++ {
			if got := truncate(s, n); !utf8.ValidString(got) || len(got) > n+len("…") {
				t.Errorf("truncate(%q, %d) = %q", s, n, got)
			}
		}
	}
}

func TestEnhancedCodeText(t *testing.T) {
	for _, tc := range []struct {
		code EnhancedCode
		text string
	}{{EnhancedCode{2, 0, 0}, "2.0.0"}, {EnhancedCode{5, 7, 108}, "5.7.108"}, {EnhancedCode{}, ""}} {
		b, err := tc.code.MarshalText()
		var back EnhancedCode
		if err != nil || string(b) != tc.text || back.UnmarshalText(b) != nil || back != tc.code {
			t.Errorf("%v: %q, %v; back %v", tc.code, b, err, back)
		}
	}
	var e EnhancedCode
	if err := e.UnmarshalText([]byte("9.9.9")); err == nil {
		t.Error("9.9.9 accepted")
	}
	b, _ := json.Marshal(Reply{Code: 250, Lines: []string{"ok"}})
	if string(b) != `{"code":250,"lines":["ok"]}` {
		t.Errorf("Reply JSON = %s", b)
	}
}
