package probe_test

// Integration tests against real mail servers (Postfix with Dovecot SASL,
// Dovecot LMTP, Exim) started by .ci/mta-up. They are skipped unless the
// variables of testdata/mta/run/env are set:
//
//	bash .ci/mta-up && . testdata/mta/run/env
//	go test -count=1 -race -run Integration -v .
//
// Every test is named TestIntegration… so that .ci/run can select them.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
)

// The variables .ci/mta-up writes to testdata/mta/run/env.
const (
	envMX         = "PROBE_POSTFIX_MX"
	envSubmission = "PROBE_POSTFIX_SUBMISSION"
	envSMTPS      = "PROBE_POSTFIX_SMTPS"
	envLMTP       = "PROBE_DOVECOT_LMTP"
	envExim       = "PROBE_EXIM"
	envCA         = "PROBE_MTA_CA"
	envServerName = "PROBE_MTA_SERVERNAME"
	envDomain     = "PROBE_MTA_DOMAIN"
	envUser       = "PROBE_MTA_USER"
	envPassword   = "PROBE_MTA_PASSWORD"
	envUser2      = "PROBE_MTA_USER2"
	envEximUser   = "PROBE_MTA_EXIM_USER"
	envEximPass   = "PROBE_MTA_EXIM_PASSWORD"
	envLogDir     = "PROBE_MTA_LOGDIR"
)

// integrationTimeout bounds each integration test.
const integrationTimeout = 60 * time.Second

// requireEnv returns the values of the named variables, or skips the test
// when any of them is unset.
func requireEnv(t *testing.T, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Skipf("integration test against real mail servers: %s not set "+
			"(run: bash .ci/mta-up && . testdata/mta/run/env)", strings.Join(missing, ", "))
	}
	return vals
}

// requireMTA skips the test unless every variable of
// testdata/mta/run/env is set.
func requireMTA(t *testing.T) {
	t.Helper()
	requireEnv(t, envMX, envSubmission, envSMTPS, envLMTP, envExim, envCA, envServerName, envDomain,
		envUser, envPassword, envUser2, envEximUser, envEximPass, envLogDir,
		"PROBE_MTA_MAILDIR_POSTFIX", "PROBE_MTA_MAILDIR_LMTP", "PROBE_MTA_MAILDIR_EXIM")
}

// server is one endpoint of the test environment and what its
// configuration (testdata/mta) makes it do.
type server struct {
	name     string // subtest name
	addrEnv  string // variable holding host:port
	implicit bool   // TLS from the first byte (RFC 8314)
	lmtp     bool
	userEnv  string // AUTH account; "" when the endpoint has no AUTH
	passEnv  string
	// maildirEnv holds the Maildir root deliveries land in ("" when the
	// endpoint does not deliver locally by itself).
	maildirEnv string
	// prepended names the header fields the server adds on top of a
	// delivered message, in order; prependedShared those it adds to a
	// message delivered to several recipients in one transaction, when
	// they differ.
	prepended, prependedShared []string
}

func postfixMX() server {
	return server{name: "postfix-mx", addrEnv: envMX, userEnv: envUser, passEnv: envPassword,
		maildirEnv: "PROBE_MTA_MAILDIR_POSTFIX", prepended: []string{"Return-Path", "X-Original-To", "Delivered-To", "Received"}}
}

func postfixSubmission() server {
	return server{name: "postfix-submission", addrEnv: envSubmission, userEnv: envUser, passEnv: envPassword}
}

func postfixSMTPS() server {
	return server{name: "postfix-smtps", addrEnv: envSMTPS, implicit: true, userEnv: envUser, passEnv: envPassword}
}

func dovecotLMTP() server {
	return server{name: "dovecot-lmtp", addrEnv: envLMTP, lmtp: true,
		maildirEnv: "PROBE_MTA_MAILDIR_LMTP", prepended: []string{"Return-Path", "Delivered-To", "Received"},
		// One copy for several recipients has no Delivered-To.
		prependedShared: []string{"Return-Path", "Received"}}
}

func exim() server {
	return server{name: "exim", addrEnv: envExim, userEnv: envEximUser, passEnv: envEximPass,
		maildirEnv: "PROBE_MTA_MAILDIR_EXIM", prepended: []string{"Return-path", "Envelope-to", "Delivery-date", "Received"}}
}

func allServers() []server {
	return []server{postfixMX(), postfixSubmission(), postfixSMTPS(), dovecotLMTP(), exim()}
}

