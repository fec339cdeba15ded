package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
	"go.uber.org/goleak"
)

// lineFeeder hands out targets one line per Read, so the number of Reads
// is the number of targets the batch has taken, and records how many it
// held at most that were not yet written out.
type lineFeeder struct {
	lines       []string
	next        int
	targets     int64 // lines read that hold a target
	written     *atomic.Int64
	maxInFlight int64
}

func (f *lineFeeder) Read(p []byte) (int, error) {
	if f.next == len(f.lines) {
		return 0, io.EOF
	}
	if len(p) < len(f.lines[f.next]) {
		return 0, io.ErrShortBuffer
	}
	line := f.lines[f.next]
	n := copy(p, line)
	f.next++
	if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
		f.targets++
	}
	f.maxInFlight = max(f.maxInFlight, f.targets-f.written.Load())
	return n, nil
}

// lineCounter is stdout counting the lines written.
type lineCounter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines atomic.Int64
}

func (w *lineCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines.Add(int64(bytes.Count(p, []byte("\n"))))
	return w.buf.Write(p)
}

func (w *lineCounter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestBatchThousand: 1,000 targets over four servers (two with STARTTLS,
// two plaintext) at concurrency 32: 1,000 JSON lines, each a Report of
// the right target; the list is read lazily (never more than the workers
// and the queue ahead of the output); goroutines return to the baseline.
func TestBatchThousand(t *testing.T) {
	const n, concurrency = 1000, 32
	pki := newTestPKI(t)
	var addrs []string
	var servers []*fakeserver.Server
	for i := range 4 {
		cfg := fakeserver.Config{NoRecord: true}
		if i%2 == 0 {
			cfg.TLSCert = &pki.Valid
		}
		srv, err := fakeserver.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, srv)
		addrs = append(addrs, srv.Addr())
	}
	baseline := goleak.IgnoreCurrent()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	out := &lineCounter{}
	feeder := &lineFeeder{written: &out.lines}
	want := map[string]int{}
	for i := range n {
		if i%100 == 0 {
			feeder.lines = append(feeder.lines, "# comment\n", "\n")
		}
		addr := addrs[i%len(addrs)]
		want[addr]++
		feeder.lines = append(feeder.lines, "  "+addr+"  \n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errb bytes.Buffer
	code := runContext(ctx, []string{"-targets", "-", "-concurrency", fmt.Sprint(concurrency), "-cafile", pki.caFile, "-quit-after", "tls"},
		stdio{in: feeder, out: out, err: &errb, getenv: func(string) string { return "" }})
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}

	got := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		var rep scan.Report
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			t.Fatalf("line %d is not a Report: %v", lines, err)
		}
		if !rep.Success || rep.SchemaVersion != scan.SchemaVersion {
			t.Fatalf("line %d: %s", lines, sc.Text())
		}
		if tlsWanted := rep.Target == addrs[0] || rep.Target == addrs[2]; tlsWanted != (rep.TLS != nil && rep.TLS.Verified) {
			t.Fatalf("line %d: target %s, TLS %+v", lines, rep.Target, rep.TLS)
		}
		got[rep.Target]++
	}
	if lines != n || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%d lines, targets %v; want %d lines, targets %v", lines, got, n, want)
	}
	if limit := int64(2*concurrency + 2); feeder.maxInFlight > limit {
		t.Errorf("up to %d targets read ahead of the output, want at most %d: the list is not read lazily", feeder.maxInFlight, limit)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr %q: no progress line when stderr is not a terminal", errb.String())
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("heap in use: %d KiB before, %d KiB after (holding %d KiB of output); at most %d targets in flight",
		before.HeapInuse>>10, after.HeapInuse>>10, len(out.String())>>10, feeder.maxInFlight)
	for _, srv := range servers {
		srv.Close()
	}
	if err := goleak.Find(baseline); err != nil {
		t.Errorf("goroutines left after the batch: %v", err)
	}
}

// TestBatchFailures: failing targets still give their line, the exit code
// is 2, and a terminal stderr gets a progress line.
func TestBatchFailures(t *testing.T) {
	good := fakeserver.NewTB(t, fakeserver.Config{})
	closed := fakeserver.ClosedAddr(t)
	list := "# two good, one closed\n" + good.Addr() + "\n\n" + closed + "\n" + good.Addr() + "\n"
	stderr := &ttyBuffer{}
	r := invocation{args: []string{"-targets", "-", "-concurrency", "2"}, stdin: list, stderr: stderr}.run(t)
	if r.code != exitBatch {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	byTarget := map[string]scan.Report{}
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var rep scan.Report
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		byTarget[rep.Target] = rep
	}
	if len(byTarget) != 2 || strings.Count(r.stdout, "\n") != 3 {
		t.Fatalf("reports: %s", r.stdout)
	}
	if rep := byTarget[closed]; rep.Success || rep.Error == nil || rep.Error.Class != scan.ClassConnectionRefused {
		t.Errorf("closed port report: %+v", rep.Error)
	}
	if !byTarget[good.Addr()].Success {
		t.Errorf("good target failed: %+v", byTarget[good.Addr()].Error)
	}
	if !regexp.MustCompile(`\r\x1b\[Ksmtpprobe: 3 probed, [0-9.]+/s, 1 failed \(connection-refused 1\)\n$`).MatchString(r.stderr) {
		t.Errorf("progress on a terminal: %q", r.stderr)
	}

	// stdout on the same terminal: the progress line is cleared before
	// each report (but the first) and drawn again after it.
	r = invocation{args: []string{"-targets", "-", "-concurrency", "2"}, stdin: list, stdout: &ttyBuffer{}, stderr: &ttyBuffer{}}.run(t)
	if got := strings.Count(r.stderr, "\r\x1b[K"); got != 6 || strings.Count(r.stderr, "smtpprobe: ") != 4 || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("shared terminal: %d clears, stderr %q", got, r.stderr)
	}
}

// TestBatchInput: a missing list and an over-long line are errors (exit 1).
func TestBatchInput(t *testing.T) {
	if r := runCLI(t, "-targets", "/nonexistent/targets"); r.code != exitError || !strings.Contains(r.stderr, "-targets: open /nonexistent/targets") {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
	r := invocation{args: []string{"-targets", "-"}, stdin: strings.Repeat("x", 100<<10) + "\n"}.run(t)
	if r.code != exitError || !strings.Contains(r.stderr, "token too long") {
		t.Errorf("long line: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBatchWriteError: when stdout fails, the batch stops and exits 1.
func TestBatchWriteError(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	list := strings.Repeat(srv.Addr()+"\n", 50)
	r := invocation{args: []string{"-targets", "-", "-concurrency", "4", "-quit-after", "banner"}, stdin: list, stdout: &failingWriter{}}.run(t)
	if r.code != exitError || !strings.Contains(r.stderr, "writing the reports: disk full") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

type failingWriter struct{}

func (*failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
func (*failingWriter) String() string            { return "" }

// TestBatchFromFile: a list file, with the message flags applied to every
// target: each server gets its own message with the -header on top.
func TestBatchFromFile(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	list := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(list, []byte(strings.Repeat(srv.Addr()+"\n", 3)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "-targets", list, "-to", "bob@example.test", "-header", "X-Batch: yes")
	if r.code != exitOK || strings.Count(r.stdout, "\n") != 3 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	msgs, err := srv.WaitMessages(3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if !bytes.HasPrefix(m.Data, []byte("X-Batch: yes\r\nFrom: <postmaster@localhost>\r\n")) {
			t.Errorf("message:\n%s", m.Data)
		}
	}
}
