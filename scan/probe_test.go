package scan

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpprobe/probe"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

const testBody = "Subject: probe\r\n\r\nhello\r\n"

func testPKI(t *testing.T) *fakeserver.PKI {
	t.Helper()
	pki, err := fakeserver.NewPKI("")
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

// fullConfig is a server with STARTTLS and AUTH after TLS.
func fullConfig(pki *fakeserver.PKI) fakeserver.Config {
	return fakeserver.Config{TLSCert: &pki.Valid, Users: map[string]string{"alice": "secret"}}
}

// fullOptions asks for everything: TLS, AUTH, two recipients and a body.
func fullOptions(pki *fakeserver.PKI) Options {
	return Options{
		Dialer:   probe.Dialer{LocalName: "probe.test", TLSConfig: pki.ClientConfig()},
		Username: "alice", Password: "secret",
		Envelope: probe.Envelope{From: "alice@example.test", To: []string{"bob@example.test", "carol@example.test"}, Body: strings.NewReader(testBody)},
	}
}

// runAgainst runs o against a server started with cfg (Target defaults to
// its address) and returns the report and the server's record of the
// session, if there was one.
func runAgainst(t *testing.T, cfg fakeserver.Config, o Options) (*Report, *fakeserver.SessionRecord) {
	t.Helper()
	srv := startServer(t, cfg)
	if o.Target == "" {
		o.Target = srv.Addr()
	}
	rep := Run(testCtx(t), o)
	if rep.Address == "" {
		return rep, nil
	}
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil {
		t.Fatalf("server session: %v", err)
	}
	return rep, &recs[0]
}

func phaseNames(rep *Report) []Stage {
	var names []Stage
	for _, p := range rep.Phases {
		names = append(names, p.Name)
	}
	return names
}

func findingIDs(rep *Report) []FindingID {
	var ids []FindingID
	for _, f := range rep.Findings {
		ids = append(ids, f.ID)
	}
	return ids
}

func TestRunFullSession(t *testing.T) {
	pki := testPKI(t)
	srv := startServer(t, fullConfig(pki))
	o := fullOptions(pki)
	o.Target = srv.Addr()
	o.ExpectName = "mail.example.test."
	rep := Run(testCtx(t), o)
	if rep.Error != nil || !rep.Success || rep.Stage != StageData {
		t.Fatalf("error %v, success %v, stage %q", rep.Error, rep.Success, rep.Stage)
	}
	wantPhases := []Stage{StageConnect, StageBanner, StageEhlo, StageTLS, StageEhloTLS, StageAuth, StageTransaction, StageQuit}
	if got := phaseNames(rep); !reflect.DeepEqual(got, wantPhases) {
		t.Errorf("phases = %v, want %v", got, wantPhases)
	}
	var sum time.Duration
	for i, p := range rep.Phases {
		if p.Duration <= 0 || p.Start < sum || p.Error != "" {
			t.Errorf("phase %d %+v: want a positive duration starting after the one before, no error", i, p)
		}
		sum = p.Start + p.Duration
	}
	if rep.Duration < sum {
		t.Errorf("total %v shorter than the phases (%v)", rep.Duration, sum)
	}
	if rep.Banner.Code != 220 || rep.Host != "127.0.0.1" || rep.Address != srv.Addr() || rep.Target != srv.Addr() {
		t.Errorf("banner %v, host %q, address %q, target %q", rep.Banner, rep.Host, rep.Address, rep.Target)
	}
	if c := rep.Capabilities; c == nil || !c.StartTLS || len(c.Auth) != 0 {
		t.Errorf("plaintext capabilities = %+v", c)
	}
	if c := rep.CapabilitiesTLS; c == nil || c.StartTLS || !c.SupportsAuth("PLAIN") {
		t.Errorf("TLS capabilities = %+v", c)
	}
	if rep.TLS == nil || !rep.TLS.Verified || rep.TLS.Version != tls.VersionTLS13 {
		t.Errorf("TLS = %+v", rep.TLS)
	}
	if a := rep.Auth; a == nil || a.Mechanism != "CRAM-MD5" || !a.Success || a.Reply.Code != 235 {
		t.Errorf("auth = %+v", a)
	}
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep.QueueID == "" || rep.QueueID != msgs[0].QueueID || string(msgs[0].Data) != testBody || msgs[0].AuthUser != "alice" {
		t.Errorf("queue id %q, server message %+v", rep.QueueID, msgs[0])
	}
	if !rep.Pipelined || rep.Mail.Code != 250 || rep.Data.Code != 354 || rep.Final.Code != 250 || rep.Quit.Code != 221 {
		t.Errorf("pipelined %v, mail %v, data %v, final %v, quit %v", rep.Pipelined, rep.Mail, rep.Data, rep.Final, rep.Quit)
	}
	for i, rc := range rep.Recipients {
		if rc.Address != o.To[i] || !rc.Accepted() || rc.Rcpt.Code != 250 || rc.Final != rep.Final {
			t.Errorf("recipient %d = %+v", i, rc)
		}
	}
	if len(rep.Findings) != 0 {
		t.Errorf("findings = %+v, want none", rep.Findings)
	}
	if tr := rep.Transcript.Entries(); len(tr) == 0 || tr[0].Text != "220 mail.example.test ESMTP fakeserver" || tr[len(tr)-1].Text != "221 2.0.0 Bye" {
		t.Errorf("transcript:\n%s", rep.Transcript)
	}
	if strings.Contains(rep.Transcript.String(), "secret") {
		t.Errorf("transcript holds the password:\n%s", rep.Transcript)
	}
}

func TestRunQuitAfter(t *testing.T) {
	pki := testPKI(t)
	plain := []string{"EHLO", "STARTTLS", "EHLO", "AUTH"}
	tests := []struct {
		stage  Stage
		verbs  []string
		phases []Stage
	}{
		{StageConnect, []string{}, []Stage{StageConnect}},
		{StageBanner, []string{"QUIT"}, []Stage{StageConnect, StageBanner, StageQuit}},
		{StageEhlo, []string{"EHLO", "QUIT"}, []Stage{StageConnect, StageBanner, StageEhlo, StageQuit}},
		{StageTLS, []string{"EHLO", "STARTTLS", "EHLO", "QUIT"},
			[]Stage{StageConnect, StageBanner, StageEhlo, StageTLS, StageEhloTLS, StageQuit}},
		{StageAuth, append(slices.Clip(plain), "QUIT"),
			[]Stage{StageConnect, StageBanner, StageEhlo, StageTLS, StageEhloTLS, StageAuth, StageQuit}},
		{StageMail, append(slices.Clip(plain), "MAIL", "QUIT"),
			[]Stage{StageConnect, StageBanner, StageEhlo, StageTLS, StageEhloTLS, StageAuth, StageTransaction, StageQuit}},
		{StageRcpt, append(slices.Clip(plain), "MAIL", "RCPT", "RCPT", "QUIT"),
			[]Stage{StageConnect, StageBanner, StageEhlo, StageTLS, StageEhloTLS, StageAuth, StageTransaction, StageQuit}},
		{StageData, append(slices.Clip(plain), "MAIL", "RCPT", "RCPT", "DATA", "QUIT"),
			[]Stage{StageConnect, StageBanner, StageEhlo, StageTLS, StageEhloTLS, StageAuth, StageTransaction, StageQuit}},
	}
	for _, tc := range tests {
		t.Run(string(tc.stage), func(t *testing.T) {
			o := fullOptions(pki)
			o.QuitAfter = tc.stage
			rep, rec := runAgainst(t, fullConfig(pki), o)
			if rep.Error != nil || rep.Stage != tc.stage {
				t.Fatalf("error %v, stage %q; want none, %q", rep.Error, rep.Stage, tc.stage)
			}
			if got := rec.Verbs(); !reflect.DeepEqual(got, tc.verbs) {
				t.Errorf("server saw %v, want %v", got, tc.verbs)
			}
			if got := phaseNames(rep); !reflect.DeepEqual(got, tc.phases) {
				t.Errorf("phases = %v, want %v", got, tc.phases)
			}
			if (rep.Quit != nil) != (tc.stage != StageConnect) {
				t.Errorf("quit reply = %v", rep.Quit)
			}
		})
	}
}

// TestRunStageSkipping: stages that do not apply are not played, and
// QuitAfter still stops at the right place.
func TestRunStageSkipping(t *testing.T) {
	tests := []struct {
		name  string
		o     Options
		stage Stage
		verbs []string
	}{
		{"nothing to do after EHLO", Options{}, StageEhlo, []string{"EHLO", "QUIT"}},
		{"MAIL alone", Options{QuitAfter: StageMail, Envelope: probe.Envelope{From: "a@example.test"}}, StageMail, []string{"EHLO", "MAIL", "QUIT"}},
		{"no TLS to stop after", Options{QuitAfter: StageTLS, StartTLS: StartTLSNever, Envelope: probe.Envelope{To: []string{"b@example.test"}}},
			StageEhlo, []string{"EHLO", "QUIT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, rec := runAgainst(t, fakeserver.Config{}, tc.o)
			if rep.Error != nil || rep.Stage != tc.stage || !reflect.DeepEqual(rec.Verbs(), tc.verbs) {
				t.Errorf("error %v, stage %q, server saw %v; want none, %q, %v", rep.Error, rep.Stage, rec.Verbs(), tc.stage, tc.verbs)
			}
		})
	}
}

func TestRunStartTLSPolicy(t *testing.T) {
	pki := testPKI(t)
	offered := fakeserver.Config{TLSCert: &pki.Valid, Users: map[string]string{"alice": "secret"}}
	notOffered := fakeserver.Config{Users: map[string]string{"alice": "secret"}, AuthBeforeTLS: true}
	refused := offered
	refused.Handlers = map[string]fakeserver.HandlerFunc{"STARTTLS": func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.Reply(454, "4.7.0 TLS not available due to temporary reason")
		return true
	}}
	refusedAuth := refused
	refusedAuth.AuthBeforeTLS = true
	tests := []struct {
		name     string
		cfg      fakeserver.Config
		policy   StartTLSPolicy
		auth     bool
		class    ErrorClass
		code     int
		tls      bool
		verbs    []string
		findings []FindingID
	}{
		{name: "offered/if-offered", cfg: offered, policy: StartTLSIfOffered, auth: true, tls: true,
			verbs: []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"}},
		{name: "offered/required", cfg: offered, policy: StartTLSRequired, auth: true, tls: true,
			verbs: []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"}},
		{name: "offered/never", cfg: offered, policy: StartTLSNever,
			verbs: []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}},
		{name: "not offered/if-offered", cfg: notOffered, policy: StartTLSIfOffered,
			verbs:    []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"},
			findings: []FindingID{FindingStartTLSMissing, FindingAuthBeforeTLS}},
		{name: "not offered/never", cfg: notOffered, policy: StartTLSNever,
			verbs:    []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"},
			findings: []FindingID{FindingStartTLSMissing, FindingAuthBeforeTLS}},
		{name: "not offered/required", cfg: notOffered, policy: StartTLSRequired, auth: true,
			class: ClassStartTLSUnavailable, verbs: []string{"EHLO", "QUIT"},
			findings: []FindingID{FindingStartTLSMissing, FindingAuthBeforeTLS}},
		{name: "454/if-offered", cfg: refused, policy: StartTLSIfOffered,
			verbs:    []string{"EHLO", "STARTTLS", "MAIL", "RCPT", "DATA", "QUIT"},
			findings: []FindingID{FindingStartTLSFailed}},
		{name: "454/if-offered with AUTH", cfg: refusedAuth, policy: StartTLSIfOffered, auth: true,
			class: ClassInsecureAuth, verbs: []string{"EHLO", "STARTTLS", "QUIT"},
			findings: []FindingID{FindingStartTLSFailed, FindingAuthBeforeTLS}},
		{name: "454/required", cfg: refused, policy: StartTLSRequired, auth: true,
			class: ClassStartTLSUnavailable, code: 454, verbs: []string{"EHLO", "STARTTLS", "QUIT"},
			findings: []FindingID{FindingStartTLSFailed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{
				Dialer:   probe.Dialer{TLSConfig: pki.ClientConfig()},
				StartTLS: tc.policy,
				Envelope: probe.Envelope{From: "alice@example.test", To: []string{"bob@example.test"}},
			}
			if tc.auth {
				o.Username, o.Password = "alice", "secret"
			}
			rep, rec := runAgainst(t, tc.cfg, o)
			if got := rep.Error; (got == nil) != (tc.class == "") || got != nil && (got.Class != tc.class || got.Code != tc.code || got.Stage != StageTLS && tc.class == ClassStartTLSUnavailable) {
				t.Errorf("error = %+v, want class %q code %d", got, tc.class, tc.code)
			}
			if tc.class == ClassStartTLSUnavailable && !errors.Is(rep.Err(), ErrNoStartTLS) {
				t.Errorf("error %v does not match ErrNoStartTLS", rep.Err())
			}
			var re *probe.ReplyError
			if tc.code != 0 && (!errors.As(rep.Err(), &re) || re.Reply.Code != tc.code) {
				t.Errorf("error %v does not carry the %d reply", rep.Err(), tc.code)
			}
			if (rep.TLS != nil) != tc.tls || (rep.CapabilitiesTLS != nil) != tc.tls {
				t.Errorf("TLS %+v, capabilities after TLS %+v; want TLS %v", rep.TLS, rep.CapabilitiesTLS, tc.tls)
			}
			if got := rec.Verbs(); !reflect.DeepEqual(got, tc.verbs) {
				t.Errorf("server saw %v, want %v", got, tc.verbs)
			}
			if got := findingIDs(rep); !reflect.DeepEqual(got, tc.findings) {
				t.Errorf("findings = %v, want %v", got, tc.findings)
			}
		})
	}
}

// unreachableDialer fails every dial as a host without a route would.
type unreachableDialer struct{}

func (unreachableDialer) DialContext(_ context.Context, network, addr string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
}

// panicClient is a SASL client that panics, to prove Run does not.
type panicClient struct{}

func (panicClient) Start() (string, []byte, error) { panic("client bug") }
func (panicClient) Next([]byte) ([]byte, error)    { return nil, nil }

func TestRunErrorClasses(t *testing.T) {
	pki := testPKI(t)
	silent := fakeserver.Config{OnConnect: func(*fakeserver.Session) bool { return true }}
	tlsOld := fakeserver.Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{pki.Valid}, MaxVersion: tls.VersionTLS12}}
	tests := []struct {
		name  string
		cfg   fakeserver.Config
		o     Options
		class ErrorClass
		stage Stage
		code  int
		as    func(error) bool
		check func(t *testing.T, rep *Report)
	}{
		{name: "refused", o: Options{Target: fakeserver.ClosedAddr(t)}, class: ClassConnectionRefused, stage: StageConnect,
			as: func(err error) bool { var oe *probe.OpError; return errors.As(err, &oe) && oe.Op == "connect" }},
		{name: "unreachable", o: Options{Target: "192.0.2.1:25", Dialer: probe.Dialer{NetDialer: unreachableDialer{}}},
			class: ClassNetworkUnreachable, stage: StageConnect},
		{name: "proxy", o: Options{Target: "mail.example.test:25", Dialer: probe.Dialer{Proxy: "socks5h://" + fakeserver.ClosedAddr(t)}},
			class: ClassProxy, stage: StageConnect},
		{name: "timeout", cfg: silent, o: Options{Dialer: probe.Dialer{Timeouts: probe.Timeouts{Greeting: 100 * time.Millisecond}}},
			class: ClassTimeout, stage: StageBanner,
			as: func(err error) bool { var oe *probe.OpError; return errors.As(err, &oe) && oe.Timeout() }},
		{name: "untrusted", cfg: fakeserver.Config{TLSCert: &pki.SelfSigned}, o: Options{Dialer: probe.Dialer{TLSConfig: pki.ClientConfig()}},
			class: ClassTLSUntrusted, stage: StageTLS,
			as: func(err error) bool {
				var te *probe.TLSError
				return errors.As(err, &te) && te.Info != nil && !te.Info.Trusted
			}},
		{name: "handshake", cfg: tlsOld, o: Options{Dialer: probe.Dialer{TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}}},
			class: ClassTLSHandshake, stage: StageTLS,
			as: func(err error) bool { var te *probe.TLSError; return errors.As(err, &te) && te.Info == nil }},
		{name: "protocol", cfg: fakeserver.Config{OnConnect: rawBanner("hello there\r\n")}, class: ClassProtocol, stage: StageBanner,
			as: func(err error) bool { var pe *probe.ProtocolError; return errors.As(err, &pe) && pe.Step == "banner" },
			check: func(t *testing.T, rep *Report) {
				if e := rep.Transcript.Entries(); len(e) < 1 || e[0].Kind != probe.Received || e[0].Text != "hello there" {
					t.Errorf("transcript lost the bad banner:\n%s", rep.Transcript)
				}
			}},
		{name: "reply", cfg: fakeserver.Config{CheckSender: func(*fakeserver.Session, string, []string) *fakeserver.Reply {
			return &fakeserver.Reply{Code: 550, Lines: []string{"5.7.1 Sender rejected"}}
		}}, o: Options{Envelope: probe.Envelope{From: "x@example.test", To: []string{"b@example.test"}}}, class: ClassReply, stage: StageMail, code: 550,
			as: func(err error) bool { var re *probe.ReplyError; return errors.As(err, &re) && re.Command == "MAIL" }},
		{name: "recipients refused", cfg: fakeserver.Config{}, o: Options{Envelope: probe.Envelope{To: []string{"b@elsewhere.test"}}},
			class: ClassReply, stage: StageRcpt, code: 554,
			as: func(err error) bool { return errors.Is(err, probe.ErrNoRecipients) }},
		{name: "421", cfg: fakeserver.Config{Misbehave: map[string]fakeserver.Step{"EHLO": fakeserver.Shutdown421()}},
			class: ClassServerClosed, stage: StageEhlo, code: 421,
			as: func(err error) bool { return errors.Is(err, probe.ErrServerClosed) }},
		{name: "closed", cfg: fakeserver.Config{Misbehave: map[string]fakeserver.Step{"EHLO": {Drop: true}}},
			class: ClassServerClosed, stage: StageEhlo},
		{name: "auth failed", cfg: fullConfig(pki), o: Options{Dialer: probe.Dialer{TLSConfig: pki.ClientConfig()}, Username: "alice", Password: "wrong"},
			class: ClassAuthFailed, stage: StageAuth, code: 535,
			as: func(err error) bool {
				var re *probe.ReplyError
				return errors.As(err, &re) && re.Command == "AUTH CRAM-MD5"
			}},
		{name: "auth unavailable", cfg: fakeserver.Config{}, o: Options{Username: "alice", Password: "secret", StartTLS: StartTLSNever},
			class: ClassAuthUnavailable, stage: StageAuth, as: func(err error) bool { return errors.Is(err, ErrNoAuthMechanism) }},
		{name: "insecure auth", cfg: fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{"alice": "secret"}},
			o:     Options{Username: "alice", Password: "secret"},
			class: ClassInsecureAuth, stage: StageAuth, as: func(err error) bool { return errors.Is(err, probe.ErrInsecureAuth) }},
		{name: "starttls unavailable", cfg: fakeserver.Config{}, o: Options{StartTLS: StartTLSRequired},
			class: ClassStartTLSUnavailable, stage: StageTLS, as: func(err error) bool { return errors.Is(err, ErrNoStartTLS) }},
		{name: "invalid address", cfg: fakeserver.Config{}, o: Options{Envelope: probe.Envelope{To: []string{"bad\r\naddress"}}},
			class: ClassInvalidInput, as: func(err error) bool { return errors.Is(err, probe.ErrInvalidArgument) }},
		{name: "invalid options", o: Options{Target: "example.test", QuitAfter: "lunch"}, class: ClassInvalidInput},
		{name: "panic", cfg: fakeserver.Config{}, o: Options{SASL: panicClient{}}, class: ClassOther, stage: StageAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, _ := runAgainst(t, tc.cfg, tc.o)
			e := rep.Error
			if e == nil || e.Class != tc.class || e.Stage != tc.stage || e.Code != tc.code || rep.Success {
				t.Fatalf("error = %+v, want class %q, stage %q, code %d", e, tc.class, tc.stage, tc.code)
			}
			if tc.as != nil && !tc.as(rep.Err()) {
				t.Errorf("error %v (%T) is not what the class promises", e.Unwrap(), e.Unwrap())
			}
			if c, code := Classify(e.Unwrap()); c != tc.class || code != tc.code {
				t.Errorf("Classify(cause) = %q, %d", c, code)
			}
			if tc.check != nil {
				tc.check(t, rep)
			}
		})
	}
}

