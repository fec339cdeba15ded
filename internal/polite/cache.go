package polite

import (
	"container/list"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Resolver is the lookup interface Cache wraps and offers; it has the
// method set of scan.Resolver, and *net.Resolver satisfies it.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// CacheConfig bounds a Cache.
type CacheConfig struct {
	// TTL is how long an answer is kept. net.Resolver does not return the
	// records' TTLs, so one TTL applies to every answer: 0 means
	// DefaultTTL. It bounds how stale an answer may be; use the smallest
	// TTL the zones probed publish if staleness matters more than load.
	TTL time.Duration
	// NegativeTTL is how long a not-found answer (NXDOMAIN or no records)
	// is kept: 0 means DefaultNegativeTTL. Other errors (timeouts,
	// SERVFAIL) are never kept.
	NegativeTTL time.Duration
	// MaxEntries bounds the names kept, MX and address answers together:
	// 0 means DefaultMaxEntries. Past it, the entry used least recently
	// goes first.
	MaxEntries int
	// Now is the clock; nil means time.Now. Tests give a fake one.
	Now func() time.Time
}

// The defaults of CacheConfig.
const (
	DefaultTTL         = 5 * time.Minute
	DefaultNegativeTTL = time.Minute
	DefaultMaxEntries  = 100000
)

// Cache is a Resolver that keeps answers for a while, shared by the
// workers of a run: a name asked for by many targets (a hosting
// provider's MX host, say) is looked up once per TTL, and a lookup in
// progress is joined rather than repeated. It also remembers which name
// each address was an answer for (NameOf), so that limits per host apply to
// the host of an MX whose addresses Run dials. Safe for concurrent use.
type Cache struct {
	next Resolver
	cfg  CacheConfig

	mu      sync.Mutex
	entries map[cacheKey]*list.Element // of *cacheEntry
	lru     *list.List                 // front: used most recently
	names   map[netip.Addr]string      // address → the name it answered
	hits    int
	misses  int
}

type cacheKey struct {
	mx   bool
	name string
}

type cacheEntry struct {
	key     cacheKey
	expires time.Time
	ready   chan struct{} // closed when the lookup is done
	hosts   []string
	mxs     []*net.MX
	err     error
}

// NewCache returns a Cache in front of next (nil: net.DefaultResolver).
func NewCache(next Resolver, cfg CacheConfig) *Cache {
	if next == nil {
		next = net.DefaultResolver
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{next: next, cfg: cfg, entries: map[cacheKey]*list.Element{}, lru: list.New(), names: map[netip.Addr]string{}}
}

// LookupHost returns the addresses of host, from the cache when fresh.
func (c *Cache) LookupHost(ctx context.Context, host string) ([]string, error) {
	e, err := c.lookup(ctx, cacheKey{name: host}, func(ctx context.Context, e *cacheEntry) {
		e.hosts, e.err = c.next.LookupHost(ctx, host)
	})
	if err != nil {
		return nil, err
	}
	return append([]string(nil), e.hosts...), e.err
}

// LookupMX returns the MX records of name, from the cache when fresh.
func (c *Cache) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	e, err := c.lookup(ctx, cacheKey{mx: true, name: name}, func(ctx context.Context, e *cacheEntry) {
		e.mxs, e.err = c.next.LookupMX(ctx, name)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, len(e.mxs))
	for i, mx := range e.mxs {
		if mx != nil {
			cp := *mx
			out[i] = &cp
		}
	}
	return out, e.err
}

// NameOf returns the host name whose lookup last answered with addr, if
// the cache still holds it.
func (c *Cache) NameOf(addr netip.Addr) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name, ok := c.names[addr.Unmap()]
	return name, ok
}

// Stats returns how many lookups the cache answered and how many it
// passed on.
func (c *Cache) Stats() (hits, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// lookup returns the entry of key, fresh or joined, running fill when
// there is none. The error is ctx's when it ends before the answer.
func (c *Cache) lookup(ctx context.Context, key cacheKey, fill func(context.Context, *cacheEntry)) (*cacheEntry, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*cacheEntry)
		select {
		case <-e.ready:
			if c.cfg.Now().Before(e.expires) {
				c.lru.MoveToFront(el)
				c.hits++
				c.mu.Unlock()
				return e, nil
			}
			c.removeLocked(el)
		default: // in progress: join it
			c.hits++
			c.mu.Unlock()
			select {
			case <-e.ready:
				return e, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	c.misses++
	e := &cacheEntry{key: key, ready: make(chan struct{})}
	c.entries[key] = c.lru.PushFront(e)
	c.evictLocked()
	c.mu.Unlock()

	// The lookup runs without the caller's cancellation (others may join
	// it) but with its deadline, if any.
	lctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(lctx, dl)
		defer cancel()
	}
	fill(lctx, e)

	c.mu.Lock()
	switch {
	case e.err == nil:
		e.expires = c.cfg.Now().Add(c.cfg.TTL)
		for _, h := range e.hosts {
			if a, err := netip.ParseAddr(h); err == nil {
				c.names[a.Unmap()] = key.name
			}
		}
	case isNotFound(e.err):
		e.expires = c.cfg.Now().Add(c.cfg.NegativeTTL)
	default: // not kept: the next caller asks again
		if el, ok := c.entries[key]; ok && el.Value == e {
			c.removeLocked(el)
		}
	}
	close(e.ready)
	c.mu.Unlock()
	return e, nil
}

// evictLocked drops the entries used least recently while there are too
// many, never one in progress.
func (c *Cache) evictLocked() {
	for el := c.lru.Back(); el != nil && c.lru.Len() > c.cfg.MaxEntries; {
		prev := el.Prev()
		select {
		case <-el.Value.(*cacheEntry).ready:
			c.removeLocked(el)
		default:
		}
		el = prev
	}
}

func (c *Cache) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	if cur, ok := c.entries[e.key]; ok && cur == el {
		delete(c.entries, e.key)
	}
	for _, h := range e.hosts {
		if a, err := netip.ParseAddr(h); err == nil && c.names[a.Unmap()] == e.key.name {
			delete(c.names, a.Unmap())
		}
	}
}

// isNotFound reports a not-found DNS answer.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
