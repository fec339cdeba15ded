package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
)

// parallel runs op b.N times on workers goroutines and reports ops per
// second of wall time and the process CPU per op.
func parallel(b *testing.B, workers int, op func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cpu := startCPU(b)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) && failed.Load() == nil {
				if err := op(ctx); err != nil {
					failed.Store(&err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "probes/s")
	cpu.report(b, b.N)
}

// BenchmarkThroughput counts TLS probes per second (banner, EHLO,
// STARTTLS with verdicts, EHLO, QUIT) at 1, 16 and 256 concurrent probes,
// through scan.Run ("run"), through the same Conn calls ("conn"), and
// with net/smtp and go-smtp (the same commands as their APIs send them),
// and with the floor client (FloorTLSCheck: the least any client can do
// for the same exchanges), next to the ceiling: a bare verified crypto/tls
// handshake (connect, handshake, close) against the same server's
// implicit-TLS port.
func BenchmarkThroughput(b *testing.B) {
	d := &probe.Dialer{TLSConfig: target.cfg}
	for _, workers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("run/c=%d", workers), func(b *testing.B) {
			parallel(b, workers, func(ctx context.Context) error {
				return RunTLSCheck(ctx, d, target.Addr)
			})
		})
		b.Run(fmt.Sprintf("conn/c=%d", workers), func(b *testing.B) {
			parallel(b, workers, func(ctx context.Context) error {
				return ProbeTLSCheck(ctx, d, target.Addr)
			})
		})
		b.Run(fmt.Sprintf("netsmtp/c=%d", workers), func(b *testing.B) {
			parallel(b, workers, func(context.Context) error {
				return NetSMTPTLSCheck(target.Addr, target.cfg)
			})
		})
		b.Run(fmt.Sprintf("gosmtp/c=%d", workers), func(b *testing.B) {
			parallel(b, workers, func(context.Context) error {
				return GoSMTPTLSCheck(target.Addr, target.cfg)
			})
		})
		b.Run(fmt.Sprintf("floor/c=%d", workers), func(b *testing.B) {
			parallel(b, workers, func(ctx context.Context) error {
				return FloorTLSCheck(ctx, target.Addr, target.cfg)
			})
		})
		b.Run(fmt.Sprintf("tls-handshake/c=%d", workers), func(b *testing.B) {
			parallel(b, workers, func(ctx context.Context) error {
				return TLSHandshake(ctx, target.TLSAddr, target.cfg)
			})
		})
	}
}

// openConns is how many sessions BenchmarkConnMemory holds open.
const openConns = 1000

// BenchmarkConnMemory opens openConns sessions after EHLO with each
// client, holds them, and reports the growth of the live heap per session
// ("heapB/conn"). The server runs in its own process unless
// PROBE_BENCH_SERVER=inproc, so the figure is the client's.
func BenchmarkConnMemory(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opens := []struct {
		name string
		open func() (close func() error, err error)
	}{
		{"probe", func() (func() error, error) {
			c, err := OpenProbe(ctx, target.Addr)
			if err != nil {
				return nil, err
			}
			return c.Close, nil
		}},
		{"netsmtp", func() (func() error, error) {
			c, err := OpenNetSMTP(target.Addr)
			if err != nil {
				return nil, err
			}
			return c.Close, nil
		}},
		{"gosmtp", func() (func() error, error) {
			c, err := OpenGoSMTP(target.Addr)
			if err != nil {
				return nil, err
			}
			return c.Close, nil
		}},
	}
	for _, o := range opens {
		b.Run(o.name, func(b *testing.B) {
			var perConn float64
			for i := 0; i < b.N; i++ {
				perConn += heapPerConn(b, o.open)
			}
			b.ReportMetric(perConn/float64(b.N), "heapB/conn")
		})
	}
}

// heapPerConn opens openConns sessions and returns the live heap they add,
// per session, then closes them.
func heapPerConn(b *testing.B, open func() (func() error, error)) float64 {
	closers := make([]func() error, 0, openConns)
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	before := liveHeap()
	for range openConns {
		c, err := open()
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, c)
	}
	after := liveHeap()
	runtime.KeepAlive(closers)
	return float64(int64(after)-int64(before)) / openConns
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
