package policy

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
)

// checkFuzzError fails t unless err is a *ParseError of format f whose
// message holds no control character.
func checkFuzzError(t *testing.T, err error, f Format) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Format != f {
		t.Fatalf("error %v is not a *ParseError of %q", err, f)
	}
	for _, r := range err.Error() {
		if r < 0x20 || r == 0x7f {
			t.Fatalf("error %q holds a control character", err)
		}
	}
}

// FuzzParseTLSA parses arbitrary text as a TLSA record: no panic, an error
// of the package's type, and a record whose presentation form parses back
// to itself.
func FuzzParseTLSA(f *testing.F) {
	for _, s := range []string{
		"3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
		"( 0 0 1 d2abde240d7cd3ee6b4b28c54df034b9\n 7983a1d16e8a410e4561cb106618e971 )",
		"2 0 2 00", "255 255 255 ab", "3 1", "3 1 1 abc", "3 1 1 ab\x00", "-1 0 0 00", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseTLSA(s)
		if err != nil {
			checkFuzzError(t, err, FormatTLSA)
			return
		}
		_ = r.Check()
		_ = r.Describe()
		again, err := ParseTLSA(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("round trip of %q: %q, %v", r, again, err)
		}
	})
}

// FuzzParsePolicy parses arbitrary bytes as an MTA-STS policy: no panic, an
// error of the package's type, or a policy within the RFC's bounds whose
// patterns match the host names they describe.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(rfc8461Policy))
	f.Add([]byte(strings.ReplaceAll(rfc8461Policy, "\n", "\r\n")))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n\n"))
	f.Add([]byte("version: STSv1\nmode: testing\nmode: enforce\nmx: *.a.example\nmax_age: 31557600\nx: héllo\n"))
	f.Add([]byte("version: STSv1\rmode: none\x00\n\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePolicy(body)
		if err != nil {
			checkFuzzError(t, err, FormatSTSPolicy)
			return
		}
		switch p.Mode {
		case ModeEnforce, ModeTesting:
			if len(p.MX) == 0 {
				t.Fatalf("mode %s without mx", p.Mode)
			}
		case ModeNone:
		default:
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge {
			t.Fatalf("max_age %d", p.MaxAge)
		}
		if len(p.Notes) > maxNotes+1 {
			t.Fatalf("%d notes", len(p.Notes))
		}
		for _, mx := range p.MX {
			one := &Policy{Mode: p.Mode, MX: []string{mx}}
			host := mx
			if d, ok := strings.CutPrefix(mx, "*."); ok {
				host = "x." + d
				if one.MatchMX(d) || one.MatchMX("a.b."+d) {
					t.Fatalf("pattern %q matches %q or %q", mx, d, "a.b."+d)
				}
			}
			if !one.MatchMX(host) || !one.MatchMX(strings.ToUpper(host)+".") || !p.MatchMX(host) {
				t.Fatalf("pattern %q does not match %q", mx, host)
			}
		}
	})
}

// FuzzParseTXT parses arbitrary TXT strings as MTA-STS and TLS-RPT records:
// no panic, an error of the package's type, or a record of valid fields.
func FuzzParseTXT(f *testing.F) {
	for _, s := range []string{
		"v=STSv1; id=20160831085700Z;",
		"v=TLSRPTv1;rua=mailto:reports@example.com",
		"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
		"v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x?k=v; x=1;",
		"v=STSv1;;id=1", "v=STSv1; id=1; id=2; e=!", "v=STSv1\x00", "v=TLSRPTv1; rua=https://x:port/",
	} {
		f.Add(s, "v=spf1 -all")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if r, err := ParseSTSRecord([]string{a, b}); err != nil {
			checkFuzzError(t, err, FormatSTSRecord)
		} else if checkID(r.ID) != nil {
			t.Fatalf("id %q", r.ID)
		}
		if r, err := ParseTLSRPTRecord([]string{a, b}); err != nil {
			checkFuzzError(t, err, FormatTLSRPTRecord)
		} else if len(r.RUA) == 0 {
			t.Fatal("a record without URIs")
		}
	})
}

// FuzzMatchTLSA matches arbitrary TLSA records against a fixed chain: no
// panic, and every record in exactly one list of the result.
func FuzzMatchTLSA(f *testing.F) {
	p := newPKI(f)
	for _, r := range []TLSA{rec(3, 1, 1, p.leaf), rec(2, 0, 0, p.root), rec(2, 1, 2, p.root), rec(1, 1, 1, p.leaf), {Usage: 2}} {
		f.Add(r.Usage, r.Selector, r.MatchingType, r.Data)
	}
	chain := []*x509.Certificate{p.leaf, p.root}
	f.Fuzz(func(t *testing.T, u, s, m uint8, data []byte) {
		r := MatchTLSA([]TLSA{{Usage: u, Selector: s, MatchingType: m, Data: data}}, chain,
			MatchOptions{Names: []string{"mx1.example.test"}, Now: testNow})
		if len(r.Matched)+len(r.Mismatched)+len(r.Unusable) != 1 {
			t.Fatalf("result %+v", r)
		}
		_ = r.Err()
		_ = CheckRollover([]TLSA{{Usage: u, Selector: s, MatchingType: m, Data: data}}, p.leaf)
	})
}
