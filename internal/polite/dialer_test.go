package polite

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// scarceDialer fails with EMFILE a number of times, then dials.
type scarceDialer struct {
	fails atomic.Int64
	tries atomic.Int64
}

func (d *scarceDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.tries.Add(1)
	if d.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("socket", syscall.EMFILE)}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func TestDialerWaitsForFileDescriptors(t *testing.T) {
	ln := listen(t)
	fwd := &scarceDialer{}
	fwd.fails.Store(3)
	var waits atomic.Int64
	d := &Dialer{Forward: fwd, OnFDWait: func() { waits.Add(1) }}
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("EMFILE three times, then a free descriptor: %v", err)
	}
	c.Close()
	if fwd.tries.Load() != 4 || waits.Load() != 3 {
		t.Errorf("%d tries, %d waits; want 4, 3", fwd.tries.Load(), waits.Load())
	}

	fwd.fails.Store(1 << 30) // never a descriptor
	d.FDWait = 50 * time.Millisecond
	_, err = d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if !OutOfFiles(err) {
		t.Errorf("after FDWait: %v, want the EMFILE", err)
	}

	refused := &Dialer{FDWait: time.Minute}
	start := time.Now()
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln2.Addr().String()
	ln2.Close()
	if _, err := refused.DialContext(context.Background(), "tcp", addr); err == nil || OutOfFiles(err) || time.Since(start) > time.Second {
		t.Errorf("a refused connect: %v after %v; want its error at once", err, time.Since(start))
	}
}

func TestDialerResolvesThroughTheCacheUnderLimits(t *testing.T) {
	ln := listen(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r := &countingResolver{hosts: map[string][]string{"mx.example": {"127.0.0.1"}}}
	cache := NewCache(r, CacheConfig{})
	l := NewLimiter(Limits{HostConns: 1})
	d := &Dialer{Resolver: cache, Limiter: l}
	c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("mx.example", port))
	if err != nil {
		t.Fatal(err)
	}
	// The address dialled directly is the host mx.example's: it waits.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := d.DialContext(ctx, "tcp", ln.Addr().String()); err == nil {
		t.Error("a second connection to mx.example's address did not wait for the first")
	}
	if _, ok := c.(syscall.Conn); !ok {
		t.Error("the connection hides its socket")
	}
	c.Close()
	c2, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	c2.Close()
	if r.asked.Load() != 1 {
		t.Errorf("the resolver was asked %d times", r.asked.Load())
	}
	_, err = d.DialContext(context.Background(), "tcp6", net.JoinHostPort("mx.example", port))
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Errorf("tcp6 to a host with only an IPv4 address: %v, want a DNS error", err)
	}
}

func TestDialerUnixSocket(t *testing.T) {
	path := t.TempDir() + "/lmtp.sock"
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skip("no unix sockets here:", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	d := &Dialer{Limiter: NewLimiter(Limits{HostConns: 1, NetConns: 1})}
	c, err := d.DialContext(context.Background(), "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
