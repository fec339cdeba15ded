package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/smtpprobe/probe/scan"
)

// progressEvery is the least time between two redraws of the progress.
const progressEvery = 200 * time.Millisecond

// progress is the batch's progress line, shown on a terminal stderr only
// and redrawn in place: done/total, rate, ETA, failures by class. It is
// never part of the JSON output. Its owner guards it.
type progress struct {
	show   bool // stderr is a terminal
	shared bool // stdout is the same terminal: clear the line before each report
	total  int  // targets in the list, or -1 when unknown (stdin)
	start  time.Time
	drawn  time.Time // the last redraw; zero before the first

	done, failed, invalid int
	classes               map[scan.ErrorClass]int
	fdWaits               int
}

func newProgress(show bool, total int, now time.Time) progress {
	return progress{show: show, total: total, start: now, classes: map[scan.ErrorClass]int{}}
}

// count adds one report.
func (p *progress) count(ok bool, class scan.ErrorClass) {
	p.done++
	if ok {
		return
	}
	p.failed++
	if class == "" {
		class = scan.ClassOther
	}
	p.classes[class]++
	if class == scan.ClassInvalidInput {
		p.invalid++
	}
}

// redraw draws the line again, at most every progressEvery unless now.
func (p *progress) redraw(w io.Writer, now bool) {
	t := time.Now()
	if !p.show || (!now && t.Sub(p.drawn) < progressEvery) {
		return
	}
	p.drawn = t
	fmt.Fprint(w, "\r\x1b[K"+p.line(t))
}

// clear erases the line, if drawn, before something else is written.
func (p *progress) clear(w io.Writer) {
	if p.show && !p.drawn.IsZero() {
		fmt.Fprint(w, "\r\x1b[K")
	}
}

// final draws the line one last time and ends it.
func (p *progress) final(w io.Writer, now time.Time) {
	if p.show {
		fmt.Fprint(w, "\r\x1b[K"+p.line(now)+"\n")
	}
}

// line renders the progress: "smtpprobe: 1200/10000 probed, 85.2/s,
// ETA 1m43s, 17 failed (timeout 12, connection-refused 5)".
func (p *progress) line(now time.Time) string {
	var b strings.Builder
	b.WriteString("smtpprobe: ")
	if p.total >= 0 {
		fmt.Fprintf(&b, "%d/%d probed", p.done, p.total)
	} else {
		fmt.Fprintf(&b, "%d probed", p.done)
	}
	elapsed := now.Sub(p.start)
	if p.done > 0 && elapsed > 0 {
		rate := float64(p.done) / elapsed.Seconds()
		fmt.Fprintf(&b, ", %.1f/s", rate)
		if left := p.total - p.done; p.total >= 0 && left > 0 {
			fmt.Fprintf(&b, ", ETA %v", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
		}
	}
	fmt.Fprintf(&b, ", %d failed", p.failed)
	if len(p.classes) > 0 {
		b.WriteString(" (" + p.failures() + ")")
	}
	if p.fdWaits > 0 {
		fmt.Fprintf(&b, ", %d waits for a file descriptor", p.fdWaits)
	}
	return b.String()
}

// failures lists the failures by class, the most frequent first.
func (p *progress) failures() string {
	classes := make([]scan.ErrorClass, 0, len(p.classes))
	for c := range p.classes {
		classes = append(classes, c)
	}
	slices.SortFunc(classes, func(a, b scan.ErrorClass) int {
		if d := p.classes[b] - p.classes[a]; d != 0 {
			return d
		}
		return strings.Compare(string(a), string(b))
	})
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%s %d", c, p.classes[c])
	}
	return strings.Join(parts, ", ")
}

// countTargets counts the targets of a -targets file for the progress
// (those of this shard), or returns -1 for stdin or a file it cannot read
// (the batch itself reports that).
func countTargets(c *config) int {
	if c.targets == "-" {
		return -1
	}
	f, err := os.Open(c.targets)
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if _, ok := c.listTarget(sc.Text()); ok {
			n++
		}
	}
	if sc.Err() != nil {
		return -1
	}
	return n
}