func TestRunCanceled(t *testing.T) {
	srv := startServer(t, fakeserver.Config{})
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	rep := Run(ctx, Options{Target: srv.Addr()})
	if e := rep.Error; e == nil || e.Class != ClassCanceled || e.Stage != StageConnect || !errors.Is(rep.Err(), context.Canceled) {
		t.Errorf("error = %+v", e)
	}
}

// TestRunUntrustedGoesOn: with InsecureSkipVerify a bad certificate is a
// finding, not an error.
func TestRunCertificateFindings(t *testing.T) {
	pki := testPKI(t)
	skip := &tls.Config{RootCAs: pki.CAPool(), ServerName: pki.Hostname, InsecureSkipVerify: true}
	old := &tls.Config{Certificates: []tls.Certificate{pki.Valid}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	tests := []struct {
		name     string
		cfg      fakeserver.Config
		o        Options
		findings []FindingID
	}{
		{"self-signed", fakeserver.Config{TLSCert: &pki.SelfSigned}, Options{}, []FindingID{FindingCertUntrusted}},
		{"wrong name", fakeserver.Config{TLSCert: &pki.WrongName}, Options{}, []FindingID{FindingCertNameMismatch}},
		{"expired", fakeserver.Config{TLSCert: &pki.Expired}, Options{}, []FindingID{FindingCertExpired}},
		{"not yet valid", fakeserver.Config{TLSCert: &pki.NotYetValid}, Options{},
			[]FindingID{FindingCertNotYetValid, FindingCertExpiring}}, // valid for a day, from tomorrow
		{"expiring", fakeserver.Config{TLSCert: &pki.Valid}, Options{CertWarnDays: 400}, []FindingID{FindingCertExpiring}},
		{"not expiring", fakeserver.Config{TLSCert: &pki.Valid}, Options{CertWarnDays: 300}, nil},
		{"warning off", fakeserver.Config{TLSCert: &pki.Valid}, Options{CertWarnDays: -1}, nil},
		{"TLS 1.1", fakeserver.Config{TLSConfig: old}, Options{}, []FindingID{FindingTLSOld}},
		{"implicit TLS", fakeserver.Config{TLSCert: &pki.WrongName, ImplicitTLS: true}, Options{ImplicitTLS: true},
			[]FindingID{FindingCertNameMismatch}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Dialer.TLSConfig = skip.Clone()
			if tc.name == "TLS 1.1" {
				o.Dialer.TLSConfig.MinVersion = tls.VersionTLS10
			}
			o.QuitAfter = StageTLS
			rep, _ := runAgainst(t, tc.cfg, o)
			if rep.Error != nil || rep.TLS == nil {
				t.Fatalf("error %v, TLS %+v", rep.Error, rep.TLS)
			}
			if got := findingIDs(rep); !reflect.DeepEqual(got, tc.findings) {
				t.Fatalf("findings = %v, want %v", got, tc.findings)
			}
			for _, f := range rep.Findings {
				if len(f.Evidence) != 1 || f.Evidence[0].Kind != probe.Note || !strings.Contains(f.Evidence[0].Text, "certificate") ||
					f.Severity == "" || f.Reference == "" || f.Summary == "" {
					t.Errorf("finding %+v: want the TLS note as evidence, a severity, a summary and a reference", f)
				}
			}
		})
	}
}

