package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// progressEvery is the least time between two progress lines.
const progressEvery = 200 * time.Millisecond

// batch probes many targets with a bounded pool of workers. Targets are
// read lazily, one a line, and each Report is written as one JSON line as
// soon as its probe completes (completion order), so memory does not grow
// with the number of targets.
type batch struct {
	c    *config
	p    *plan
	sys  stdio
	jobs chan string

	mu       sync.Mutex // guards what follows, and the writes to stdout and stderr
	done     int
	failed   int
	invalid  int   // lines that were no target: their report says invalid-input
	werr     error // the first write error; it stops the batch
	progress bool  // stderr is a terminal: show a progress line
	shared   bool  // stdout is a terminal too: clear the progress line before each report
	lastShow time.Time
	cancel   context.CancelFunc
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
	b := &batch{c: c, p: p, sys: sys, jobs: make(chan string, c.concurrency),
		progress: isTerminal(sys.err), cancel: cancel}
	b.shared = b.progress && isTerminal(sys.out)
	var wg sync.WaitGroup
	for range c.concurrency {
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

// feed sends each target of the list to the workers, skipping blank lines
// and # comments, and closes the job queue. A line that is no valid target
// is not probed: its report, an invalid-input error, is written at once.
func (b *batch) feed(ctx context.Context, in io.Reader) error {
	defer close(b.jobs)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if err := checkTarget(t, b.c.mx); err != nil {
			b.write(invalidReport(t, err))
			continue
		}
		select {
		case b.jobs <- t:
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
	for t := range b.jobs {
		if ctx.Err() != nil {
			continue // drain: the batch was stopped
		}
		pctx, cancel := context.WithTimeout(ctx, b.c.timeout)
		rep := scan.Run(pctx, b.p.options(t))
		cancel()
		b.write(rep)
	}
}

// write prints one Report as one JSON line, and the progress.
func (b *batch) write(rep *scan.Report) {
	line, err := json.Marshal(rep)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.werr != nil {
		return
	}
	if b.shared && !b.lastShow.IsZero() {
		fmt.Fprint(b.sys.err, "\r\x1b[K")
	}
	if err == nil {
		_, err = b.sys.out.Write(append(line, '\n'))
	}
	if err != nil {
		b.werr = err
		b.cancel()
		return
	}
	b.done++
	if !rep.Success {
		b.failed++
	}
	if rep.Error != nil && rep.Error.Class == scan.ClassInvalidInput {
		b.invalid++
	}
	b.showProgress(b.shared)
}

// showProgress rewrites the progress line on a terminal stderr, at most
// every progressEvery unless now. The caller holds b.mu.
func (b *batch) showProgress(now bool) {
	if !b.progress || (!now && time.Since(b.lastShow) < progressEvery) {
		return
	}
	b.lastShow = time.Now()
	b.printProgress("")
}

// printProgress writes the progress line, ending with end.
func (b *batch) printProgress(end string) {
	fmt.Fprintf(b.sys.err, "\r\x1b[Ksmtpprobe: %d probed, %d failed%s", b.done, b.failed, end)
}

// finish prints the final progress and picks the exit code.
func (b *batch) finish(ctx context.Context, readErr error) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.progress {
		b.printProgress("\n")
	}
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
	case b.invalid > 0:
		fmt.Fprintf(b.sys.err, "smtpprobe: -targets %s: lines that are no valid target: %d (their reports say invalid-input)\n", b.c.targets, b.invalid)
		return exitUsage
	case b.failed > 0:
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
