package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/scan"
)

// TestProgressLine: done/total, rate, ETA and failures by class, the most
// frequent first; without a total (stdin) no ETA; drawn only on a
// terminal, in place.
func TestProgressLine(t *testing.T) {
	start := time.Unix(1e9, 0)
	p := newProgress(true, 1000, start)
	for i := range 200 {
		switch {
		case i%10 == 0:
			p.count(false, scan.ClassTimeout)
		case i%25 == 1:
			p.count(false, scan.ClassConnectionRefused)
		case i == 7:
			p.count(false, "")
		default:
			p.count(true, "")
		}
	}
	got := p.line(start.Add(40 * time.Second))
	want := "smtpprobe: 200/1000 probed, 5.0/s, ETA 2m40s, 29 failed (timeout 20, connection-refused 8, other 1)"
	if got != want {
		t.Errorf("progress line\n got %q\nwant %q", got, want)
	}
	p.total = -1
	p.fdWaits = 3
	if got := p.line(start.Add(40 * time.Second)); got != "smtpprobe: 200 probed, 5.0/s, 29 failed (timeout 20, connection-refused 8, other 1), 3 waits for a file descriptor" {
		t.Errorf("without a total: %q", got)
	}
	var w bytes.Buffer
	p.redraw(&w, true)
	p.redraw(&w, false) // within progressEvery: not drawn again
	if s := w.String(); strings.Count(s, "\r\x1b[K") != 1 || strings.Contains(s, "\n") {
		t.Errorf("redraw wrote %q", s)
	}
	off := newProgress(false, 10, start)
	off.count(true, "")
	w.Reset()
	off.redraw(&w, true)
	off.clear(&w)
	off.final(&w, start)
	if w.Len() != 0 {
		t.Errorf("no terminal, yet %q", w.String())
	}
}

// TestCountTargets: the total counts the targets of this shard, not the
// blank lines and comments; stdin has none.
func TestCountTargets(t *testing.T) {
	list := filepath.Join(t.TempDir(), "list")
	if err := os.WriteFile(list, []byte("# c\n\na.test\nb.test\n  c.test  \nd.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &config{targets: list}
	if n := countTargets(c); n != 4 {
		t.Errorf("countTargets = %d, want 4", n)
	}
	sum := 0
	for i := range 2 {
		c.batch.shard.Index, c.batch.shard.Count = i, 2
		sum += countTargets(c)
	}
	if sum != 4 {
		t.Errorf("two shards count %d targets, want 4", sum)
	}
	if n := countTargets(&config{targets: "-"}); n != -1 {
		t.Errorf("stdin: %d, want -1", n)
	}
}
