package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

const testHost = "mail.example.test"

// redirect dials every address at to and remembers the addresses asked
// for, so that a test can dial a host name without DNS.
type redirect struct {
	to    string
	mu    sync.Mutex
	asked []string
}

func (r *redirect) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.asked = append(r.asked, addr)
	r.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, r.to)
}

func newPKI(t *testing.T) *fakeserver.PKI {
	t.Helper()
	p, err := fakeserver.NewPKI(testHost)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dialEhlo dials srv as testHost, reads the banner and sends EHLO.
func dialEhlo(t *testing.T, ctx context.Context, srv *fakeserver.Server, d Dialer) *Conn {
	t.Helper()
	d.NetDialer = &redirect{to: srv.Addr()}
	c, err := d.Dial(ctx, testHost+":25")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Ehlo(ctx, "probe.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

// lastNote returns the text of the last note in the transcript.
func lastNote(c *Conn) string {
	es := c.Transcript().Entries()
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Kind == Note {
			return es[i].Text
		}
	}
	return ""
}

func waitSession(t *testing.T, srv *fakeserver.Server) fakeserver.SessionRecord {
	t.Helper()
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return recs[0]
}

// checkInsideTLS proves that the Conn forgot its plaintext capabilities and
// talks through TLS: EHLO again, every later entry marked TLS.
func checkInsideTLS(t *testing.T, ctx context.Context, c *Conn, info *TLSInfo) {
	t.Helper()
	if c.TLS() != info {
		t.Error("TLS() does not return the StartTLS report")
	}
	if c.Capabilities() != nil {
		t.Error("Capabilities() kept the plaintext EHLO after STARTTLS")
	}
	n := c.Transcript().Len()
	caps, err := c.Ehlo(ctx, "probe.example")
	if err != nil {
		t.Fatal(err)
	}
	if caps.StartTLS || !caps.SupportsAuth("PLAIN") {
		t.Errorf("EHLO inside TLS: StartTLS %v, AUTH %v", caps.StartTLS, caps.Auth)
	}
	for _, e := range c.Transcript().Entries()[n-1:] {
		if !e.TLS {
			t.Errorf("entry %q after the handshake is not marked TLS", e)
		}
	}
}

func waitSessionAfterQuit(t *testing.T, ctx context.Context, c *Conn, srv *fakeserver.Server) fakeserver.SessionRecord {
	t.Helper()
	c.Quit(ctx)
	return waitSession(t, srv)
}

// TestStartTLSReplies checks every refusal of STARTTLS: a *ReplyError, the
// plaintext session still usable except after 421 and 221.
func TestStartTLSReplies(t *testing.T) {
	cases := []struct {
		code   int
		text   string
		closes bool
	}{
		{454, "4.7.0 TLS not available due to temporary reason", false},
		{501, "5.5.4 Syntax error", false},
		{502, "5.5.1 Command not implemented", false},
		{500, "5.5.2 Command unrecognized", false},
		{530, "5.7.0 Must issue a STARTTLS command first", false},
		{554, "5.5.1 TLS already active", false},
		{354, "go ahead", true},
		{250, "2.0.0 Ok", true},
		{421, "4.3.2 Service shutting down", true},
		{221, "2.0.0 Bye", true},
	}
	for _, tc := range cases {
		t.Run(itoa(tc.code), func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
				"STARTTLS": func(s *fakeserver.Session, _ fakeserver.Command) bool {
					s.Reply(tc.code, tc.text)
					return true
				},
			}})
			c := dialEhlo(t, ctx, srv, Dialer{})
			info, err := c.StartTLS(ctx, nil)
			if tc.code/100 < 4 { // a reply STARTTLS cannot get: out of step
				var pe *ProtocolError
				if info != nil || !errors.As(err, &pe) || pe.Step != "STARTTLS" || pe.Reply == nil || pe.Reply.Code != tc.code {
					t.Fatalf("StartTLS = %v, %v; want a *ProtocolError with the %d", info, err, tc.code)
				}
				if c.Err() == nil {
					t.Error("the session goes on after a reply out of step")
				}
				return
			}
			var re *ReplyError
			if info != nil || !errors.As(err, &re) {
				t.Fatalf("StartTLS = %v, %v; want a *ReplyError", info, err)
			}
			if re.Command != "STARTTLS" || re.Reply.Code != tc.code || re.Reply.Text() != tc.text {
				t.Errorf("ReplyError %q %d %q", re.Command, re.Reply.Code, re.Reply.Text())
			}
			if got := errors.Is(err, ErrServerClosed); got != (tc.code == 421) {
				t.Errorf("errors.Is(err, ErrServerClosed) = %v", got)
			}
			if c.TLS() != nil || c.Capabilities() == nil {
				t.Error("a refused STARTTLS changed the TLS state or dropped the capabilities")
			}
			_, nerr := c.Noop(ctx)
			if tc.closes && nerr == nil {
				t.Error("NOOP worked after a reply that ends the session")
			}
			if !tc.closes && nerr != nil {
				t.Errorf("plaintext session unusable after %d: %v", tc.code, nerr)
			}
		})
	}
}