func TestRunPlaintextFindings(t *testing.T) {
	// The EHLO of a seed tutorial: AUTH in plaintext, no STARTTLS.
	cfg := fakeserver.Config{
		Hostname:  "mail.example.com",
		EhloLines: []string{"ENHANCEDSTATUSCODES", "PIPELINING", "8BITMIME", "SIZE", "DSN", "AUTH LOGIN PLAIN", "DELIVERBY", "HELP"},
	}
	rep, _ := runAgainst(t, cfg, Options{ExpectName: "mx.example.com"})
	want := []FindingID{FindingStartTLSMissing, FindingAuthBeforeTLS, FindingNameMismatch}
	if got := findingIDs(rep); !reflect.DeepEqual(got, want) {
		t.Fatalf("findings = %v, want %v", got, want)
	}
	missing, auth, name := rep.Findings[0], rep.Findings[1], rep.Findings[2]
	if len(missing.Evidence) != 9 || missing.Evidence[0].Text != "250-mail.example.com" || missing.Evidence[8].Text != "250 HELP" {
		t.Errorf("starttls-missing evidence = %+v", missing.Evidence)
	}
	if auth.Severity != SeverityHigh || len(auth.Evidence) != 1 || auth.Evidence[0].Text != "250-AUTH LOGIN PLAIN" {
		t.Errorf("auth-before-tls = %+v", auth)
	}
	wantEvidence := []string{"220 mail.example.com ESMTP fakeserver", "250-mail.example.com"}
	var got []string
	for _, e := range name.Evidence {
		got = append(got, e.Text)
	}
	if name.Severity != SeverityLow || !reflect.DeepEqual(got, wantEvidence) ||
		name.Summary != `the server does not call itself "mx.example.com": banner says "mail.example.com", ehlo says "mail.example.com"` {
		t.Errorf("name-mismatch = %+v", name)
	}
}