// addr returns the endpoint's address, skipping when it is not set.
func (s server) addr(t *testing.T) string {
	t.Helper()
	return requireEnv(t, s.addrEnv)[0]
}

// credentials returns the endpoint's AUTH account.
func (s server) credentials(t *testing.T) (user, pass string) {
	t.Helper()
	v := requireEnv(t, s.userEnv, s.passEnv)
	return v[0], v[1]
}

// testContext is bounded by integrationTimeout and cancelled with the test.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), integrationTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mtaRoots is a pool holding the test CA only.
func mtaRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	pemData, err := os.ReadFile(requireEnv(t, envCA)[0])
	if err != nil {
		t.Fatalf("read the test CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("no certificate in %s", os.Getenv(envCA))
	}
	return pool
}

// trustedTLS verifies the servers' certificate against the test CA for the
// environment's server name.
func trustedTLS(t *testing.T) *tls.Config {
	t.Helper()
	return &tls.Config{RootCAs: mtaRoots(t), ServerName: requireEnv(t, envServerName)[0]}
}

// dialer returns the Dialer the tests use for s: trusting the test CA.
func (s server) dialer(t *testing.T) *probe.Dialer {
	t.Helper()
	return &probe.Dialer{LocalName: "probe.example.test", TLSConfig: trustedTLS(t), LMTP: s.lmtp}
}

// dialWith opens a session with d (plaintext, or TLS for an implicit-TLS
// endpoint) and closes it, with QUIT, when the test ends.
func (s server) dialWith(t *testing.T, ctx context.Context, d *probe.Dialer) *probe.Conn {
	t.Helper()
	dial := d.Dial
	if s.implicit {
		dial = d.DialTLS
	}
	c, err := dial(ctx, s.addr(t))
	if err != nil {
		t.Fatalf("dial %s: %v", s.name, err)
	}
	closeWithQuit(t, c)
	return c
}

// closeWithQuit sends QUIT (when the session is still up) and closes c
// when the test ends.
func closeWithQuit(t *testing.T, c *probe.Conn) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c.Err() == nil {
			c.Quit(ctx)
		}
		c.Close()
	})
}

// dialPlain opens a session and sends EHLO (LHLO) without TLS.
func (s server) dialPlain(t *testing.T, ctx context.Context) *probe.Conn {
	t.Helper()
	c := s.dialWith(t, ctx, s.dialer(t))
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatalf("%s EHLO: %v", s.name, err)
	}
	return c
}

// dialSecure opens a session inside TLS verified against the test CA and
// greets the server there: STARTTLS, or implicit TLS.
func (s server) dialSecure(t *testing.T, ctx context.Context) *probe.Conn {
	t.Helper()
	c := s.dialPlain(t, ctx)
	if !s.implicit {
		if _, err := c.StartTLS(ctx, nil); err != nil {
			t.Fatalf("%s STARTTLS: %v", s.name, err)
		}
		if _, err := c.Ehlo(ctx, ""); err != nil {
			t.Fatalf("%s EHLO after STARTTLS: %v", s.name, err)
		}
	}
	return c
}

// dialAuthenticated is dialSecure followed by AUTH PLAIN with the
// endpoint's account.
func (s server) dialAuthenticated(t *testing.T, ctx context.Context) *probe.Conn {
	t.Helper()
	c := s.dialSecure(t, ctx)
	user, pass := s.credentials(t)
	if _, err := c.AuthPlain(ctx, "", user, pass); err != nil {
		t.Fatalf("%s AUTH PLAIN: %v", s.name, err)
	}
	return c
}

// localAddr is localpart@ the environment's mail domain.
func localAddr(t *testing.T, localpart string) string {
	t.Helper()
	return localpart + "@" + requireEnv(t, envDomain)[0]
}

// uniqueToken is a random string that names one test message.
func uniqueToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// capFacts is what an EHLO reply must and must not contain.
type capFacts struct {
	startTLS bool
	auth     []string // exactly these mechanisms, in order; nil: no AUTH
	size     int64
	has      []string
	lacks    []string
}

