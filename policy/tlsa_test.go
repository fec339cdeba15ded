package policy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestParseTLSA(t *testing.T) {
	const rfc6698a = "d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971"
	const rfc6698b = "92003ba34942dc74152e2f2c408d29eca5a520e7f2e06bb944f4dca346baf63c" +
		"1b177615d466f6c4b71c216a50292bd58c9ebdd2f74e38fe51ffd48c43326cbc"
	cases := []struct {
		name, in string
		want     string // String() of the result; "" when an error is wanted
		err      error
	}{
		// RFC 6698 §2.3, the first two examples, as printed there.
		{"RFC 6698 §2.3 0 0 1", "( 0 0 1 d2abde240d7cd3ee6b4b28c54df034b9\n      7983a1d16e8a410e4561cb106618e971 )",
			"0 0 1 " + rfc6698a, nil},
		{"RFC 6698 §2.3 1 1 2", "( 1 1 2 92003ba34942dc74152e2f2c408d29ec\n" +
			"            a5a520e7f2e06bb944f4dca346baf63c\n" +
			"            1b177615d466f6c4b71c216a50292bd5\n" +
			"            8c9ebdd2f74e38fe51ffd48c43326cbc )", "1 1 2 " + rfc6698b, nil},
		{"one line", "3 1 1 " + rfc6698a, "3 1 1 " + rfc6698a, nil},
		{"upper-case hex, tabs, CRLF", "3\t1\t1\t" + strings.ToUpper(rfc6698a[:32]) + "\r\n" + rfc6698a[32:], "3 1 1 " + rfc6698a, nil},
		{"leading zeros and a lone byte", "003 001 000 ab", "3 1 0 ab", nil},
		{"unknown values parse (Check judges them)", "255 255 255 00", "255 255 255 00", nil},
		{"empty", "", "", ErrSyntax},
		{"no data", "3 1 1", "", ErrSyntax},
		{"usage not a number", "x 1 1 00", "", ErrSyntax},
		{"selector out of range", "3 256 1 00", "", ErrSyntax},
		{"negative matching type", "3 1 -1 00", "", ErrSyntax},
		{"mnemonics are not the presentation form", "DANE-EE SPKI SHA2-256 " + rfc6698a, "", ErrSyntax},
		{"odd hex", "3 1 1 abc", "", ErrSyntax},
		{"not hex", "3 1 1 zz", "", ErrSyntax},
		{"control byte in the data", "3 1 1 ab\x00cd", "", ErrSyntax},
		{"too much data", "3 0 0 " + strings.Repeat("00", maxTLSAData+1), "", ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseTLSA(c.in)
			if c.err != nil {
				var pe *ParseError
				if !errors.Is(err, c.err) || !errors.As(err, &pe) || pe.Format != FormatTLSA {
					t.Fatalf("ParseTLSA(%q) = %v, %v; want a *ParseError wrapping %v", c.in, got, err, c.err)
				}
				if len(err.Error()) > 300 {
					t.Errorf("error message of %d bytes: %.100s…", len(err.Error()), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTLSA(%q): %v", c.in, err)
			}
			if got.String() != c.want {
				t.Errorf("ParseTLSA(%q) = %q, want %q", c.in, got, c.want)
			}
			again, err := ParseTLSA(got.String())
			if err != nil || again.String() != got.String() {
				t.Errorf("round trip of %q: %v, %v", got, again, err)
			}
		})
	}
}

func TestParseTLSAMaxData(t *testing.T) {
	got, err := ParseTLSA("3 0 0 " + strings.Repeat("ab", maxTLSAData))
	if err != nil || len(got.Data) != maxTLSAData {
		t.Fatalf("%d bytes of data: %d, %v", maxTLSAData, len(got.Data), err)
	}
}

func TestTLSADescribe(t *testing.T) {
	cases := map[string]string{
		"0 0 0 00": "PKIX-TA(0) Cert(0) Full(0)",
		"1 1 1 00": "PKIX-EE(1) SPKI(1) SHA2-256(1)",
		"2 0 2 00": "DANE-TA(2) Cert(0) SHA2-512(2)",
		"3 1 1 00": "DANE-EE(3) SPKI(1) SHA2-256(1)",
		"4 2 3 00": "?(4) ?(2) ?(3)",
	}
	for in, want := range cases {
		r, err := ParseTLSA(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Describe(); got != want {
			t.Errorf("Describe(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestTLSACheck(t *testing.T) {
	sha256 := bytes.Repeat([]byte{1}, 32)
	sha512 := bytes.Repeat([]byte{2}, 64)
	cases := []struct {
		name   string
		r      TLSA
		reason string // "" for a usable record
	}{
		{"DANE-EE SPKI SHA2-256", TLSA{3, 1, 1, sha256}, ""},
		{"DANE-TA Cert SHA2-512", TLSA{2, 0, 2, sha512}, ""},
		{"DANE-EE Cert Full", TLSA{3, 0, 0, []byte{0x30}}, ""},
		{"PKIX-TA", TLSA{0, 0, 1, sha256}, "usage PKIX-TA(0) is not for SMTP"},
		{"PKIX-EE", TLSA{1, 1, 1, sha256}, "usage PKIX-EE(1) is not for SMTP"},
		{"unknown usage", TLSA{4, 1, 1, sha256}, "unknown usage 4"},
		{"unknown selector", TLSA{3, 2, 1, sha256}, "unknown selector 2"},
		{"unknown matching type", TLSA{3, 1, 3, sha256}, "unknown matching type 3"},
		{"private matching type", TLSA{3, 1, 255, sha256}, "unknown matching type 255"},
		{"no data", TLSA{3, 1, 0, nil}, "no association data"},
		{"short SHA2-256", TLSA{3, 1, 1, sha256[:20]}, "32 bytes, this one 20"},
		{"SHA2-512 length for SHA2-256", TLSA{3, 1, 1, sha512}, "32 bytes, this one 64"},
		{"short SHA2-512", TLSA{2, 1, 2, sha256}, "64 bytes, this one 32"},
	}
	for _, c := range cases {
		err := c.r.Check()
		if c.reason == "" {
			if err != nil {
				t.Errorf("%s: Check() = %v, want nil", c.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: Check() = %v, want ErrUnusable and %q", c.name, err, c.reason)
		}
	}
}

func TestTLSAStringHex(t *testing.T) {
	r := TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{0xde, 0xad, 0xbe, 0xef}}
	if got, want := r.String(), "3 1 1 "+hex.EncodeToString(r.Data); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
