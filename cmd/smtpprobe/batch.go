package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/polite"
	"github.com/smtpprobe/probe/scan"
)

// batch probes many targets with a bounded pool of workers. Targets are
// read lazily, one a line, and each Report is written as one JSON line
// (jsonl.AppendLine: the Report with the number of its input line) as
// soon as its probe completes, or in input order with -ordered, so memory
// does not grow with the number of targets.
type batch struct {
	c       *config
	p       *plan
	sys     stdio
	jobs    chan job
	manners *manners
	order   *polite.Reorder[outLine] // -ordered; nil otherwise

	mu       sync.Mutex // guards what follows, and the writes to stdout and stderr
	werr     error      // the first write error; it stops the batch
	prog     progress
	fdWarned bool
	cancel   context.CancelFunc
}

// job is one target of the list.
type job struct {
	line   int    // its line number in the list, from 1
	target string // the line without surrounding spaces
	seq    int    // its place in the output with -ordered
}

// runBatch reads the -targets list and probes each target; it returns 0
// when every probe succeeded, exitBatch when one failed, exitUsage when a
// line was no valid target (the others are still probed), exitError when
// the list could not be read or the output written.
func runBatch(ctx context.Context, c *config, p *plan, sys stdio) int {
	in, closeIn, err := openTargets(c.targets, sys.in)
	if err != nil {
		fmt.Fprintln(sys.err, "smtpprobe:", err)
		return exitError
	}
	defer closeIn()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	concurrency, note := sys.files.planFiles(c.concurrency)
	if note != "" {
		fmt.Fprintln(sys.err, "smtpprobe:", note)
	}
	b := &batch{c: c, p: p, sys: sys, jobs: make(chan job, concurrency), cancel: cancel}
	total := -1 // unknown; counted only for a progress line
	if isTerminal(sys.err) {
		total = countTargets(c)
	}
	b.prog = newProgress(isTerminal(sys.err), total, time.Now())
	b.prog.shared = b.prog.show && isTerminal(sys.out)
	if b.manners, err = newManners(c, p, sys, b.fdWait); err != nil {
		fmt.Fprintln(sys.err, "smtpprobe:", err)
		return exitError
	}
	if c.batch.ordered {
		b.order = polite.NewReorder(4*concurrency, b.writeLine)
	}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() { b.work(ctx) })
	}
	readErr := b.feed(ctx, in)
	wg.Wait()
	return b.finish(ctx, readErr)
}

// openTargets opens the list: a file, or stdin for "-".
func openTargets(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("-targets: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// listTarget returns the target a list line holds, and whether it holds
// one for this shard: blank lines, # comments and the lines of other
// shards hold none.
func (c *config) listTarget(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") || !c.batch.shard.Owns(t) {
		return "", false
	}
	return t, true
}

// feed sends each target of the list to the workers, and closes the job
// queue. A line that is no valid target is not probed: its report, an
// invalid-input error, is written at once (in its turn with -ordered).
func (b *batch) feed(ctx context.Context, in io.Reader) error {
	defer close(b.jobs)
	var buf []byte
	sc := bufio.NewScanner(in)
	line := 0
	for sc.Scan() {
		line++
		t, ok := b.c.listTarget(sc.Text())
		if !ok {
			continue
		}
		j := job{line: line, target: t}
		if b.order != nil {
			seq, err := b.order.Reserve(ctx)
			if err != nil {
				return nil
			}
			j.seq = seq
		}
		if err := checkTarget(t, b.c.mx); err != nil {
			b.emit(&buf, j, invalidReport(t, err), 1)
			continue
		}
		select {
		case b.jobs <- j:
		case <-ctx.Done():
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("-targets %s: %w", b.c.targets, err)
	}
	return nil
}

// work probes targets until the queue closes.
func (b *batch) work(ctx context.Context) {
	var buf []byte // this worker's output line
	for j := range b.jobs {
		if ctx.Err() != nil {
			continue // drain: the batch was stopped
		}
		rep, tries := b.probe(ctx, j.target)
		b.emit(&buf, j, rep, tries)
	}
}

// probe runs the probe of target, again after a timeout while -retries
// allows, and returns the last Report and the number of tries.
func (b *batch) probe(ctx context.Context, target string) (*scan.Report, int) {
	for try := 1; ; try++ {
		rep := b.probeOnce(ctx, target)
		if try > b.c.batch.retries || rep.Error == nil || rep.Error.Class != scan.ClassTimeout {
			return rep, try
		}
		t := time.NewTimer(retryPause(try))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return rep, try
		}
	}
}

// retryPause is the pause before try+1: 1 s, 2 s, 4 s … at most 30 s.
func retryPause(try int) time.Duration {
	return min(time.Second<<min(try-1, 5), 30*time.Second)
}

// probeOnce waits for the limits of the target's first address, then
// runs one probe under the -timeout.
func (b *batch) probeOnce(ctx context.Context, target string) *scan.Report {
	actx, release, err := b.manners.admit(ctx, target, b.c.timeout)
	if err != nil { // the batch was stopped while waiting
		actx, release = ctx, func() {}
	}
	defer release()
	pctx, cancel := context.WithTimeout(actx, b.c.timeout)
	defer cancel()
	return scan.Run(pctx, b.p.options(target))
}

// fdWait is called when a connect waits for a file descriptor: the first
// time, stderr says so.
func (b *batch) fdWait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prog.fdWaits++
	if !b.fdWarned {
		b.fdWarned = true
		b.prog.clear(b.sys.err)
		fmt.Fprintln(b.sys.err, "smtpprobe: out of file descriptors: connections wait for others to close (lower -concurrency to avoid it)")
	}
}

// finish prints the final progress and picks the exit code.
func (b *batch) finish(ctx context.Context, readErr error) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prog.final(b.sys.err, time.Now())
	switch {
	case b.werr != nil:
		fmt.Fprintln(b.sys.err, "smtpprobe: writing the reports:", b.werr)
		return exitError
	case readErr != nil:
		fmt.Fprintln(b.sys.err, "smtpprobe:", readErr)
		return exitError
	case ctx.Err() != nil:
		fmt.Fprintln(b.sys.err, "smtpprobe: interrupted")
		return exitError
	case b.prog.invalid > 0:
		fmt.Fprintf(b.sys.err, "smtpprobe: -targets %s: lines that are no valid target: %d (their reports say invalid-input)\n", b.c.targets, b.prog.invalid)
		return exitUsage
	case b.prog.failed > 0:
		return exitBatch
	}
	return exitOK
}

// invalidReport is the report of a list line that is no valid target:
// nothing was sent, and its error says why.
func invalidReport(target string, err error) *scan.Report {
	return &scan.Report{
		SchemaVersion: scan.SchemaVersion,
		Target:        target,
		Start:         time.Now().Round(0).UTC(),
		Phases:        []scan.Phase{},
		Error:         &scan.RunError{Class: scan.ClassInvalidInput, Message: err.Error()},
		Findings:      []scan.Finding{},
		Transcript:    new(probe.Transcript),
	}
}