// TestStartTLSInjection checks that bytes after the 220 stop the session
// whether they come with the 220 or just after it, and that none of them is
// read as a reply.
func TestStartTLSInjection(t *testing.T) {
	const injected = "250-FORGED.example\r\n250 AUTH PLAIN\r\n"
	p := newPKI(t)
	cases := []struct {
		name string
		cfg  fakeserver.Config
		step string
	}{
		{"same packet", fakeserver.Config{TLSCert: &p.Valid,
			Misbehave: map[string]fakeserver.Step{"STARTTLS": {After: []byte(injected)}}}, "STARTTLS"},
		{"after the ClientHello began", fakeserver.Config{TLSCert: &p.Valid,
			Handlers: map[string]fakeserver.HandlerFunc{"STARTTLS": injectAfterClientHello(injected)}}, "STARTTLS handshake"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			c := dialEhlo(t, ctx, srv, Dialer{})
			info, err := c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool()})
			var pe *ProtocolError
			if info != nil || !errors.As(err, &pe) {
				t.Fatalf("StartTLS = %v, %v (%T); want a *ProtocolError", info, err, err)
			}
			var te *TLSError
			if errors.As(err, &te) {
				t.Error("injection reported as a TLS error")
			}
			if pe.Step != tc.step || pe.Line != injected {
				t.Errorf("ProtocolError step %q line %q, want %q %q", pe.Step, pe.Line, tc.step, injected)
			}
			notes, forged := injectionNotes(c)
			wantNote := "server sent 36 bytes after its 220, before the TLS handshake: " + injected
			if len(notes) == 0 || notes[0] != wantNote {
				t.Errorf("notes %q, want first %q", notes, wantNote)
			}
			if forged {
				t.Error("an injected line was read as a reply")
			}
			if c.Err() == nil || c.TLS() != nil {
				t.Error("the Conn goes on after an injection")
			}
		})
	}
}

// injectAfterClientHello answers 220, waits for the first byte of the
// ClientHello, so that the client has surely read the 220 alone, and then
// writes plaintext instead of a ServerHello.
func injectAfterClientHello(injected string) fakeserver.HandlerFunc {
	return func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.Reply(220, "2.0.0 Ready to start TLS")
		if s.Flush() != nil {
			return true
		}
		if _, err := s.ReadFull(1); err != nil {
			return true
		}
		s.WriteRaw([]byte(injected))
		s.Flush()
		s.Discard()
		return true
	}
}

func injectionNotes(c *Conn) (notes []string, forged bool) {
	for _, e := range c.Transcript().Entries() {
		if e.Kind == Note {
			notes = append(notes, e.Text)
		}
		if e.Kind == Received && strings.Contains(e.Text, "FORGED") {
			forged = true
		}
	}
	return notes, forged
}

// TestDialTLSMatchesStartTLS checks implicit TLS: the default port 465,
// the handshake before the banner, and a report equal to the STARTTLS one
// for the same certificate.
func TestDialTLSMatchesStartTLS(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		cert tls.Certificate
		cfg  *tls.Config
	}{
		{"valid", p.Valid, &tls.Config{RootCAs: p.CAPool()}},
		{"self-signed, verification off", p.SelfSigned, &tls.Config{InsecureSkipVerify: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			plain := startServer(t, fakeserver.Config{TLSCert: &tc.cert})
			c := dialEhlo(t, ctx, plain, Dialer{})
			viaStartTLS, err := c.StartTLS(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}

			implicit := startServer(t, fakeserver.Config{TLSCert: &tc.cert, ImplicitTLS: true})
			r := &redirect{to: implicit.Addr()}
			d := &Dialer{NetDialer: r, TLSConfig: tc.cfg}
			ic, err := d.DialTLS(ctx, testHost)
			if err != nil {
				t.Fatal(err)
			}
			defer ic.Close()
			if len(r.asked) != 1 || r.asked[0] != testHost+":465" {
				t.Errorf("DialTLS dialled %q, want %s:465", r.asked, testHost)
			}
			es := ic.Transcript().Entries()
			if len(es) < 2 || es[0].Kind != Note || es[1].Kind != Received || !es[1].TLS || ic.Banner().Code != 220 {
				t.Errorf("implicit TLS transcript does not start with the handshake note and a TLS banner: %v", es)
			}
			if !reflect.DeepEqual(comparable(viaStartTLS), comparable(ic.TLS())) {
				t.Errorf("reports differ:\nSTARTTLS %+v\nimplicit %+v", comparable(viaStartTLS), comparable(ic.TLS()))
			}
		})
	}
}

