package polite

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the manners of a run toward each host and each network. A
// zero field means no limit of that kind.
type Limits struct {
	// HostRate is how many connections per second one host gets at most
	// (an MX host, or the host of a target), with bursts of HostBurst
	// (0 means 1).
	HostRate  rate.Limit
	HostBurst int
	// HostConns is how many connections one host has open at most.
	HostConns int
	// NetRate, NetBurst and NetConns are the same per network: the /24 of
	// an IPv4 address, the /64 of an IPv6 one, where one operator's
	// servers usually sit.
	NetRate  rate.Limit
	NetBurst int
	NetConns int
}

// Any reports whether l limits anything.
func (l Limits) Any() bool {
	return l.HostRate > 0 || l.HostConns > 0 || l.NetRate > 0 || l.NetConns > 0
}

// Limiter applies Limits to connections. Its state per host and per
// network lives while a connection holds it or its rate has not refilled,
// so memory follows the hosts in use, not all the hosts ever seen. Safe
// for concurrent use.
type Limiter struct {
	limits Limits
	now    func() time.Time

	mu    sync.Mutex
	keys  map[string]*keyState
	added int // keys made since the last sweep
}

type keyState struct {
	lim   *rate.Limiter // nil: no rate limit of this kind
	slots chan struct{} // nil: no concurrency limit of this kind
	users int           // callers holding or waiting for this key
}

// NewLimiter returns a Limiter for l.
func NewLimiter(l Limits) *Limiter {
	return &Limiter{limits: l, now: time.Now, keys: map[string]*keyState{}}
}

// Network returns the network an address belongs to for the limits: its
// /24 for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6.
func Network(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits) // cannot fail: bits fits both families
	return p
}

// Acquire waits until a connection to addr, of the host named host ("" to
// use the address), may open: a concurrency slot of the host and of its
// network, then the rate of the network and of the host. It returns the
// function that gives the slots back, to call once the connection is
// closed (or was never made); an error only when ctx ended first.
func (l *Limiter) Acquire(ctx context.Context, host string, addr netip.Addr) (release func(), err error) {
	if !l.limits.Any() {
		return func() {}, nil
	}
	if host == "" {
		host = addr.Unmap().String()
	}
	return l.acquire(ctx,
		l.get("host "+host, l.limits.HostRate, l.limits.HostBurst, l.limits.HostConns),
		l.get("net "+Network(addr).String(), l.limits.NetRate, l.limits.NetBurst, l.limits.NetConns))
}

// acquireHost is Acquire for a host whose address is unknown here (a
// proxy resolves it): the host limits alone.
func (l *Limiter) acquireHost(ctx context.Context, host string) (func(), error) {
	return l.acquire(ctx, l.get("host "+host, l.limits.HostRate, l.limits.HostBurst, l.limits.HostConns))
}

// acquire takes a slot of each key in order, then waits for the rate of
// each in reverse order (the network's before the host's).
func (l *Limiter) acquire(ctx context.Context, keys ...*keyState) (func(), error) {
	var held []*keyState
	releaseAll := func() {
		for _, k := range held {
			<-k.slots
		}
		l.put(keys...)
	}
	// Slots in one order for every caller (host before network), so that
	// two callers never wait for each other's slots in a cycle.
	for _, k := range keys {
		if k.slots == nil {
			continue
		}
		select {
		case k.slots <- struct{}{}:
			held = append(held, k)
		case <-ctx.Done():
			releaseAll()
			return nil, fmt.Errorf("waiting for a connection slot: %w", context.Cause(ctx))
		}
	}
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].lim == nil {
			continue
		}
		if err := keys[i].lim.Wait(ctx); err != nil {
			releaseAll()
			return nil, fmt.Errorf("waiting for the rate limit: %w", err)
		}
	}
	var once sync.Once
	return func() { once.Do(releaseAll) }, nil
}

// get returns the state of key, made if needed, counting the caller.
func (l *Limiter) get(key string, r rate.Limit, burst, conns int) *keyState {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.keys[key]
	if !ok {
		k = &keyState{}
		if r > 0 {
			k.lim = rate.NewLimiter(r, max(burst, 1))
		}
		if conns > 0 {
			k.slots = make(chan struct{}, conns)
		}
		l.keys[key] = k
		if l.added++; l.added >= sweepEvery {
			l.sweepLocked()
		}
	}
	k.users++
	return k
}

// put uncounts a caller of each key.
func (l *Limiter) put(ks ...*keyState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range ks {
		k.users--
	}
}

// sweepEvery is how many new keys trigger a sweep of the unused ones.
const sweepEvery = 1024

// sweepLocked forgets the keys nobody uses whose rate has refilled: a
// new state would behave the same.
func (l *Limiter) sweepLocked() {
	l.added = 0
	now := l.now()
	for key, k := range l.keys {
		if k.users == 0 && (k.lim == nil || k.lim.TokensAt(now) >= float64(k.lim.Burst())) {
			delete(l.keys, key)
		}
	}
}

// Keys returns how many hosts and networks the Limiter holds state for.
func (l *Limiter) Keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
