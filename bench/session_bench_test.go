package bench

import (
	"context"
	"testing"
	"time"
)

// client runs one session of spec against addr.
type client struct {
	name string
	run  func(ctx context.Context, addr string, spec Spec) error
}

func clients() []client {
	return []client{
		{"probe", func(ctx context.Context, addr string, spec Spec) error {
			return ProbeSession(ctx, addr, target.cfg, spec)
		}},
		{"probe-lockstep", func(ctx context.Context, addr string, spec Spec) error {
			spec.NoPipelining = true
			return ProbeSession(ctx, addr, target.cfg, spec)
		}},
		{"netsmtp", func(_ context.Context, addr string, spec Spec) error {
			return NetSMTPSession(addr, target.cfg, spec)
		}},
		{"gosmtp", func(_ context.Context, addr string, spec Spec) error {
			return GoSMTPSession(addr, target.cfg, spec)
		}},
	}
}

// BenchmarkSession runs the same session with each client against the
// same server on loopback: plain (banner, EHLO, MAIL, RCPT, DATA of
// 4 KiB, QUIT) and secure (the same after STARTTLS, EHLO, AUTH PLAIN).
//
// Every client first runs warmup sessions untimed, so that the first
// benchmark of the process (probe's) does not also pay for a cold heap
// and a freshly started server.
func BenchmarkSession(b *testing.B) {
	warmUp(b, NewSpec(true, 1, 4096))
	for _, kind := range []struct {
		name   string
		secure bool
	}{{"plain", false}, {"starttls-auth", true}} {
		spec := NewSpec(kind.secure, 1, 4096)
		for _, c := range clients() {
			b.Run(kind.name+"/"+c.name, func(b *testing.B) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				cpu := startCPU(b)
				n := 0
				for b.Loop() {
					if err := c.run(ctx, target.Addr, spec); err != nil {
						b.Fatal(err)
					}
					n++
				}
				cpu.report(b, n)
			})
		}
	}
}

// warmup is how many untimed sessions each client runs first.
const warmup = 200

func warmUp(b *testing.B, spec Spec) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, c := range clients() {
		for range warmup {
			if err := c.run(ctx, target.Addr, spec); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// RTT is the round-trip time the delay proxy adds for BenchmarkRoundTrips.
const RTT = 50 * time.Millisecond

// minSubmissionRTTs is the protocol's minimum for the submission of
// BenchmarkRoundTrips, TCP connect excluded: banner 1, EHLO 1, STARTTLS 1,
// TLS 1.3 handshake 1, EHLO 1, AUTH 1, MAIL+5 RCPT+DATA pipelined 1,
// body, final "." and QUIT 1 (RFC 2920 lets QUIT follow the "." in the
// same group; a client that waits for the final reply first needs 9).
const minSubmissionRTTs = 8

// BenchmarkRoundTrips times a submission to 5 recipients (STARTTLS, AUTH
// PLAIN, 4 KiB) through a proxy that delays each direction by RTT/2, and
// reports the wall time in RTTs next to the protocol's minimum: "RTTs"
// divides by the nominal RTT, "eff-RTTs" by the effective one NoopRTT
// measures through the same proxy just before (timer slack included).
func BenchmarkRoundTrips(b *testing.B) {
	p, err := NewDelayProxy(target.Addr, RTT/2)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	spec := NewSpec(true, 5, 4096)
	run := client{"probe-run", func(ctx context.Context, addr string, spec Spec) error {
		return RunSession(ctx, addr, target.cfg, spec)
	}}
	for _, c := range append(clients(), run) {
		b.Run(c.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			eff, err := NoopRTT(p.Addr(), 20)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			start := time.Now()
			for b.Loop() {
				if err := c.run(ctx, p.Addr(), spec); err != nil {
					b.Fatal(err)
				}
				n++
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(elapsed)/float64(n)/float64(p.RTT()), "RTTs")
			b.ReportMetric(float64(elapsed)/float64(n)/float64(eff), "eff-RTTs")
			b.ReportMetric(float64(eff)/1e6, "eff-RTT-ms")
			b.ReportMetric(minSubmissionRTTs, "min-RTTs")
		})
	}
}
