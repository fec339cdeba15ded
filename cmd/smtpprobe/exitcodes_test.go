package main

import (
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// TestExitCodePerStage: a server failing at each stage gives that stage's
// exit code, and the summary names the stage and the error class.
func TestExitCodePerStage(t *testing.T) {
	pki := newTestPKI(t)
	refuse := func(verb string, code int, text string) func(*fakeserver.Config) {
		return func(c *fakeserver.Config) {
			c.Misbehave = map[string]fakeserver.Step{verb: {Reply: &fakeserver.Reply{Code: code, Lines: []string{text}}}}
		}
	}
	tests := []struct {
		name   string
		edit   func(*fakeserver.Config)
		closed bool     // probe a closed port instead
		flags  []string // added to the full session's flags
		only   []string // instead of the full session's flags
		code   int
		want   []string
	}{
		{name: "ok", code: exitOK, want: []string{"Result:    OK, reached DATA"}},
		{name: "connect refused", closed: true, code: exitConnect,
			want: []string{"FAILED at connect", "(exit 11)", "connection-refused at connect"}},
		{name: "554 banner", edit: func(c *fakeserver.Config) { c.BannerCode = 554 }, code: exitBanner,
			want: []string{"S: 554 ", "FAILED at banner", "reply-error at banner"}},
		{name: "EHLO refused", edit: refuse("EHLO", 554, "5.5.0 go away"), code: exitEHLO,
			want: []string{"C: EHLO [127.0.0.1]", "S: 554 5.5.0 go away", "FAILED at EHLO"}},
		{name: "STARTTLS 454", edit: refuse("STARTTLS", 454, "4.7.0 TLS not available"), code: exitTLS,
			want: []string{"C: STARTTLS", "S: 454 4.7.0 TLS not available", "FAILED at TLS", "starttls-unavailable at TLS"}},
		{name: "STARTTLS not offered", edit: func(c *fakeserver.Config) { c.TLSCert = nil }, code: exitTLS,
			want: []string{"FAILED at TLS", "starttls-unavailable at TLS"}},
		{name: "wrong password", flags: []string{"-password", "wrong"}, code: exitAuth,
			want: []string{"[tls] S: 535 ", "FAILED at AUTH", "auth-failed at AUTH"}},
		{name: "MAIL refused", edit: refuse("MAIL", 553, "5.7.1 sender refused"), code: exitMail,
			want: []string{"S: 553 5.7.1 sender refused", "FAILED at MAIL"}},
		{name: "RCPT refused", edit: func(c *fakeserver.Config) {
			c.RejectRecipients = map[string]fakeserver.Reply{"bob@example.test": {Code: 550, Lines: []string{"5.1.1 no such user"}}}
		}, code: exitRcpt, want: []string{"S: 550 5.1.1 no such user", "FAILED at RCPT", "<bob@example.test> refused 550 5.1.1"}},
		{name: "DATA refused", edit: refuse("DATA", 554, "5.3.0 no data today"), code: exitData,
			want: []string{"S: 554 5.3.0 no data today", "FAILED at DATA"}},
		{name: "message refused at its end", edit: func(c *fakeserver.Config) {
			c.DataReply = func(*fakeserver.Session, *fakeserver.Message, string) fakeserver.Reply {
				return fakeserver.Reply{Code: 554, Lines: []string{"5.7.1 spam"}}
			}
		}, code: exitData, want: []string{"S: 554 5.7.1 spam", "FAILED at DATA"}},
		{name: "untrusted certificate", only: []string{"-starttls", "-to", "bob@example.test"}, code: exitTLS,
			want: []string{"NOT verified", "tls-untrusted at TLS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := fakeserver.ClosedAddr(t)
			if !tt.closed {
				target = tlsServer(t, pki.Valid, tt.edit).Addr()
			}
			args := []string{"-starttls", "-cafile", pki.caFile, "-user", "alice@example.test",
				"-from", "alice@example.test", "-to", "bob@example.test"}
			args = append(args, tt.flags...)
			if tt.only != nil {
				args = tt.only
			}
			inv := invocation{args: append(args, target), env: map[string]string{"SMTPPROBE_PASSWORD": "secret"}}
			r := inv.run(t)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			assertContains(t, r.stdout, tt.want...)
		})
	}
}

// TestExitCodeTable: every stage and the TLS, null-MX and cancellation
// classes map to their documented code.
func TestExitCodeTable(t *testing.T) {
	tests := []struct {
		stage scan.Stage
		class scan.ErrorClass
		code  int
	}{
		{scan.StageResolve, scan.ClassDNS, exitResolve},
		{scan.StageResolve, scan.ClassNullMX, exitResolve},
		{scan.StageConnect, scan.ClassConnectionRefused, exitConnect},
		{scan.StageConnect, scan.ClassProxy, exitConnect},
		{scan.StageTLS, scan.ClassTLSUntrusted, exitTLS}, // implicit TLS fails at its handshake
		{scan.StageBanner, scan.ClassTimeout, exitBanner},
		{scan.StageEhlo, scan.ClassReply, exitEHLO},
		{scan.StageTLS, scan.ClassStartTLSUnavailable, exitTLS},
		{scan.StageAuth, scan.ClassAuthFailed, exitAuth},
		{scan.StageAuth, scan.ClassInsecureAuth, exitAuth},
		{scan.StageMail, scan.ClassReply, exitMail},
		{scan.StageRcpt, scan.ClassReply, exitRcpt},
		{scan.StageData, scan.ClassServerClosed, exitData},
		{scan.StageData, scan.ClassCanceled, exitError},
		{"", scan.ClassInvalidInput, exitUsage},
	}
	for _, tt := range tests {
		rep := &scan.Report{Error: &scan.RunError{Stage: tt.stage, Class: tt.class}}
		if got := exitCode(rep); got != tt.code {
			t.Errorf("stage %q class %q: exit %d, want %d", tt.stage, tt.class, got, tt.code)
		}
	}
	for _, tt := range []struct {
		finding scan.Finding
		code    int
	}{
		{scan.Finding{}, exitOK},
		{scan.Finding{ID: scan.FindingOpenRelay, Severity: scan.SeverityHigh, Check: scan.CheckOpenRelay}, exitFound},
		{scan.Finding{ID: scan.FindingUserEnumeration, Severity: scan.SeverityMedium, Check: scan.CheckUserEnumeration}, exitFound},
		{scan.Finding{ID: scan.FindingPregreetAccepted, Severity: scan.SeverityLow, Check: scan.CheckPipeliningGuard}, exitOK},
		{scan.Finding{ID: scan.FindingCertExpiring, Severity: scan.SeverityMedium}, exitOK}, // not a check's
	} {
		rep := &scan.Report{Success: true, Findings: []scan.Finding{tt.finding}}
		if got := exitCode(rep); got != tt.code {
			t.Errorf("success with finding %q (%s): exit %d, want %d", tt.finding.ID, tt.finding.Severity, got, tt.code)
		}
	}
	seen := map[int]bool{}
	for _, e := range exitCodes {
		if seen[e.code] {
			t.Errorf("exit code %d documented twice", e.code)
		}
		seen[e.code] = true
	}
}