// comparable returns a copy of info without what depends on the moment.
func comparable(info *TLSInfo) TLSInfo {
	out := *info
	out.HandshakeTime, out.HandshakeDuration, out.State = time.Time{}, 0, tls.ConnectionState{}
	return out
}

// TestDialTLSPackageLevel checks DialTLS with a config, and that a server
// answering in plaintext on the TLS port is reported as such.
func TestDialTLSPackageLevel(t *testing.T) {
	ctx := testCtx(t)
	p := newPKI(t)
	srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid, ImplicitTLS: true})
	c, err := DialTLS(ctx, srv.Addr(), &tls.Config{RootCAs: p.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	// An IP literal: no SNI, the IP checked against the IP SANs.
	for _, info := range []*TLSInfo{c.TLS(), ipServerName(t, ctx, p)} {
		if info == nil || !info.Verified || info.ServerName != "" || info.VerifyName != "127.0.0.1" {
			t.Errorf("report %+v", info)
		}
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := waitSession(t, srv); rec.ServerName != "" {
		t.Errorf("SNI %q sent for an IP literal", rec.ServerName)
	}

	plain := startServer(t, fakeserver.Config{})
	_, err = DialTLS(ctx, plain.Addr(), nil)
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) {
		t.Fatalf("DialTLS to a plaintext server: %v (%T), want a tls.RecordHeaderError inside", err, err)
	}
}

// TestDialTLSFailures checks that each step of DialTLS says what failed.
func TestDialTLSFailures(t *testing.T) {
	p := newPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	cases := []struct {
		name  string
		srv   *fakeserver.Config
		check func(error) bool
	}{
		{"plaintext server", &fakeserver.Config{}, func(err error) bool {
			var te *TLSError
			return errors.As(err, &te) && te.Step == "TLS handshake" && te.Info == nil
		}},
		{"self-signed", &fakeserver.Config{TLSCert: &p.SelfSigned, ImplicitTLS: true}, func(err error) bool {
			var te *TLSError
			return errors.As(err, &te) && te.Step == "TLS verify" && te.Info.Chain[0].SelfSigned &&
				te.Info.TrustError == "certificate signed by unknown authority"
		}},
		{"banner 554", &fakeserver.Config{TLSCert: &p.Valid, ImplicitTLS: true, BannerCode: 554}, func(err error) bool {
			var re *ReplyError
			return errors.As(err, &re) && re.Command == "banner" && re.Reply.Code == 554
		}},
		{"connection refused", nil, func(err error) bool {
			var oe *OpError
			return errors.As(err, &oe) && oe.Op == "connect"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			addr := closedAddr
			if tc.srv != nil {
				addr = startServer(t, *tc.srv).Addr()
			}
			c, err := DialTLS(ctx, addr, &tls.Config{RootCAs: p.CAPool()})
			if c != nil || !tc.check(err) {
				t.Errorf("DialTLS = %v, %v (%T)", c, err, err)
			}
		})
	}
}

// ipServerName connects with an IP literal as the config's ServerName.
func ipServerName(t *testing.T, ctx context.Context, p *fakeserver.PKI) *TLSInfo {
	t.Helper()
	srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid, ImplicitTLS: true})
	d := &Dialer{NetDialer: &redirect{to: srv.Addr()}, TLSConfig: &tls.Config{RootCAs: p.CAPool(), ServerName: "127.0.0.1"}}
	c, err := d.DialTLS(ctx, testHost)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.TLS()
}

func TestDialTLSPlaintextNote(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, err := (&Dialer{}).open(ctx, srv.Addr(), "465")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.handshake(ctx, "TLS", nil); err == nil {
		t.Fatal("handshake with a plaintext server succeeded")
	}
	notes, _ := injectionNotes(c)
	want := "server sent plaintext instead of a TLS handshake: 220 mail.example.test ESMTP fakeserver"
	if len(notes) == 0 || notes[0] != want {
		t.Errorf("notes %q, want first %q", notes, want)
	}
}

