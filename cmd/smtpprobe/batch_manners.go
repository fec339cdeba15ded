package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/smtpprobe/probe/internal/polite"
	"github.com/smtpprobe/probe/scan"
	"golang.org/x/net/proxy"
	"golang.org/x/time/rate"
)

// batchFlags are the flags of batch mode beyond -targets and -concurrency:
// the manners of a big run (internal/polite) and the shape of its output.
type batchFlags struct {
	shardFlag string
	shard     polite.Shard
	ordered   bool
	retries   int
	limitFlags
	dnsTTL time.Duration
}

// limitFlags are the limits per host and per network of a big run, in
// batch mode and in a domain scan.
type limitFlags struct {
	rateHost, rateNet   float64
	connsHost, connsNet int
}

// define adds the limit flags to fs.
func (l *limitFlags) define(fs *flag.FlagSet) {
	fs.Float64Var(&l.rateHost, "rate-host", 0, "at most `R` new connections per second to one host (0: no limit)")
	fs.Float64Var(&l.rateNet, "rate-net", 0, "at most `R` new connections per second to one /24 (IPv4) or /64 (IPv6) (0: no limit)")
	fs.IntVar(&l.connsHost, "conns-host", 0, "at most `N` connections open to one host (0: no limit)")
	fs.IntVar(&l.connsNet, "conns-net", 0, "at most `N` connections open to one /24 or /64 (0: no limit)")
}

// check refuses negative limits.
func (l *limitFlags) check() error {
	switch {
	case l.rateHost < 0 || l.rateNet < 0:
		return errors.New("-rate-host and -rate-net: want 0 or more connections per second")
	case l.connsHost < 0 || l.connsNet < 0:
		return errors.New("-conns-host and -conns-net: want 0 or more connections")
	}
	return nil
}

// limits are the per-host and per-network limits the flags ask for.
func (l *limitFlags) limits() polite.Limits {
	return polite.Limits{
		HostRate: rate.Limit(l.rateHost), HostConns: l.connsHost,
		NetRate: rate.Limit(l.rateNet), NetConns: l.connsNet,
	}
}

// batchFlagNames are the flags batchFlags defines, in the help's order.
var batchFlagNames = [...]string{"shard", "ordered", "retries", "rate-host", "rate-net", "conns-host", "conns-net", "dns-ttl"}

// define adds the batch flags to fs.
func (b *batchFlags) define(fs *flag.FlagSet) {
	b.dnsTTL = polite.DefaultTTL
	fs.StringVar(&b.shardFlag, "shard", "", "probe only shard `i/n` of the list (0 ≤ i < n; by a hash of each line): n machines split one list")
	fs.BoolVar(&b.ordered, "ordered", false, "write the reports in input order (holding at most 4 × -concurrency of them)")
	fs.IntVar(&b.retries, "retries", 0, "probe a target again, up to `N` times, when it timed out (0: never)")
	b.limitFlags.define(fs)
	fs.DurationVar(&b.dnsTTL, "dns-ttl", polite.DefaultTTL, "keep DNS answers this `long` (one TTL for all: the system resolver gives none)")
}

// checkBatch refuses batch flags without -targets and bad values.
func (c *config) checkBatch() error {
	for _, name := range batchFlagNames {
		if c.set[name] && c.targets == "" {
			return fmt.Errorf("-%s needs -targets", name)
		}
	}
	b := &c.batch
	if b.shardFlag != "" {
		s, err := polite.ParseShard(b.shardFlag)
		if err != nil {
			return fmt.Errorf("-shard %w", err)
		}
		b.shard = s
	}
	switch {
	case b.retries < 0 || b.retries > 10:
		return fmt.Errorf("-retries %d: want 0 to 10", b.retries)
	case b.dnsTTL <= 0:
		return fmt.Errorf("-dns-ttl %v: want more than 0", b.dnsTTL)
	}
	return b.limitFlags.check()
}

// fileLimits reads and sets the open-file limit; nil functions mean the
// process's own (tests inject a limit).
type fileLimits struct {
	get func() (polite.FileLimit, error)
	set func(soft uint64) error
}

