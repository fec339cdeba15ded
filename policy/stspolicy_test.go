package policy

import (
	"fmt"
	"strings"
	"testing"
)

// rfc8461Policy is the example policy of RFC 8461 §3.2.
const rfc8461Policy = "version: STSv1\n" +
	"mode: enforce\n" +
	"mx: mail.example.com\n" +
	"mx: *.example.net\n" +
	"mx: backupmx.example.com\n" +
	"max_age: 604800\n"

func TestParsePolicy(t *testing.T) {
	rfcMX := []string{"mail.example.com", "*.example.net", "backupmx.example.com"}
	type want struct {
		mode   Mode
		mx     []string
		maxAge int
		ext    []Field
		notes  []string // a part of each note, in order
	}
	cases := []struct {
		name string
		body string
		want want
	}{
		{"RFC 8461 §3.2 example", rfc8461Policy, want{mode: ModeEnforce, mx: rfcMX, maxAge: 604800}},
		{"CRLF lines", strings.ReplaceAll(rfc8461Policy, "\n", "\r\n"), want{mode: ModeEnforce, mx: rfcMX, maxAge: 604800}},
		{"no final line end", strings.TrimSuffix(rfc8461Policy, "\n"), want{mode: ModeEnforce, mx: rfcMX, maxAge: 604800}},
		{"mixed line ends, any order",
			"max_age: 86400\r\nmx: mx.example.org\nmode: testing\r\nversion: STSv1",
			want{mode: ModeTesting, mx: []string{"mx.example.org"}, maxAge: 86400}},
		{"white space after the colon and at the end",
			"version:STSv1\nmode:\t enforce \t\nmx:  mx.example.org  \nmax_age:\t0\n",
			want{mode: ModeEnforce, mx: []string{"mx.example.org"}}},
		{"mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 31557600\n",
			want{mode: ModeNone, maxAge: MaxMaxAge}},
		{"ten digits with leading zeros", "version: STSv1\nmode: none\nmax_age: 0000086400\n",
			want{mode: ModeNone, maxAge: 86400}},
		{"unknown keys are kept, in order, the first of each",
			"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1\nx-note: héllo, wörld; a=b\nz.1: 2\nx-note: again\n",
			want{mode: ModeTesting, mx: []string{"a.example"}, maxAge: 1,
				ext:   []Field{{"x-note", "héllo, wörld; a=b"}, {"z.1", "2"}},
				notes: []string{`line 7 repeats "x-note"`}}},
		{"repeated keys: the first counts (RFC 8461 §3.2)",
			"version: STSv1\nmode: testing\nmode: enforce\nmax_age: 10\nmax_age: 99999999999\nversion: STSv2\nmx: a.example\n",
			want{mode: ModeTesting, mx: []string{"a.example"}, maxAge: 10,
				notes: []string{`line 3 repeats "mode"`, `line 5 repeats "max_age"`, `line 6 repeats "version"`}}},
		{"repeated mx add up, duplicates included",
			"version: STSv1\nmode: enforce\nmx: a.example\nmx: b.example\nmx: a.example\nmax_age: 1\n",
			want{mode: ModeEnforce, mx: []string{"a.example", "b.example", "a.example"}, maxAge: 1}},
		{"a key differing in case is an extension, noted",
			"version: STSv1\nmode: none\nMode: enforce\nmax_age: 1\n",
			want{mode: ModeNone, maxAge: 1, ext: []Field{{"Mode", "enforce"}},
				notes: []string{`key "Mode" is not "mode"`}}},
		{"blank lines, noted", "version: STSv1\n\nmode: none\r\n \t\r\nmax_age: 1\n\n",
			want{mode: ModeNone, maxAge: 1,
				notes: []string{"line 2 is blank", "line 4 is blank", "line 6 is blank"}}},
		{"wildcard, digits, hyphens and long labels", "version: STSv1\nmode: enforce\n" +
			"mx: *.mx-1.example\nmx: 123.example\nmx: " + strings.Repeat("a", 63) + ".example\nmax_age: 1\n",
			want{mode: ModeEnforce, mx: []string{"*.mx-1.example", "123.example", strings.Repeat("a", 63) + ".example"}, maxAge: 1}},
		{"a policy of exactly MaxPolicySize", padPolicy(MaxPolicySize),
			want{mode: ModeNone, maxAge: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(c.body))
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if p.Mode != c.want.mode || fmt.Sprint(p.MX) != fmt.Sprint(c.want.mx) || p.MaxAge != c.want.maxAge {
				t.Errorf("got mode %q mx %q max_age %d, want %q %q %d", p.Mode, p.MX, p.MaxAge, c.want.mode, c.want.mx, c.want.maxAge)
			}
			if c.want.ext != nil && fmt.Sprint(p.Extensions) != fmt.Sprint(c.want.ext) {
				t.Errorf("extensions %q, want %q", p.Extensions, c.want.ext)
			}
			if len(p.Notes) != len(c.want.notes) {
				t.Fatalf("%d notes, want %d: %q", len(p.Notes), len(c.want.notes), p.Notes[:min(len(p.Notes), 3)])
			}
			for i, n := range c.want.notes {
				if !strings.Contains(p.Notes[i], n) {
					t.Errorf("note %d is %q, want it to contain %q", i, p.Notes[i], n)
				}
			}
		})
	}
}

