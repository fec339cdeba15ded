package probe_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/mta"
)

func authServers() []mta.Server {
	return []mta.Server{mta.PostfixMX(), mta.PostfixSubmission(), mta.PostfixSMTPS(), mta.Exim()}
}

// authWith authenticates with the named mechanism.
func authWith(ctx context.Context, c *probe.Conn, mech, user, pass string) (*probe.Reply, error) {
	switch mech {
	case "PLAIN":
		return c.AuthPlain(ctx, "", user, pass)
	case "LOGIN":
		return c.AuthLogin(ctx, user, pass)
	case "CRAM-MD5":
		return c.Auth(ctx, probe.NewCRAMMD5Client(user, pass))
	case "SCRAM-SHA-1":
		return c.Auth(ctx, probe.NewSCRAMSHA1Client(user, pass))
	case "SCRAM-SHA-256":
		return c.Auth(ctx, probe.NewSCRAMSHA256Client(user, pass))
	}
	return nil, errors.New("no client for " + mech)
}

// TestIntegrationAuthMechanisms authenticates on every endpoint with AUTH,
// inside TLS, with each mechanism the library has: the right password gets
// 235, a wrong one a *ReplyError with 535; a mechanism the server does not
// offer is refused with 504. No transcript holds the password.
func TestIntegrationAuthMechanisms(t *testing.T) {
	mta.RequireMTA(t)
	mechs := []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"}
	for _, srv := range authServers() {
		t.Run(srv.Name, func(t *testing.T) {
			user, pass := srv.Credentials(t)
			offered := srv.DialSecure(t, mta.Context(t)).Capabilities()
			for _, mech := range mechs {
				t.Run(mech, func(t *testing.T) {
					ctx := mta.Context(t)
					if !offered.SupportsAuth(mech) {
						c := srv.DialSecure(t, ctx)
						_, err := authWith(ctx, c, mech, user, pass)
						var re *probe.ReplyError
						if !errors.As(err, &re) || re.Reply.Code != 504 {
							t.Fatalf("AUTH %s (not offered) = %v, want a *ReplyError with 504", mech, err)
						}
						t.Logf("not offered by %s: %v", srv.Name, re.Reply)
						return
					}
					c := srv.DialSecure(t, ctx)
					r, err := authWith(ctx, c, mech, user, pass)
					if err != nil || r.Code != 235 {
						t.Fatalf("AUTH %s with the right password = %v, %v; want 235", mech, r, err)
					}
					checkNoSecret(t, c, user, pass)

					c = dialSecureFrom(srv, t, ctx, mta.FreshLoopback(t))
					r, err = authWith(ctx, c, mech, user, pass+"-wrong")
					var re *probe.ReplyError
					if !errors.As(err, &re) || re.Reply.Code != 535 || re.Command != "AUTH "+mech {
						t.Fatalf("AUTH %s with a wrong password = %v, %v; want a *ReplyError for AUTH with 535", mech, r, err)
					}
					if r == nil || r.Code != 535 {
						t.Errorf("reply with the error = %v, want the 535", r)
					}
					checkNoSecret(t, c, user, pass+"-wrong")
					// The session survives a failed AUTH.
					if r, err := c.Noop(ctx); err != nil || r.Code != 250 {
						t.Errorf("NOOP after the refusal = %v, %v", r, err)
					}
				})
			}
		})
	}
}

// dialSecureFrom is dialSecure from the local address ip.
func dialSecureFrom(s mta.Server, t *testing.T, ctx context.Context, ip net.IP) *probe.Conn {
	t.Helper()
	d := s.Dialer(t)
	d.NetDialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	c := s.DialWith(t, ctx, d)
	if !s.Implicit {
		if _, err := c.Ehlo(ctx, ""); err != nil {
			t.Fatalf("%s EHLO: %v", s.Name, err)
		}
		if _, err := c.StartTLS(ctx, nil); err != nil {
			t.Fatalf("%s STARTTLS: %v", s.Name, err)
		}
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatalf("%s EHLO inside TLS: %v", s.Name, err)
	}
	return c
}

// checkNoSecret fails if c's transcript holds the password, or the base64
// form of the PLAIN or LOGIN credentials.
func checkNoSecret(t *testing.T, c *probe.Conn, user, pass string) {
	t.Helper()
	text := c.Transcript().String()
	for _, secret := range []string{
		pass,
		base64.StdEncoding.EncodeToString([]byte(pass)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass)),
	} {
		if strings.Contains(text, secret) {
			t.Fatalf("transcript holds a secret %q:\n%s", secret, text)
		}
	}
}