// TestStartTLSVersions checks that the caller's versions and cipher suites
// are honoured and reported as negotiated.
func TestStartTLSVersions(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		name        string
		cfg         *tls.Config
		version     uint16
		versionName string
		suite       uint16 // 0: any
	}{
		{"default", &tls.Config{}, tls.VersionTLS13, "TLS 1.3", 0},
		{"max 1.2", &tls.Config{MaxVersion: tls.VersionTLS12}, tls.VersionTLS12, "TLS 1.2", 0},
		{"1.2 with a chosen suite", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
			tls.VersionTLS12, "TLS 1.2", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid})
			c := dialEhlo(t, ctx, srv, Dialer{})
			cfg := tc.cfg.Clone()
			cfg.RootCAs = p.CAPool()
			info, err := c.StartTLS(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := waitSessionAfterQuit(t, ctx, c, srv)
			if info.Version != tc.version || info.VersionName != tc.versionName || rec.TLSVersion != tc.version {
				t.Errorf("version %x %q, server %x; want %x %q", info.Version, info.VersionName, rec.TLSVersion, tc.version, tc.versionName)
			}
			if info.CipherSuite != rec.CipherSuite || info.CipherSuiteName != tls.CipherSuiteName(rec.CipherSuite) {
				t.Errorf("suite %x %q, server %x", info.CipherSuite, info.CipherSuiteName, rec.CipherSuite)
			}
			if tc.suite != 0 && info.CipherSuite != tc.suite {
				t.Errorf("suite %q, want %q", info.CipherSuiteName, tls.CipherSuiteName(tc.suite))
			}
			if info.KeyExchange == "" || info.HandshakeDuration <= 0 || info.HandshakeTime.IsZero() {
				t.Errorf("key exchange %q duration %v time %v", info.KeyExchange, info.HandshakeDuration, info.HandshakeTime)
			}
		})
	}
}

// TestStartTLSConfigChoice checks which config StartTLS uses and that the
// caller's config is never changed.
func TestStartTLSConfigChoice(t *testing.T) {
	p := newPKI(t)
	trusting := &tls.Config{RootCAs: p.CAPool()}
	cases := []struct {
		name     string
		dialer   *tls.Config
		arg      *tls.Config
		verified bool
	}{
		{"argument", nil, trusting, true},
		{"argument wins over the dialer's", &tls.Config{}, trusting, true},
		{"dialer's when nil", trusting, nil, true},
		{"zero config: system roots", nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid})
			c := dialEhlo(t, ctx, srv, Dialer{TLSConfig: tc.dialer})
			info, err := c.StartTLS(ctx, tc.arg)
			if tc.verified != (err == nil) {
				t.Fatalf("StartTLS: %v", err)
			}
			var te *TLSError
			if err != nil && errors.As(err, &te) {
				info = te.Info
			}
			if info.Verified != tc.verified || info.ServerName != testHost {
				t.Errorf("verified %v SNI %q", info.Verified, info.ServerName)
			}
			for _, cfg := range []*tls.Config{tc.dialer, tc.arg} {
				if cfg != nil && (cfg.ServerName != "" || cfg.InsecureSkipVerify || cfg.VerifyConnection != nil) {
					t.Errorf("caller's config changed: %+v", cfg)
				}
			}
		})
	}
}

// TestStartTLSClientCertificate checks that a client certificate from the
// caller's config is presented (for SASL EXTERNAL).
func TestStartTLSClientCertificate(t *testing.T) {
	ctx := testCtx(t)
	p := newPKI(t)
	seen := make(chan string, 1)
	srv := startServer(t, fakeserver.Config{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.Valid}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.CAPool()},
		Handlers: map[string]fakeserver.HandlerFunc{"EHLO": func(s *fakeserver.Session, _ fakeserver.Command) bool {
			if st := s.TLSState(); st != nil && len(st.PeerCertificates) > 0 {
				seen <- st.PeerCertificates[0].Subject.CommonName
			}
			return false
		}},
	})
	c := dialEhlo(t, ctx, srv, Dialer{})
	if _, err := c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool(), Certificates: []tls.Certificate{p.Valid}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case cn := <-seen:
		if cn != testHost {
			t.Errorf("server saw client certificate %q", cn)
		}
	default:
		t.Error("server saw no client certificate")
	}
}

