package policy

import (
	"crypto/x509"
	"testing"
)

func TestDigestAgility(t *testing.T) {
	p := newPKI(t)
	ee256, ee512 := rec(3, 1, 1, p.leaf), rec(3, 1, 2, p.nextLeaf) // the SHA2-512 record is of another key
	full := rec(3, 1, 0, p.nextLeaf)
	ta256 := rec(2, 1, 1, p.root)
	pkix := rec(1, 1, 2, p.leaf)
	got := DigestAgility([]TLSA{ee256, pkix, ee512, full, ta256})
	want := []TLSA{ee512, full, ta256} // ee256 gives way to ee512; PKIX-EE is unusable
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].String() != want[i].String() {
			t.Errorf("record %d: %s, want %s", i, got[i], want[i])
		}
	}
	// The whole set authenticates the leaf; what an agile client keeps
	// does not: the domain a sender of RFC 7671 §9 refuses.
	chain := []*x509.Certificate{p.leaf, p.root}
	opts := MatchOptions{Names: []string{"other.example.test"}, Now: testNow}
	if r := MatchTLSA([]TLSA{ee256, ee512}, chain, opts); r.Err() != nil {
		t.Errorf("the whole set: %v", r.Err())
	}
	if r := MatchTLSA(DigestAgility([]TLSA{ee256, ee512}), chain, opts); r.Err() == nil {
		t.Error("the agile set authenticated the leaf with the SHA2-512 record of another key")
	}
	if got := DigestAgility(nil); got != nil {
		t.Errorf("no records: %v", got)
	}
}
