package exporter

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// heapInUse is the live heap after two collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// probeBatch runs n probes of a fresh fakeserver (closed afterwards, so
// that what it keeps of its sessions is garbage) from workers goroutines,
// and returns how many did not succeed.
func probeBatch(t testing.TB, e http.Handler, n, workers int) int64 {
	srv, err := fakeserver.Start(fakeserver.Config{NoRecord: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := "/probe?module=plain&target=" + srv.Addr()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				w := httptest.NewRecorder()
				e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
				if w.Code != http.StatusOK || !succeeded(w.Body.String()) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return failed.Load()
}

// succeeded reports an exposition with probe_success 1.
func succeeded(body string) bool { return strings.Contains(body, "\nprobe_success 1\n") }

// TestHeapAfterManyProbes: 10,000 probes (1,000 under -race or -short)
// leave no goroutine behind (TestMain's goleak) and the heap where it
// was once the history ring is full.
func TestHeapAfterManyProbes(t *testing.T) {
	total := 10000
	if raceEnabled || testing.Short() {
		total = 1000
	}
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n    timeout: 20s\n", nil, Options{History: 100})
	if f := probeBatch(t, e, 300, 8); f != 0 { // fills the ring, warms the pools
		t.Fatalf("%d warm-up probes failed", f)
	}
	goroutines := runtime.NumGoroutine()
	before := heapInUse()
	start := time.Now()
	for done := 0; done < total; done += 1000 {
		if f := probeBatch(t, e, 1000, 8); f != 0 {
			t.Fatalf("%d of 1000 probes failed", f)
		}
	}
	took := time.Since(start)
	after := heapInUse()
	t.Logf("%d probes in %v (%.0f/s); heap %d KiB before, %d KiB after", total, took.Round(time.Millisecond),
		float64(total)/took.Seconds(), before>>10, after>>10)
	// The ring holds 100 probes either way; what grows beyond a little
	// noise is a leak (a probe's report, transcript or registry kept).
	if after > before+2<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB over %d probes", before>>10, after>>10, total)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the probes, %d before", n, goroutines)
	}
}

// BenchmarkProbe64 scrapes /probe over HTTP from 64 goroutines at once,
// each probe a whole plaintext session (connect, banner, EHLO, QUIT) with
// a fakeserver on loopback. It reports probes per second and the peak
// heap in use while it ran (the fakeserver's records of its sessions
// included).
func BenchmarkProbe64(b *testing.B) {
	srv := fakeserver.NewTB(b, fakeserver.Config{NoRecord: true})
	e := newExporter(b, "modules:\n  plain:\n    tls: none\n    timeout: 20s\n", nil, Options{MaxConcurrent: 128})
	hs := httptest.NewServer(e)
	defer hs.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := hs.URL + "/probe?module=plain&target=" + srv.Addr()

	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	})
	var failed atomic.Int64
	b.ReportAllocs()
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				failed.Add(1)
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !succeeded(string(body)) {
				failed.Add(1)
			}
		}
	})
	took := time.Since(start)
	close(stop)
	sampler.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d probes failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "probes/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}
