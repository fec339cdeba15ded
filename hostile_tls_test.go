package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestHostileStartTLSInjection: forged post-TLS replies sent in plaintext
// after the STARTTLS 220, in its segment or in a later one, end the
// session with a *ProtocolError; none of them is read as a reply and the
// client sends nothing more.
func TestHostileStartTLSInjection(t *testing.T) {
	const forged = "250-FORGED.example\r\n250 AUTH PLAIN\r\n"
	p := newPKI(t)
	cases := []struct {
		name, step, line string
		inject           fakeserver.Step
	}{
		{"same segment", "STARTTLS", forged, fakeserver.Inject([]byte(forged), 0)},
		{"same segment, partial line", "STARTTLS", "250 FORGED", fakeserver.Inject([]byte("250 FORGED"), 0)},
		{"later segment", "STARTTLS handshake", forged, fakeserver.Inject([]byte(forged), 150*time.Millisecond)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid,
				Misbehave: map[string]fakeserver.Step{"STARTTLS": tc.inject}})
			c := dialEhlo(t, ctx, srv, hostileDialer())
			var err error
			timed(t, hostileBound, func() { _, err = c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool()}) })
			pe := wantProtocolError(t, err, tc.step, "response injection")
			if !strings.HasPrefix(pe.Line, tc.line) {
				t.Errorf("Line = %q, want %q first", pe.Line, tc.line)
			}
			for _, e := range c.Transcript().Entries() {
				if (e.Kind == Received && strings.Contains(e.Text, "FORGED")) || e.TLS {
					t.Errorf("forged or TLS entry in the transcript: %+v", e)
				}
			}
			if c.TLS() != nil {
				t.Error("the Conn moved into TLS")
			}
			wantBroken(t, c, pe)
			if rec := clientBytes(t, c, srv); string(rec.ClientBytes) != "EHLO probe.example\r\nSTARTTLS\r\n" {
				t.Errorf("client sent %q", rec.ClientBytes)
			}
		})
	}
}

// requireTLS is a caller that will not go on without TLS, modelled without
// Run: hello (HELO when EHLO is refused), STARTTLS whether or not it was
// advertised, and a stop at the first failure.
func requireTLS(ctx context.Context, c *Conn, cfg *tls.Config) error {
	if _, err := c.Hello(ctx, ""); err != nil {
		return err
	}
	_, err := c.StartTLS(ctx, cfg)
	return err
}