func checkCaps(t *testing.T, when string, caps *probe.Capabilities, want capFacts) {
	t.Helper()
	if caps == nil {
		t.Fatalf("%s: no capabilities", when)
	}
	if caps.StartTLS != want.startTLS {
		t.Errorf("%s: StartTLS = %v, want %v", when, caps.StartTLS, want.startTLS)
	}
	if !slices.Equal(caps.Auth, want.auth) {
		t.Errorf("%s: Auth = %q, want %q", when, caps.Auth, want.auth)
	}
	if caps.Has("AUTH") != (want.auth != nil) {
		t.Errorf("%s: Has(AUTH) = %v, want %v", when, caps.Has("AUTH"), want.auth != nil)
	}
	if caps.Size != want.size {
		t.Errorf("%s: Size = %d, want %d", when, caps.Size, want.size)
	}
	for _, k := range want.has {
		if !caps.Has(k) {
			t.Errorf("%s: %s not advertised; got %v", when, k, caps.Extensions)
		}
	}
	for _, k := range want.lacks {
		if caps.Has(k) {
			t.Errorf("%s: %s advertised, want not", when, k)
		}
	}
}

// TestIntegrationBannerAndCapabilities greets every endpoint and checks the
// banner and the EHLO (LHLO) capabilities before and after TLS against
// what testdata/mta configures.
func TestIntegrationBannerAndCapabilities(t *testing.T) {
	requireMTA(t)
	postfixAuth := []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"}
	postfixCommon := []string{"PIPELINING", "CHUNKING", "SMTPUTF8", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES", "VRFY", "ETRN"}
	postfixPlain := capFacts{startTLS: true, size: 10240000, has: postfixCommon}
	postfixTLS := capFacts{auth: postfixAuth, size: 10240000, has: postfixCommon}
	eximCommon := []string{"PIPELINING", "CHUNKING", "SMTPUTF8", "8BITMIME", "DSN", "PRDR", "PIPECONNECT"}
	lmtpCommon := []string{"PIPELINING", "CHUNKING", "8BITMIME", "ENHANCEDSTATUSCODES"}
	tests := []struct {
		srv        server
		banner     string // the banner's text starts with it
		greeting   string // the first EHLO line after the domain
		before     capFacts
		after      capFacts
		beforeNote string
	}{
		{srv: postfixMX(), banner: "mail.example.test ESMTP Postfix (smtpprobe test)",
			before: postfixPlain, after: postfixTLS},
		{srv: postfixSubmission(), banner: "mail.example.test ESMTP Postfix (smtpprobe test)",
			before: postfixPlain, after: postfixTLS},
		{srv: postfixSMTPS(), banner: "mail.example.test ESMTP Postfix (smtpprobe test)",
			after: postfixTLS},
		{srv: dovecotLMTP(), banner: "mail.example.test Dovecot (Debian) ready.",
			before: capFacts{startTLS: true, has: lmtpCommon, lacks: []string{"SMTPUTF8", "DSN"}},
			after:  capFacts{has: lmtpCommon, lacks: []string{"SMTPUTF8", "DSN"}}},
		{srv: exim(), banner: "mail.example.test ESMTP Exim 4.", greeting: "Hello probe.example.test [127.0.0.1]",
			before: capFacts{startTLS: true, size: 10485760, has: eximCommon, lacks: []string{"ENHANCEDSTATUSCODES"}},
			after:  capFacts{auth: []string{"PLAIN", "LOGIN", "CRAM-MD5"}, size: 10485760, has: eximCommon}},
	}
	for _, tt := range tests {
		t.Run(tt.srv.name, func(t *testing.T) {
			ctx := testContext(t)
			c := tt.srv.dialWith(t, ctx, tt.srv.dialer(t))
			b := c.Banner()
			if b == nil || b.Code != 220 || !strings.HasPrefix(b.Text(), tt.banner) {
				t.Fatalf("banner = %v, want 220 %s…", b, tt.banner)
			}
			if tt.srv.implicit != (c.TLS() != nil) {
				t.Fatalf("TLS before EHLO = %v, want %v", c.TLS() != nil, tt.srv.implicit)
			}
			caps, err := c.Ehlo(ctx, "")
			if err != nil {
				t.Fatalf("EHLO: %v", err)
			}
			if caps.Domain != "mail.example.test" || caps.Greeting != tt.greeting {
				t.Errorf("EHLO first line = %q %q, want mail.example.test %q", caps.Domain, caps.Greeting, tt.greeting)
			}
			if tt.srv.implicit {
				checkCaps(t, "EHLO inside implicit TLS", caps, tt.after)
				return
			}
			checkCaps(t, "EHLO before TLS", caps, tt.before)
			if _, err := c.StartTLS(ctx, nil); err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
			if c.Capabilities() != nil {
				t.Errorf("Capabilities after STARTTLS = %v, want nil until EHLO", c.Capabilities())
			}
			caps, err = c.Ehlo(ctx, "")
			if err != nil {
				t.Fatalf("EHLO after STARTTLS: %v", err)
			}
			checkCaps(t, "EHLO after STARTTLS", caps, tt.after)
		})
	}
}

// TestIntegrationSubmissionRequiresTLS: Postfix submission refuses MAIL
// before STARTTLS with 530 5.7.0, and accepts the same MAIL inside TLS
// once authenticated.
func TestIntegrationSubmissionRequiresTLS(t *testing.T) {
	requireMTA(t)
	srv := postfixSubmission()
	ctx := testContext(t)
	c := srv.dialPlain(t, ctx)
	from := localAddr(t, "alice")
	r, err := c.Mail(ctx, from, nil)
	var re *probe.ReplyError
	if !errors.As(err, &re) {
		t.Fatalf("MAIL before TLS: reply %v, err %v; want a *ReplyError", r, err)
	}
	if re.Reply.Code != 530 || re.Reply.Enhanced.String() != "5.7.0" || !strings.Contains(re.Reply.Text(), "STARTTLS") {
		t.Errorf("MAIL before TLS = %v, want 530 5.7.0 …STARTTLS…", re.Reply)
	}
	if re.Temporary() {
		t.Errorf("530 reported as temporary")
	}
	c2 := srv.dialAuthenticated(t, ctx)
	if r, err := c2.Mail(ctx, from, nil); err != nil || r.Code != 250 {
		t.Fatalf("MAIL after STARTTLS and AUTH = %v, %v; want 250", r, err)
	}
}

// --- Maildir read-back ---

// deliveredMessage waits for the message carrying token to appear in
// localpart's Maildir under root, and returns its bytes.
func deliveredMessage(t *testing.T, ctx context.Context, root, localpart, token string) []byte {
	t.Helper()
	dir := filepath.Join(root, requireEnv(t, envDomain)[0], localpart, "new")
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if msg := findInDir(t, dir, token); msg != nil {
			return msg
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no message with %s in %s: %v", token, dir, ctx.Err())
		case <-tick.C:
		}
	}
}