func TestRunAuthMechanism(t *testing.T) {
	pki := testPKI(t)
	users := map[string]string{"alice": "secret"}
	scram := map[string]func(*fakeserver.Session) sasl.Server{
		"SCRAM-SHA-1":   fakeserver.SCRAM(sha1.New, fakeserver.SCRAMOptions{}),
		"SCRAM-SHA-256": fakeserver.SCRAM(sha256.New, fakeserver.SCRAMOptions{}),
		"XOAUTH2":       fakeserver.XOAuth2(),
	}
	only := func(line string) fakeserver.Config {
		return fakeserver.Config{TLSCert: &pki.Valid, Users: users, SASL: scram, EhloLinesTLS: []string{line}}
	}
	tests := []struct {
		name string
		cfg  fakeserver.Config
		o    Options
		want string
	}{
		{"SCRAM-SHA-256 first", only("AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256"), Options{}, "SCRAM-SHA-256"},
		{"then SCRAM-SHA-1", only("AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1"), Options{}, "SCRAM-SHA-1"},
		{"then CRAM-MD5", only("AUTH LOGIN PLAIN CRAM-MD5"), Options{}, "CRAM-MD5"},
		{"then PLAIN", only("AUTH LOGIN PLAIN"), Options{}, "PLAIN"},
		{"then LOGIN", only("AUTH=LOGIN"), Options{}, "LOGIN"},
		{"named", only("AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256"), Options{AuthMechanism: "login"}, "LOGIN"},
		{"named, not offered", only("AUTH CRAM-MD5"), Options{AuthMechanism: "PLAIN"}, "PLAIN"},
		{"caller's client", only("AUTH PLAIN"), Options{SASL: sasl.NewPlainClient("", "alice", "secret")}, "PLAIN"},
		{"caller's client, lower case", only("AUTH PLAIN"), Options{SASL: lowerMech{sasl.NewPlainClient("", "alice", "secret")}}, "PLAIN"},
		{"XOAUTH2 by name", only("AUTH XOAUTH2"), Options{AuthMechanism: "xoauth2"}, "XOAUTH2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Dialer.TLSConfig = pki.ClientConfig()
			if o.SASL == nil {
				o.Username, o.Password = "alice", "secret"
			}
			o.QuitAfter = StageAuth
			rep, rec := runAgainst(t, tc.cfg, o)
			if rep.Error != nil || rep.Auth == nil || rep.Auth.Mechanism != tc.want || !rep.Auth.Success || rec.AuthUser != "alice" {
				t.Fatalf("error %v, auth %+v, server user %q; want %s", rep.Error, rep.Auth, rec.AuthUser, tc.want)
			}
			if strings.Contains(rep.Transcript.String(), "secret") {
				t.Errorf("transcript holds the password:\n%s", rep.Transcript)
			}
		})
	}
}