// TestHostileStartTLSRefused: STARTTLS stripped or refused. The caller
// that requires TLS gets a *ReplyError from StartTLS; AUTH on the
// plaintext Conn is refused with ErrInsecureAuth; the server never sees an
// AUTH or a MAIL.
func TestHostileStartTLSRefused(t *testing.T) {
	p := newPKI(t)
	refuse := func(code int, text string, close bool) fakeserver.Config {
		return fakeserver.Config{TLSCert: &p.Valid, Misbehave: map[string]fakeserver.Step{
			"STARTTLS": {Reply: &fakeserver.Reply{Code: code, Lines: []string{text}}, Close: close}}}
	}
	const ehlo, helo, starttls = "EHLO probe.example\r\n", "HELO probe.example\r\n", "STARTTLS\r\n"
	cases := []struct {
		name   string
		cfg    fakeserver.Config
		code   int
		closed bool
		wire   string
	}{
		{"not offered", fakeserver.Config{}, 502, false, ehlo + starttls},
		{"454", refuse(454, "4.7.0 TLS not available due to temporary reason", false), 454, false, ehlo + starttls},
		{"502", refuse(502, "5.5.1 Command not implemented", false), 502, false, ehlo + starttls},
		{"500", refuse(500, "5.5.2 Command unrecognized", false), 500, false, ehlo + starttls},
		{"501", refuse(501, "5.5.4 Syntax error", false), 501, false, ehlo + starttls},
		{"530", refuse(530, "5.7.0 Must issue a STARTTLS command first", false), 530, false, ehlo + starttls},
		{"354", refuse(354, "go ahead", false), 354, true, ehlo + starttls},
		{"421", fakeserver.Config{TLSCert: &p.Valid, Misbehave: map[string]fakeserver.Step{
			"STARTTLS": fakeserver.Shutdown421()}}, 421, true, ehlo + starttls},
		{"221", refuse(221, "2.0.0 Bye", true), 221, true, ehlo + starttls},
		{"EHLO refused, HELO only", fakeserver.Config{RefuseEHLO: 502}, 502, false, ehlo + helo + starttls},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			c, err := hostileDial(t, ctx, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			timed(t, hostileBound, func() { err = requireTLS(ctx, c, &tls.Config{RootCAs: p.CAPool()}) })
			if tc.code/100 < 4 {
				if pe := wantProtocolError(t, err, "STARTTLS", "cannot answer"); pe.Reply == nil || pe.Reply.Code != tc.code {
					t.Errorf("ProtocolError reply %v, want %d", pe.Reply, tc.code)
				}
			} else {
				wantReplyError(t, err, "STARTTLS", tc.code)
			}
			if (c.Err() != nil) != tc.closed || c.TLS() != nil {
				t.Errorf("Conn.Err() = %v, TLS %v; want closed=%v, no TLS", c.Err(), c.TLS(), tc.closed)
			}
			_, err = c.AuthPlain(ctx, "", "alice", "secret")
			var op *OpError
			if !errors.As(err, &op) || op.Op != "AUTH PLAIN" || !errors.Is(err, ErrInsecureAuth) {
				t.Errorf("AuthPlain on plaintext = %v, want ErrInsecureAuth", err)
			}
			rec := clientBytes(t, c, srv)
			if got := string(rec.ClientBytes); got != tc.wire || strings.Contains(got, "AUTH") || strings.Contains(got, "MAIL") {
				t.Errorf("client sent %q, want %q", got, tc.wire)
			}
		})
	}
}

// afterClientHello answers STARTTLS with 220, waits for the first byte of
// the ClientHello and then runs then.
func afterClientHello(then func(s *fakeserver.Session)) fakeserver.HandlerFunc {
	return func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.Reply(220, "2.0.0 Ready to start TLS")
		if s.Flush() != nil {
			return true
		}
		if _, err := s.ReadFull(1); err != nil {
			return true
		}
		then(s)
		return true
	}
}

// TestHostileStartTLSHandshake: garbage, a close or a reset where the
// server's handshake should be. Plaintext is response injection (a
// *ProtocolError); a broken record, a close or a reset is a *TLSError.
func TestHostileStartTLSHandshake(t *testing.T) {
	p := newPKI(t)
	write := func(b string) func(s *fakeserver.Session) {
		return func(s *fakeserver.Session) {
			s.WriteRaw([]byte(b))
			s.Flush()
			s.Discard()
		}
	}
	cases := []struct {
		name     string
		cfg      fakeserver.Config
		protocol bool    // a *ProtocolError, else a *TLSError
		is       []error // what the *TLSError may wrap: any one of these
	}{
		{"plaintext garbage", fakeserver.Config{TLSCert: &p.Valid, Handlers: map[string]fakeserver.HandlerFunc{
			"STARTTLS": afterClientHello(write("\x00\x01garbage\xff\r\n"))}}, true, nil},
		{"broken TLS record", fakeserver.Config{TLSCert: &p.Valid, Handlers: map[string]fakeserver.HandlerFunc{
			"STARTTLS": afterClientHello(write("\x16\x03\x03\x00\x04\xff\xff\xff\xff"))}}, false, nil},
		{"closed right after 220", fakeserver.Config{TLSCert: &p.Valid, Misbehave: map[string]fakeserver.Step{
			"STARTTLS": {Reply: &fakeserver.Reply{Code: 220, Lines: []string{"2.0.0 Ready"}}, Close: true}}}, false, []error{io.EOF, syscall.ECONNRESET}},
		{"reset mid-handshake", fakeserver.Config{TLSCert: &p.Valid, Handlers: map[string]fakeserver.HandlerFunc{
			"STARTTLS": afterClientHello((*fakeserver.Session).Reset)}}, false, []error{syscall.ECONNRESET}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			c := dialEhlo(t, ctx, srv, hostileDialer())
			var err error
			timed(t, hostileBound, func() { _, err = c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool()}) })
			var te *TLSError
			switch {
			case tc.protocol:
				pe := wantProtocolError(t, err, "STARTTLS handshake", "response injection")
				if pe.Line != "\x00\x01garbage\xff\r\n" || errors.As(err, &te) {
					t.Errorf("Line %q, err %v", pe.Line, err)
				}
			case !errors.As(err, &te) || te.Step != "STARTTLS handshake" || te.Info != nil || te.Timeout():
				t.Fatalf("err = %v (%T), want a handshake *TLSError", err, err)
			case tc.is != nil && !wrapsAny(err, tc.is):
				t.Errorf("err = %v, want it to wrap one of %v", err, tc.is)
			}
			if c.TLS() != nil {
				t.Error("the Conn moved into TLS")
			}
			wantBroken(t, c, err)
		})
	}
}

