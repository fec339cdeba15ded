package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
)

// TestSessions runs every client's session, plain and secure, to one and
// to five recipients, against the bench server: each must complete.
func TestSessions(t *testing.T) {
	for _, secure := range []bool{false, true} {
		for _, n := range []int{1, 5} {
			spec := NewSpec(secure, n, 4096)
			for _, c := range clients() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := c.run(ctx, target.Addr, spec); err != nil {
					t.Errorf("%s secure=%v rcpts=%d: %v", c.name, secure, n, err)
				}
				cancel()
			}
		}
	}
}

// TestServerAdvertises checks the extensions the comparison relies on,
// before and after STARTTLS, and that AUTH PLAIN checks the password.
func TestServerAdvertises(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := probe.Dialer{TLSConfig: target.cfg}
	c, err := d.Dial(ctx, target.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Ehlo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Pipelining || !caps.Has("STARTTLS") || caps.SupportsAuth("PLAIN") {
		t.Errorf("plaintext EHLO: PIPELINING %v, STARTTLS %v, AUTH PLAIN %v; want true, true, false",
			caps.Pipelining, caps.Has("STARTTLS"), caps.SupportsAuth("PLAIN"))
	}
	info, err := c.StartTLS(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Verified || info.Version != 0x0304 {
		t.Errorf("TLS: verified %v, version %#x; want true, TLS 1.3", info.Verified, info.Version)
	}
	if caps, err = c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if !caps.Pipelining || !caps.SupportsAuth("PLAIN") {
		t.Errorf("EHLO in TLS: PIPELINING %v, AUTH PLAIN %v; want both", caps.Pipelining, caps.SupportsAuth("PLAIN"))
	}
	_, err = c.AuthPlain(ctx, "", User, "wrong")
	var re *probe.ReplyError
	if !errors.As(err, &re) || re.Reply.Code != 535 {
		t.Fatalf("AUTH PLAIN with a wrong password: %v; want a 535 ReplyError", err)
	}
	if r, err := c.AuthPlain(ctx, "", User, Password); err != nil || r.Code != 235 {
		t.Fatalf("AUTH PLAIN: %v, %v; want 235", r, err)
	}
}

func TestMessageSize(t *testing.T) {
	for _, size := range []int{200, 4096, 4097, 65536} {
		m := Message(size)
		if len(m) != size || !bytes.HasSuffix(m, []byte("\r\n")) || bytes.Contains(m, []byte("\n.")) {
			t.Errorf("Message(%d): %d bytes, suffix %q", size, len(m), m[len(m)-2:])
		}
	}
}

// startEcho runs a TCP echo server until the test ends.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// TestDelayProxy checks that the proxy delivers bytes intact, adds the
// delay once per direction, and does not serialise a burst of writes:
// twenty writes 2 ms apart come back about one RTT after the last one,
// not twenty delays later.
func TestDelayProxy(t *testing.T) {
	const delay = 20 * time.Millisecond
	p, err := NewDelayProxy(startEcho(t), delay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.RTT() != 2*delay {
		t.Errorf("RTT() = %v; want %v", p.RTT(), 2*delay)
	}
	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	want := bytes.Repeat([]byte("0123456789abcdef"), 20*256) // 80 KiB
	start := time.Now()
	for i := range 20 {
		if _, err := nc.Write(want[i*len(want)/20 : (i+1)*len(want)/20]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // separate chunks, not one coalesced read
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if !bytes.Equal(got, want) {
		t.Error("the echo through the proxy differs from what was sent")
	}
	// The connect adds one delay before the echo server sees anything; the
	// last chunk is read about 40 ms in and comes back one RTT later.
	// Serialised delivery would take at least 20 delays (400 ms).
	if elapsed < 3*delay || elapsed > 40*time.Millisecond+2*delay+60*time.Millisecond {
		t.Errorf("burst took %v; want about %v", elapsed, 40*time.Millisecond+2*delay)
	}
}

// TestNoopRTT checks the calibration through the proxy: at least the
// nominal RTT, and not wildly above it.
func TestNoopRTT(t *testing.T) {
	p, err := NewDelayProxy(target.Addr, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rtt, err := NoopRTT(p.Addr(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if rtt < p.RTT() || rtt > 3*p.RTT() {
		t.Errorf("NoopRTT = %v; want between %v and %v", rtt, p.RTT(), 3*p.RTT())
	}
}
