package policy

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMatchTLSA(t *testing.T) {
	p := newPKI(t)
	mx := []string{"mx1.example.test"}
	garbage := TLSA{Usage: UsageDANETA, Selector: SelectorCert, MatchingType: MatchingFull, Data: []byte("not a certificate")}
	cases := []struct {
		name    string
		records []TLSA
		chain   []*x509.Certificate
		opts    MatchOptions
		want    daneWant
	}{
		{"DANE-EE SPKI SHA2-256 (3 1 1)", []TLSA{rec(3, 1, 1, p.leaf)}, []*x509.Certificate{p.leaf, p.root}, MatchOptions{},
			daneWant{depths: []int{0}}},
		{"DANE-EE Cert SHA2-256 (3 0 1)", []TLSA{rec(3, 0, 1, p.leaf)}, []*x509.Certificate{p.leaf}, MatchOptions{},
			daneWant{depths: []int{0}}},
		{"DANE-EE SPKI SHA2-512 (3 1 2)", []TLSA{rec(3, 1, 2, p.leaf)}, []*x509.Certificate{p.leaf}, MatchOptions{},
			daneWant{depths: []int{0}}},
		{"DANE-EE Cert Full (3 0 0)", []TLSA{rec(3, 0, 0, p.leaf)}, []*x509.Certificate{p.leaf}, MatchOptions{},
			daneWant{depths: []int{0}}},
		{"DANE-EE SPKI Full (3 1 0)", []TLSA{rec(3, 1, 0, p.leaf)}, []*x509.Certificate{p.leaf}, MatchOptions{},
			daneWant{depths: []int{0}}},
		{"DANE-EE ignores expiry and names (RFC 7672 §3.1.1)", []TLSA{rec(3, 1, 1, p.expiredLeaf)},
			[]*x509.Certificate{p.expiredLeaf}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{0}}},
		{"DANE-EE ignores the issuer: self-signed", []TLSA{rec(3, 0, 1, p.selfSigned)},
			[]*x509.Certificate{p.selfSigned}, MatchOptions{},
			daneWant{depths: []int{0}}},
		{"DANE-EE SPKI survives a renewal with the same key", []TLSA{rec(3, 1, 1, p.leaf)},
			[]*x509.Certificate{p.renewedLeaf}, MatchOptions{},
			daneWant{depths: []int{0}}},
		{"DANE-EE Cert does not survive a renewal", []TLSA{rec(3, 0, 1, p.leaf)},
			[]*x509.Certificate{p.renewedLeaf}, MatchOptions{},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "leaf certificate's certificate does not match"}},
		{"DANE-EE of another key", []TLSA{rec(3, 1, 1, p.nextLeaf)}, []*x509.Certificate{p.leaf}, MatchOptions{},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "public key (SPKI) does not match"}},
		{"DANE-EE matches the leaf only, not an issuer", []TLSA{rec(3, 1, 1, p.root)}, []*x509.Certificate{p.leaf, p.root}, MatchOptions{},
			daneWant{mismatched: 1, err: ErrTLSAMismatch}},
		{"PKIX-TA and PKIX-EE are unusable for SMTP, even when they would match",
			[]TLSA{rec(0, 1, 1, p.root), rec(1, 1, 1, p.leaf)}, []*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{unusable: 2, err: ErrNoUsableTLSA, reason: "RFC 7672 §3.1.3"}},
		{"no records", nil, []*x509.Certificate{p.leaf}, MatchOptions{},
			daneWant{err: ErrNoUsableTLSA, reason: "no TLSA records"}},
		{"DANE-TA SPKI SHA2-256 of the root (2 1 1)", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{1}}},
		{"DANE-TA Cert SHA2-512 (2 0 2)", []TLSA{rec(2, 0, 2, p.root)},
			[]*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{1}}},
		{"DANE-TA of the root through an intermediate", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.leafViaInter, p.inter, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{2}}},
		{"DANE-TA of the intermediate", []TLSA{rec(2, 0, 1, p.inter)},
			[]*x509.Certificate{p.leafViaInter, p.inter, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{1}}},
		{"DANE-TA with the root absent from the chain", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.leafViaInter, p.inter}, MatchOptions{Names: mx, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "no certificate in the chain of 2 has a matching public key"}},
		{"DANE-TA Cert Full (2 0 0) carries the trust anchor the server left out", []TLSA{rec(2, 0, 0, p.root)},
			[]*x509.Certificate{p.leaf}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{-1}}},
		{"DANE-TA Cert Full (2 0 0) in the chain", []TLSA{rec(2, 0, 0, p.root)},
			[]*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{1}}},
		{"DANE-TA Cert Full (2 0 0) that does not parse", []TLSA{garbage},
			[]*x509.Certificate{p.leaf}, MatchOptions{Names: mx, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "the record's certificate does not parse"}},
		{"DANE-TA Cert Full (2 0 0) the leaf does not chain to", []TLSA{rec(2, 0, 0, p.otherCA)},
			[]*x509.Certificate{p.leaf}, MatchOptions{Names: mx, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "with the record's certificate as trust anchor: the leaf does not chain to it"}},
		{"DANE-TA requires the name (RFC 7672 §3.2.2)", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: []string{"mx2.example.test", "example.test."}, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: `valid for none of "mx2.example.test", "example.test" (its DNS names: "mx1.example.test")`}},
		{"DANE-TA: any one reference identifier will do, a trailing dot ignored", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: []string{"example.test", "mx1.example.test."}, Now: testNow},
			daneWant{depths: []int{1}}},
		{"DANE-TA: a wildcard certificate covers one label", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.wildLeaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{1}}},
		{"DANE-TA: a wildcard certificate does not cover two labels", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.wildLeaf, p.root}, MatchOptions{Names: []string{"a.mx1.example.test"}, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "valid for none of"}},
		{"DANE-TA without reference identifiers", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.leaf, p.root}, MatchOptions{Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "no reference identifier"}},
		{"DANE-TA with a leaf without DNS names: its common name is checked", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.inter, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: `(no DNS names; its common name: "Test Intermediate")`}},
		{"DANE-TA: the CN-ID stands in when there is no DNS-ID (RFC 7672 §3.2.3), case ignored", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.cnLeaf, p.root}, MatchOptions{Names: []string{"example.test", "mx1.example.test."}, Now: testNow},
			daneWant{depths: []int{1}}},
		{"DANE-TA: a wildcard CN-ID covers one label", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.cnWildLeaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{1}}},
		{"DANE-TA: a wildcard CN-ID does not cover two labels, nor the bare domain", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.cnWildLeaf, p.root}, MatchOptions{Names: []string{"a.mx1.example.test", "example.test"}, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "valid for none of"}},
		{"DANE-TA: with a DNS-ID the CN-ID is not consulted", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.sanAndCN, p.root}, MatchOptions{Names: []string{"example.test"}, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: `(its DNS names: "mx1.example.test")`}},
		{"DANE-TA requires an unexpired leaf", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.expiredLeaf, p.root}, MatchOptions{Names: []string{"other.invalid"}, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "matches the certificate at depth 1, but: the leaf does not chain to it"}},
		{"DANE-TA: the trust anchor's validity counts too", []TLSA{rec(2, 1, 1, p.expiredRoot)},
			[]*x509.Certificate{p.leafOfExpired, p.expiredRoot}, MatchOptions{Names: mx, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "expired"}},
		{"DANE-TA checks validity at Now", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: mx, Now: testNow.Add(365 * 24 * time.Hour)},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "expired"}},
		{"DANE-TA: Now defaults to the clock", []TLSA{rec(2, 1, 1, p.clockRoot)},
			[]*x509.Certificate{p.clockLeaf, p.clockRoot}, MatchOptions{Names: mx},
			daneWant{depths: []int{1}}},
		{"DANE-TA: a chain valid at the clock is not at Now", []TLSA{rec(2, 1, 1, p.clockRoot)},
			[]*x509.Certificate{p.clockLeaf, p.clockRoot}, MatchOptions{Names: mx, Now: time.Now().Add(-48 * time.Hour)},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "not yet valid"}},
		{"DANE-TA requires the chain: a leaf of another CA", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.otherLeaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "the leaf does not chain to it"}},
		{"DANE-TA that matches only the leaf", []TLSA{rec(2, 1, 1, p.leaf)},
			[]*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{mismatched: 1, err: ErrTLSAMismatch, reason: "it matches the leaf certificate, not an issuer"}},
		{"an empty chain", []TLSA{rec(3, 1, 1, p.leaf), rec(2, 1, 1, p.root)}, nil, MatchOptions{Names: mx},
			daneWant{mismatched: 2, err: ErrTLSAMismatch, reason: "presented no certificate"}},
		{"nil certificates in the chain", []TLSA{rec(3, 1, 1, p.leaf), rec(2, 1, 1, p.root)},
			[]*x509.Certificate{nil, p.root}, MatchOptions{Names: mx},
			daneWant{mismatched: 2, err: ErrTLSAMismatch, reason: "presented no certificate"}},
		{"a nil issuer is skipped", []TLSA{rec(2, 1, 1, p.root)},
			[]*x509.Certificate{p.leafViaInter, nil, p.inter, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{3}}},
		{"each record in its list", []TLSA{
			{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2, 3}}, // wrong length: unusable
			rec(3, 1, 1, p.nextLeaf), // the next key: mismatched
			rec(3, 1, 1, p.leaf),     // matched
			rec(2, 1, 1, p.root),     // matched
			rec(1, 1, 1, p.leaf),     // unusable
		}, []*x509.Certificate{p.leaf, p.root}, MatchOptions{Names: mx, Now: testNow},
			daneWant{depths: []int{0, 1}, mismatched: 1, unusable: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := MatchTLSA(c.records, c.chain, c.opts)
			var depths []int
			for _, m := range r.Matched {
				depths = append(depths, m.Depth)
			}
			if !equalInts(depths, c.want.depths) {
				t.Errorf("match depths %v, want %v", depths, c.want.depths)
			}
			if len(r.Mismatched) != c.want.mismatched || len(r.Unusable) != c.want.unusable {
				t.Errorf("%d mismatched and %d unusable, want %d and %d: %v",
					len(r.Mismatched), len(r.Unusable), c.want.mismatched, c.want.unusable, r.Err())
			}
			if n := len(r.Matched) + len(r.Mismatched) + len(r.Unusable); n != len(c.records) {
				t.Errorf("%d records in the result, %d given", n, len(c.records))
			}
			err := r.Err()
			if c.want.err == nil {
				if err != nil {
					t.Fatalf("Err() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, c.want.err) {
				t.Fatalf("Err() = %v, want one wrapping %v", err, c.want.err)
			}
			if !strings.Contains(err.Error(), c.want.reason) {
				t.Errorf("Err() = %q, want it to contain %q", err, c.want.reason)
			}
		})
	}
}