func findInDir(t *testing.T, dir, token string) []byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read %s: %v", dir, err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // renamed or being written
		}
		if bytes.Contains(b, []byte(token)) {
			return b
		}
	}
	return nil
}

// stripPrepended splits a delivered message into the header fields the
// server put on top of what was sent and the rest. The sent message is
// found by its first line, which must be unique (the Message-ID).
// It returns the names of the prepended fields, in order.
func stripPrepended(t *testing.T, delivered []byte, firstLine string) (names []string, prefix, rest string) {
	t.Helper()
	s := string(delivered)
	i := strings.Index(s, firstLine)
	if i < 0 {
		t.Fatalf("delivered message lacks %q:\n%s", firstLine, s)
	}
	prefix, rest = s[:i], s[i:]
	for _, line := range strings.SplitAfter(prefix, "\n") {
		switch {
		case line == "":
		case line[0] == ' ' || line[0] == '\t':
			if len(names) == 0 {
				t.Fatalf("continuation line before any header field: %q", line)
			}
		default:
			name, _, ok := strings.Cut(line, ":")
			if !ok || strings.ContainsAny(name, " \t") {
				t.Fatalf("not a header field among the prepended lines: %q", line)
			}
			names = append(names, name)
		}
	}
	return names, prefix, rest
}

// checkReadBack reads the message carrying token from localpart's Maildir
// and checks that it is sent, byte for byte once the server's prepended
// header fields are removed, with the line endings Maildir stores: LF.
// shared says that the transaction had several recipients.
func (s server) checkReadBack(t *testing.T, ctx context.Context, localpart, token, sent string, shared bool) (prefix string) {
	t.Helper()
	root := requireEnv(t, s.maildirEnv)[0]
	delivered := deliveredMessage(t, ctx, root, localpart, token)
	firstLine, _, _ := strings.Cut(sent, "\r\n")
	names, prefix, rest := stripPrepended(t, delivered, firstLine+"\n")
	want := s.prepended
	if shared && s.prependedShared != nil {
		want = s.prependedShared
	}
	if !slices.Equal(names, want) {
		t.Errorf("%s prepended %q, want %q:\n%s", s.name, names, want, prefix)
	}
	if lf := strings.ReplaceAll(sent, "\r\n", "\n"); rest != lf {
		t.Errorf("%s delivered message differs from the one sent\n got: %q\nwant: %q", s.name, rest, lf)
	}
	t.Logf("%s prepended to %s's copy:\n%s", s.name, localpart, prefix)
	return prefix
}
