package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// batchOut is what a batch line holds that these tests look at.
type batchOut struct {
	Line    int    `json:"line"`
	Tries   int    `json:"tries"`
	Target  string `json:"target"`
	Success bool   `json:"success"`
	Error   *struct {
		Class string `json:"class"`
	} `json:"error"`
}

// runBatchCLI runs smtpprobe with args in batch mode on the list and
// returns the exit code, the decoded lines and stderr.
func runBatchCLI(t *testing.T, sys stdio, list string, args ...string) (int, []batchOut, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	sys.in, sys.out, sys.err = strings.NewReader(list), &out, &errb
	if sys.getenv == nil {
		sys.getenv = func(string) string { return "" }
	}
	code := runContext(ctx, append([]string{"-targets", "-"}, args...), sys)
	var lines []batchOut
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		var o batchOut
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, l)
		}
		lines = append(lines, o)
	}
	return code, lines, errb.String()
}

// TestBatchOrderedWithLineNumbers: servers that answer after 0, 30 and
// 60 ms, listed slow first and repeated, with comments and an invalid
// line: without -ordered the lines come in completion order, with it in
// input order; every line carries its input line number, so the repeats
// are told apart.
func TestBatchOrderedWithLineNumbers(t *testing.T) {
	var addrs []string
	for _, d := range []time.Duration{60 * time.Millisecond, 30 * time.Millisecond, 0} {
		addrs = append(addrs, fakeserver.NewTB(t, fakeserver.Config{BannerDelay: d}).Addr())
	}
	var list strings.Builder
	var wantLines []int
	wantTarget := map[int]string{}
	line := 0
	add := func(s string, target bool) {
		line++
		list.WriteString(s + "\n")
		if target {
			wantLines = append(wantLines, line)
			wantTarget[line] = strings.TrimSpace(s)
		}
	}
	add("# survey", false)
	for i := range 12 {
		add("  "+addrs[i%3]+" ", true)
		if i == 5 {
			add("", false)
			add("not a target!", true)
		}
	}
	for _, ordered := range []bool{false, true} {
		args := []string{"-concurrency", "6", "-quit-after", "banner"}
		if ordered {
			args = append(args, "-ordered")
		}
		code, out, stderr := runBatchCLI(t, stdio{}, list.String(), args...)
		if code != exitUsage {
			t.Fatalf("ordered=%v: exit %d, stderr %q", ordered, code, stderr)
		}
		var got []int
		for _, o := range out {
			if o.Target != wantTarget[o.Line] {
				t.Errorf("ordered=%v: line %d says target %q, the list has %q", ordered, o.Line, o.Target, wantTarget[o.Line])
			}
			got = append(got, o.Line)
		}
		sorted := slices.Sorted(slices.Values(got))
		if fmt.Sprint(sorted) != fmt.Sprint(wantLines) {
			t.Fatalf("ordered=%v: lines %v, want each of %v once", ordered, got, wantLines)
		}
		if inOrder := slices.Equal(got, wantLines); inOrder != ordered {
			t.Errorf("ordered=%v: output in input order: %v (%v)", ordered, inOrder, got)
		}
	}
}

// TestBatchShards: three shards of one list, with repeated lines, are
// disjoint and their union is the list. (Only 127.0.0.1 answers; the other
// loopback addresses refuse, which is a report like any other.)
func TestBatchShards(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{NoRecord: true})
	_, port, _ := strings.Cut(srv.Addr(), ":")
	var lines []string
	var want []int
	for i := range 60 {
		host := fmt.Sprintf("127.0.0.%d", 1+i%25) // lines 26… repeat lines 1…
		lines = append(lines, net.JoinHostPort(host, port))
		want = append(want, i+1)
	}
	text := strings.Join(lines, "\n") + "\n"
	seen := map[int]int{}
	owner := map[int]int{}
	var sizes []int
	for i := range 3 {
		code, out, stderr := runBatchCLI(t, stdio{}, text, "-shard", fmt.Sprintf("%d/3", i), "-quit-after", "connect", "-concurrency", "8")
		if code != exitOK && code != exitBatch {
			t.Fatalf("shard %d/3: exit %d, stderr %q", i, code, stderr)
		}
		for _, o := range out {
			seen[o.Line]++
			owner[o.Line] = i
		}
		sizes = append(sizes, len(out))
	}
	for _, l := range want {
		if seen[l] != 1 {
			t.Errorf("line %d was probed by %d shards, want 1", l, seen[l])
		}
		if l > 25 && owner[l] != owner[l-25] {
			t.Errorf("line %d, a repeat of line %d, went to shard %d, not %d", l, l-25, owner[l], owner[l-25])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d lines probed, want %d", len(seen), len(want))
	}
	t.Logf("shard sizes %v", sizes)
	if code, _, stderr := runBatchCLI(t, stdio{}, text, "-shard", "3/3"); code != exitUsage || !strings.Contains(stderr, "-shard") {
		t.Errorf("-shard 3/3: exit %d, stderr %q", code, stderr)
	}
}
