package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkScaleCLI runs the smtpprobe binary that PROBE_SCALE_CLI names
// (build it with `go build -o /tmp/smtpprobe ./cmd/smtpprobe`; without it
// the benchmark skips) over the same farm as BenchmarkScale, in batch mode
// as users run it:
//
//	smtpprobe -targets FILE -concurrency C -starttls -quit-after tls -cafile CA -server-name bench.test
//
// and, in the same run, as many bare handshakes in this process. The
// binary's CPU is its own (getrusage of the child); its rate is taken from
// its reports' start and duration, over the time every worker was busy;
// maxrss-KiB/inflight is its peak resident memory per probe in flight.
func BenchmarkScaleCLI(b *testing.B) {
	bin := os.Getenv("PROBE_SCALE_CLI")
	if bin == "" {
		b.Skip("PROBE_SCALE_CLI names no smtpprobe binary")
	}
	cfg, err := ScaleFromEnv(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	if target.remote == nil {
		b.Skip("the server must run in its child process")
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	farm, err := SpawnFarm(exe, FarmSpec{Delay: cfg.RTT / 2, CorrectTimers: true, Groups: []FarmGroup{
		{Upstream: target.Addr, Count: cfg.Targets},
		{Upstream: target.TLSAddr, Count: min(cfg.Targets, 250)},
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer farm.Close()
	dir := b.TempDir()
	list, ca := filepath.Join(dir, "targets.txt"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(list, []byte(strings.Join(farm.Addrs[0], "\n")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(ca, target.CAPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	for _, c := range cfg.Concurrency {
		b.Run(fmt.Sprintf("targets=%d/c=%d", cfg.Targets, c), func(b *testing.B) {
			for range b.N {
				all := make([]int, cfg.Targets)
				for i := range all {
					all[i] = i
				}
				tlsAddrs := farm.Addrs[1]
				hs := Pass(context.Background(), all, c, BaseHeap(), func(ctx context.Context, i int) error {
					return BareHandshake(ctx, tlsAddrs[i%len(tlsAddrs)], target.cfg)
				})
				if hs.Failed > 0 {
					b.Fatalf("bare handshakes: %d failed, first: %v", hs.Failed, hs.FirstErr)
				}
				cli, err := runCLI(bin, list, ca, c)
				if err != nil {
					b.Fatal(err)
				}
				if cli.failed > 0 || cli.lines != cfg.Targets {
					b.Fatalf("smtpprobe: %d lines for %d targets, %d failed", cli.lines, cfg.Targets, cli.failed)
				}
				bound := float64(c) / (ScaleRoundTrips * cfg.RTT.Seconds())
				perProbe := cli.cpu / time.Duration(cfg.Targets)
				b.ReportMetric(cli.rate, "probes/s")
				b.ReportMetric(cli.rate/bound, "of-bound")
				b.ReportMetric(float64(perProbe), "cpu-ns/probe")
				b.ReportMetric(float64(hs.CPUPerProbe()), "hs-cpu-ns")
				b.ReportMetric(float64(perProbe)/float64(hs.CPUPerProbe()), "cpu/hs")
				b.ReportMetric(float64(cli.maxRSS)/1024/float64(c), "maxrss-KiB/inflight")
			}
		})
	}
}

// cliRun is what one run of the binary measured.
type cliRun struct {
	lines, failed int
	cpu           time.Duration
	maxRSS        int64 // bytes
	rate          float64
}

// runCLI runs the binary over the list and reads its reports.
func runCLI(bin, list, ca string, concurrency int) (cliRun, error) {
	cmd := exec.Command(bin, "-targets", list, "-concurrency", fmt.Sprint(concurrency), "-starttls", "-quit-after", "tls",
		"-cafile", ca, "-server-name", ServerName, "-timeout", "60")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return cliRun{}, err
	}
	if err := cmd.Start(); err != nil {
		return cliRun{}, err
	}
	var r cliRun
	var done []time.Time
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rep struct {
			Start    time.Time     `json:"start"`
			Duration time.Duration `json:"duration_ns"`
			Success  bool          `json:"success"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return r, fmt.Errorf("smtpprobe wrote no Report: %w", err)
		}
		r.lines++
		if !rep.Success {
			r.failed++
		}
		done = append(done, rep.Start.Add(rep.Duration))
	}
	if err := cmd.Wait(); err != nil && r.failed == 0 {
		return r, fmt.Errorf("smtpprobe: %w", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	r.maxRSS = ru.Maxrss * 1024
	r.rate = steadyRate(done, concurrency)
	return r, nil
}

// steadyRate is the rate of completions while every worker was busy: from
// the first wave's end to the last probe's start, which the completions
// show as the concurrency-th and the concurrency-th from last.
func steadyRate(done []time.Time, workers int) float64 {
	slices.SortFunc(done, time.Time.Compare)
	if len(done) <= 2*workers {
		if len(done) < 2 {
			return 0
		}
		return float64(len(done)-1) / done[len(done)-1].Sub(done[0]).Seconds()
	}
	first, last := done[workers-1], done[len(done)-workers]
	return float64(len(done)-2*workers+1) / last.Sub(first).Seconds()
}
