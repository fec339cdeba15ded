package bench

import (
	"context"
	"fmt"
	"io"
	"os"
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
// Reported per pass: probes/s; of-bound, the rate over the latency bound
// concurrency ÷ (ScaleRoundTrips × RTT); cpu-ns/probe, this process's CPU
// per probe; hs-cpu-ns, the same for a bare handshake; cpu/hs, their
// ratio; live-B/inflight and heap-B/inflight, the live heap and the heap
// in use per probe in flight (see PassResult); srv- and proxy-cpu-ns/probe.
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
	farm, err := SpawnFarm(exe, FarmSpec{Delay: cfg.RTT / 2, Groups: []FarmGroup{
		{Upstream: target.Addr, Count: cfg.Targets},
		{Upstream: target.TLSAddr, Count: min(cfg.Targets, 250)},
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer farm.Close()
	smtpAddrs, tlsAddrs := farm.Addrs[0], farm.Addrs[1]
	d := &probe.Dialer{TLSConfig: target.cfg}
	ctx := context.Background()
	for _, c := range cfg.Concurrency {
		b.Run(fmt.Sprintf("targets=%d/c=%d", cfg.Targets, c), func(b *testing.B) {
			for range b.N {
				hs := Pass(ctx, cfg.Targets, c, func(ctx context.Context, i int) error {
					return BareHandshake(ctx, tlsAddrs[i%len(tlsAddrs)], target.cfg)
				})
				if hs.Failed > 0 {
					b.Fatalf("bare handshakes: %d of %d failed, first: %v", hs.Failed, hs.Probes, hs.FirstErr)
				}
				srv0, proxy0 := serverCPU(b), farmCPU(b, farm)
				run := Pass(ctx, cfg.Targets, c, func(ctx context.Context, i int) error {
					return ScaleProbe(ctx, d, smtpAddrs[i], io.Discard)
				})
				if run.Failed > 0 {
					b.Fatalf("probes: %d of %d failed, first: %v", run.Failed, run.Probes, run.FirstErr)
				}
				bound := float64(c) / (ScaleRoundTrips * cfg.RTT.Seconds())
				b.ReportMetric(run.Rate(), "probes/s")
				b.ReportMetric(run.Rate()/bound, "of-bound")
				b.ReportMetric(float64(run.CPUPerProbe()), "cpu-ns/probe")
				b.ReportMetric(float64(hs.CPUPerProbe()), "hs-cpu-ns")
				b.ReportMetric(float64(run.CPUPerProbe())/float64(hs.CPUPerProbe()), "cpu/hs")
				b.ReportMetric(run.LiveHeap, "live-B/inflight")
				b.ReportMetric(run.HeapObjects, "heap-B/inflight")
				b.ReportMetric(float64(serverCPU(b)-srv0)/float64(run.Probes), "srv-cpu-ns/probe")
				b.ReportMetric(float64(farmCPU(b, farm)-proxy0)/float64(run.Probes), "proxy-cpu-ns/probe")
				b.ReportMetric(float64(run.Samples), "heap-samples")
			}
		})
	}
}

func farmCPU(b *testing.B, f *Farm) time.Duration {
	t, err := f.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return t
}