// TestRunAuthUnknownMechanism: a mechanism Run cannot build is refused
// before anything is written.
func TestRunAuthUnknownMechanism(t *testing.T) {
	rep, rec := runAgainst(t, fakeserver.Config{AuthBeforeTLS: true}, Options{AuthMechanism: "GSSAPI", Username: "alice"})
	if e := rep.Error; e == nil || e.Class != ClassInvalidInput || e.Stage != StageAuth || !strings.Contains(e.Message, `"GSSAPI"`) {
		t.Errorf("error = %+v", rep.Error)
	}
	if !reflect.DeepEqual(rec.Verbs(), []string{"EHLO", "QUIT"}) {
		t.Errorf("server saw %v", rec.Verbs())
	}
}

func TestOptionsCheck(t *testing.T) {
	tests := []struct {
		o    Options
		want string // in the message; "" for valid options
	}{
		{Options{Target: "mx.example.test"}, ""},
		{Options{}, "Target is empty"},
		{Options{Target: "a b"}, "space or a control character"},
		{Options{Target: "a\r\nQUIT"}, "space or a control character"},
		{Options{Target: "x", QuitAfter: "lunch"}, `QuitAfter "lunch" is not a stage`},
		{Options{Target: "x", QuitAfter: StageResolve}, "needs MX"},
		{Options{Target: "x", MX: true, QuitAfter: StageResolve}, ""},
		{Options{Target: "x", QuitAfter: StageRcpt}, "needs recipients"},
		{Options{Target: "x", QuitAfter: StageData}, "needs recipients"},
		{Options{Target: "x", StartTLS: 7}, "unknown StartTLSPolicy(7)"},
		{Options{Target: "x", Port: 70000}, "Port 70000 is out of range"},
		{Options{Target: "x", Envelope: probe.Envelope{To: []string{"a@x", "b@x", "c@x"}, RcptOptions: []*probe.RcptOptions{{}, {}}}}, "2 RcptOptions for 3 recipients"},
		{Options{Target: "x", Envelope: probe.Envelope{To: []string{"a@x", "b@x"}, RcptOptions: []*probe.RcptOptions{{}}}}, ""},
	}
	for _, tc := range tests {
		err := tc.o.check()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.o, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errInvalidOptions) {
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestOptionsPort(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "25"},
		{Options{ImplicitTLS: true}, "465"},
		{Options{Dialer: probe.Dialer{LMTP: true}}, "24"},
		{Options{Port: 2525, ImplicitTLS: true}, "2525"},
	} {
		if got := tc.o.port(); got != tc.want {
			t.Errorf("%+v: port %q, want %q", tc.o, got, tc.want)
		}
	}
	names := []string{StartTLSIfOffered.String(), StartTLSNever.String(), StartTLSRequired.String(), StartTLSPolicy(9).String()}
	if !reflect.DeepEqual(names, []string{"if-offered", "never", "required", "StartTLSPolicy(9)"}) {
		t.Errorf("policy names = %q", names)
	}
}