// daneWant is the outcome a case of TestMatchTLSA expects.
type daneWant struct {
	depths     []int  // the depth of each match, in order
	mismatched int    // how many records did not match
	unusable   int    // how many were unusable
	err        error  // what Err wraps; nil for a match
	reason     string // a part of Err's text
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMatchTLSAResultRecords(t *testing.T) {
	p := newPKI(t)
	bad := TLSA{Usage: 0, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	good := rec(3, 1, 1, p.leaf)
	other := rec(3, 1, 1, p.nextLeaf)
	r := MatchTLSA([]TLSA{bad, other, good}, []*x509.Certificate{p.leaf}, MatchOptions{})
	if len(r.Matched) != 1 || r.Matched[0].Record.String() != good.String() || r.Matched[0].Depth != 0 {
		t.Errorf("Matched = %+v, want the record %s at depth 0", r.Matched, good)
	}
	if len(r.Mismatched) != 1 || r.Mismatched[0].Record.String() != other.String() {
		t.Errorf("Mismatched = %v, want %s", r.Mismatched, other)
	}
	if len(r.Unusable) != 1 || !errors.Is(r.Unusable[0], ErrUnusable) {
		t.Errorf("Unusable = %v, want %s wrapping ErrUnusable", r.Unusable, bad)
	}
	msg := r.Unusable[0].Error()
	if !strings.HasPrefix(msg, "TLSA PKIX-TA(0) SPKI(1) SHA2-256(1): unusable TLSA record: usage PKIX-TA(0)") {
		t.Errorf("TLSAError = %q", msg)
	}
	if r.Err() != nil {
		t.Errorf("Err() = %v with a match", r.Err())
	}
}

func TestMatchTLSAZeroCertificates(t *testing.T) {
	// Certificates the caller built by hand rather than parsed: no panic.
	p := newPKI(t)
	chain := []*x509.Certificate{{}, {}}
	r := MatchTLSA([]TLSA{rec(3, 1, 1, p.leaf), rec(2, 0, 0, p.root), rec(2, 1, 1, p.root)}, chain,
		MatchOptions{Names: []string{"mx1.example.test"}, Now: testNow})
	if len(r.Matched) != 0 || len(r.Mismatched) != 3 {
		t.Errorf("matched %d, mismatched %d, want 0 and 3: %v", len(r.Matched), len(r.Mismatched), r.Err())
	}
}

func TestMatchesIdentifier(t *testing.T) {
	for _, c := range []struct {
		id, name string
		want     bool
	}{
		{"mx1.example.test", "mx1.example.test", true},
		{"MX1.Example.Test.", "mx1.example.test", true},
		{"*.example.test", "mx1.example.test", true},
		{"*.example.test", "example.test", false},
		{"*.example.test", "a.mx1.example.test", false},
		{"smtp*.example.test", "smtp1.example.test", false},
		{"*smtp.example.test", "xsmtp.example.test", false},
		{"*.*.test", "a.b.test", false},
		{"*.", "a.", false},
		{"", "", false},
		{"mx1.example.test", "mx2.example.test", false},
	} {
		if got := matchesIdentifier(c.id, c.name); got != c.want {
			t.Errorf("matchesIdentifier(%q, %q) = %v, want %v", c.id, c.name, got, c.want)
		}
	}
}
