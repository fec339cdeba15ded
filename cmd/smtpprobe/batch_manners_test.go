package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/internal/polite"
)

// acceptLog records when servers accepted their connections.
type acceptLog struct {
	mu    sync.Mutex
	times map[string][]time.Time // by the server's IP address
}

// server starts a server on addr, an IP address of its own and port 0,
// that logs its accept times, and returns its address.
func (l *acceptLog) server(t *testing.T, addr string) string {
	t.Helper()
	ip, _, _ := net.SplitHostPort(addr)
	srv := fakeserver.NewTB(t, fakeserver.Config{Addr: addr, NoRecord: true, OnConnect: func(*fakeserver.Session) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.times[ip] = append(l.times[ip], time.Now())
		return false
	}})
	return srv.Addr()
}

func (l *acceptLog) of(addrs ...string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ts []time.Time
	for _, a := range addrs {
		ip, _, _ := net.SplitHostPort(a)
		ts = append(ts, l.times[ip]...)
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// spacingSlack is how late a busy machine may let the server see a
// connection: accept times can bunch when the server's goroutines wait
// for a core, but they cannot run ahead of the limit.
const spacingSlack = 40 * time.Millisecond

// checkSpacing checks accept times against a rate of one per gap with a
// burst of one: any k+1 connections span at least k gaps, less the slack.
func checkSpacing(t *testing.T, what string, ts []time.Time, gap time.Duration) {
	t.Helper()
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if span, min := ts[j].Sub(ts[i]), time.Duration(j-i)*gap-spacingSlack; span < min {
				t.Errorf("connections %d to %d to %s came within %v, want at least %v (%d gaps of %v, less %v)",
					i+1, j+1, what, span, min, j-i, gap, spacingSlack)
				return
			}
		}
	}
}

// TestBatchRatePerNetwork: -rate-net 20 spaces the connections to two
// servers of one /24 by 50 ms (see checkSpacing),
// while a server of another /24 keeps a pace of its own.
func TestBatchRatePerNetwork(t *testing.T) {
	log := &acceptLog{times: map[string][]time.Time{}}
	a1 := log.server(t, "127.77.1.1:0")
	a2 := log.server(t, "127.77.1.2:0")
	other := log.server(t, "127.78.1.1:0")
	var list strings.Builder
	for range 5 {
		fmt.Fprintf(&list, "%s\n%s\n%s\n", a1, a2, other)
	}
	start := time.Now()
	code, out, stderr := runBatchCLI(t, stdio{}, list.String(), "-rate-net", "20", "-concurrency", "15", "-quit-after", "banner")
	if code != exitOK || len(out) != 15 {
		t.Fatalf("exit %d, %d lines, stderr %q", code, len(out), stderr)
	}
	same := log.of(a1, a2)
	if len(same) != 10 {
		t.Fatalf("%d connections to the /24 127.77.1.0, want 10", len(same))
	}
	const gap = 50 * time.Millisecond
	checkSpacing(t, "one /24", same, gap)
	if span := same[len(same)-1].Sub(same[0]); span > 9*gap+600*time.Millisecond {
		t.Errorf("10 connections at 20/s took %v: the limit is slower than asked", span)
	}
	otherTimes := log.of(other)
	if len(otherTimes) != 5 {
		t.Fatalf("%d connections to the other /24, want 5", len(otherTimes))
	}
	// Its own five at 20/s take 200 ms; sharing the first /24's limit,
	// they would take 700.
	if last := otherTimes[len(otherTimes)-1].Sub(start); last > 4*gap+250*time.Millisecond {
		t.Errorf("the other /24's last connection came %v after the start: held back by another network's limit", last)
	}
}

// TestBatchRatePerHost: -rate-host 25 with a burst of one spaces the
// connections to one host by 40 ms.
func TestBatchRatePerHost(t *testing.T) {
	log := &acceptLog{times: map[string][]time.Time{}}
	a := log.server(t, "127.79.1.1:0")
	code, _, stderr := runBatchCLI(t, stdio{}, strings.Repeat(a+"\n", 6), "-rate-host", "25", "-concurrency", "6", "-quit-after", "banner")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	checkSpacing(t, "one host", log.of(a), 40*time.Millisecond)
}

