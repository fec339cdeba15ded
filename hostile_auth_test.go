package probe

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// echoClient is a SASL mechanism that answers every challenge with "ok":
// the client a server with endless 334 rounds would keep busy forever.
type echoClient struct{}

func (echoClient) Start() (string, []byte, error)        { return "X-ECHO", nil, nil }
func (echoClient) Next(challenge []byte) ([]byte, error) { return []byte("ok"), nil }

// TestHostileAuthPlaintextOnly: AUTH advertised on plaintext only. The
// client sends no credentials there, and forgets the plaintext mechanisms
// after STARTTLS.
func TestHostileAuthPlaintextOnly(t *testing.T) {
	ctx := testCtx(t)
	p := newPKI(t)
	srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid, AuthBeforeTLS: true,
		Users: map[string]string{"alice": "secret"}, EhloLinesTLS: []string{"PIPELINING"}})
	c := dialEhlo(t, ctx, srv, hostileDialer())
	if !c.Capabilities().SupportsAuth("PLAIN") || !c.Capabilities().SupportsAuth("LOGIN") {
		t.Fatalf("plaintext EHLO: %+v", c.Capabilities())
	}
	timed(t, hostileBound, func() {
		for step, auth := range map[string]func() (*Reply, error){
			"AUTH PLAIN": func() (*Reply, error) { return c.AuthPlain(ctx, "", "alice", "secret") },
			"AUTH LOGIN": func() (*Reply, error) { return c.AuthLogin(ctx, "alice", "secret") },
		} {
			r, err := auth()
			var op *OpError
			if r != nil || !errors.As(err, &op) || op.Op != step || !errors.Is(err, ErrInsecureAuth) {
				t.Errorf("%s on plaintext = %v, %v; want ErrInsecureAuth", step, r, err)
			}
		}
	})
	if _, err := c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool()}); err != nil {
		t.Fatal(err)
	}
	caps, err := c.Ehlo(ctx, "")
	if err != nil || caps.Auth != nil || caps.SupportsAuth("PLAIN") {
		t.Fatalf("EHLO inside TLS = %+v, %v: the plaintext mechanisms must be forgotten", caps, err)
	}
	c.Quit(ctx)
	if got := string(clientBytes(t, c, srv).ClientPlain()); got != "EHLO probe.example\r\nSTARTTLS\r\n" {
		t.Errorf("client sent on plaintext %q", got)
	}
}

// endless334 answers every line of an AUTH exchange, "*" included, with
// another 334: a server that will not let go.
func endless334(s *fakeserver.Session, _ fakeserver.Command) bool {
	for {
		s.WriteRaw([]byte("334 " + fakeserver.B64("again?") + "\r\n"))
		if _, err := s.ReadLine(); err != nil {
			return true
		}
	}
}

// TestHostileAuthRounds: endless 334 rounds, 334 with invalid base64, a
// 334 after the mechanism's final response, and a 334 in answer to the
// cancellation. Each ends with a typed error at the AUTH step and exact
// bytes on the wire.
func TestHostileAuthRounds(t *testing.T) {
	ok, user, pass := fakeserver.B64("ok"), fakeserver.B64("alice"), fakeserver.B64("secret")
	cases := []struct {
		name    string
		handler fakeserver.HandlerFunc
		client  sasl.Client
		step    string
		reason  string // a *ProtocolError with this reason; "" for the client's refusal
		wire    string
		broken  bool
	}{
		{name: "endless 334", handler: fakeserver.AuthLoop(fakeserver.B64("more?"), 0), client: echoClient{},
			step: "AUTH X-ECHO", reason: "more than 16 334 challenges (Limits.MaxAuthRounds)",
			wire: "AUTH X-ECHO\r\n" + strings.Repeat(ok+"\r\n", 16) + "*\r\n"},
		{name: "invalid base64", handler: fakeserver.AuthLoop("!!not base64!!", 0), client: NewLoginClient("alice", "secret", false),
			step: "AUTH LOGIN", reason: "334 challenge is not base64", wire: "AUTH LOGIN\r\n*\r\n"},
		{name: "334 after the final response", handler: fakeserver.AuthLoop(fakeserver.B64("Password:"), 0),
			client: NewLoginClient("alice", "secret", false), step: "AUTH LOGIN",
			wire: "AUTH LOGIN\r\n" + user + "\r\n" + pass + "\r\n*\r\n"},
		{name: "334 to the cancellation", handler: endless334, client: echoClient{}, step: "AUTH X-ECHO",
			reason: "server went on with the AUTH exchange after it was cancelled", broken: true,
			wire: "AUTH X-ECHO\r\n" + strings.Repeat(ok+"\r\n", 16) + "*\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"AUTH": tc.handler}})
			c, err := hostileDial(t, ctx, srv, func(d *Dialer) { d.AllowInsecureAuth = true })
			if err != nil {
				t.Fatal(err)
			}
			timed(t, hostileBound, func() { _, err = c.Auth(ctx, tc.client) })
			if tc.reason != "" {
				wantProtocolError(t, err, tc.step, tc.reason)
			} else {
				var pe *ProtocolError
				if !errors.As(err, &pe) || pe.Step != tc.step || !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
					t.Fatalf("err = %v, want a *ProtocolError at %s wrapping the client's refusal", err, tc.step)
				}
			}
			if tc.broken {
				wantBroken(t, c, err)
			} else if _, err := c.Noop(ctx); err != nil {
				t.Errorf("NOOP after the cancelled AUTH: %v", err)
			}
			rec := clientBytes(t, c, srv)
			if got := strings.TrimSuffix(string(rec.ClientBytes), "NOOP\r\n"); got != tc.wire {
				t.Errorf("client sent %q, want %q", got, tc.wire)
			}
		})
	}
}
