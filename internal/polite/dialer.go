package polite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/proxy"
)

// Dialer opens connections with manners: names resolve through Resolver
// (a shared Cache, typically), each connection waits for its turn under
// Limiter and holds its slots until closed, and a connect that fails for
// want of a file descriptor (EMFILE, ENFILE) waits and tries again rather
// than failing the probe. It is a proxy.ContextDialer, for
// probe.Dialer.NetDialer.
type Dialer struct {
	// Forward opens the connections; nil means a net.Dialer.
	Forward proxy.ContextDialer
	// Resolver resolves host names; nil means net.DefaultResolver. When
	// it is a *Cache, the host limits of an address it resolved apply to
	// the name it resolved (the MX host), not to the address.
	Resolver Resolver
	// ResolveRemotely leaves host names to Forward (a socks5h proxy): the
	// limits then apply to the name alone, with no network limit.
	ResolveRemotely bool
	// Limiter applies the limits; nil means none.
	Limiter *Limiter
	// FDWait bounds how long one connect waits, in all, for file
	// descriptors to free up: 0 means DefaultFDWait. The probe's context
	// bounds it too.
	FDWait time.Duration
	// OnFDWait, when set, is called each time a connect waits for a file
	// descriptor (to count them, or to tell the user once).
	OnFDWait func()
}

// DefaultFDWait is the default of Dialer.FDWait.
const DefaultFDWait = 30 * time.Second

// DialContext connects to address ("host:port") on network. A unix
// socket ("unix", address a path) is no host or network of the limits:
// it is dialled as it is.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if strings.HasPrefix(network, "unix") {
		return d.connect(ctx, network, address)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		name := ""
		if c, ok := d.Resolver.(*Cache); ok {
			name, _ = c.NameOf(a)
		}
		return d.dialAddr(ctx, network, name, a, port)
	}
	if d.ResolveRemotely {
		return d.dialName(ctx, network, host, address)
	}
	addrs, err := d.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil || !fits(network, a) {
			continue
		}
		c, err := d.dialAddr(ctx, network, host, a, port)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, &net.DNSError{Err: "no address of the network's family", Name: host, IsNotFound: true}
	}
	return nil, errors.Join(errs...)
}

func (d *Dialer) lookup(ctx context.Context, host string) ([]string, error) {
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	var addrs []string
	err := d.retryFD(ctx, func() error {
		var err error
		addrs, err = r.LookupHost(ctx, host)
		return err
	})
	return addrs, err
}

// fits reports whether a may be dialled on network ("tcp", "tcp4", "tcp6").
func fits(network string, a netip.Addr) bool {
	switch network {
	case "tcp4":
		return a.Unmap().Is4()
	case "tcp6":
		return !a.Unmap().Is4()
	}
	return true
}

// dialAddr connects to a under the limits of host (or of a when host is
// "") and of a's network.
func (d *Dialer) dialAddr(ctx context.Context, network, host string, a netip.Addr, port string) (net.Conn, error) {
	release, admitted := takeAdmission(ctx)
	switch {
	case admitted:
	case d.Limiter != nil:
		var err error
		if release, err = d.Limiter.Acquire(ctx, host, a); err != nil {
			return nil, err
		}
	default:
		release = func() {}
	}
	c, err := d.connect(ctx, network, net.JoinHostPort(a.String(), port))
	if err != nil {
		release()
		return nil, err
	}
	return &releasingConn{Conn: c, release: release}, nil
}

// dialName connects to address by name, under the host limits only.
func (d *Dialer) dialName(ctx context.Context, network, host, address string) (net.Conn, error) {
	release := func() {}
	if d.Limiter != nil && (d.Limiter.limits.HostRate > 0 || d.Limiter.limits.HostConns > 0) {
		var err error
		if release, err = d.Limiter.acquireHost(ctx, host); err != nil {
			return nil, err
		}
	}
	c, err := d.connect(ctx, network, address)
	if err != nil {
		release()
		return nil, err
	}
	return &releasingConn{Conn: c, release: release}, nil
}

// connect dials through Forward, waiting for file descriptors.
func (d *Dialer) connect(ctx context.Context, network, address string) (net.Conn, error) {
	fwd := d.Forward
	if fwd == nil {
		fwd = &net.Dialer{}
	}
	var c net.Conn
	err := d.retryFD(ctx, func() error {
		var err error
		c, err = fwd.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// retryFD runs op until it succeeds, fails otherwise than for want of a
// file descriptor, or the wait (FDWait, ctx) is over: back-pressure from
// the kernel, not a failure of the probe.
func (d *Dialer) retryFD(ctx context.Context, op func() error) error {
	limit := d.FDWait
	if limit <= 0 {
		limit = DefaultFDWait
	}
	deadline := time.Now().Add(limit)
	wait := 5 * time.Millisecond
	for {
		err := op()
		if err == nil || !OutOfFiles(err) {
			return err
		}
		if d.OnFDWait != nil {
			d.OnFDWait()
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("out of file descriptors for %v: %w", limit, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// OutOfFiles reports whether err says the process (EMFILE) or the system
// (ENFILE) has no file descriptor left.
func OutOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// releasingConn gives the limiter's slots back when closed.
type releasingConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// SyscallConn gives the socket of the connection underneath, if it has
// one (probe peeks at it to see whether a reply waits).
func (c *releasingConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("polite: the connection has no socket")
}

// Close closes the connection and gives its slots back.
func (c *releasingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