// TestHostileStartTLSTwice: a server that advertises STARTTLS again inside
// TLS, and would answer 220 to it. The library refuses a second STARTTLS
// before writing anything (ErrTLSActive), and the session goes on.
func TestHostileStartTLSTwice(t *testing.T) {
	p := newPKI(t)
	again := map[string]fakeserver.HandlerFunc{"STARTTLS": func(s *fakeserver.Session, cmd fakeserver.Command) bool {
		if !s.TLS() {
			return false
		}
		s.Reply(220, "2.0.0 Ready to start TLS again")
		return true
	}}
	tlsLines := []string{"STARTTLS", "AUTH PLAIN"}
	t.Run("after STARTTLS", func(t *testing.T) {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid, EhloLinesTLS: tlsLines, Handlers: again})
		c := dialEhlo(t, ctx, srv, hostileDialer())
		if _, err := c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool()}); err != nil {
			t.Fatal(err)
		}
		if caps, err := c.Ehlo(ctx, ""); err != nil || !caps.StartTLS {
			t.Fatalf("EHLO inside TLS = %+v, %v", caps, err)
		}
		checkSecondStartTLS(t, ctx, c)
		c.Quit(ctx)
		rec := clientBytes(t, c, srv)
		if got := string(rec.ClientTLS()); got != "EHLO probe.example\r\nNOOP\r\nQUIT\r\n" {
			t.Errorf("client sent inside TLS %q", got)
		}
	})
	t.Run("after DialTLS", func(t *testing.T) {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid, ImplicitTLS: true, EhloLinesTLS: tlsLines, Handlers: again})
		d := hostileDialer()
		d.NetDialer = &redirect{to: srv.Addr()}
		d.TLSConfig = &tls.Config{RootCAs: p.CAPool()}
		c, err := d.DialTLS(ctx, testHost)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		checkSecondStartTLS(t, ctx, c)
		c.Quit(ctx)
		if got := string(clientBytes(t, c, srv).ClientTLS()); got != "NOOP\r\nQUIT\r\n" {
			t.Errorf("client sent inside TLS %q", got)
		}
	})
}

func checkSecondStartTLS(t *testing.T, ctx context.Context, c *Conn) {
	t.Helper()
	before := c.TLS()
	var info *TLSInfo
	var err error
	timed(t, 50*time.Millisecond, func() { info, err = c.StartTLS(ctx, nil) })
	var op *OpError
	if info != nil || !errors.As(err, &op) || op.Op != "STARTTLS" || !errors.Is(err, ErrTLSActive) {
		t.Fatalf("second StartTLS = %v, %v; want an *OpError wrapping ErrTLSActive", info, err)
	}
	if c.TLS() != before || c.Err() != nil {
		t.Error("the refused second STARTTLS changed the session")
	}
	if _, err := c.Noop(ctx); err != nil {
		t.Errorf("NOOP after the refused STARTTLS: %v", err)
	}
}

// wrapsAny reports whether err wraps one of targets. A peer that closes
// right away yields EOF or, when the client's write raced the close, a
// reset: both are the same outcome.
func wrapsAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
