// Package mta gives the integration tests of probe and probe/scan the
// real mail servers .ci/mta-up starts (Postfix with Dovecot SASL, Dovecot
// LMTP, Exim): their addresses and accounts from the environment
// (testdata/mta/run/env), sessions opened the way the tests need them, and
// the delivered messages read back from the Maildirs. Every helper skips
// the test when the environment is not set, so that go test passes on a
// machine without the servers; .ci/run sets it and refuses skips.
package mta

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
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
	EnvMX         = "PROBE_POSTFIX_MX"
	EnvSubmission = "PROBE_POSTFIX_SUBMISSION"
	EnvSMTPS      = "PROBE_POSTFIX_SMTPS"
	EnvLMTP       = "PROBE_DOVECOT_LMTP"
	EnvExim       = "PROBE_EXIM"
	EnvCA         = "PROBE_MTA_CA"
	EnvServerName = "PROBE_MTA_SERVERNAME"
	EnvDomain     = "PROBE_MTA_DOMAIN"
	EnvUser       = "PROBE_MTA_USER"
	EnvPassword   = "PROBE_MTA_PASSWORD"
	EnvUser2      = "PROBE_MTA_USER2"
	EnvEximUser   = "PROBE_MTA_EXIM_USER"
	EnvEximPass   = "PROBE_MTA_EXIM_PASSWORD"
	EnvLogDir     = "PROBE_MTA_LOGDIR"
)

// Timeout bounds each integration test.
const Timeout = 60 * time.Second