func TestRunHELOFallback(t *testing.T) {
	rep, rec := runAgainst(t, fakeserver.Config{RefuseEHLO: 502}, Options{QuitAfter: StageEhlo})
	if rep.Error != nil || rep.Capabilities == nil || !rep.Capabilities.FromHELO || !reflect.DeepEqual(rec.Verbs(), []string{"EHLO", "HELO", "QUIT"}) {
		t.Fatalf("error %v, capabilities %+v, server saw %v", rep.Error, rep.Capabilities, rec.Verbs())
	}
	if len(rep.Findings) != 1 || rep.Findings[0].ID != FindingStartTLSMissing || !strings.Contains(rep.Findings[0].Summary, "refused EHLO") {
		t.Errorf("findings = %+v", rep.Findings)
	}
}

func TestRunImplicitTLS(t *testing.T) {
	pki := testPKI(t)
	cfg := fullConfig(pki)
	cfg.ImplicitTLS = true
	o := fullOptions(pki)
	o.ImplicitTLS = true
	o.StartTLS = StartTLSRequired // ignored: the session is in TLS already
	rep, rec := runAgainst(t, cfg, o)
	if rep.Error != nil || rep.Stage != StageData || !rep.ImplicitTLS {
		t.Fatalf("error %v, stage %q", rep.Error, rep.Stage)
	}
	want := []Stage{StageConnect, StageTLS, StageBanner, StageEhlo, StageAuth, StageTransaction, StageQuit}
	if got := phaseNames(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("phases = %v, want %v", got, want)
	}
	if rep.TLS == nil || !rep.TLS.Verified || rep.Capabilities == nil || rep.CapabilitiesTLS != nil || len(rep.Findings) != 0 {
		t.Errorf("TLS %+v, capabilities %+v / %+v, findings %v", rep.TLS, rep.Capabilities, rep.CapabilitiesTLS, rep.Findings)
	}
	if !reflect.DeepEqual(rec.Verbs(), []string{"EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}) || !rec.TLS {
		t.Errorf("server saw %v (TLS %v)", rec.Verbs(), rec.TLS)
	}
}

func TestRunTransactionForms(t *testing.T) {
	reject := fakeserver.Config{RejectRecipients: map[string]fakeserver.Reply{
		"nobody@example.test": {Code: 550, Lines: []string{"5.1.1 <nobody@example.test>: Recipient address rejected"}},
	}}
	to := []string{"nobody@example.test", "bob@example.test"}
	tests := []struct {
		name      string
		cfg       fakeserver.Config
		o         Options
		verbs     []string
		pipelined bool
	}{
		{"pipelined DATA", reject, Options{Envelope: probe.Envelope{To: to}}, []string{"EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}, true},
		{"lock-step DATA", reject, Options{Envelope: probe.Envelope{To: to, NoPipelining: true}}, []string{"EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}, false},
		{"BDAT", reject, Options{Envelope: probe.Envelope{To: to, UseBDAT: true}}, []string{"EHLO", "MAIL", "RCPT", "RCPT", "BDAT", "QUIT"}, true},
		{"to RCPT, pipelined", reject, Options{QuitAfter: StageRcpt, Envelope: probe.Envelope{To: to}}, []string{"EHLO", "MAIL", "RCPT", "RCPT", "QUIT"}, true},
		{"to RCPT, lock-step", reject, Options{QuitAfter: StageRcpt, Envelope: probe.Envelope{To: to, NoPipelining: true}}, []string{"EHLO", "MAIL", "RCPT", "RCPT", "QUIT"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.From = "alice@example.test"
			rep, rec := runAgainst(t, tc.cfg, o)
			if rep.Error != nil || !reflect.DeepEqual(rec.Verbs(), tc.verbs) || rep.Pipelined != tc.pipelined {
				t.Fatalf("error %v, server saw %v, pipelined %v", rep.Error, rec.Verbs(), rep.Pipelined)
			}
			r0, r1 := rep.Recipients[0], rep.Recipients[1]
			if r0.Accepted() || r0.Rcpt.Code != 550 || r0.Final != nil || !r1.Accepted() || r1.Rcpt.Code != 250 {
				t.Errorf("recipients = %+v", rep.Recipients)
			}
			if o.QuitAfter == StageRcpt {
				if rep.Final != nil || rep.QueueID != "" || rep.Stage != StageRcpt {
					t.Errorf("final %v, queue id %q, stage %q after RCPT", rep.Final, rep.QueueID, rep.Stage)
				}
				return
			}
			if rep.Final.Code != 250 || r1.Final != rep.Final || rep.QueueID == "" || (rep.Data != nil) == o.UseBDAT {
				t.Errorf("data %v, final %v, queue id %q", rep.Data, rep.Final, rep.QueueID)
			}
		})
	}
}

// TestRunDefaultMessage: without a Body, Run sends a test message.
func TestRunDefaultMessage(t *testing.T) {
	srv := startServer(t, fakeserver.Config{})
	rep := Run(testCtx(t), Options{Target: srv.Addr(), Dialer: probe.Dialer{LocalName: "probe.test"}, Envelope: probe.Envelope{To: []string{"bob@example.test"}}})
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if rep.Error != nil || err != nil {
		t.Fatal(rep.Error, err)
	}
	body := string(msgs[0].Data)
	for _, want := range []string{"From: <postmaster@probe.test>\r\n", "To: <bob@example.test>\r\n",
		"Subject: SMTP probe test message\r\n", "\r\nDate: ", "\r\nMessage-ID: <probe.", "@probe.test>\r\n\r\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("message lacks %q:\n%s", want, body)
		}
	}
}

func TestRunMX(t *testing.T) {
	srv := startServer(t, fakeserver.Config{Hostname: "mx2.example.test"})
	_, port, _ := net.SplitHostPort(srv.Addr())
	res := &fakeResolver{
		mx: map[string][]*net.MX{
			"example.test": {{Host: "mx2.example.test.", Pref: 20}, {Host: "mx1.example.test.", Pref: 10}, {Host: "lost.example.test.", Pref: 15}},
			"null.test":    {{Host: ".", Pref: 0}},
		},
		hosts: map[string][]string{
			"mx1.example.test": {"127.0.0.2"}, // nothing listens there
			"mx2.example.test": {"127.0.0.1"},
			"nomx.test":        {"127.0.0.1"},
		},
	}
	p, _ := strconv.Atoi(port)

	t.Run("fallback", func(t *testing.T) {
		var resolved []MXHost
		var dialled []string
		trace := &Trace{
			ResolveStart: func(d string) { dialled = append(dialled, "resolve "+d) },
			ResolveDone:  func(h []MXHost, _ error) { resolved = h },
			ConnectStart: func(addr string) { dialled = append(dialled, addr) },
		}
		rep := Run(WithTrace(testCtx(t), trace), Options{Target: "example.test", MX: true, Resolver: res, Port: p, QuitAfter: StageEhlo})
		if !reflect.DeepEqual(resolved, rep.MX) || !reflect.DeepEqual(dialled, []string{"resolve example.test", "127.0.0.2:" + port, srv.Addr()}) {
			t.Errorf("trace saw %v, dialled %v", resolved, dialled)
		}
		if rep.Error != nil || rep.Host != "mx2.example.test" || rep.Address != srv.Addr() || rep.Capabilities.Domain != "mx2.example.test" {
			t.Fatalf("error %v, host %q, address %q", rep.Error, rep.Host, rep.Address)
		}
		wantMX := []MXHost{{"mx1.example.test", 10, false}, {"lost.example.test", 15, false}, {"mx2.example.test", 20, false}}
		if !reflect.DeepEqual(rep.MX, wantMX) {
			t.Errorf("mx = %+v", rep.MX)
		}
		a := rep.Attempts
		if len(a) != 3 ||
			a[0].Host != "mx1.example.test" || a[0].Address != "127.0.0.2:"+port || a[0].Error.Class != ClassConnectionRefused || a[0].Error.Stage != StageConnect ||
			a[1].Host != "lost.example.test" || a[1].Address != "" || a[1].Error.Class != ClassDNS || a[1].Error.Stage != StageResolve ||
			a[2].Host != "mx2.example.test" || a[2].Error != nil || a[2].Banner.Code != 220 {
			t.Errorf("attempts = %+v", a)
		}
		want := []Stage{StageResolve, StageConnect, StageBanner, StageEhlo, StageQuit}
		if got := phaseNames(rep); !reflect.DeepEqual(got, want) {
			t.Errorf("phases = %v, want %v", got, want)
		}
	})
	t.Run("implicit MX", func(t *testing.T) {
		rep := Run(testCtx(t), Options{Target: "nomx.test", MX: true, Resolver: res, Port: p, QuitAfter: StageBanner})
		if rep.Error != nil || rep.Host != "nomx.test" || !reflect.DeepEqual(rep.MX, []MXHost{{"nomx.test", 0, true}}) {
			t.Errorf("error %v, host %q, mx %+v", rep.Error, rep.Host, rep.MX)
		}
	})
	t.Run("null MX", func(t *testing.T) {
		before := len(res.questions())
		rep := Run(testCtx(t), Options{Target: "null.test", MX: true, Resolver: res, Port: p})
		var ne *NullMXError
		if e := rep.Error; e == nil || e.Class != ClassNullMX || e.Stage != StageResolve || !errors.As(rep.Err(), &ne) {
			t.Fatalf("error = %+v", rep.Error)
		}
		if q := res.questions()[before:]; !reflect.DeepEqual(q, []string{"MX null.test"}) || rep.Attempts != nil || rep.Address != "" {
			t.Errorf("questions %v, attempts %+v: no address lookup, no connection", q, rep.Attempts)
		}
	})
	t.Run("dns", func(t *testing.T) {
		rep := Run(testCtx(t), Options{Target: "missing.test", MX: true, Resolver: res, Port: p})
		var dnsErr *net.DNSError
		if e := rep.Error; e == nil || e.Class != ClassDNS || e.Stage != StageResolve || !errors.As(rep.Err(), &dnsErr) || dnsErr.Name != "missing.test" {
			t.Errorf("error = %+v", rep.Error)
		}
	})
	t.Run("resolve only", func(t *testing.T) {
		rep := Run(testCtx(t), Options{Target: "example.test", MX: true, Resolver: res, QuitAfter: StageResolve})
		if rep.Error != nil || rep.Stage != StageResolve || len(rep.MX) != 3 || rep.Attempts != nil {
			t.Errorf("error %v, stage %q, mx %v, attempts %v", rep.Error, rep.Stage, rep.MX, rep.Attempts)
		}
	})
}

func TestRunTrace(t *testing.T) {
	pki := testPKI(t)
	var events []string
	mine := &Trace{
		ConnectStart:      func(string) { events = append(events, "connect start") },
		ConnectDone:       func(_ string, err error) { events = append(events, "connect done") },
		TLSHandshakeStart: func() { events = append(events, "tls start") },
		TLSHandshakeDone: func(info *probe.TLSInfo, err error) {
			events = append(events, "tls done "+info.VersionName)
		},
		BannerDone: func(r *probe.Reply, _ error) { events = append(events, "banner "+r.String()[:3]) },
		EhloDone:   func(c *probe.Capabilities, _ error) { events = append(events, "ehlo "+c.Domain) },
		AuthDone:   func(m string, r *probe.Reply, _ error) { events = append(events, "auth "+m) },
		PhaseDone: func(name Stage, d time.Duration, err error) {
			if d <= 0 || err != nil {
				t.Errorf("phase %s: %v, %v", name, d, err)
			}
			events = append(events, "phase "+string(name))
		},
	}
	var ctxPhases, outer []Stage
	ctx := WithTrace(testCtx(t), &Trace{PhaseStart: func(n Stage) { outer = append(outer, n) }})
	ctx = WithTrace(ctx, &Trace{PhaseStart: func(n Stage) { ctxPhases = append(ctxPhases, n) }})
	ctx = WithTrace(ctx, mine)
	srv := startServer(t, fullConfig(pki))
	o := fullOptions(pki)
	o.Target, o.QuitAfter = srv.Addr(), StageAuth
	rep := Run(ctx, o)
	if rep.Error != nil {
		t.Fatal(rep.Error)
	}
	want := []string{
		"connect start", "phase connect", "connect done", "phase banner", "banner 220",
		"phase ehlo", "ehlo mail.example.test", "tls start", "phase tls", "tls done TLS 1.3",
		"phase ehlo_tls", "ehlo mail.example.test", "phase auth", "auth CRAM-MD5", "phase quit",
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events:\n%q\nwant\n%q", events, want)
	}
	names := phaseNames(rep)
	if !reflect.DeepEqual(ctxPhases, names) || !reflect.DeepEqual(outer, names) {
		t.Errorf("context traces saw %v and %v, want %v", ctxPhases, outer, names)
	}
}

// TestRunPanickingHook: a hook that panics ends the run with an error, not
// a panic, and the connection is closed.
func TestRunPanickingHook(t *testing.T) {
	srv := startServer(t, fakeserver.Config{})
	rep := Run(WithTrace(testCtx(t), &Trace{EhloDone: func(*probe.Capabilities, error) { panic("hook bug") }}), Options{Target: srv.Addr()})
	if e := rep.Error; e == nil || e.Class != ClassOther || e.Stage != StageEhlo || !strings.Contains(e.Message, "hook bug") {
		t.Fatalf("error = %+v", rep.Error)
	}
	if _, err := srv.WaitSessions(1, 5*time.Second); err != nil {
		t.Errorf("session not closed: %v", err)
	}
}

// lowerMech names its mechanism in lower case, as a SASL client may.
type lowerMech struct{ sasl.Client }

func (l lowerMech) Start() (string, []byte, error) {
	mech, ir, err := l.Client.Start()
	return strings.ToLower(mech), ir, err
}
