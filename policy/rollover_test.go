package policy

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
)

func TestCheckRollover(t *testing.T) {
	p := newPKI(t)
	cur, next := rec(3, 1, 1, p.leaf), rec(3, 1, 1, p.nextLeaf)
	cases := []struct {
		name    string
		records []TLSA
		leaf    *x509.Certificate
		want    []RolloverRisk
	}{
		// RFC 7671 §8.1: "current + next" is ready for the key change.
		{"3 1 1 current + 3 1 1 next", []TLSA{cur, next}, p.leaf, nil},
		{"3 1 1 current + 3 1 1 next, after the change", []TLSA{cur, next}, p.nextLeaf, nil},
		{"a single 3 1 1", []TLSA{cur}, p.leaf, []RolloverRisk{RolloverSingleKey}},
		{"3 1 1 and 3 0 1 of the same key", []TLSA{cur, rec(3, 0, 1, p.leaf)}, p.leaf, []RolloverRisk{RolloverSingleKey}},
		{"3 1 1 and 3 1 2 of the same key", []TLSA{cur, rec(3, 1, 2, p.leaf)}, p.leaf, []RolloverRisk{RolloverSingleKey}},
		{"a single 3 0 1", []TLSA{rec(3, 0, 1, p.leaf)}, p.leaf, []RolloverRisk{RolloverSingleKey, RolloverCertBound}},
		{"3 0 1 current + 3 0 1 next", []TLSA{rec(3, 0, 1, p.leaf), rec(3, 0, 1, p.nextLeaf)}, p.leaf, []RolloverRisk{RolloverCertBound}},
		{"DANE-TA covers a new leaf key", []TLSA{rec(2, 1, 1, p.root)}, p.leaf, nil},
		{"3 1 1 + 2 1 1", []TLSA{cur, rec(2, 1, 1, p.root)}, p.leaf, nil},
		{"nothing matches the leaf now", []TLSA{next}, p.leaf, nil},
		{"PKIX records do not count", []TLSA{cur, rec(1, 1, 1, p.nextLeaf), rec(0, 1, 1, p.root)}, p.leaf, []RolloverRisk{RolloverSingleKey}},
		{"no usable record", []TLSA{rec(1, 1, 1, p.leaf)}, p.leaf, []RolloverRisk{RolloverNoUsable}},
		{"no record", nil, p.leaf, []RolloverRisk{RolloverNoUsable}},
		{"without the leaf: one record", []TLSA{cur}, nil, []RolloverRisk{RolloverSingleKey}},
		{"without the leaf: the same record twice", []TLSA{cur, cur}, nil, []RolloverRisk{RolloverSingleKey}},
		{"without the leaf: two keys", []TLSA{cur, next}, nil, nil},
		{"without the leaf: Cert only", []TLSA{rec(3, 0, 1, p.leaf), rec(3, 0, 1, p.nextLeaf)}, nil, []RolloverRisk{RolloverCertBound}},
		{"without the leaf: SPKI and Cert", []TLSA{cur, rec(3, 0, 1, p.leaf)}, nil, nil},
	}
	for _, c := range cases {
		got := CheckRollover(c.records, c.leaf)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: CheckRollover = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRolloverRiskString(t *testing.T) {
	cases := map[RolloverRisk]string{
		RolloverNoUsable:  "no usable TLSA record",
		RolloverSingleKey: "RFC 7671 §8.1",
		RolloverCertBound: "every renewal breaks them",
		RolloverRisk(0):   "RolloverRisk(0)",
		RolloverRisk(9):   "RolloverRisk(9)",
	}
	for r, want := range cases {
		if got := r.String(); !strings.Contains(got, want) {
			t.Errorf("RolloverRisk(%d).String() = %q, want it to contain %q", int(r), got, want)
		}
	}
}