// TestIntegrationInsecureAuthRefused: on a plaintext session the library
// refuses AUTH PLAIN before writing anything (ErrInsecureAuth) and the
// session goes on; with AllowInsecureAuth the servers, which offer AUTH
// only inside TLS, refuse it themselves.
func TestIntegrationInsecureAuthRefused(t *testing.T) {
	mta.RequireMTA(t)
	tests := []struct {
		srv    mta.Server
		code   int
		prefix string // the server's refusal starts with it
	}{
		{mta.PostfixMX(), 503, "5.5.1 Error: authentication not enabled"},
		{mta.PostfixSubmission(), 530, "5.7.0 Must issue a STARTTLS command first"},
		{mta.Exim(), 503, "AUTH command used when not advertised"},
	}
	for _, tt := range tests {
		t.Run(tt.srv.Name, func(t *testing.T) {
			user, pass := tt.srv.Credentials(t)
			ctx := mta.Context(t)
			c := tt.srv.DialPlain(t, ctx)
			before := c.Transcript().Len()
			_, err := c.AuthPlain(ctx, "", user, pass)
			if !errors.Is(err, probe.ErrInsecureAuth) {
				t.Fatalf("AUTH PLAIN on plaintext = %v, want ErrInsecureAuth", err)
			}
			for _, e := range c.Transcript().Entries()[before:] {
				if e.Kind == probe.Sent {
					t.Errorf("sent %q after the refusal", e.Text)
				}
			}
			if r, err := c.Noop(ctx); err != nil || r.Code != 250 {
				t.Fatalf("NOOP after the refusal = %v, %v", r, err)
			}

			d := tt.srv.Dialer(t)
			d.AllowInsecureAuth = true
			c = tt.srv.DialWith(t, ctx, d)
			if _, err := c.Ehlo(ctx, ""); err != nil {
				t.Fatal(err)
			}
			_, err = c.AuthPlain(ctx, "", user, pass)
			var re *probe.ReplyError
			if !errors.As(err, &re) || re.Reply.Code != tt.code || !strings.HasPrefix(re.Reply.Text(), tt.prefix) {
				t.Fatalf("AUTH PLAIN on plaintext, allowed by the client = %v; want the server's %d %s", err, tt.code, tt.prefix)
			}
			checkNoSecret(t, c, user, pass)
		})
	}
}

// TestIntegrationRelay: RCPT to an outside domain is refused without AUTH
// and accepted after it; the server then discards the message, as its log
// shows.
func TestIntegrationRelay(t *testing.T) {
	mta.RequireMTA(t)
	tests := []struct {
		srv      mta.Server
		code     int
		enhanced string
		text     string
		log      string // file in PROBE_MTA_LOGDIR
		discard  string // what that log says about the discarded copy
	}{
		{mta.PostfixMX(), 554, "5.7.1", "Relay access denied", "postfix.log", "status=sent (relaying disabled in the test environment)"},
		{mta.PostfixSubmission(), 554, "5.7.1", "Client host rejected: Access denied", "postfix.log", "status=sent (relaying disabled in the test environment)"},
		{mta.PostfixSMTPS(), 554, "5.7.1", "Client host rejected: Access denied", "postfix.log", "status=sent (relaying disabled in the test environment)"},
		{mta.Exim(), 550, "", "Relay not permitted", "exim-mainlog", "=> :blackhole: <" + mta.OutsideRecipient + "> R=discard_remote"},
	}
	for _, tt := range tests {
		t.Run(tt.srv.Name, func(t *testing.T) {
			ctx := mta.Context(t)
			from := mta.LocalAddr(t, "alice")
			c := tt.srv.DialSecure(t, ctx)
			if _, err := c.Mail(ctx, from, nil); err != nil {
				t.Fatalf("MAIL: %v", err)
			}
			_, err := c.Rcpt(ctx, mta.OutsideRecipient, nil)
			var re *probe.ReplyError
			if !errors.As(err, &re) {
				t.Fatalf("RCPT to %s without AUTH = %v, want a *ReplyError", mta.OutsideRecipient, err)
			}
			r := re.Reply
			if r.Code != tt.code || r.Enhanced.String() != tt.enhanced || !strings.Contains(r.Text(), tt.text) {
				t.Errorf("RCPT without AUTH = %v, want %d %s …%s…", r, tt.code, tt.enhanced, tt.text)
			}

			c = tt.srv.DialAuthenticated(t, ctx)
			token := mta.UniqueToken(t)
			res, err := c.Send(ctx, probe.Envelope{
				From: from,
				To:   []string{mta.OutsideRecipient},
				Body: strings.NewReader(mta.PlainMessage(from, mta.OutsideRecipient, token, "relay test")),
			})
			if err != nil {
				t.Fatalf("Send after AUTH: %v", err)
			}
			if !res.Recipients[0].Accepted() || res.Final.Code != 250 || res.QueueID() == "" {
				t.Fatalf("relay after AUTH: rcpt %v final %v queue id %q", res.Recipients[0].Rcpt, res.Final, res.QueueID())
			}
			mta.WaitForLog(t, ctx, tt.log, res.QueueID(), tt.discard)
		})
	}
}
