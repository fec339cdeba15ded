package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseSTSRecord(t *testing.T) {
	cases := []struct {
		name  string
		txts  []string
		id    string  // the id wanted; "" when an error is wanted
		ext   []Field // the extensions wanted
		err   error
		field string // ParseError.Field wanted
		text  string // a part of the error's text
	}{
		// RFC 8461 §3.1
		{name: "RFC 8461 §3.1 example", txts: []string{"v=STSv1; id=20160831085700Z;"}, id: "20160831085700Z"},
		{name: "no trailing semicolon", txts: []string{"v=STSv1; id=20160831085700Z"}, id: "20160831085700Z"},
		{name: "no spaces", txts: []string{"v=STSv1;id=abc"}, id: "abc"},
		{name: "spaces and tabs around the separators", txts: []string{"v=STSv1 \t;\t id=abc \t; "}, id: "abc"},
		{name: "32 characters", txts: []string{"v=STSv1; id=" + strings.Repeat("a1", 16)}, id: strings.Repeat("a1", 16)},
		{name: "other TXT records are ignored", txts: []string{"v=spf1 -all", "google-site-verification=xyz", "v=STSv1; id=1", "v=STSv10; id=2", ""}, id: "1"},
		{name: "an extension", txts: []string{"v=STSv1; id=1; ext.name-x_1=some:value!"}, id: "1", ext: []Field{{"ext.name-x_1", "some:value!"}}},
		{name: "a repeated field: the first counts (RFC 8461 §3.2)", txts: []string{"v=STSv1; id=first; x=1; id=second; x=2"}, id: "first", ext: []Field{{"x", "1"}}},
		{name: "a repeated id that would be invalid is ignored", txts: []string{"v=STSv1; id=first; id=bad!"}, id: "first"},

		{name: "no TXT records", txts: nil, err: ErrNoRecord},
		{name: "no STS record", txts: []string{"v=spf1 -all"}, err: ErrNoRecord, text: `none of the 1 TXT strings starts with "v=STSv1"`},
		{name: "version is case-sensitive", txts: []string{"V=STSv1; id=1", "v=stsv1; id=1"}, err: ErrNoRecord},
		{name: "leading space", txts: []string{" v=STSv1; id=1"}, err: ErrNoRecord},
		{name: "two records (RFC 8461 §3.1)", txts: []string{"v=STSv1; id=1", "v=STSv1; id=2"}, err: ErrMultipleRecords, text: "2 TXT strings"},
		{name: "the same record twice", txts: []string{"v=STSv1; id=1", "v=STSv1; id=1"}, err: ErrMultipleRecords},
		{name: "version only", txts: []string{"v=STSv1"}, err: ErrMissingField},
		{name: "version and separator only", txts: []string{"v=STSv1;"}, err: ErrMissingField},
		{name: "no id", txts: []string{"v=STSv1; x=1"}, err: ErrMissingField, field: "id"},
		{name: "id too long", txts: []string{"v=STSv1; id=" + strings.Repeat("a", 33)}, err: ErrSyntax, field: "id", text: "33 characters"},
		{name: "empty id", txts: []string{"v=STSv1; id="}, err: ErrSyntax, field: "id"},
		{name: "id with a dot", txts: []string{"v=STSv1; id=2016.08"}, err: ErrSyntax, field: "id", text: `has '.'`},
		{name: "id with a space", txts: []string{"v=STSv1; id=2016 08"}, err: ErrSyntax, field: "id"},
		{name: "field names are case-sensitive", txts: []string{"v=STSv1; ID=1"}, err: ErrMissingField},
		{name: "no separator after the version", txts: []string{"v=STSv1 id=1"}, err: ErrSyntax, text: `"id=1" after "v=STSv1"`},
		{name: "empty field", txts: []string{"v=STSv1;; id=1"}, err: ErrSyntax, text: "empty field"},
		{name: "field without =", txts: []string{"v=STSv1; id"}, err: ErrSyntax, text: `field "id" has no "="`},
		{name: "bad field name", txts: []string{"v=STSv1; id=1; _x=1"}, err: ErrSyntax, text: "bad field name"},
		{name: "field name too long", txts: []string{"v=STSv1; id=1; " + strings.Repeat("x", 33) + "=1"}, err: ErrSyntax},
		{name: "extension value with =", txts: []string{"v=STSv1; id=1; x=a=b"}, err: ErrSyntax, field: "x"},
		{name: "extension value with a space", txts: []string{"v=STSv1; id=1; x=a b"}, err: ErrSyntax, field: "x"},
		{name: "empty extension value", txts: []string{"v=STSv1; id=1; x="}, err: ErrSyntax, field: "x"},
		{name: "NUL", txts: []string{"v=STSv1; id=1\x00"}, err: ErrSyntax, text: "byte 0x00 at offset 13"},
		{name: "newline", txts: []string{"v=STSv1;\nid=1"}, err: ErrSyntax, text: "byte 0x0a"},
		{name: "non-ASCII", txts: []string{"v=STSv1; id=1; x=é"}, err: ErrSyntax, text: "byte 0xc3"},
		{name: "DEL", txts: []string{"v=STSv1; id=1\x7f"}, err: ErrSyntax},
		{name: "garbage after the version", txts: []string{"v=STSv1;\xff\xfe garbage"}, err: ErrSyntax},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseSTSRecord(c.txts)
			if c.err == nil {
				if err != nil {
					t.Fatalf("ParseSTSRecord(%q): %v", c.txts, err)
				}
				if r.ID != c.id || fmt.Sprint(r.Extensions) != fmt.Sprint(c.ext) {
					t.Errorf("ParseSTSRecord(%q) = %+v, want id %q and extensions %v", c.txts, r, c.id, c.ext)
				}
				return
			}
			checkParseError(t, err, FormatSTSRecord, c.err, c.field, c.text)
			if r != nil {
				t.Errorf("a record with the error: %+v", r)
			}
		})
	}
}

// checkParseError fails t unless err is a *ParseError of format f wrapping
// cause, naming field, and with text in its message.
func checkParseError(t *testing.T, err error, f Format, cause error, field, text string) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, cause) {
		t.Fatalf("error %v, want a *ParseError wrapping %v", err, cause)
	}
	if pe.Format != f || (field != "" && pe.Field != field) {
		t.Errorf("error %v: format %q field %q, want %q and %q", err, pe.Format, pe.Field, f, field)
	}
	msg := err.Error()
	if !strings.Contains(msg, text) {
		t.Errorf("error %q, want it to contain %q", msg, text)
	}
	if !strings.HasPrefix(msg, "policy: "+string(f)) {
		t.Errorf("error %q does not start with the format", msg)
	}
	for _, r := range msg {
		if r < 0x20 || r == 0x7f {
			t.Errorf("error %q holds a control character", msg)
			break
		}
	}
	if len(msg) > 400 {
		t.Errorf("error message of %d bytes: %.100s…", len(msg), msg)
	}
}
