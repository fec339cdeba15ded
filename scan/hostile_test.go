package scan

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestRunStartTLSRequiredRefused: with StartTLSRequired, credentials and a
// message, a STARTTLS stripped, refused or closed ends the run with
// ErrNoStartTLS (or, after 421 or 221, with the server's close) before any
// AUTH or MAIL is sent.
func TestRunStartTLSRequiredRefused(t *testing.T) {
	p := testPKI(t)
	refuse := func(code int, text string, close bool) fakeserver.Config {
		return fakeserver.Config{TLSCert: &p.Valid, Misbehave: map[string]fakeserver.Step{
			"STARTTLS": {Reply: &fakeserver.Reply{Code: code, Lines: []string{text}}, Close: close}}}
	}
	cases := []struct {
		name   string
		cfg    fakeserver.Config
		closed bool
	}{
		{"not offered", fakeserver.Config{}, false},
		{"454", refuse(454, "4.7.0 TLS not available due to temporary reason", false), false},
		{"502", refuse(502, "5.5.1 Command not implemented", false), false},
		{"530", refuse(530, "5.7.0 Must issue a STARTTLS command first", false), false},
		{"421", fakeserver.Config{TLSCert: &p.Valid, Misbehave: map[string]fakeserver.Step{
			"STARTTLS": fakeserver.Shutdown421()}}, true},
		{"221", refuse(221, "2.0.0 Bye", true), true},
		{"EHLO refused, HELO only", fakeserver.Config{RefuseEHLO: 502}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.cfg)
			d := probe.Dialer{LocalName: "probe.example", TLSConfig: &tls.Config{RootCAs: p.CAPool(), ServerName: "mail.example.test"}}
			rep := Run(testCtx(t), Options{Target: srv.Addr(), Dialer: d, StartTLS: StartTLSRequired,
				Username: "alice", Password: "secret",
				Envelope: probe.Envelope{From: "alice@example.test", To: []string{"bob@example.test"}},
			})
			if err := rep.Err(); err == nil || (!tc.closed && !errors.Is(err, ErrNoStartTLS)) {
				t.Errorf("Run with StartTLSRequired: %v, want ErrNoStartTLS", err)
			}
			recs, err := srv.WaitSessions(1, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(recs[0].ClientBytes); strings.Contains(got, "AUTH") || strings.Contains(got, "MAIL") || rep.TLS != nil {
				t.Errorf("Run sent %q", got)
			}
		})
	}
}

// TestRun421AtRcpt: Run reports a 421 to a RCPT as a failure of the rcpt
// stage, with and without QuitAfter rcpt (which sends RCPTs one by one).
func TestRun421AtRcpt(t *testing.T) {
	closeAtR2 := map[string]fakeserver.HandlerFunc{"RCPT": func(s *fakeserver.Session, cmd fakeserver.Command) bool {
		if !strings.Contains(cmd.Arg, "<r2@example.test>") {
			return false
		}
		s.Reply(421, "4.3.2 Shutting down")
		return true
	}}
	for _, quitAfter := range []Stage{"", StageRcpt} {
		t.Run("quit after "+string(quitAfter), func(t *testing.T) {
			o := Options{StartTLS: StartTLSNever, QuitAfter: quitAfter,
				Envelope: probe.Envelope{From: "a@example.test", To: []string{"r1@example.test", "r2@example.test", "r3@example.test"}},
			}
			rep, _ := runAgainst(t, fakeserver.Config{Handlers: closeAtR2}, o)
			if rep.Error == nil || rep.Error.Stage != StageRcpt || rep.Error.Code != 421 {
				t.Fatalf("run error %+v, want a 421 at rcpt", rep.Error)
			}
		})
	}
}
