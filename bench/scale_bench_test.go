package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
)

// BenchmarkScale probes many targets, each a delay proxy of its own
// (RTT 50 ms) in a child process in front of the server's child, with the
// probe of the CLI's batch mode (ScaleProbe: STARTTLS, stop after TLS, a
// JSON line per Report), at each concurrency of the run; before it, in the
// same run, as many bare TLS handshakes through the same kind of proxies
// (BareHandshake), the yardstick of the client's CPU. The size comes from
// the environment (ScaleFromEnv): 200 targets at concurrency 20 by
// default, PROBE_SCALE=full for 10,000 at 100 and 1,000.
//
// Between the two, the floor client (FloorTLSCheck: the same exchanges
// with nothing parsed or recorded) makes the same probes, and while the
// probes run an RTTMeter times NOOPs through one more proxy.
//
// Reported per pass: probes/s; of-bound, the rate over the latency bound
// concurrency ÷ (ScaleRoundTrips × RTT); floor-of-bound, the same for the
// floor client; eff-rtt-ms, the median NOOP round trip during the probes,
// and of-eff-bound, the rate over the bound with that RTT; cpu-ns/probe, this process's CPU
// per probe; hs-cpu-ns, the same for a bare handshake; cpu/hs, their
// ratio; live-B/inflight and heap-B/inflight, the live heap and the heap
// in use per probe in flight, and stack-B/inflight, the goroutine stacks
// (see PassResult); srv- and proxy-cpu-ns/probe;
// alloc-B/probe and allocs/probe, what each probe allocated (and
// floor-alloc-B/probe for the floor client).
func BenchmarkScale(b *testing.B) {
	cfg, err := ScaleFromEnv(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	if target.remote == nil {
		b.Skip("the scale benchmark measures the client alone: it needs the server in its child process")
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	farm, err := SpawnFarm(exe, FarmSpec{Delay: cfg.RTT / 2, CorrectTimers: true, Groups: []FarmGroup{
		{Upstream: target.Addr, Count: cfg.Targets + 1}, // the last for the RTT meter
		{Upstream: target.TLSAddr, Count: min(cfg.Targets, 250)},
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer farm.Close()
	d := &probe.Dialer{TLSConfig: target.cfg}
	for _, c := range cfg.Concurrency {
		b.Run(fmt.Sprintf("targets=%d/c=%d", cfg.Targets, c), func(b *testing.B) {
			for range b.N {
				scaleRound(b, cfg, c, farm, d)
			}
		})
	}
}

// scaleRound measures one concurrency: the bare handshakes, the floor
// client and the probes, interleaved round by round (Rounds), forwards
// and backwards in turn, and reports.
func scaleRound(b *testing.B, cfg ScaleConfig, c int, farm *Farm, d *probe.Dialer) {
	ctx := context.Background()
	smtpAddrs, tlsAddrs := farm.Addrs[0][:cfg.Targets], farm.Addrs[1]
	var hs, floor, run PassResult
	sink := NewScaleSink(io.Discard)
	var srvCPU, proxyCPU time.Duration
	meter, err := StartRTTMeter(farm.Addrs[0][cfg.Targets])
	if err != nil {
		b.Fatal(err)
	}
	base := BaseHeap()
	for r, items := range Rounds(cfg.Targets, c) {
		passes := []func(){
			func() {
				hs.Add(Pass(ctx, items, c, base, func(ctx context.Context, i int) error {
					return BareHandshake(ctx, tlsAddrs[i%len(tlsAddrs)], target.cfg)
				}))
			},
			func() {
				floor.Add(Pass(ctx, items, c, base, func(ctx context.Context, i int) error {
					ctx, cancel := context.WithTimeout(ctx, time.Minute)
					defer cancel()
					return FloorTLSCheck(ctx, smtpAddrs[i], target.cfg)
				}))
			},
			func() {
				srv0, proxy0 := serverCPU(b), farmCPU(b, farm)
				run.Add(Pass(ctx, items, c, base, func(ctx context.Context, i int) error {
					return sink.ScaleProbe(ctx, d, smtpAddrs[i], i+1)
				}))
				srvCPU += serverCPU(b) - srv0
				proxyCPU += farmCPU(b, farm) - proxy0
			},
		}
		// Odd rounds run the passes in reverse order, so that the
		// handshakes and the probes each go first as often, and at the
		// boundary between rounds a kind follows itself (the garbage a
		// pass leaves is collected in the next).
		if r%2 == 1 {
			slices.Reverse(passes)
		}
		for _, pass := range passes {
			pass()
		}
	}
	rtt, _, err := meter.Stop()
	if err != nil {
		b.Fatal(err)
	}
	for name, r := range map[string]PassResult{"bare handshakes": hs, "floor probes": floor, "probes": run} {
		if r.Failed > 0 {
			b.Fatalf("%s: %d of %d failed, first: %v", name, r.Failed, r.Probes, r.FirstErr)
		}
	}
	bound := float64(c) / (ScaleRoundTrips * cfg.RTT.Seconds())
	b.ReportMetric(run.Rate(), "probes/s")
	b.ReportMetric(run.Rate()/bound, "of-bound")
	b.ReportMetric(floor.Rate()/bound, "floor-of-bound")
	b.ReportMetric(float64(rtt)/1e6, "eff-rtt-ms")
	b.ReportMetric(run.Rate()/(float64(c)/(ScaleRoundTrips*rtt.Seconds())), "of-eff-bound")
	b.ReportMetric(float64(run.CPUPerProbe()), "cpu-ns/probe")
	b.ReportMetric(float64(hs.CPUPerProbe()), "hs-cpu-ns")
	b.ReportMetric(float64(run.CPUPerProbe())/float64(hs.CPUPerProbe()), "cpu/hs")
	b.ReportMetric(float64(floor.CPUPerProbe())/float64(hs.CPUPerProbe()), "floor-cpu/hs")
	b.ReportMetric(run.LiveHeap(), "live-B/inflight")
	b.ReportMetric(run.HeapObjects(), "heap-B/inflight")
	b.ReportMetric(median(run.Stacks), "stack-B/inflight")
	b.ReportMetric(median(hs.Stacks), "hs-stack-B/inflight")
	b.ReportMetric(float64(srvCPU)/float64(run.Probes), "srv-cpu-ns/probe")
	b.ReportMetric(float64(proxyCPU)/float64(run.Probes), "proxy-cpu-ns/probe")
	b.ReportMetric(float64(len(run.Live)), "heap-samples")
	b.ReportMetric(float64(run.AllocBytes)/float64(run.Probes), "alloc-B/probe")
	b.ReportMetric(float64(run.AllocObjects)/float64(run.Probes), "allocs/probe")
	b.ReportMetric(float64(floor.AllocBytes)/float64(floor.Probes), "floor-alloc-B/probe")
}

func farmCPU(b *testing.B, f *Farm) time.Duration {
	t, err := f.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return t
}