// padPolicy returns a valid mode-none policy of n bytes: an extension
// "pad" with a long value fills it up.
func padPolicy(n int) string {
	s := "version: STSv1\nmode: none\nmax_age: 1\npad: "
	return s + strings.Repeat("y", n-len(s)-1) + "\n"
}

func TestParsePolicyNotesBounded(t *testing.T) {
	body := "version: STSv1\nmode: none\nmax_age: 1\n" + strings.Repeat("mode: testing\n", 3000)
	p, err := ParsePolicy([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Notes) != maxNotes+1 || p.Notes[maxNotes] != "and 2984 more notes like these" {
		t.Errorf("%d notes, the last %q; want %d, the last counting the rest", len(p.Notes), p.Notes[len(p.Notes)-1], maxNotes+1)
	}
	if p.Mode != ModeNone {
		t.Errorf("mode %q, want the first, none", p.Mode)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	const head = "version: STSv1\nmode: enforce\nmax_age: 86400\n"
	cases := []struct {
		name, body string
		err        error
		line       int
		field      string
		text       string
	}{
		{"empty", "", ErrMissingField, 0, "version", `no "version" line`},
		{"only a line end", "\n", ErrMissingField, 0, "version", ""},
		{"no version", "mode: none\nmax_age: 1\n", ErrMissingField, 0, "version", ""},
		{"no mode", "version: STSv1\nmx: a.example\nmax_age: 1\n", ErrMissingField, 0, "mode", ""},
		{"no max_age", "version: STSv1\nmode: none\n", ErrMissingField, 0, "max_age", ""},
		{"enforce without mx", head, ErrMissingField, 0, "mx", "mode enforce needs at least one"},
		{"testing without mx", "version: STSv1\nmode: testing\nmax_age: 1\n", ErrMissingField, 0, "mx", ""},
		{"a key in capitals only", "VERSION: STSv1\nmode: none\nmax_age: 1\n", ErrMissingField, 0, "version", ""},
		{"version STSv2", "version: STSv2\n", ErrSyntax, 1, "version", `version "STSv2", only "STSv1"`},
		{"version in lower case", "version: stsv1\n", ErrSyntax, 1, "version", ""},
		{"empty version", "version:\n", ErrSyntax, 1, "version", ""},
		{"mode Enforce", "version: STSv1\nmode: Enforce\n", ErrSyntax, 2, "mode", `mode "Enforce", not enforce`},
		{"mode report", "mode: report\n", ErrSyntax, 1, "mode", ""},
		{"max_age over a year", "max_age: 31557601\n", ErrSyntax, 1, "max_age", "over 31557600 seconds"},
		{"max_age of ten nines", "max_age: 9999999999\n", ErrSyntax, 1, "max_age", "over"},
		{"max_age of eleven digits", "max_age: 00000000001\n", ErrSyntax, 1, "max_age", "not 1 to 10 digits"},
		{"max_age negative", "max_age: -1\n", ErrSyntax, 1, "max_age", ""},
		{"max_age with a unit", "max_age: 1d\n", ErrSyntax, 1, "max_age", ""},
		{"max_age empty", "max_age: \n", ErrSyntax, 1, "max_age", ""},
		{"max_age with a space inside", "max_age: 86 400\n", ErrSyntax, 1, "max_age", ""},
		{"mx empty", head + "mx:\n", ErrSyntax, 4, "mx", "empty label"},
		{"mx a bare star", head + "mx: *\n", ErrSyntax, 4, "mx", `label "*"`},
		{"mx star dot", head + "mx: *.\n", ErrSyntax, 4, "mx", "empty label"},
		{"mx two stars", head + "mx: *.*.example.com\n", ErrSyntax, 4, "mx", `label "*"`},
		{"mx star inside", head + "mx: mail.*.example.com\n", ErrSyntax, 4, "mx", ""},
		{"mx partial wildcard", head + "mx: mx*.example.com\n", ErrSyntax, 4, "mx", `label "mx*"`},
		{"mx trailing dot", head + "mx: mail.example.com.\n", ErrSyntax, 4, "mx", "trailing dot"},
		{"mx two dots", head + "mx: mail..example.com\n", ErrSyntax, 4, "mx", ""},
		{"mx leading hyphen", head + "mx: -mail.example.com\n", ErrSyntax, 4, "mx", "start and end"},
		{"mx trailing hyphen", head + "mx: mail-.example.com\n", ErrSyntax, 4, "mx", "start and end"},
		{"mx underscore", head + "mx: mail_1.example.com\n", ErrSyntax, 4, "mx", `holds '_'`},
		{"mx U-label", head + "mx: mäil.example.com\n", ErrSyntax, 4, "mx", "A-label"},
		{"mx two names", head + "mx: a.example b.example\n", ErrSyntax, 4, "mx", ""},
		{"mx label of 64", head + "mx: " + strings.Repeat("a", 64) + ".example\n", ErrSyntax, 4, "mx", "longer than 63"},
		{"mx name of 254", head + "mx: " + strings.Repeat("abcdefg.", 31) + "example\n", ErrSyntax, 4, "mx", "longer than 253"},
		{"no colon", head + "mx mail.example.com\n", ErrSyntax, 4, "", `"mx mail.example.com" is not "key: value"`},
		{"leading space", " mode: enforce\n", ErrSyntax, 1, "", ""},
		{"space before the colon", "mode : enforce\n", ErrSyntax, 1, "", ""},
		{"a comment", "# MTA-STS policy\n" + head, ErrSyntax, 1, "", ""},
		{"a YAML document marker", "---\n" + head, ErrSyntax, 1, "", ""},
		{"key too long", strings.Repeat("k", 33) + ": v\n", ErrSyntax, 1, "", ""},
		{"NUL", head + "mx: a.example\x00\n", ErrSyntax, 4, "", "control byte 0x00 at column 14"},
		{"bare CR inside", "version: STSv1\rmode: none\n", ErrSyntax, 1, "", "control byte 0x0d"},
		{"escape sequence", head + "x: \x1b[31mred\n", ErrSyntax, 4, "", "0x1b"},
		{"DEL", head + "x: \x7f\n", ErrSyntax, 4, "", "0x7f"},
		{"invalid UTF-8", head + "x: \xff\xfe\n", ErrSyntax, 4, "", "invalid UTF-8"},
		{"extension with a tab inside", head + "x: a\tb\n", ErrSyntax, 4, "x", "holds a tab"},
		{"empty extension", head + "x:\n", ErrSyntax, 4, "x", "empty"},
		{"over MaxPolicySize", padPolicy(MaxPolicySize + 1), ErrTooLarge, 0, "", "65537 bytes, at most 65536"},
		{"a policy of 1 MiB", strings.Repeat(rfc8461Policy, 1<<20/len(rfc8461Policy)+1), ErrTooLarge, 0, "", ""},
		{"1 MiB of garbage", strings.Repeat("\x00\xff", 1<<19), ErrTooLarge, 0, "", ""},
		{"HTML", "<html><body>Not Found</body></html>\n", ErrSyntax, 1, "", "is not \"key: value\""},
		{"JSON", `{"version": "STSv1", "mode": "enforce"}`, ErrSyntax, 1, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(c.body))
			if p != nil {
				t.Errorf("a policy with the error: %+v", p)
			}
			checkParseError(t, err, FormatSTSPolicy, c.err, c.field, c.text)
			if pe, ok := err.(*ParseError); ok && pe.Line != c.line {
				t.Errorf("error %v on line %d, want %d", err, pe.Line, c.line)
			}
		})
	}
}

