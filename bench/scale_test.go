package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
)

func TestScaleFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	if c, err := ScaleFromEnv(env(nil)); err != nil || c.Targets != 200 || !slices.Equal(c.Concurrency, []int{20}) {
		t.Errorf("default: %+v, %v", c, err)
	}
	if c, err := ScaleFromEnv(env(map[string]string{"PROBE_SCALE": "full"})); err != nil || c.Targets != 10000 || !slices.Equal(c.Concurrency, []int{100, 1000}) {
		t.Errorf("full: %+v, %v", c, err)
	}
	if c, err := ScaleFromEnv(env(map[string]string{"PROBE_SCALE_TARGETS": "3000", "PROBE_SCALE_CONCURRENCY": "10, 300"})); err != nil || c.Targets != 3000 || !slices.Equal(c.Concurrency, []int{10, 300}) {
		t.Errorf("overridden: %+v, %v", c, err)
	}
	for _, bad := range []map[string]string{{"PROBE_SCALE_TARGETS": "0"}, {"PROBE_SCALE_CONCURRENCY": "10,x"}, {"PROBE_SCALE_TARGETS": "70000"}} {
		if _, err := ScaleFromEnv(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestRounds(t *testing.T) {
	for _, tc := range []struct{ n, workers, rounds int }{{10000, 100, 10}, {10000, 1000, 2}, {200, 20, 2}, {50, 100, 1}} {
		r := Rounds(tc.n, tc.workers)
		var all []int
		for _, items := range r {
			all = append(all, items...)
		}
		slices.Sort(all)
		if len(r) != tc.rounds || len(all) != tc.n || all[0] != 0 || all[tc.n-1] != tc.n-1 || len(slices.Compact(all)) != tc.n {
			t.Errorf("Rounds(%d, %d): %d rounds, %d items", tc.n, tc.workers, len(r), len(all))
		}
	}
}

// TestScaleProbeThroughFarm: a farm in a child process forwards to the
// server with a 10 ms delay each way; the scale probe passes through it in
// about ScaleRoundTrips RTTs and writes a JSON line with its line number,
// and the RTT meter finds the RTT the proxies make.
func TestScaleProbeThroughFarm(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const delay = 10 * time.Millisecond
	farm, err := SpawnFarm(exe, FarmSpec{Delay: delay, CorrectTimers: true, Groups: []FarmGroup{{Upstream: target.Addr, Count: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer farm.Close()
	if a := farm.Addrs[0]; len(a) != 2 || !strings.HasPrefix(a[0], "127.64.0.1:") || !strings.HasPrefix(a[1], "127.64.0.2:") {
		t.Fatalf("farm addresses %v", farm.Addrs)
	}
	var out bytes.Buffer
	sink := NewScaleSink(&out)
	start := time.Now()
	if err := sink.ScaleProbe(context.Background(), &probe.Dialer{TLSConfig: target.cfg}, farm.Addrs[0][0], 7); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if min := ScaleRoundTrips * 2 * delay; took < min || took > min+150*time.Millisecond {
		t.Errorf("the probe took %v, want about %v", took, min)
	}
	var line struct {
		Line   int    `json:"line"`
		Target string `json:"target"`
		Stage  string `json:"stage"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil || line.Line != 7 || line.Target != farm.Addrs[0][0] || line.Stage != "tls" {
		t.Errorf("output %s: %+v, %v", out.Bytes(), line, err)
	}
	m, err := StartRTTMeter(farm.Addrs[0][1])
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	rtt, n, err := m.Stop()
	if err != nil || n < 3 || rtt < 2*delay-MaxTimerLead || rtt > 2*delay+20*time.Millisecond {
		t.Errorf("RTT meter: %v over %d NOOPs, %v; want about %v", rtt, n, err, 2*delay)
	}
}
