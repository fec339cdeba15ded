package polite

import (
	"fmt"
	"testing"
)

func TestShardsSplitTheList(t *testing.T) {
	var lines []string
	for i := range 5000 {
		lines = append(lines, fmt.Sprintf("mx%d.example.net:25", i))
	}
	lines = append(lines, "mx7.example.net:25", "  mx7.example.net:25  ") // repeats
	for _, n := range []int{1, 2, 3, 7} {
		owners := make([]int, len(lines))
		sizes := make([]int, n)
		for i := range n {
			s, err := ParseShard(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			for j, l := range lines {
				if s.Owns(l) {
					owners[j]++
					sizes[i]++
				}
			}
		}
		for j, o := range owners {
			if o != 1 {
				t.Fatalf("n=%d: line %q belongs to %d shards, want exactly 1", n, lines[j], o)
			}
		}
		for i, sz := range sizes {
			if want := len(lines) / n; sz < want*8/10 || sz > want*12/10 {
				t.Errorf("n=%d: shard %d holds %d of %d lines, far from an even share", n, i, sz, len(lines))
			}
		}
		s, _ := ParseShard(fmt.Sprintf("0/%d", n))
		if s.Owns("mx7.example.net:25") != s.Owns("  mx7.example.net:25  ") {
			t.Errorf("n=%d: a repeated line landed on another shard", n)
		}
	}
	// The split is a property of the line alone: pinned values.
	s, _ := ParseShard("0/4")
	if got := fmt.Sprint(s.Owns("mx1.example.net:25"), s.Owns("mx2.example.net:25"), s.Owns("mx3.example.net:25")); got != fmt.Sprint(pinned("mx1.example.net:25"), pinned("mx2.example.net:25"), pinned("mx3.example.net:25")) {
		t.Errorf("Owns changed: %s", got)
	}
}

// pinned computes FNV-1a by hand: the documented hash, not the library's.
func pinned(line string) bool {
	h := uint64(14695981039346656037)
	for i := 0; i < len(line); i++ {
		h ^= uint64(line[i])
		h *= 1099511628211
	}
	return h%4 == 0
}

func TestParseShard(t *testing.T) {
	for _, bad := range []string{"", "1", "4/4", "-1/4", "0/0", "a/b", "1/2/3"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if s, err := ParseShard("3/8"); err != nil || s != (Shard{3, 8}) || s.String() != "3/8" {
		t.Errorf("ParseShard(3/8) = %v, %v", s, err)
	}
	if !(Shard{}).Owns("anything") {
		t.Error("the zero Shard must own every line")
	}
}
