package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/jsonl"
	"github.com/smtpprobe/probe/internal/polite"
	"github.com/smtpprobe/probe/scan"
)

// ScaleRoundTrips is how many round trips the scale probe costs at least:
// banner, EHLO, STARTTLS, the TLS 1.3 handshake (the client's Finished
// leaves with the next EHLO), EHLO, QUIT. Connecting to the proxy costs
// nothing (it is local); the proxy reaches the server one delay later, so
// the banner arrives one RTT after connect.
const ScaleRoundTrips = 6

// ScaleConfig is the size of a scale run.
type ScaleConfig struct {
	// Targets is how many targets, each a proxy of its own.
	Targets int
	// Concurrency lists the numbers of probes in flight to measure.
	Concurrency []int
	// RTT is the round-trip time the proxies add.
	RTT time.Duration
}

// The smoke size, which CI runs, and the full size of issue 20.
var (
	smokeScale = ScaleConfig{Targets: 200, Concurrency: []int{20}, RTT: 50 * time.Millisecond}
	fullScale  = ScaleConfig{Targets: 10000, Concurrency: []int{100, 1000}, RTT: 50 * time.Millisecond}
)

// ScaleFromEnv reads the size of a scale run from the environment through
// getenv: PROBE_SCALE=full is 10,000 targets at concurrency 100 and 1,000;
// otherwise (the default) 200 targets at concurrency 20. PROBE_SCALE_TARGETS
// and PROBE_SCALE_CONCURRENCY (a comma-separated list) override either.
func ScaleFromEnv(getenv func(string) string) (ScaleConfig, error) {
	cfg := smokeScale
	if getenv("PROBE_SCALE") == "full" {
		cfg = fullScale
	}
	if v := getenv("PROBE_SCALE_TARGETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxFarmGroup {
			return cfg, fmt.Errorf("PROBE_SCALE_TARGETS=%q: want 1 to %d", v, maxFarmGroup)
		}
		cfg.Targets = n
	}
	if v := getenv("PROBE_SCALE_CONCURRENCY"); v != "" {
		cfg.Concurrency = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return cfg, fmt.Errorf("PROBE_SCALE_CONCURRENCY=%q: want numbers above 0", v)
			}
			cfg.Concurrency = append(cfg.Concurrency, n)
		}
	}
	return cfg, nil
}

// PassResult is what one or more passes over the targets measured.
type PassResult struct {
	Probes   int
	Failed   int
	FirstErr error
	Wall     time.Duration
	CPU      time.Duration // this process, user and system
	// Steady and SteadyWall are the probes completed, and the time, while
	// every worker was busy: from the completion of the first wave (as
	// many probes as workers) to the moment the last item was taken. The
	// start and the end of a pass, when fewer probes are in flight, are
	// left out of the rate.
	Steady     int
	SteadyWall time.Duration
	// Live and Objects are the heap samples taken while every worker had
	// a probe in flight, less the heap before the pass, per probe in
	// flight: the live heap as of the last GC (/gc/heap/live:bytes) and the
	// heap in use with not yet collected garbage
	// (/memory/classes/heap/objects:bytes).
	Live, Objects []float64
	// Stacks are samples of the goroutine stacks, taken likewise
	// (/memory/classes/heap/stacks:bytes): not heap, but memory each
	// probe in flight holds (the TLS handshake grows its goroutine's).
	Stacks []float64
	// AllocBytes and AllocObjects are what the pass allocated in all
	// (/gc/heap/allocs:bytes and :objects).
	AllocBytes, AllocObjects uint64
}

// Add accumulates another pass into r.
func (r *PassResult) Add(o PassResult) {
	r.Probes += o.Probes
	r.Failed += o.Failed
	if r.FirstErr == nil {
		r.FirstErr = o.FirstErr
	}
	r.Wall += o.Wall
	r.CPU += o.CPU
	r.Steady += o.Steady
	r.SteadyWall += o.SteadyWall
	r.AllocBytes += o.AllocBytes
	r.AllocObjects += o.AllocObjects
	r.Live = append(r.Live, o.Live...)
	r.Objects = append(r.Objects, o.Objects...)
	r.Stacks = append(r.Stacks, o.Stacks...)
}

// Rate is probes per second while every worker was busy, or over the
// whole wall time when the passes were too short to have such a time.
func (r PassResult) Rate() float64 {
	if r.Steady > 0 && r.SteadyWall > 0 {
		return float64(r.Steady) / r.SteadyWall.Seconds()
	}
	return float64(r.Probes) / r.Wall.Seconds()
}

// CPUPerProbe is this process's CPU time per probe.
func (r PassResult) CPUPerProbe() time.Duration { return r.CPU / time.Duration(max(r.Probes, 1)) }

// LiveHeap is the median of the live-heap samples.
func (r PassResult) LiveHeap() float64 { return median(r.Live) }

// HeapObjects is the median of the heap-in-use samples.
func (r PassResult) HeapObjects() float64 { return median(r.Objects) }