// countingDialer counts the connections it holds open, and fails a share
// of its connects with EMFILE.
type countingDialer struct {
	open, most, emfiles atomic.Int64
	failShare           float64 // of the connects, failed with EMFILE
	mu                  sync.Mutex
	rnd                 *rand.Rand
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	fail := d.rnd.Float64() < d.failShare
	d.mu.Unlock()
	if fail {
		d.emfiles.Add(1)
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("socket", syscall.EMFILE)}
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	n := d.open.Add(1)
	for m := d.most.Load(); n > m && !d.most.CompareAndSwap(m, n); m = d.most.Load() {
	}
	return &countedConn{Conn: c, d: d}, nil
}

type countedConn struct {
	net.Conn
	d    *countingDialer
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.d.open.Add(-1) })
	return c.Conn.Close()
}

// TestBatchFileLimit: with an open-file limit of 48 (soft and hard) and
// -concurrency 100, the batch says on stderr that it caps the concurrency
// at 8, and never holds more connections; with a soft limit below a
// higher hard one, it raises the soft limit and says so.
func TestBatchFileLimit(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{NoRecord: true, BannerDelay: 5 * time.Millisecond})
	d := &countingDialer{rnd: rand.New(rand.NewPCG(1, 2))}
	var setTo atomic.Uint64
	files := fileLimits{
		get: func() (polite.FileLimit, error) { return polite.FileLimit{Soft: 48, Hard: 48}, nil },
		set: func(soft uint64) error { setTo.Store(soft); return nil },
	}
	code, out, stderr := runBatchCLI(t, stdio{dialer: d, files: files}, strings.Repeat(srv.Addr()+"\n", 60), "-concurrency", "100", "-quit-after", "banner")
	if code != exitOK || len(out) != 60 {
		t.Fatalf("exit %d, %d lines, stderr %q", code, len(out), stderr)
	}
	if !strings.Contains(stderr, "concurrency capped at 8: the open-file limit is 48") || setTo.Load() != 0 {
		t.Errorf("stderr %q, soft limit set to %d", stderr, setTo.Load())
	}
	if most := d.most.Load(); most > 8 || most < 2 {
		t.Errorf("up to %d connections open at once, want at most 8 (and some concurrency)", most)
	}

	files.get = func() (polite.FileLimit, error) { return polite.FileLimit{Soft: 64, Hard: 8192}, nil }
	code, _, stderr = runBatchCLI(t, stdio{dialer: d, files: files}, srv.Addr()+"\n", "-concurrency", "100", "-quit-after", "banner")
	if code != exitOK || setTo.Load() != 8192 || !strings.Contains(stderr, "open-file limit raised from 64 to 8192") {
		t.Errorf("exit %d, soft limit set to %d, stderr %q", code, setTo.Load(), stderr)
	}

	files.set = func(uint64) error { return errors.New("operation not permitted") }
	code, _, stderr = runBatchCLI(t, stdio{dialer: d, files: files}, srv.Addr()+"\n", "-concurrency", "100", "-quit-after", "banner")
	if code != exitOK || !strings.Contains(stderr, "could not be raised (operation not permitted); concurrency capped at 16") {
		t.Errorf("the limit cannot be raised: exit %d, stderr %q", code, stderr)
	}
}

// TestBatchOutOfFiles: when a third of the connects find no file
// descriptor (EMFILE), no probe fails: the connects wait and try again,
// and stderr says so once.
func TestBatchOutOfFiles(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{NoRecord: true})
	d := &countingDialer{rnd: rand.New(rand.NewPCG(3, 4)), failShare: 0.33}
	code, out, stderr := runBatchCLI(t, stdio{dialer: d}, strings.Repeat(srv.Addr()+"\n", 300), "-concurrency", "50", "-quit-after", "banner")
	failed := 0
	for _, o := range out {
		if !o.Success {
			failed++
		}
	}
	if code != exitOK || len(out) != 300 || failed > 0 {
		t.Fatalf("exit %d, %d lines, %d failed; stderr %q", code, len(out), failed, stderr)
	}
	if d.emfiles.Load() < 50 || strings.Count(stderr, "out of file descriptors") != 1 {
		t.Errorf("%d EMFILEs; stderr %q", d.emfiles.Load(), stderr)
	}
}

