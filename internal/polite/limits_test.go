package polite

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.77":            "192.0.2.0/24",
		"::ffff:192.0.2.77":     "192.0.2.0/24",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff:99": "2001:db8:1:2::/64",
	} {
		if got := Network(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("Network(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestLimiterConcurrencyPerNetwork(t *testing.T) {
	l := NewLimiter(Limits{NetConns: 2})
	var open, most atomic.Int64
	var wg sync.WaitGroup
	for i := range 12 {
		// Six addresses of one /24, six of one /64: two networks.
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		if i%2 == 1 {
			a = netip.MustParseAddr("2001:db8::1").Next()
		}
		wg.Go(func() {
			release, err := l.Acquire(context.Background(), "", a)
			if err != nil {
				t.Error(err)
				return
			}
			n := open.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(10 * time.Millisecond)
			open.Add(-1)
			release()
			release() // a second call does nothing
		})
	}
	wg.Wait()
	if got := most.Load(); got != 4 {
		t.Errorf("at most %d connections were open at once, want 4 (2 per network)", got)
	}
}

func TestLimiterRatePerHost(t *testing.T) {
	l := NewLimiter(Limits{HostRate: rate.Limit(50), HostBurst: 1})
	a := netip.MustParseAddr("192.0.2.1")
	start := time.Now()
	for range 6 {
		release, err := l.Acquire(context.Background(), "mx.example", a)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	// Six at 50/s with a burst of 1: five gaps of 20 ms.
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Errorf("6 connections at 50/s took %v, want at least 100 ms", took)
	}
	start = time.Now()
	release, _ := l.Acquire(context.Background(), "other.example", netip.MustParseAddr("198.51.100.1"))
	release()
	if took := time.Since(start); took > 15*time.Millisecond {
		t.Errorf("another host waited %v", took)
	}
}

func TestLimiterGivesUpWithTheContext(t *testing.T) {
	l := NewLimiter(Limits{HostConns: 1})
	a := netip.MustParseAddr("192.0.2.1")
	release, _ := l.Acquire(context.Background(), "", a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, "", a); err == nil {
		t.Fatal("a second connection to a host limited to one did not wait")
	}
	release()
	if r, err := l.Acquire(context.Background(), "", a); err != nil {
		t.Fatalf("after release: %v", err)
	} else {
		r()
	}
}

func TestLimiterForgetsIdleKeys(t *testing.T) {
	l := NewLimiter(Limits{HostRate: rate.Limit(1000), NetConns: 4})
	for i := range 3 * sweepEvery {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		release, err := l.Acquire(context.Background(), "", a)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if n := l.Keys(); n > 2*sweepEvery+2 {
		t.Errorf("%d keys kept after %d hosts came and went", n, 3*sweepEvery)
	}
}

func TestAdmissionServesOneConnection(t *testing.T) {
	l := NewLimiter(Limits{HostConns: 1})
	a := netip.MustParseAddr("192.0.2.1")
	ctx, release, err := l.Admit(context.Background(), "", a)
	if err != nil {
		t.Fatal(err)
	}
	rel, ok := takeAdmission(ctx)
	if _, again := takeAdmission(ctx); !ok || again {
		t.Fatal("an admission must serve exactly one connection")
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(short, "", a); err == nil {
		t.Error("the admission did not hold the host's slot")
	}
	rel()     // the connection closed
	release() // and the worker's release after the probe does nothing more
	r1, err := l.Acquire(context.Background(), "", a)
	if err != nil {
		t.Fatal(err)
	}
	short2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := l.Acquire(short2, "", a); err == nil {
		t.Error("a double release freed two slots")
	}
	r1()
}
