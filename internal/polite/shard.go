package polite

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a target list, numbered from 0: n
// machines given the same list and the shards 0/n … n-1/n probe every
// target once among them, with no coordinator. A target belongs to the
// shard its line hashes to (FNV-1a, 64 bits, of the line without its
// surrounding spaces), so the split depends on nothing but the line:
// not on the order, the machine or the Go version. Repeated lines land
// on the same shard.
type Shard struct{ Index, Count int }

// ParseShard parses "i/n", 0 ≤ i < n.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || errors.Join(err1, err2) != nil {
		return Shard{}, fmt.Errorf("%q: want i/n, such as 0/4", s)
	}
	if n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("%q: want 0 ≤ i < n", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// String returns "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Owns reports whether line belongs to the shard. The zero Shard owns
// every line.
func (s Shard) Owns(line string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(strings.TrimSpace(line)))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index)
}