// planFiles reads the open-file limit, raises the soft limit when the
// concurrency needs it, and returns the concurrency the limit allows, with
// a note for stderr when it did anything.
func (f fileLimits) planFiles(concurrency int) (int, string) {
	get, set := f.get, f.set
	if get == nil {
		get = polite.GetFileLimit
	}
	if set == nil {
		set = polite.SetFileLimit
	}
	lim, err := get()
	if err != nil {
		return concurrency, "" // no such limit here
	}
	p := polite.PlanFiles(lim, concurrency)
	if p.Soft != lim.Soft {
		if err := set(p.Soft); err != nil {
			p = polite.PlanFiles(polite.FileLimit{Soft: lim.Soft, Hard: lim.Soft}, concurrency)
			p.Note = fmt.Sprintf("the open-file limit could not be raised (%v); %s", err, p.Note)
		}
	}
	return p.Concurrency, p.Note
}

// manners are the shared pieces of a batch: the DNS cache, the limiter,
// and the dialer every probe connects with.
type manners struct {
	cache   *polite.Cache
	limiter *polite.Limiter
	dialer  *polite.Dialer
	mx      bool
}

// newManners builds the batch's manners around the Options of p: the
// cache answers Run's lookups (-mx) and the dialer's, the dialer opens
// every connection of every probe (through the -proxy, or the test's
// dialer, when there is one). onFDWait is called when a connect waits for
// a file descriptor.
func newManners(c *config, p *plan, sys stdio, onFDWait func()) (*manners, error) {
	m := &manners{
		cache:   polite.NewCache(sys.resolver, polite.CacheConfig{TTL: c.batch.dnsTTL}),
		limiter: polite.NewLimiter(c.batch.limits()),
		mx:      c.mx,
	}
	d := &p.base.Dialer
	fwd, remote, err := forwardDialer(d.NetDialer, d.Proxy, d.LocalAddr)
	if err != nil {
		return nil, err
	}
	m.dialer = &polite.Dialer{Forward: fwd, Resolver: m.cache, ResolveRemotely: remote, Limiter: m.limiter, OnFDWait: onFDWait}
	d.NetDialer = m.dialer
	p.base.Resolver = m.cache
	return m, nil
}

// forwardDialer is what opens the connections under the manners: the
// dialer already set (tests), the -proxy, or a direct net.Dialer. remote
// reports a socks5h proxy, which resolves the names itself.
func forwardDialer(set proxy.ContextDialer, proxyURL string, local net.Addr) (proxy.ContextDialer, bool, error) {
	direct := &net.Dialer{LocalAddr: local}
	switch {
	case set != nil:
		return set, false, nil
	case proxyURL == "":
		return direct, false, nil
	}
	u, err := url.Parse(proxyURL)
	if err != nil {
		return nil, false, errors.New("-proxy: not a URL")
	}
	pd, err := proxy.FromURL(u, direct)
	if err != nil {
		return nil, false, fmt.Errorf("-proxy %s: %w", redactURL(u), err)
	}
	cd, ok := pd.(proxy.ContextDialer)
	if !ok {
		return nil, false, fmt.Errorf("-proxy %s: cannot dial with a context", redactURL(u))
	}
	return cd, u.Scheme == "socks5h", nil
}

// admit waits, before the probe of target starts its clock, for the
// limits of the first address the probe will connect to; the returned
// context carries the admission (polite.Limiter.Admit). Without limits,
// or when the address cannot be known beforehand (a lookup fails: the
// probe will report it), it returns ctx as it is.
func (m *manners) admit(ctx context.Context, target string, timeout time.Duration) (context.Context, func(), error) {
	if !m.limiter.Limited() {
		return ctx, func() {}, nil
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	host, addr, ok := m.firstAddress(lctx, target)
	cancel()
	if !ok || m.dialer.ResolveRemotely {
		return ctx, func() {}, nil
	}
	return m.limiter.Admit(ctx, host, addr)
}

// firstAddress is the host and the address a probe of target tries
// first: the target's own, or its first MX host's with -mx.
func (m *manners) firstAddress(ctx context.Context, target string) (string, netip.Addr, bool) {
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if m.mx {
		hosts, err := scan.ResolveMX(ctx, m.cache, host)
		if err != nil || len(hosts) == 0 {
			return "", netip.Addr{}, false
		}
		host = hosts[0].Host
	}
	if a, err := netip.ParseAddr(host); err == nil {
		name, _ := m.cache.NameOf(a)
		return name, a, true
	}
	addrs, err := m.cache.LookupHost(ctx, host)
	if err != nil {
		return "", netip.Addr{}, false
	}
	for _, s := range addrs {
		if a, err := netip.ParseAddr(s); err == nil {
			return host, a, true
		}
	}
	return "", netip.Addr{}, false
}
