package probe

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// writeLog dials like redirect and records every write the client makes
// on the TCP connection.
type writeLog struct {
	redirect
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeLog) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := w.redirect.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &loggedConn{Conn: nc, log: w}, nil
}

// since returns the writes made after the first n.
func (w *writeLog) since(n int) [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes[n:]
}

func (w *writeLog) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

type loggedConn struct {
	net.Conn
	log *writeLog
}

func (l *loggedConn) Write(p []byte) (int, error) {
	l.log.mu.Lock()
	l.log.writes = append(l.log.writes, append([]byte(nil), p...))
	l.log.mu.Unlock()
	return l.Conn.Write(p)
}

// tlsRecords returns the content types of the TLS records in b, which must
// hold whole records.
func tlsRecords(t *testing.T, b []byte) []byte {
	t.Helper()
	var types []byte
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("%d bytes left, not a TLS record header", len(b))
		}
		n := 5 + (int(b[3])<<8 | int(b[4]))
		if len(b) < n {
			t.Fatalf("TLS record of %d bytes, only %d written", n, len(b))
		}
		types = append(types, b[0])
		b = b[n:]
	}
	return types
}

// TestHandshakeFinishedLeavesWithFirstCommand checks that the client's
// last handshake flight leaves in the same write as the first command
// after STARTTLS, and that every flight still leaves in one write, in
// TLS 1.3 and 1.2.
func TestHandshakeFinishedLeavesWithFirstCommand(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		max  uint16
		// handshake is how many writes the handshake makes after the
		// STARTTLS line; ehlo is the record types of the EHLO's write.
		handshake int
		ehlo      string
	}{
		// ClientHello; then [ChangeCipherSpec, Finished] with the EHLO.
		{"TLS 1.3", tls.VersionTLS13, 1, "\x14\x17\x17"},
		// ClientHello; [ClientKeyExchange, ChangeCipherSpec, Finished]
		// before the server's Finished, released by the read.
		{"TLS 1.2", tls.VersionTLS12, 2, "\x17"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid})
			log := &writeLog{redirect: redirect{to: srv.Addr()}}
			d := Dialer{NetDialer: log}
			c, err := d.Dial(ctx, testHost+":25")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := c.Ehlo(ctx, "probe.example"); err != nil {
				t.Fatal(err)
			}
			before := log.count()
			if _, err := c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool(), MaxVersion: tc.max}); err != nil {
				t.Fatal(err)
			}
			hs := log.since(before)
			if string(hs[0]) != "STARTTLS\r\n" || len(hs)-1 != tc.handshake {
				t.Fatalf("%d writes from STARTTLS on, the first %q; want the line and %d for the handshake", len(hs), hs[0], tc.handshake)
			}
			for _, w := range hs[1:] {
				tlsRecords(t, w)
			}
			n := log.count()
			if _, err := c.Ehlo(ctx, "probe.example"); err != nil {
				t.Fatal(err)
			}
			after := log.since(n)
			if len(after) != 1 || string(tlsRecords(t, after[0])) != tc.ehlo {
				t.Errorf("EHLO writes %d, first with records % x; want 1 with % x", len(after), tlsRecords(t, after[0]), tc.ehlo)
			}
			if rec := waitSessionAfterQuit(t, ctx, c, srv); !rec.TLS || rec.TLSVersion != tc.max {
				t.Errorf("server saw TLS %v version %x", rec.TLS, rec.TLSVersion)
			}
		})
	}
}

// TestHandshakeHeldFlightReleased checks that the last handshake flight,
// held for the next command, reaches the server however the Conn goes on:
// closed at once, or used through NetConn from two goroutines at a time.
func TestHandshakeHeldFlightReleased(t *testing.T) {
	p := newPKI(t)
	cfg := &tls.Config{RootCAs: p.CAPool()}
	t.Run("Close right after StartTLS", func(t *testing.T) {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid})
		c := dialEhlo(t, ctx, srv, Dialer{})
		if _, err := c.StartTLS(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if rec := waitSession(t, srv); !rec.TLS {
			t.Error("the server never completed the handshake: the client's Finished was not sent")
		}
	})
	t.Run("NetConn read and written at once", func(t *testing.T) {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid})
		c := dialEhlo(t, ctx, srv, Dialer{})
		if _, err := c.StartTLS(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		nc := c.NetConn()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		got := make(chan string, 1)
		go func() {
			buf := make([]byte, 512)
			n, _ := nc.Read(buf)
			got <- string(buf[:n])
		}()
		if _, err := nc.Write([]byte("NOOP\r\n")); err != nil {
			t.Fatal(err)
		}
		if reply := <-got; !strings.HasPrefix(reply, "250") {
			t.Errorf("reply to NOOP through NetConn %q", reply)
		}
	})
}

// TestHandshakeKeepsContextValues checks that the caller's
// GetClientCertificate sees the values of the context StartTLS was given.
func TestHandshakeKeepsContextValues(t *testing.T) {
	type key struct{}
	p := newPKI(t)
	srv := startServer(t, fakeserver.Config{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.Valid}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.CAPool()},
	})
	ctx := context.WithValue(testCtx(t), key{}, "agent-7")
	c := dialEhlo(t, ctx, srv, Dialer{})
	var seen any
	_, err := c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool(),
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			seen = cri.Context().Value(key{})
			return &p.Valid, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if seen != "agent-7" {
		t.Errorf("GetClientCertificate saw context value %v, want agent-7", seen)
	}
}
