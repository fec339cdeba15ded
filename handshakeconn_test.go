package probe

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"

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