// TestStartTLSHandshakeFailures checks a handshake that cannot agree, one
// that runs out of its own time and one cut short by the context.
func TestStartTLSHandshakeFailures(t *testing.T) {
	p := newPKI(t)
	hang := map[string]fakeserver.Step{"STARTTLS": {Reply: &fakeserver.Reply{Code: 220, Lines: []string{"2.0.0 Ready"}}, Hang: true}}
	cases := []struct {
		name    string
		srv     fakeserver.Config
		d       Dialer
		cfg     *tls.Config
		ctxWait time.Duration
		is      error
	}{
		{"no common version", fakeserver.Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.Valid}, MinVersion: tls.VersionTLS13}},
			Dialer{}, &tls.Config{MaxVersion: tls.VersionTLS12}, 0, nil},
		{"handshake timeout", fakeserver.Config{TLSCert: &p.Valid, Misbehave: hang},
			Dialer{Timeouts: Timeouts{Handshake: 100 * time.Millisecond}}, nil, 0, os.ErrDeadlineExceeded},
		{"context deadline", fakeserver.Config{TLSCert: &p.Valid, Misbehave: hang},
			Dialer{}, nil, 200 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.srv)
			c := dialEhlo(t, ctx, srv, tc.d)
			if tc.ctxWait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxWait)
				defer cancel()
			}
			_, err := c.StartTLS(ctx, tc.cfg)
			var te *TLSError
			if !errors.As(err, &te) || te.Step != "STARTTLS handshake" || te.Info != nil {
				t.Fatalf("StartTLS error %v (%T), want a handshake *TLSError", err, err)
			}
			if tc.is != nil && (!errors.Is(err, tc.is) || !te.Timeout()) {
				t.Errorf("errors.Is(%v, %v) = false or not a timeout", err, tc.is)
			}
			if c.Err() == nil || !strings.HasPrefix(lastNote(c), "TLS handshake failed: ") {
				t.Errorf("Conn.Err() %v, note %q", c.Err(), lastNote(c))
			}
		})
	}
}

func TestLooksLikeTLS(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"\x16", true},
		{"\x16\x03\x03\x00\x7a", true},
		{"\x15\x03\x01\x00\x02", true},
		{"\x16\x03\x10", false},
		{"\x17\x03\x03", false},
		{"\x16\x02", false},
		{"250 ", false},
		{"2", false},
	}
	for _, tc := range cases {
		if got := looksLikeTLS([]byte(tc.in)); got != tc.want {
			t.Errorf("looksLikeTLS(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestStartTLSResumption checks that a resumed session is reported as such
// and judged in full.
func TestStartTLSResumption(t *testing.T) {
	ctx := testCtx(t)
	p := newPKI(t)
	serverCfg := &tls.Config{Certificates: []tls.Certificate{p.Valid}}
	serverCfg.SetSessionTicketKeys([][32]byte{{1, 2, 3}})
	srv := startServer(t, fakeserver.Config{TLSConfig: serverCfg})
	cfg := &tls.Config{RootCAs: p.CAPool(), ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i, wantResumed := range []bool{false, true} {
		c := dialEhlo(t, ctx, srv, Dialer{})
		info, err := c.StartTLS(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// EHLO reads past the server's session ticket.
		if _, err := c.Ehlo(ctx, ""); err != nil {
			t.Fatal(err)
		}
		c.Quit(ctx)
		if info.Resumed != wantResumed || !info.Verified || len(info.Chain) != 1 || info.Chain[0].SHA256 != sha256Hex(p.Valid.Leaf.Raw) {
			t.Errorf("connection %d: resumed %v verified %v chain %d", i+1, info.Resumed, info.Verified, len(info.Chain))
		}
	}
}

// TestStartTLSOnClosedConn checks that nothing is attempted on a Conn that
// is already closed, and that a TLSError without a cause still renders.
func TestStartTLSOnClosedConn(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c := dialEhlo(t, ctx, srv, Dialer{})
	c.Close()
	var oe *OpError
	if _, err := c.StartTLS(ctx, nil); !errors.As(err, &oe) || oe.Op != "STARTTLS" || !errors.Is(err, net.ErrClosed) {
		t.Errorf("StartTLS on a closed Conn: %v", err)
	}
	if got := (&TLSError{Step: "TLS handshake"}).Error(); got != "smtp TLS handshake: TLS failed" {
		t.Errorf("Error() = %q", got)
	}
}

// TestIsIPLiteral checks the shortcut against netip.ParseAddr.
func TestIsIPLiteral(t *testing.T) {
	for _, host := range []string{"", "127.0.0.1", "::1", "[::1]", "fe80::1%eth0", "2001:db8::a",
		"mail.example.test", "1.2.3.4.example", "example.123", "1.2.3", "0x7f.0.0.1", "::ffff:1.2.3.4", "a:b"} {
		_, err := netip.ParseAddr(host)
		if got := isIPLiteral(host); got != (err == nil) {
			t.Errorf("isIPLiteral(%q) = %v, ParseAddr says %v", host, got, err == nil)
		}
	}
}