func TestPolicyMatchMX(t *testing.T) {
	p, err := ParsePolicy([]byte(rfc8461Policy + "mx: UPPER.Example.ORG\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		"mail.example.com":       true,
		"MAIL.EXAMPLE.COM":       true,
		"mail.example.com.":      true,
		"backupmx.example.com":   true,
		"upper.example.org":      true,
		"mx1.example.net":        true, // RFC 8461 §4.1: one label below the wildcard
		"MX-2.Example.Net.":      true,
		"example.net":            false, // the wildcard needs a label
		".example.net":           false,
		"foo.bar.example.net":    false, // … and only one
		"mail.example.com.evil":  false,
		"evilmail.example.com":   false,
		"mail.example.co":        false,
		"other.example.com":      false,
		"":                       false,
		".":                      false,
		"mail.example.com..":     false,
		"x.example.net\x00":      false,
		"mail.example.com\nmx: ": false,
	}
	for host, want := range cases {
		if got := p.MatchMX(host); got != want {
			t.Errorf("MatchMX(%q) = %v, want %v", host, got, want)
		}
	}
	var none *Policy
	if none.MatchMX("mail.example.com") {
		t.Error("a nil policy matched")
	}
	if (&Policy{Mode: ModeNone}).MatchMX("mail.example.com") {
		t.Error("a policy without patterns matched")
	}
	// A Policy built by hand, not parsed: "*" must be a whole label, a
	// pattern's trailing dot is ignored as the host's is.
	hand := &Policy{MX: []string{"*example.com", "*", "mx.example.org."}}
	for host, want := range map[string]bool{"fooexample.com": false, "localhost": false, "mx.example.org": true} {
		if got := hand.MatchMX(host); got != want {
			t.Errorf("hand-built MatchMX(%q) = %v, want %v", host, got, want)
		}
	}
}