// Pass runs op once for each item on workers goroutines and measures the
// pass; its heap samples are taken less base (BaseHeap). op gets the item.
// No GC is forced: a forced GC shrinks the heap, and the runtime then
// spends the pass returning memory to the system and taking it back,
// which a long batch never does.
func Pass(ctx context.Context, items []int, workers int, base HeapFigures, op func(ctx context.Context, i int) error) PassResult {
	var next, inFlight atomic.Int64
	var mu sync.Mutex
	var done []time.Time
	var drained time.Time // when the last item was taken
	res := PassResult{Probes: len(items)}
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	sampled.Go(func() {
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			in := inFlight.Load()
			h := readHeap()
			if in == int64(workers) && inFlight.Load() == in {
				res.Live = append(res.Live, float64(int64(h.live)-int64(base.live))/float64(in))
				res.Objects = append(res.Objects, float64(int64(h.objects)-int64(base.objects))/float64(in))
				res.Stacks = append(res.Stacks, float64(int64(h.stacks)-int64(base.stacks))/float64(in))
			}
		}
	})
	bytes0, objects0 := readAllocs()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(items) {
					return
				}
				if k == len(items)-1 {
					mu.Lock()
					drained = time.Now()
					mu.Unlock()
				}
				inFlight.Add(1)
				err := op(ctx, items[k])
				inFlight.Add(-1)
				mu.Lock()
				done = append(done, time.Now())
				if err != nil {
					res.Failed++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Wall = time.Since(start)
	res.CPU = cpuTime() - cpu0
	bytes1, objects1 := readAllocs()
	res.AllocBytes, res.AllocObjects = bytes1-bytes0, objects1-objects0
	close(stop)
	sampled.Wait()
	if len(done) > workers {
		first := done[workers-1]
		for _, t := range done[workers:] {
			if t.After(drained) {
				break
			}
			res.Steady++
		}
		res.SteadyWall = drained.Sub(first)
	}
	return res
}

// Rounds splits n items into rounds of at least 5 × workers items each,
// at most 10 rounds: passes of different kinds interleaved round by round
// meet the same load from the rest of the machine.
func Rounds(n, workers int) [][]int {
	r := max(1, min(10, n/(5*workers)))
	rounds := make([][]int, r)
	for i := range n {
		rounds[i%r] = append(rounds[i%r], i)
	}
	return rounds
}

// HeapFigures are the live heap and the heap in use, in bytes.
type HeapFigures struct{ live, objects, stacks uint64 }

// BaseHeap collects the garbage and returns the heap left: what a run holds
// before its probes.
func BaseHeap() HeapFigures {
	runtime.GC()
	return readHeap()
}

// readHeap reads the live heap and the heap in use from runtime/metrics.
func readHeap() HeapFigures {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return HeapFigures{live: s[0].Value.Uint64(), objects: s[1].Value.Uint64(), stacks: s[2].Value.Uint64()}
}

// readAllocs reads the bytes and objects allocated so far.
func readAllocs() (allocated, objects uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// ScaleProbe is the probe the scale benchmark runs, as the CLI's batch mode
// runs it for `smtpprobe -targets FILE -starttls -quit-after tls`: scan.Run
// under a per-probe timeout, STARTTLS required, stopping after TLS (and
// the EHLO that follows it) with QUIT, connecting through the batch's
// polite.Dialer (a shared DNS cache, no limits), the Report encoded as one
// JSON line with its line number (jsonl.AppendLine, as the CLI writes it)
// into a reused buffer and written to out.
func (s *ScaleSink) ScaleProbe(ctx context.Context, d *probe.Dialer, addr string, line int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	o := scan.Options{Target: addr, Dialer: *d, Resolver: s.cache, StartTLS: scan.StartTLSRequired, QuitAfter: scan.StageTLS}
	o.Dialer.NetDialer = s.dialer
	rep := scan.Run(ctx, o)
	buf := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(buf)
	b, err := jsonl.AppendLine((*buf)[:0], line, 1, rep)
	*buf = b
	if err != nil {
		return err
	}
	s.mu.Lock()
	_, err = s.out.Write(b)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return err
	}
	if rep.TLS == nil || !rep.TLS.Verified {
		return errors.New("bench: the scale probe reported no verified TLS")
	}
	return nil
}

// ScaleSink is what the probes of a scale run share, as the CLI's batch
// workers do: the output, the DNS cache and the dialer.
type ScaleSink struct {
	out    io.Writer
	mu     sync.Mutex
	bufs   sync.Pool
	cache  *polite.Cache
	dialer *polite.Dialer
}

// NewScaleSink returns a ScaleSink writing to out.
func NewScaleSink(out io.Writer) *ScaleSink {
	cache := polite.NewCache(nil, polite.CacheConfig{})
	return &ScaleSink{
		out:    out,
		bufs:   sync.Pool{New: func() any { return new([]byte) }},
		cache:  cache,
		dialer: &polite.Dialer{Resolver: cache, Limiter: polite.NewLimiter(polite.Limits{})},
	}
}

// BareHandshake is the yardstick of the scale probe's CPU: connect to an
// implicit-TLS port and complete a verified crypto/tls handshake, close.
func BareHandshake(ctx context.Context, addr string, cfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return TLSHandshake(ctx, addr, cfg)
}

// sampleEvery is the period of the heap samples of a Pass.
const sampleEvery = 100 * time.Millisecond