// RequireEnv returns the values of the named variables, or skips the test
// when any of them is unset.
func RequireEnv(t *testing.T, names ...string) []string {
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

// RequireMTA skips the test unless every variable of
// testdata/mta/run/env is set.
func RequireMTA(t *testing.T) {
	t.Helper()
	RequireEnv(t, EnvMX, EnvSubmission, EnvSMTPS, EnvLMTP, EnvExim, EnvCA, EnvServerName, EnvDomain,
		EnvUser, EnvPassword, EnvUser2, EnvEximUser, EnvEximPass, EnvLogDir,
		"PROBE_MTA_MAILDIR_POSTFIX", "PROBE_MTA_MAILDIR_LMTP", "PROBE_MTA_MAILDIR_EXIM")
}

// Server is one endpoint of the test environment and what its
// configuration (testdata/mta) makes it do.
type Server struct {
	Name     string // subtest name
	AddrEnv  string // variable holding host:port
	Implicit bool   // TLS from the first byte (RFC 8314)
	LMTP     bool
	UserEnv  string // AUTH account; "" when the endpoint has no AUTH
	PassEnv  string
	// MaildirEnv holds the Maildir root deliveries land in ("" when the
	// endpoint does not deliver locally by itself).
	MaildirEnv string
	// Prepended names the header fields the server adds on top of a
	// delivered message, in order; PrependedShared those it adds to a
	// message delivered to several recipients in one transaction, when
	// they differ.
	Prepended, PrependedShared []string
}

// PostfixMX is Postfix on its MX-like port: STARTTLS offered, AUTH after it.
func PostfixMX() Server {
	return Server{Name: "postfix-mx", AddrEnv: EnvMX, UserEnv: EnvUser, PassEnv: EnvPassword,
		MaildirEnv: "PROBE_MTA_MAILDIR_POSTFIX", Prepended: []string{"Return-Path", "X-Original-To", "Delivered-To", "Received"}}
}

// PostfixSubmission is Postfix on its submission port: STARTTLS and AUTH required.
func PostfixSubmission() Server {
	return Server{Name: "postfix-submission", AddrEnv: EnvSubmission, UserEnv: EnvUser, PassEnv: EnvPassword}
}

// PostfixSMTPS is Postfix with implicit TLS (RFC 8314).
func PostfixSMTPS() Server {
	return Server{Name: "postfix-smtps", AddrEnv: EnvSMTPS, Implicit: true, UserEnv: EnvUser, PassEnv: EnvPassword}
}

// DovecotLMTP is Dovecot's LMTP service over TCP.
func DovecotLMTP() Server {
	return Server{Name: "dovecot-lmtp", AddrEnv: EnvLMTP, LMTP: true,
		MaildirEnv: "PROBE_MTA_MAILDIR_LMTP", Prepended: []string{"Return-Path", "Delivered-To", "Received"},
		// One copy for several recipients has no Delivered-To.
		PrependedShared: []string{"Return-Path", "Received"}}
}

// Exim is Exim 4 with STARTTLS and AUTH after it.
func Exim() Server {
	return Server{Name: "exim", AddrEnv: EnvExim, UserEnv: EnvEximUser, PassEnv: EnvEximPass,
		MaildirEnv: "PROBE_MTA_MAILDIR_EXIM", Prepended: []string{"Return-path", "Envelope-to", "Delivery-date", "Received"}}
}

// AllServers lists every endpoint above.
func AllServers() []Server {
	return []Server{PostfixMX(), PostfixSubmission(), PostfixSMTPS(), DovecotLMTP(), Exim()}
}

// addr returns the endpoint's address, skipping when it is not set.
func (s Server) Addr(t *testing.T) string {
	t.Helper()
	return RequireEnv(t, s.AddrEnv)[0]
}

// credentials returns the endpoint's AUTH account.
func (s Server) Credentials(t *testing.T) (user, pass string) {
	t.Helper()
	v := RequireEnv(t, s.UserEnv, s.PassEnv)
	return v[0], v[1]
}

// Context is bounded by Timeout and cancelled with the test.
func Context(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// Roots is a pool holding the test CA only.
func Roots(t *testing.T) *x509.CertPool {
	t.Helper()
	pemData, err := os.ReadFile(RequireEnv(t, EnvCA)[0])
	if err != nil {
		t.Fatalf("read the test CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("no certificate in %s", os.Getenv(EnvCA))
	}
	return pool
}

// TrustedTLS verifies the servers' certificate against the test CA for the
// environment's server name.
func TrustedTLS(t *testing.T) *tls.Config {
	t.Helper()
	return &tls.Config{RootCAs: Roots(t), ServerName: RequireEnv(t, EnvServerName)[0]}
}

// dialer returns the Dialer the tests use for s: trusting the test CA.
func (s Server) Dialer(t *testing.T) *probe.Dialer {
	t.Helper()
	return &probe.Dialer{LocalName: "probe.example.test", TLSConfig: TrustedTLS(t), LMTP: s.LMTP}
}

// dialWith opens a session with d (plaintext, or TLS for an implicit-TLS
// endpoint) and closes it, with QUIT, when the test ends.
func (s Server) DialWith(t *testing.T, ctx context.Context, d *probe.Dialer) *probe.Conn {
	t.Helper()
	dial := d.Dial
	if s.Implicit {
		dial = d.DialTLS
	}
	c, err := dial(ctx, s.Addr(t))
	if err != nil {
		t.Fatalf("dial %s: %v", s.Name, err)
	}
	CloseWithQuit(t, c)
	return c
}

// CloseWithQuit sends QUIT (when the session is still up) and closes c
// when the test ends.
func CloseWithQuit(t *testing.T, c *probe.Conn) {
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
func (s Server) DialPlain(t *testing.T, ctx context.Context) *probe.Conn {
	t.Helper()
	c := s.DialWith(t, ctx, s.Dialer(t))
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatalf("%s EHLO: %v", s.Name, err)
	}
	return c
}

// dialSecure opens a session inside TLS verified against the test CA and
// greets the server there: STARTTLS, or implicit TLS.
func (s Server) DialSecure(t *testing.T, ctx context.Context) *probe.Conn {
	t.Helper()
	c := s.DialPlain(t, ctx)
	if !s.Implicit {
		if _, err := c.StartTLS(ctx, nil); err != nil {
			t.Fatalf("%s STARTTLS: %v", s.Name, err)
		}
		if _, err := c.Ehlo(ctx, ""); err != nil {
			t.Fatalf("%s EHLO after STARTTLS: %v", s.Name, err)
		}
	}
	return c
}

// dialAuthenticated is dialSecure followed by AUTH PLAIN with the
// endpoint's account.
func (s Server) DialAuthenticated(t *testing.T, ctx context.Context) *probe.Conn {
	t.Helper()
	c := s.DialSecure(t, ctx)
	user, pass := s.Credentials(t)
	if _, err := c.AuthPlain(ctx, "", user, pass); err != nil {
		t.Fatalf("%s AUTH PLAIN: %v", s.Name, err)
	}
	return c
}

// LocalAddr is localpart@ the environment's mail domain.
func LocalAddr(t *testing.T, localpart string) string {
	t.Helper()
	return localpart + "@" + RequireEnv(t, EnvDomain)[0]
}

// UniqueToken is a random string that names one test message.
func UniqueToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// CapFacts is what an EHLO reply must and must not contain.
type CapFacts struct {
	StartTLS bool
	Auth     []string // exactly these mechanisms, in order; nil: no AUTH
	Size     int64
	Has      []string
	Lacks    []string
}

func CheckCaps(t *testing.T, when string, caps *probe.Capabilities, want CapFacts) {
	t.Helper()
	if caps == nil {
		t.Fatalf("%s: no capabilities", when)
	}
	if caps.StartTLS != want.StartTLS {
		t.Errorf("%s: StartTLS = %v, want %v", when, caps.StartTLS, want.StartTLS)
	}
	if !slices.Equal(caps.Auth, want.Auth) {
		t.Errorf("%s: Auth = %q, want %q", when, caps.Auth, want.Auth)
	}
	if caps.Has("AUTH") != (want.Auth != nil) {
		t.Errorf("%s: Has(AUTH) = %v, want %v", when, caps.Has("AUTH"), want.Auth != nil)
	}
	if caps.Size != want.Size {
		t.Errorf("%s: Size = %d, want %d", when, caps.Size, want.Size)
	}
	for _, k := range want.Has {
		if !caps.Has(k) {
			t.Errorf("%s: %s not advertised; got %v", when, k, caps.Extensions)
		}
	}
	for _, k := range want.Lacks {
		if caps.Has(k) {
			t.Errorf("%s: %s advertised, want not", when, k)
		}
	}
}

// --- Maildir read-back ---

// DeliveredMessage waits for the message carrying token to appear in
// localpart's Maildir under root, and returns its bytes.
func DeliveredMessage(t *testing.T, ctx context.Context, root, localpart, token string) []byte {
	t.Helper()
	dir := filepath.Join(root, RequireEnv(t, EnvDomain)[0], localpart, "new")
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

// StripPrepended splits a delivered message into the header fields the
// server put on top of what was sent and the rest. The sent message is
// found by its first line, which must be unique (the Message-ID).
// It returns the names of the prepended fields, in order.
func StripPrepended(t *testing.T, delivered []byte, firstLine string) (names []string, prefix, rest string) {
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
func (s Server) CheckReadBack(t *testing.T, ctx context.Context, localpart, token, sent string, shared bool) (prefix string) {
	t.Helper()
	root := RequireEnv(t, s.MaildirEnv)[0]
	delivered := DeliveredMessage(t, ctx, root, localpart, token)
	firstLine, _, _ := strings.Cut(sent, "\r\n")
	names, prefix, rest := StripPrepended(t, delivered, firstLine+"\n")
	want := s.Prepended
	if shared && s.PrependedShared != nil {
		want = s.PrependedShared
	}
	if !slices.Equal(names, want) {
		t.Errorf("%s prepended %q, want %q:\n%s", s.Name, names, want, prefix)
	}
	if lf := strings.ReplaceAll(sent, "\r\n", "\n"); rest != lf {
		t.Errorf("%s delivered message differs from the one sent\n got: %q\nwant: %q", s.Name, rest, lf)
	}
	t.Logf("%s prepended to %s's copy:\n%s", s.Name, localpart, prefix)
	return prefix
}

// OutsideRecipient is in a reserved domain (RFC 2606): the servers discard
// whatever they accept for it, and nothing could reach it anyway.
const OutsideRecipient = "someone@example.org"

// FreshLoopback returns a random address of 127.0.0.0/8 other than
// 127.0.0.1 to connect from. Dovecot, which checks the passwords for
// Postfix, delays every AUTH from an address that failed recently (its
// anvil "auth penalty": 2 s doubling to 15 s); wrong passwords are sent from
// an address of their own so that they neither wait nor slow down the
// tests that follow.
func FreshLoopback(t *testing.T) net.IP {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return net.IPv4(127, 1+b[0]%254, 1+b[1]%254, 1+b[2]%254)
}

// WaitForLog waits for a line of the server log file holding every one of
// parts.
func WaitForLog(t *testing.T, ctx context.Context, file string, parts ...string) string {
	t.Helper()
	path := filepath.Join(RequireEnv(t, EnvLogDir)[0], file)
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

// PlainMessage is a small complete message whose first line is its unique
// Message-ID, so that it can be found in a Maildir.
func PlainMessage(from, to, token, subject string) string {
	return "Message-ID: <" + token + "@probe.example.test>\r\n" +
		"Date: Sun, 22 Nov 2026 21:00:00 +0000\r\n" +
		"From: <" + from + ">\r\n" +
		"To: <" + to + ">\r\n" +
		"Subject: " + subject + "\r\n" +
		"\r\n" +
		"Hello from the smtpprobe integration tests.\r\n"
}

// CheckUnknownLMTP checks Dovecot's refusal of an unknown recipient.
func CheckUnknownLMTP(t *testing.T, r *probe.Reply, addr string) {
	t.Helper()
	if r == nil || r.Code != 550 || r.Enhanced.String() != "5.1.1" || !strings.Contains(r.Text(), "User doesn't exist") {
		t.Errorf("RCPT %s = %v, want 550 5.1.1 … User doesn't exist", addr, r)
	}
}

// CheckSavedLMTP checks Dovecot's final reply for one recipient: it names
// the recipient, so the order of the replies is checked too.
func CheckSavedLMTP(t *testing.T, r *probe.Reply, addr string) {
	t.Helper()
	if r == nil || r.Code != 250 || r.Enhanced.String() != "2.0.0" ||
		!strings.HasPrefix(r.Text(), "2.0.0 <"+addr+"> ") || !strings.HasSuffix(r.Text(), " Saved") {
		t.Errorf("final reply for %s = %v, want 250 2.0.0 <%s> … Saved", addr, r, addr)
	}
}
