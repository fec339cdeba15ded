package probe_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
)

// outsideRecipient is in a reserved domain (RFC 2606): the servers discard
// whatever they accept for it, and nothing could reach it anyway.
const outsideRecipient = "someone@example.org"

func authServers() []server {
	return []server{postfixMX(), postfixSubmission(), postfixSMTPS(), exim()}
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
	requireMTA(t)
	mechs := []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"}
	for _, srv := range authServers() {
		t.Run(srv.name, func(t *testing.T) {
			user, pass := srv.credentials(t)
			offered := srv.dialSecure(t, testContext(t)).Capabilities()
			for _, mech := range mechs {
				t.Run(mech, func(t *testing.T) {
					ctx := testContext(t)
					if !offered.SupportsAuth(mech) {
						c := srv.dialSecure(t, ctx)
						_, err := authWith(ctx, c, mech, user, pass)
						var re *probe.ReplyError
						if !errors.As(err, &re) || re.Reply.Code != 504 {
							t.Fatalf("AUTH %s (not offered) = %v, want a *ReplyError with 504", mech, err)
						}
						t.Logf("not offered by %s: %v", srv.name, re.Reply)
						return
					}
					c := srv.dialSecure(t, ctx)
					r, err := authWith(ctx, c, mech, user, pass)
					if err != nil || r.Code != 235 {
						t.Fatalf("AUTH %s with the right password = %v, %v; want 235", mech, r, err)
					}
					checkNoSecret(t, c, user, pass)

					c = srv.dialSecureFrom(t, ctx, freshLoopback(t))
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

// freshLoopback returns a random address of 127.0.0.0/8 other than
// 127.0.0.1 to connect from. Dovecot, which checks the passwords for
// Postfix, delays every AUTH from an address that failed recently (its
// anvil "auth penalty": 2 s doubling to 15 s); wrong passwords are sent from
// an address of their own so that they neither wait nor slow down the
// tests that follow.
func freshLoopback(t *testing.T) net.IP {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return net.IPv4(127, 1+b[0]%254, 1+b[1]%254, 1+b[2]%254)
}

// dialSecureFrom is dialSecure from the local address ip.
func (s server) dialSecureFrom(t *testing.T, ctx context.Context, ip net.IP) *probe.Conn {
	t.Helper()
	d := s.dialer(t)
	d.NetDialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	c := s.dialWith(t, ctx, d)
	if !s.implicit {
		if _, err := c.Ehlo(ctx, ""); err != nil {
			t.Fatalf("%s EHLO: %v", s.name, err)
		}
		if _, err := c.StartTLS(ctx, nil); err != nil {
			t.Fatalf("%s STARTTLS: %v", s.name, err)
		}
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatalf("%s EHLO inside TLS: %v", s.name, err)
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
	requireMTA(t)
	tests := []struct {
		srv    server
		code   int
		prefix string // the server's refusal starts with it
	}{
		{postfixMX(), 503, "5.5.1 Error: authentication not enabled"},
		{postfixSubmission(), 530, "5.7.0 Must issue a STARTTLS command first"},
		{exim(), 503, "AUTH command used when not advertised"},
	}
	for _, tt := range tests {
		t.Run(tt.srv.name, func(t *testing.T) {
			user, pass := tt.srv.credentials(t)
			ctx := testContext(t)
			c := tt.srv.dialPlain(t, ctx)
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

			d := tt.srv.dialer(t)
			d.AllowInsecureAuth = true
			c = tt.srv.dialWith(t, ctx, d)
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
	requireMTA(t)
	tests := []struct {
		srv      server
		code     int
		enhanced string
		text     string
		log      string // file in PROBE_MTA_LOGDIR
		discard  string // what that log says about the discarded copy
	}{
		{postfixMX(), 554, "5.7.1", "Relay access denied", "postfix.log", "status=sent (relaying disabled in the test environment)"},
		{postfixSubmission(), 554, "5.7.1", "Client host rejected: Access denied", "postfix.log", "status=sent (relaying disabled in the test environment)"},
		{postfixSMTPS(), 554, "5.7.1", "Client host rejected: Access denied", "postfix.log", "status=sent (relaying disabled in the test environment)"},
		{exim(), 550, "", "Relay not permitted", "exim-mainlog", "=> :blackhole: <" + outsideRecipient + "> R=discard_remote"},
	}
	for _, tt := range tests {
		t.Run(tt.srv.name, func(t *testing.T) {
			ctx := testContext(t)
			from := localAddr(t, "alice")
			c := tt.srv.dialSecure(t, ctx)
			if _, err := c.Mail(ctx, from, nil); err != nil {
				t.Fatalf("MAIL: %v", err)
			}
			_, err := c.Rcpt(ctx, outsideRecipient, nil)
			var re *probe.ReplyError
			if !errors.As(err, &re) {
				t.Fatalf("RCPT to %s without AUTH = %v, want a *ReplyError", outsideRecipient, err)
			}
			r := re.Reply
			if r.Code != tt.code || r.Enhanced.String() != tt.enhanced || !strings.Contains(r.Text(), tt.text) {
				t.Errorf("RCPT without AUTH = %v, want %d %s …%s…", r, tt.code, tt.enhanced, tt.text)
			}

			c = tt.srv.dialAuthenticated(t, ctx)
			token := uniqueToken(t)
			res, err := c.Send(ctx, probe.Envelope{
				From: from,
				To:   []string{outsideRecipient},
				Body: strings.NewReader(plainMessage(from, outsideRecipient, token, "relay test")),
			})
			if err != nil {
				t.Fatalf("Send after AUTH: %v", err)
			}
			if !res.Recipients[0].Accepted() || res.Final.Code != 250 || res.QueueID() == "" {
				t.Fatalf("relay after AUTH: rcpt %v final %v queue id %q", res.Recipients[0].Rcpt, res.Final, res.QueueID())
			}
			waitForLog(t, ctx, tt.log, res.QueueID(), tt.discard)
		})
	}
}

// waitForLog waits for a line of the server log file holding every one of
// parts.
func waitForLog(t *testing.T, ctx context.Context, file string, parts ...string) string {
	t.Helper()
	path := filepath.Join(requireEnv(t, envLogDir)[0], file)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if line := findLogLine(t, path, parts); line != "" {
			return line
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no line with %q in %s: %v", parts, path, ctx.Err())
		case <-tick.C:
		}
	}
}

func findLogLine(t *testing.T, path string, parts []string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open the log: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
lines:
	for sc.Scan() {
		for _, p := range parts {
			if !strings.Contains(sc.Text(), p) {
				continue lines
			}
		}
		return sc.Text()
	}
	return ""
}

// plainMessage is a small complete message whose first line is its unique
// Message-ID, so that it can be found in a Maildir.
func plainMessage(from, to, token, subject string) string {
	return "Message-ID: <" + token + "@probe.example.test>\r\n" +
		"Date: Sun, 22 Nov 2026 21:00:00 +0000\r\n" +
		"From: <" + from + ">\r\n" +
		"To: <" + to + ">\r\n" +
		"Subject: " + subject + "\r\n" +
		"\r\n" +
		"Hello from the smtpprobe integration tests.\r\n"
}
