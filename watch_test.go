package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// stall is a handler that answers nothing for a minute (or until the
// session ends).
func stall(s *fakeserver.Session, _ fakeserver.Command) bool {
	s.Sleep(time.Minute)
	return true
}

// TestContextWatch checks that one watch of a context serves many steps
// and still cancels the step in progress, that a context cancelled
// between steps does not leak into a step under another context, and that
// a handshake is interrupted like any other step.
func TestContextWatch(t *testing.T) {
	p := newPKI(t)
	t.Run("cancel a blocked step after many under the same context", func(t *testing.T) {
		srv := startServer(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"XSTALL": stall}})
		ctx, cancel := context.WithCancel(testCtx(t))
		defer cancel()
		c, err := Dial(ctx, srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range 20 {
			if _, err := c.Noop(ctx); err != nil {
				t.Fatal(err)
			}
		}
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err = c.SendRaw(ctx, "XSTALL")
		var oe *OpError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &oe) || time.Since(start) > 5*time.Second {
			t.Fatalf("err = %v after %v; want an *OpError with context.Canceled at once", err, time.Since(start))
		}
		if oe.Timeout() {
			t.Error("a cancelled step reports Timeout")
		}
	})
	t.Run("cancelled between steps, then another context", func(t *testing.T) {
		srv := startServer(t, fakeserver.Config{})
		c, err := Dial(testCtx(t), srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 200 {
			ctx, cancel := context.WithCancel(testCtx(t))
			if _, err := c.Noop(ctx); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			cancel() // the watch fires now, while no step runs
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("round %d: NOOP under a live context after a cancelled one: %v", i, err)
			}
		}
	})
	t.Run("cancel during the handshake", func(t *testing.T) {
		srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid, Handlers: map[string]fakeserver.HandlerFunc{
			"STARTTLS": func(s *fakeserver.Session, _ fakeserver.Command) bool {
				s.Reply(220, "2.0.0 go ahead")
				s.Flush()
				s.Sleep(time.Minute) // never answers the ClientHello
				return true
			}}})
		c := dialEhlo(t, testCtx(t), srv, Dialer{})
		ctx, cancel := context.WithCancel(testCtx(t))
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool()})
		var te *TLSError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &te) || time.Since(start) > 5*time.Second {
			t.Fatalf("err = %v after %v; want a *TLSError with context.Canceled at once", err, time.Since(start))
		}
		if te.Timeout() {
			t.Error("a cancelled handshake reports Timeout")
		}
	})
}
