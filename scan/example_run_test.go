package scan_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// loopbackDNS stands in for DNS: every domain has one MX, mx.<domain>, on
// 127.0.0.1, except null.test, which publishes a null MX (RFC 7505).
type loopbackDNS struct{}

func (loopbackDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if name == "null.test" {
		return []*net.MX{{Host: ".", Pref: 0}}, nil
	}
	return []*net.MX{{Host: "mx." + name + ".", Pref: 10}}, nil
}

func (loopbackDNS) LookupHost(context.Context, string) ([]string, error) {
	return []string{"127.0.0.1"}, nil
}

// phaseHistogram is a Prometheus-style histogram of phase durations with
// one bucket, fed by Trace.PhaseDone as the probes run.
type phaseHistogram struct {
	count, fast map[scan.Stage]int
}

func (h *phaseHistogram) observe(name scan.Stage, d time.Duration, _ error) {
	h.count[name]++
	if d <= 5*time.Second {
		h.fast[name]++
	}
}

// writeReport exports one Report as gauges.
func writeReport(w io.Writer, rep *scan.Report) {
	target := fmt.Sprintf("target=%q", rep.Target)
	success := 0
	if rep.Success {
		success = 1
	}
	fmt.Fprintf(w, "smtp_probe_success{%s} %d\n", target, success)
	fmt.Fprintf(w, "smtp_probe_stage_info{%s,stage=%q} 1\n", target, rep.Stage)
	if e := rep.Error; e != nil {
		fmt.Fprintf(w, "smtp_probe_error_info{%s,class=%q,stage=%q,code=\"%d\"} 1\n", target, e.Class, e.Stage, e.Code)
	}
	if rep.TLS != nil {
		fmt.Fprintf(w, "smtp_probe_tls_info{%s,version=%q,verified=\"%t\"} 1\n", target, rep.TLS.VersionName, rep.TLS.Verified)
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "smtp_probe_finding{%s,id=%q,severity=%q} 1\n", target, f.ID, f.Severity)
	}
	// The phases of this very run, in seconds, are in the Report too:
	// for _, p := range rep.Phases { … p.Name, p.Duration.Seconds() … }
}

// A monitoring agent runs a probe per target every minute and exports
// the Report as metrics; the trace hooks feed a histogram of the phase
// durations as the probes go.
func ExampleRun_metrics() {
	pki, err := fakeserver.NewPKI("mx.example.test")
	if err != nil {
		panic(err)
	}
	srv := startExampleServer(fakeserver.Config{Hostname: "mx.example.test", TLSCert: &pki.Valid})
	defer srv.Close()

	hist := &phaseHistogram{count: map[scan.Stage]int{}, fast: map[scan.Stage]int{}}
	ctx := scan.WithTrace(context.Background(), &scan.Trace{PhaseDone: hist.observe})

	for _, target := range []string{"example.test", "null.test"} {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a bound for the whole probe
		rep := scan.Run(ctx, scan.Options{
			Target:     target,
			MX:         true,
			Resolver:   loopbackDNS{},
			Port:       srv.Port(),
			Dialer:     probe.Dialer{LocalName: "monitor.example.test", TLSConfig: &tls.Config{RootCAs: pki.CAPool()}},
			StartTLS:   scan.StartTLSRequired,
			QuitAfter:  scan.StageTLS,
			ExpectName: "mx.example.test",
		})
		cancel()
		writeReport(os.Stdout, rep)
	}

	phases := make([]scan.Stage, 0, len(hist.count))
	for name := range hist.count {
		phases = append(phases, name)
	}
	slices.Sort(phases)
	for _, name := range phases {
		fmt.Printf("smtp_probe_phase_seconds_bucket{phase=%q,le=\"5\"} %d\n", name, hist.fast[name])
		fmt.Printf("smtp_probe_phase_seconds_count{phase=%q} %d\n", name, hist.count[name])
	}
	// Output:
	// smtp_probe_success{target="example.test"} 1
	// smtp_probe_stage_info{target="example.test",stage="tls"} 1
	// smtp_probe_tls_info{target="example.test",version="TLS 1.3",verified="true"} 1
	// smtp_probe_success{target="null.test"} 0
	// smtp_probe_stage_info{target="null.test",stage=""} 1
	// smtp_probe_error_info{target="null.test",class="null-mx",stage="resolve",code="0"} 1
	// smtp_probe_phase_seconds_bucket{phase="banner",le="5"} 1
	// smtp_probe_phase_seconds_count{phase="banner"} 1
	// smtp_probe_phase_seconds_bucket{phase="connect",le="5"} 1
	// smtp_probe_phase_seconds_count{phase="connect"} 1
	// smtp_probe_phase_seconds_bucket{phase="ehlo",le="5"} 1
	// smtp_probe_phase_seconds_count{phase="ehlo"} 1
	// smtp_probe_phase_seconds_bucket{phase="ehlo_tls",le="5"} 1
	// smtp_probe_phase_seconds_count{phase="ehlo_tls"} 1
	// smtp_probe_phase_seconds_bucket{phase="quit",le="5"} 1
	// smtp_probe_phase_seconds_count{phase="quit"} 1
	// smtp_probe_phase_seconds_bucket{phase="resolve",le="5"} 2
	// smtp_probe_phase_seconds_count{phase="resolve"} 2
	// smtp_probe_phase_seconds_bucket{phase="tls",le="5"} 1
	// smtp_probe_phase_seconds_count{phase="tls"} 1
}

// startExampleServer starts the test server an example talks to.
func startExampleServer(cfg fakeserver.Config) *fakeserver.Server {
	srv, err := fakeserver.Start(cfg)
	if err != nil {
		log.Fatal(err)
	}
	return srv
}
