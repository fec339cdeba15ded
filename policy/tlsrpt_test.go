package policy

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseTLSRPTRecord(t *testing.T) {
	cases := []struct {
		name        string
		txts        []string
		rua         []string // the URIs wanted; nil when an error is wanted
		unsupported []string
		ext         []Field
		err         error
		field       string
		text        string
	}{
		// RFC 8460 §3, the two examples.
		{name: "RFC 8460 §3 mailto", txts: []string{"v=TLSRPTv1;rua=mailto:reports@example.com"},
			rua: []string{"mailto:reports@example.com"}},
		{name: "RFC 8460 §3 https", txts: []string{"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"},
			rua: []string{"https://reporting.example.com/v1/tlsrpt"}},
		{name: "two URIs, spaces around the comma", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x?k=v;"},
			rua: []string{"mailto:a@example.com", "https://r.example.com/x?k=v"}},
		{name: "schemes are case-insensitive", txts: []string{"v=TLSRPTv1; rua=MAILTO:a@example.com,HTTPS://r.example.com"},
			rua: []string{"MAILTO:a@example.com", "HTTPS://r.example.com"}},
		{name: "mailto with a query", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com?subject=tlsrpt"},
			rua: []string{"mailto:a@example.com?subject=tlsrpt"}},
		{name: "an encoded comma", txts: []string{"v=TLSRPTv1; rua=https://r.example.com/a%2Cb"},
			rua: []string{"https://r.example.com/a%2Cb"}},
		{name: "extensions, the first of each", txts: []string{"v=TLSRPTv1; x=1; rua=mailto:a@example.com; x=2; y.z=3"},
			rua: []string{"mailto:a@example.com"}, ext: []Field{{"x", "1"}, {"y.z", "3"}}},
		{name: "other TXT records are ignored", txts: []string{"v=spf1 -all", "v=TLSRPTv10; rua=mailto:b@example.com", "v=TLSRPTv1; rua=mailto:a@example.com"},
			rua: []string{"mailto:a@example.com"}},

		{name: "no records", err: ErrNoRecord},
		{name: "no TLS-RPT record", txts: []string{"v=STSv1; id=1"}, err: ErrNoRecord},
		{name: "two records", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"}, err: ErrMultipleRecords},
		{name: "version only", txts: []string{"v=TLSRPTv1"}, err: ErrMissingField},
		{name: "no rua", txts: []string{"v=TLSRPTv1; ruf=mailto:a@example.com"}, err: ErrMissingField, field: "rua"},
		{name: "rua in capitals", txts: []string{"v=TLSRPTv1; RUA=mailto:a@example.com"}, err: ErrMissingField, field: "rua"},
		{name: "two rua fields, taken together (the grammar repeats fields)", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example.com/"},
			rua: []string{"mailto:a@example.com", "https://r.example.com/"}},
		{name: "an unsupported scheme beside a supported one", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com,ftp://r.example.com/"},
			rua: []string{"mailto:a@example.com"}, unsupported: []string{"ftp://r.example.com/"}},
		{name: "empty rua", txts: []string{"v=TLSRPTv1; rua="}, err: ErrSyntax, field: "rua", text: "an empty URI"},
		{name: "a stray comma", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com,"}, err: ErrSyntax, field: "rua", text: "an empty URI"},
		{name: "http is not https", txts: []string{"v=TLSRPTv1; rua=http://r.example.com/"}, err: ErrSyntax, field: "rua", text: `"http://r.example.com/"`},
		{name: "ftp only", txts: []string{"v=TLSRPTv1; rua=ftp://r.example.com/"}, err: ErrSyntax, field: "rua", text: "no URI of rua is mailto: or https:"},
		{name: "a bare address", txts: []string{"v=TLSRPTv1; rua=reports@example.com"}, err: ErrSyntax, field: "rua", text: "no scheme"},
		{name: "a scheme that begins with a digit", txts: []string{"v=TLSRPTv1; rua=1mailto:reports@example.com"}, err: ErrSyntax, field: "rua", text: "no scheme"},
		{name: "mailto without an address", txts: []string{"v=TLSRPTv1; rua=mailto:"}, err: ErrSyntax, field: "rua", text: "local@domain"},
		{name: "mailto without a domain", txts: []string{"v=TLSRPTv1; rua=mailto:reports@"}, err: ErrSyntax, field: "rua"},
		{name: "mailto without a local part", txts: []string{"v=TLSRPTv1; rua=mailto:@example.com"}, err: ErrSyntax, field: "rua"},
		{name: "https without a host", txts: []string{"v=TLSRPTv1; rua=https:/path"}, err: ErrSyntax, field: "rua", text: "no host"},
		{name: "https that does not parse", txts: []string{"v=TLSRPTv1; rua=https://r.example.com:port/"}, err: ErrSyntax, field: "rua", text: "invalid port"},
		{name: "a DMARC-style size limit", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com!10m"}, err: ErrSyntax, field: "rua", text: "'!'"},
		{name: "a space inside a URI", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com"}, err: ErrSyntax, field: "rua", text: "' '"},
		{name: "bad extension value", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com; x=a=b"}, err: ErrSyntax, field: "x"},
		{name: "control bytes", txts: []string{"v=TLSRPTv1; rua=mailto:a@example.com\r\n"}, err: ErrSyntax, text: "byte 0x0d"},
		{name: "garbage", txts: []string{"v=TLSRPTv1;" + strings.Repeat("\x01\xff;=", 10000)}, err: ErrSyntax, text: "byte 0x01 at offset 11"},
		{name: "a long garbage value is cut in the message", txts: []string{"v=TLSRPTv1; rua=" + strings.Repeat("x", 100000)}, err: ErrSyntax, field: "rua", text: "… (100000 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseTLSRPTRecord(c.txts)
			if c.err == nil {
				if err != nil {
					t.Fatalf("ParseTLSRPTRecord(%q): %v", c.txts, err)
				}
				if fmt.Sprint(r.RUA) != fmt.Sprint(c.rua) || fmt.Sprint(r.Extensions) != fmt.Sprint(c.ext) || fmt.Sprint(r.Unsupported) != fmt.Sprint(c.unsupported) {
					t.Errorf("got rua %q unsupported %q extensions %q, want %q %q %q", r.RUA, r.Unsupported, r.Extensions, c.rua, c.unsupported, c.ext)
				}
				return
			}
			if r != nil {
				t.Errorf("a record with the error: %+v", r)
			}
			checkParseError(t, err, FormatTLSRPTRecord, c.err, c.field, c.text)
		})
	}
}
