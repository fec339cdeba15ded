package polite

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingResolver answers from fixed tables and counts the questions.
type countingResolver struct {
	hosts    map[string][]string
	mx       map[string][]*net.MX
	fail     map[string]error
	asked    atomic.Int64
	gate     chan struct{} // when set, lookups wait for it
	inFlight atomic.Int64
}

func (r *countingResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	r.asked.Add(1)
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	if r.gate != nil {
		<-r.gate
	}
	if err := r.fail[host]; err != nil {
		return nil, err
	}
	if a, ok := r.hosts[host]; ok {
		return append([]string(nil), a...), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *countingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	r.asked.Add(1)
	if m, ok := r.mx[name]; ok {
		return m, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestCacheHitsAndExpiry(t *testing.T) {
	ctx := context.Background()
	r := &countingResolver{
		hosts: map[string][]string{"mx.example": {"192.0.2.1", "2001:db8::1"}},
		mx:    map[string][]*net.MX{"example": {{Host: "mx.example.", Pref: 10}}},
	}
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	c := NewCache(r, CacheConfig{TTL: time.Minute, NegativeTTL: 10 * time.Second, Now: clock.Now})

	for range 3 {
		a, err := c.LookupHost(ctx, "mx.example")
		if err != nil || len(a) != 2 || a[0] != "192.0.2.1" {
			t.Fatalf("LookupHost = %v, %v", a, err)
		}
		a[0] = "changed by the caller" // must not reach the cache
		m, err := c.LookupMX(ctx, "example")
		if err != nil || len(m) != 1 || m[0].Host != "mx.example." {
			t.Fatalf("LookupMX = %v, %v", m, err)
		}
		m[0].Host = "changed"
	}
	if got := r.asked.Load(); got != 2 {
		t.Errorf("the resolver was asked %d times for 2 names, want 2", got)
	}
	if hits, misses := c.Stats(); hits != 4 || misses != 2 {
		t.Errorf("Stats = %d hits, %d misses; want 4, 2", hits, misses)
	}
	if name, ok := c.NameOf(netip.MustParseAddr("2001:db8::1")); !ok || name != "mx.example" {
		t.Errorf("NameOf(2001:db8::1) = %q, %v", name, ok)
	}

	clock.Add(59 * time.Second)
	c.LookupHost(ctx, "mx.example")
	if got := r.asked.Load(); got != 2 {
		t.Errorf("within the TTL: asked %d times, want 2", got)
	}
	clock.Add(2 * time.Second)
	if a, _ := c.LookupHost(ctx, "mx.example"); a[0] != "192.0.2.1" {
		t.Errorf("after expiry: %v", a)
	}
	if got := r.asked.Load(); got != 3 {
		t.Errorf("after the TTL: asked %d times, want 3", got)
	}
}

func TestCacheNegativeAndErrors(t *testing.T) {
	ctx := context.Background()
	timeout := &net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true}
	r := &countingResolver{fail: map[string]error{"slow.example": timeout}}
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	c := NewCache(r, CacheConfig{TTL: time.Hour, NegativeTTL: 10 * time.Second, Now: clock.Now})

	for range 2 {
		if _, err := c.LookupHost(ctx, "nx.example"); !isNotFound(err) {
			t.Fatalf("nx.example: %v, want not found", err)
		}
	}
	if got := r.asked.Load(); got != 1 {
		t.Errorf("a not-found answer is kept: asked %d times, want 1", got)
	}
	clock.Add(11 * time.Second)
	c.LookupHost(ctx, "nx.example")
	if got := r.asked.Load(); got != 2 {
		t.Errorf("after the negative TTL: asked %d times, want 2", got)
	}
	for range 2 {
		if _, err := c.LookupHost(ctx, "slow.example"); !errors.Is(err, timeout) {
			t.Fatalf("slow.example: %v", err)
		}
	}
	if got := r.asked.Load(); got != 4 {
		t.Errorf("a timeout is never kept: asked %d times, want 4", got)
	}
}

func TestCacheJoinsLookupsInProgress(t *testing.T) {
	r := &countingResolver{hosts: map[string][]string{"mx.example": {"192.0.2.1"}}, gate: make(chan struct{})}
	c := NewCache(r, CacheConfig{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if a, err := c.LookupHost(context.Background(), "mx.example"); err != nil || len(a) != 1 {
				t.Errorf("LookupHost = %v, %v", a, err)
			}
		})
	}
	for r.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others join
	close(r.gate)
	wg.Wait()
	if got := r.asked.Load(); got != 1 {
		t.Errorf("20 concurrent lookups asked the resolver %d times, want 1", got)
	}
}

func TestCacheBoundedBySize(t *testing.T) {
	r := &countingResolver{hosts: map[string][]string{}}
	for i := range 10 {
		r.hosts[string(rune('a'+i))+".example"] = []string{netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String()}
	}
	c := NewCache(r, CacheConfig{MaxEntries: 3})
	ctx := context.Background()
	for i := range 10 {
		c.LookupHost(ctx, string(rune('a'+i))+".example")
	}
	c.mu.Lock()
	n, names := c.lru.Len(), len(c.names)
	c.mu.Unlock()
	if n != 3 || names != 3 {
		t.Errorf("after 10 names with MaxEntries 3: %d entries, %d addresses; want 3, 3", n, names)
	}
	c.LookupHost(ctx, "j.example") // the most recent: kept
	c.LookupHost(ctx, "a.example") // the oldest: gone
	if got := r.asked.Load(); got != 11 {
		t.Errorf("asked %d times, want 11", got)
	}
}