// TestBatchRetries: a target that times out is probed once by default,
// and 1 + N times with -retries N, its line saying how many.
func TestBatchRetries(t *testing.T) {
	var conns atomic.Int64
	srv := fakeserver.NewTB(t, fakeserver.Config{NoRecord: true, BannerDelay: time.Second, OnConnect: func(*fakeserver.Session) bool {
		conns.Add(1)
		return false
	}})
	code, out, _ := runBatchCLI(t, stdio{}, srv.Addr()+"\n", "-timeout", "100ms")
	if code != exitBatch || len(out) != 1 || out[0].Error == nil || out[0].Error.Class != "timeout" || out[0].Tries != 0 || conns.Load() != 1 {
		t.Fatalf("default: exit %d, %+v, %d connections; want one try", code, out, conns.Load())
	}
	conns.Store(0)
	code, out, _ = runBatchCLI(t, stdio{}, srv.Addr()+"\n", "-timeout", "100ms", "-retries", "1")
	if code != exitBatch || len(out) != 1 || out[0].Tries != 2 || conns.Load() != 2 {
		t.Errorf("-retries 1: exit %d, %+v, %d connections; want two tries", code, out, conns.Load())
	}
	for _, bad := range [][]string{{"-retries", "1"}, {"-rate-net", "5"}, {"-ordered"}} {
		if r := runCLI(t, append(bad, "127.0.0.1")...); r.code != exitUsage || !strings.Contains(r.stderr, "needs -targets") {
			t.Errorf("%v without -targets: exit %d, stderr %q", bad, r.code, r.stderr)
		}
	}
}

// countingResolver counts the questions a resolver is asked.
type countingResolver struct {
	fakeResolver
	mx, hosts atomic.Int64
}

func (r *countingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	r.mx.Add(1)
	return r.fakeResolver.LookupMX(ctx, name)
}

func (r *countingResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	r.hosts.Add(1)
	return r.fakeResolver.LookupHost(ctx, host)
}

// TestBatchMXHostLimitAndCache: with -mx, two domains whose MX is one host
// share that host's limit (-rate-host 20: 50 ms apart), and the DNS cache
// asks each question once for the whole batch.
func TestBatchMXHostLimitAndCache(t *testing.T) {
	log := &acceptLog{times: map[string][]time.Time{}}
	addr := log.server(t, "127.80.1.1:0")
	_, port, _ := net.SplitHostPort(addr)
	r := &countingResolver{fakeResolver: fakeResolver{
		mx: map[string][]*net.MX{
			"a.test": {{Host: "mx.shared.test.", Pref: 10}},
			"b.test": {{Host: "mx.shared.test.", Pref: 10}},
		},
		hosts: map[string][]string{"mx.shared.test": {"127.80.1.1"}},
	}}
	list := strings.Repeat("a.test:"+port+"\nb.test:"+port+"\n", 3)
	code, out, stderr := runBatchCLI(t, stdio{resolver: r}, list, "-mx", "-rate-host", "20", "-concurrency", "6", "-quit-after", "banner")
	if code != exitOK || len(out) != 6 {
		t.Fatalf("exit %d, %d lines, stderr %q", code, len(out), stderr)
	}
	ts := log.of(addr)
	if len(ts) != 6 {
		t.Fatalf("%d connections, want 6", len(ts))
	}
	checkSpacing(t, "the shared MX host", ts, 50*time.Millisecond)
	if r.mx.Load() != 2 || r.hosts.Load() != 1 {
		t.Errorf("the resolver was asked %d MX and %d address questions, want 2 and 1 (the cache answers the rest)", r.mx.Load(), r.hosts.Load())
	}
}

// TestBatchThroughProxy: in batch mode the connections still go through
// the -proxy: socks5h hands it the names, socks5 the addresses resolved
// here (a name the proxy's hosts map knows is not known to this side, so
// socks5 is given an address target).
func TestBatchThroughProxy(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{NoRecord: true})
	_, port, _ := net.SplitHostPort(srv.Addr())
	named := "mail.example.test:" + port
	for _, tc := range []struct{ scheme, target string }{{"socks5h", named}, {"socks5", srv.Addr()}} {
		px := newSOCKSServer(t, "", "", map[string]string{"mail.example.test": "127.0.0.1"})
		code, out, stderr := runBatchCLI(t, stdio{}, tc.target+"\n"+tc.target+"\n", "-proxy", tc.scheme+"://"+px.addr(), "-quit-after", "ehlo", "-rate-host", "50")
		if code != exitOK || len(out) != 2 {
			t.Fatalf("%s: exit %d, %+v, stderr %q", tc.scheme, code, out, stderr)
		}
		seen := px.seen()
		if len(seen) != 2 || seen[0].target != tc.target || seen[1].target != tc.target {
			t.Errorf("%s: the proxy saw %+v, want two CONNECTs to %s", tc.scheme, seen, tc.target)
		}
	}
}
