package scan

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// checkOptions asks for checks against srv, with a short wait.
func checkOptions(srv *fakeserver.Server, pki *fakeserver.PKI, checks ...CheckID) Options {
	o := Options{
		Target:       srv.Addr(),
		Dialer:       probe.Dialer{LocalName: "probe.test"},
		Checks:       checks,
		CheckOptions: CheckOptions{Wait: 200 * time.Millisecond, LocalDomain: "example.test"},
	}
	if pki != nil {
		o.Dialer.TLSConfig = pki.ClientConfig()
	}
	return o
}

// checkResult returns the report's result for id.
func checkResult(t *testing.T, rep *Report, id CheckID) CheckResult {
	t.Helper()
	for _, c := range rep.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no result for check %s in %+v", id, rep.Checks)
	return CheckResult{}
}

// findingsOf returns the findings with the given ID.
func findingsOf(rep *Report, id FindingID) []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

// checkFindingIDs lists the IDs of the findings the checks made.
func checkFindingIDs(rep *Report) []FindingID {
	var ids []FindingID
	for _, c := range rep.Checks {
		for _, f := range c.found {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// evidenceText renders evidence entries as transcript lines.
func evidenceText(ev []probe.Entry) []string {
	out := make([]string, len(ev))
	for i, e := range ev {
		out[i] = e.String()
	}
	return out
}

func TestParseChecks(t *testing.T) {
	tests := []struct {
		in      string
		want    []CheckID
		wantErr string
	}{
		{in: "", want: nil},
		{in: "open-relay", want: []CheckID{CheckOpenRelay}},
		{in: " Open-Relay , starttls-injection,open-relay,", want: []CheckID{CheckOpenRelay, CheckStartTLSInjection}},
		{in: "all", want: []CheckID{CheckOpenRelay, CheckAuthPlaintext, CheckStartTLSInjection, CheckPipeliningGuard, CheckUserEnumeration, CheckTLSVersions}},
		{in: "all,smtp-smuggling", want: []CheckID{CheckOpenRelay, CheckAuthPlaintext, CheckStartTLSInjection, CheckPipeliningGuard, CheckUserEnumeration, CheckTLSVersions, CheckSMTPSmuggling}},
		{in: "smtp-smuggling,user-enumeration", want: []CheckID{CheckSMTPSmuggling, CheckUserEnumeration}},
		{in: "open-relay,relay", wantErr: `probe: unknown check "relay" (known: all, open-relay, auth-plaintext, starttls-injection, pipelining-guard, user-enumeration, tls-versions, smtp-smuggling)`},
	}
	for _, tt := range tests {
		got, err := ParseChecks(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseChecks(%q) error = %v, want %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseChecks(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestChecksRefusedOptions: options the checks cannot work with refuse the
// whole run before anything is sent.
func TestChecksRefusedOptions(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"unknown check", func(o *Options) { o.Checks = []CheckID{"relay"} }, `unknown check "relay"`},
		{"smuggling without recipient", func(o *Options) { o.Checks = []CheckID{CheckSMTPSmuggling} },
			"check smtp-smuggling sends messages: it needs CheckOptions.SmugglingRecipient"},
		{"bad recipient", func(o *Options) {
			o.Checks = []CheckID{CheckSMTPSmuggling}
			o.CheckOptions.SmugglingRecipient = "a b@example.test"
		}, "CheckOptions.SmugglingRecipient"},
		{"bad relay domain", func(o *Options) {
			o.Checks = []CheckID{CheckOpenRelay}
			o.CheckOptions.RelayDomain = "example.net>"
		}, "CheckOptions.RelayDomain"},
		{"negative wait", func(o *Options) {
			o.Checks = []CheckID{CheckOpenRelay}
			o.CheckOptions.Wait = -time.Second
		}, "CheckOptions.Wait -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, fakeserver.Config{})
			o := checkOptions(srv, nil)
			tt.change(&o)
			rep := Run(testCtx(t), o)
			if rep.Error == nil || rep.Error.Class != ClassInvalidInput || !strings.Contains(rep.Error.Message, tt.want) {
				t.Fatalf("error = %+v, want invalid-input with %q", rep.Error, tt.want)
			}
			if !errors.Is(rep.Err(), errInvalidOptions) {
				t.Errorf("error does not wrap errInvalidOptions")
			}
			if rep.Address != "" || len(rep.Checks) != 0 || len(srv.Sessions()) != 0 {
				t.Errorf("something was sent: address %q, checks %v, sessions %d", rep.Address, rep.Checks, len(srv.Sessions()))
			}
		})
	}
}

// TestChecksSkippedWithoutGreeting: when the main session is not greeted,
// the checks do not connect.
func TestChecksSkippedWithoutGreeting(t *testing.T) {
	srv := startServer(t, fakeserver.Config{BannerCode: 554, Banner: []string{"5.3.2 no service"}})
	rep := Run(testCtx(t), checkOptions(srv, nil, CheckOpenRelay, CheckPipeliningGuard))
	if len(rep.Checks) != 2 {
		t.Fatalf("checks = %+v, want 2", rep.Checks)
	}
	for _, c := range rep.Checks {
		if c.Status != CheckSkipped || c.Detail != "the main session did not reach the server's 220 greeting" || len(c.Transcripts) != 0 {
			t.Errorf("%s: %+v, want skipped without connections", c.ID, c)
		}
	}
	if recs, err := srv.WaitSessions(1, 5*time.Second); err != nil || len(srv.Sessions()) != 1 {
		t.Errorf("sessions = %d (%v), want only the main one", len(recs), err)
	}
}

func TestCheckOpenRelay(t *testing.T) {
	percent := func(p string) bool { return strings.Contains(p, "%") }
	tests := []struct {
		name      string
		behaviour fakeserver.Behaviour
		want      []string // summaries of the findings
	}{
		{"closed relay", fakeserver.ClosedRelay(), nil},
		{"percent hack", fakeserver.OpenRelay(percent), []string{
			`the server accepts mail for "user%example.net@example.test" (percent hack) without authentication: it relays`}},
		{"relays everything", fakeserver.OpenRelay(func(string) bool { return true }), []string{
			`the server accepts mail for "user@example.net" (plain) without authentication: it relays`,
			`the server accepts mail for "user%example.net@example.test" (percent hack) without authentication: it relays`,
			`the server accepts mail for "example.net!user@example.test" (bang path) without authentication: it relays`,
			`the server accepts mail for "@example.test:user@example.net" (source route) without authentication: it relays`,
			`the server accepts mail for "\"user@example.net\"@example.test" (quoted local part) without authentication: it relays`,
			`the server accepts mail for "user@[192.0.2.1]" (IP literal) without authentication: it relays`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, fakeserver.With(fakeserver.Config{}, tt.behaviour))
			rep := Run(testCtx(t), checkOptions(srv, nil, CheckOpenRelay))
			res := checkResult(t, rep, CheckOpenRelay)
			var got []string
			for _, f := range findingsOf(rep, FindingOpenRelay) {
				got = append(got, f.Summary)
				if f.Severity != SeverityHigh || f.Reference != "RFC 5321 §3.6, §7.9; RFC 2505 §2" {
					t.Errorf("finding %+v", f)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings:\n%q\nwant\n%q", got, tt.want)
			}
			wantStatus := CheckPassed
			if tt.want != nil {
				wantStatus = CheckFound
			}
			if res.Status != wantStatus || res.Findings != len(tt.want) || len(res.Transcripts) != 1 || res.Error != nil {
				t.Errorf("result = %+v, want %s with %d findings on one connection", res, wantStatus, len(tt.want))
			}
			recs, err := srv.WaitSessions(2, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			// Never DATA: MAIL, RCPT, RSET for each of the six variants.
			want := []string{"EHLO"}
			for range 6 {
				want = append(want, "MAIL", "RCPT", "RSET")
			}
			want = append(want, "QUIT")
			if got := recs[1].Verbs(); !slices.Equal(got, want) {
				t.Errorf("check session verbs = %v, want %v", got, want)
			}
		})
	}
}

// TestCheckOpenRelayEvidence: the evidence is the transaction that shows
// the relay, exactly.
func TestCheckOpenRelayEvidence(t *testing.T) {
	srv := startServer(t, fakeserver.With(fakeserver.Config{},
		fakeserver.OpenRelay(func(p string) bool { return strings.HasPrefix(p, "@") })))
	o := checkOptions(srv, nil, CheckOpenRelay)
	o.From = "probe@probe.test"
	o.CheckOptions.RelayDomain = "relay.example"
	rep := Run(testCtx(t), o)
	fs := findingsOf(rep, FindingOpenRelay)
	if len(fs) != 1 {
		t.Fatalf("findings = %+v", rep.Findings)
	}
	want := []string{
		"C: MAIL FROM:<probe@probe.test>",
		"S: 250 2.1.0 Ok",
		"C: RCPT TO:<@example.test:user@relay.example>",
		"S: 250 2.1.5 Ok",
	}
	if got := evidenceText(fs[0].Evidence); !slices.Equal(got, want) {
		t.Errorf("evidence = %q, want %q", got, want)
	}
}

// TestCheckOpenRelayWithoutLocalDomain: the variants that need LOCAL take
// it from the banner when nothing names it.
func TestCheckOpenRelayLocalDomain(t *testing.T) {
	srv := startServer(t, fakeserver.With(fakeserver.Config{},
		fakeserver.OpenRelay(func(p string) bool { return strings.Contains(p, "!") })))
	o := checkOptions(srv, nil, CheckOpenRelay)
	o.CheckOptions.LocalDomain = ""
	rep := Run(testCtx(t), o)
	fs := findingsOf(rep, FindingOpenRelay)
	if len(fs) != 1 || !strings.Contains(fs[0].Summary, `"example.net!user@mail.example.test"`) {
		t.Errorf("findings = %+v, want the bang path with the banner's domain", rep.Findings)
	}
}

func TestCheckAuthPlaintext(t *testing.T) {
	users := map[string]string{"alice": "secret"}
	pki := testPKI(t)
	tests := []struct {
		name       string
		behaviour  fakeserver.Behaviour
		insecure   bool
		wantStatus CheckStatus
		wantDetail string
	}{
		{"accepted", fakeserver.PlaintextAuth(users), true, CheckFound, ""},
		{"refused", fakeserver.TLSOnlyAuth(users), true, CheckPassed,
			"AUTH PLAIN refused on plaintext: 538 5.7.11 Encryption required for requested authentication mechanism"},
		{"not allowed to try", fakeserver.PlaintextAuth(users), false, CheckSkipped,
			"needs Username, Password and Dialer.AllowInsecureAuth: the credentials travel in cleartext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, fakeserver.With(fakeserver.Config{TLSCert: &pki.Valid}, tt.behaviour))
			o := checkOptions(srv, pki, CheckAuthPlaintext)
			o.StartTLS = StartTLSNever
			o.QuitAfter = StageEhlo
			o.Username, o.Password = "alice", "secret"
			o.Dialer.AllowInsecureAuth = tt.insecure
			rep := Run(testCtx(t), o)
			res := checkResult(t, rep, CheckAuthPlaintext)
			if res.Status != tt.wantStatus || (tt.wantDetail != "" && res.Detail != tt.wantDetail) {
				t.Errorf("result = %+v, want %s %q", res, tt.wantStatus, tt.wantDetail)
			}
			fs := findingsOf(rep, FindingAuthPlaintextAccepted)
			if tt.wantStatus != CheckFound {
				if len(fs) != 0 {
					t.Errorf("findings = %+v, want none", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].Severity != SeverityHigh || fs[0].Summary != "the server accepted AUTH PLAIN without TLS: credentials travel in cleartext" {
				t.Fatalf("findings = %+v", fs)
			}
			want := []string{"C: AUTH PLAIN [credentials redacted]", "S: 235 2.7.0 Authentication successful"}
			if got := evidenceText(fs[0].Evidence); !slices.Equal(got, want) {
				t.Errorf("evidence = %q, want %q", got, want)
			}
			// The offer itself is Run's own finding, made once.
			if n := len(findingsOf(rep, FindingAuthBeforeTLS)); n != 1 {
				t.Errorf("auth-before-tls findings = %d, want 1", n)
			}
		})
	}
}

func TestCheckStartTLSInjection(t *testing.T) {
	pki := testPKI(t)
	tests := []struct {
		name       string
		behaviour  fakeserver.Behaviour
		vulnerable bool
	}{
		{"keeps the plaintext buffer", fakeserver.InjectableStartTLS(), true},
		{"discards it", fakeserver.SafeStartTLS(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, fakeserver.With(fakeserver.Config{TLSCert: &pki.Valid}, tt.behaviour))
			o := checkOptions(srv, pki, CheckStartTLSInjection)
			o.CheckOptions.Wait = time.Second
			rep := Run(testCtx(t), o)
			res := checkResult(t, rep, CheckStartTLSInjection)
			fs := findingsOf(rep, FindingStartTLSInjection)
			recs, err := srv.WaitSessions(2, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			check := recs[1]
			if !tt.vulnerable {
				if res.Status != CheckPassed || len(fs) != 0 {
					t.Errorf("result %+v, findings %+v; want passed", res, fs)
				}
				if string(check.Discarded) != "NOOP\r\n" {
					t.Errorf("server discarded %q, want the NOOP", check.Discarded)
				}
				return
			}
			if res.Status != CheckFound || len(fs) != 1 || fs[0].Severity != SeverityHigh {
				t.Fatalf("result %+v, findings %+v", res, fs)
			}
			ev := fs[0].Evidence
			got := evidenceText(ev)
			if len(got) != 5 || got[0] != "C: STARTTLS" || got[1] != "C: NOOP" || !strings.HasPrefix(got[2], "S: 220 ") ||
				!strings.HasPrefix(got[3], "*  TLS") || got[4] != "S: 250 2.0.0 Ok" {
				t.Errorf("evidence = %q", got)
			}
			if ev[1].TLS || !ev[4].TLS {
				t.Errorf("NOOP sent in TLS %v, reply received in TLS %v; want false, true", ev[1].TLS, ev[4].TLS)
			}
			if v := check.Verbs(); !slices.Equal(v, []string{"EHLO", "STARTTLS", "NOOP", "QUIT"}) || !check.Commands[2].TLS {
				t.Errorf("server saw %v (NOOP in TLS: %v)", v, check.Commands[2].TLS)
			}
		})
	}
}

func TestCheckStartTLSInjectionSkipped(t *testing.T) {
	srv := startServer(t, fakeserver.Config{})
	rep := Run(testCtx(t), checkOptions(srv, nil, CheckStartTLSInjection))
	res := checkResult(t, rep, CheckStartTLSInjection)
	if res.Status != CheckSkipped || res.Detail != "the server does not offer STARTTLS" {
		t.Errorf("result = %+v", res)
	}
}

func TestCheckSmuggling(t *testing.T) {
	all := smugglingSequences()
	tests := []struct {
		name      string
		behaviour fakeserver.Behaviour
		want      []string // the sequences found, as Go writes them
	}{
		{"strict", fakeserver.StrictDATA(), nil},
		// A server that ends data at \n.\n also ends it at \r\n.\n, and so on.
		{"two sequences", fakeserver.SmugglingDATA("\n.\n", "\r.\r"), []string{`\n.\n`, `\r.\r`, `\r\n.\n`, `\r.\r\n`}},
		{"null byte", fakeserver.SmugglingDATA("\r\n\x00.\r\n"), []string{`\r\n\x00.\r\n`}},
		// The built-in reader takes ".\n" at the start of a line.
		{"built-in", func(*fakeserver.Config) {}, []string{`\n.\n`, `\n.\r\n`, `\r\n.\n`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each pays the wait twice per safe sequence
			srv := startServer(t, fakeserver.With(fakeserver.Config{}, tt.behaviour))
			o := checkOptions(srv, nil, CheckSMTPSmuggling)
			o.From = "probe@probe.test"
			o.CheckOptions.SmugglingRecipient = "bob@example.test"
			o.CheckOptions.Wait = 300 * time.Millisecond
			rep := Run(testCtx(t), o)
			res := checkResult(t, rep, CheckSMTPSmuggling)
			var got []string
			for _, f := range findingsOf(rep, FindingSMTPSmuggling) {
				if f.Severity != SeverityCritical || !strings.HasPrefix(f.Reference, "CVE-2023-51764, CVE-2023-51765, CVE-2023-51766") {
					t.Errorf("finding %+v", f)
				}
				_, after, _ := strings.Cut(f.Summary, "with the sequence ")
				got = append(got, strings.TrimSuffix(after, " is possible"))
				if ev := evidenceText(f.Evidence); len(ev) < 2 || !strings.HasPrefix(ev[len(ev)-1], "S: 250 ") {
					t.Errorf("evidence %q does not end with the early reply", ev)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("sequences found = %q, want %q (summaries %+v)", got, tt.want, rep.Findings)
			}
			if res.Error != nil || len(res.Transcripts) != len(all) {
				t.Errorf("result = %+v, want no error and %d connections", res, len(all))
			}
			// Every message went to the named recipient only, none smuggled
			// as a message of its own: a vulnerable sequence is caught
			// before the smuggled commands are sent.
			msgs := srv.Messages()
			if len(msgs) != len(all) {
				t.Fatalf("messages = %d, want %d", len(msgs), len(all))
			}
			for _, m := range msgs {
				if !slices.Equal(m.To, []string{"bob@example.test"}) || m.From != "probe@probe.test" {
					t.Errorf("message from %q to %v", m.From, m.To)
				}
				if strings.HasPrefix(string(m.Data), "Subject: SMUGGLED") {
					t.Errorf("a smuggled message was delivered: %q", m.Data)
				}
			}
		})
	}
}

// TestCheckSmugglingAnswered: a server whose reply at the sequence comes
// too late for the wait answers the smuggled commands after it; that is a
// finding too.
func TestCheckSmugglingAnswered(t *testing.T) {
	cfg := fakeserver.With(fakeserver.Config{}, fakeserver.SmugglingDATA("\r.\r"))
	// Only the first end of data of each session is late.
	cfg.Misbehave = map[string]fakeserver.Step{fakeserver.StepEOD + "#1": {Delay: 300 * time.Millisecond}}
	srv := startServer(t, cfg)
	o := checkOptions(srv, nil, CheckSMTPSmuggling)
	o.CheckOptions.SmugglingRecipient = "bob@example.test"
	o.CheckOptions.Wait = 100 * time.Millisecond
	rep := Run(testCtx(t), o)
	fs := findingsOf(rep, FindingSMTPSmuggling)
	want := []string{
		`the server answered the smuggled commands after \r.\r (250, 250, 250, 354`,
		// The CR after the dot ends the data, the LF is an empty command.
		`the server answered the smuggled commands after \r.\r\n (250, 500, 250, 250, 354`,
	}
	if len(fs) != len(want) {
		t.Fatalf("findings = %+v, want %d", fs, len(want))
	}
	for i, f := range fs {
		if !strings.HasPrefix(f.Summary, want[i]) {
			t.Errorf("finding %d: %q, want %q…", i, f.Summary, want[i])
		}
	}
	ev := evidenceText(fs[0].Evidence)
	if len(ev) == 0 || !strings.HasPrefix(ev[len(ev)-1], "S: 250 2.0.0 Ok: queued as ") || !slices.Contains(ev, "C: MAIL FROM:<>") {
		t.Errorf("evidence = %q", ev)
	}
	smuggled := 0
	for _, m := range srv.Messages() {
		if strings.HasPrefix(string(m.Data), "Subject: SMUGGLED message after ") {
			smuggled++
		}
	}
	if smuggled == 0 {
		t.Errorf("no smuggled message delivered")
	}
}

func TestCheckPipeliningGuard(t *testing.T) {
	tests := []struct {
		name      string
		behaviour fakeserver.Behaviour
		want      []FindingID
	}{
		{"accepts early talkers", fakeserver.AcceptEarlyTalkers(), []FindingID{FindingPregreetAccepted, FindingUnsyncPipelining}},
		{"guarded", fakeserver.SyncGuard(300 * time.Millisecond), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, fakeserver.With(fakeserver.Config{}, tt.behaviour))
			rep := Run(testCtx(t), checkOptions(srv, nil, CheckPipeliningGuard))
			res := checkResult(t, rep, CheckPipeliningGuard)
			if got := checkFindingIDs(rep); !slices.Equal(got, tt.want) {
				t.Fatalf("findings = %v, want %v", got, tt.want)
			}
			if len(res.Transcripts) != 2 || res.Error != nil {
				t.Errorf("result = %+v", res)
			}
			pre := res.Transcripts[0].Entries()
			if len(pre) == 0 || pre[0].String() != "C: EHLO probe.test" {
				t.Errorf("pregreet transcript does not begin with the EHLO: %q", evidenceText(pre))
			}
			if tt.want == nil {
				if res.Status != CheckPassed || !strings.HasPrefix(pre[1].String(), "S: 554 5.5.0 SMTP synchronization error") {
					t.Errorf("result %+v, transcript %q", res, evidenceText(pre))
				}
				return
			}
			f := rep.Checks[0].found
			if f[0].Severity != SeverityLow || f[1].Severity != SeverityInfo {
				t.Errorf("severities %s, %s; want low, info", f[0].Severity, f[1].Severity)
			}
			if got := evidenceText(f[1].Evidence); len(got) < 3 || got[0] != "C: EHLO probe.test" || got[1] != "C: NOOP" ||
				got[len(got)-1] != "S: 250 2.0.0 Ok" {
				t.Errorf("unsync evidence = %q", got)
			}
		})
	}
}

func TestCheckUserEnumeration(t *testing.T) {
	tests := []struct {
		name      string
		behaviour fakeserver.Behaviour
		want      []string
	}{
		{"tells users apart", fakeserver.UserEnumeration("postmaster"), []string{
			`VRFY tells users apart: 250 for "postmaster@example.test", 550 for "nobody@example.test"`,
			`EXPN tells users apart: 250 for "postmaster@example.test", 550 for "nobody@example.test"`,
			`RCPT tells users apart: 250 for "postmaster@example.test", 550 for "nobody@example.test"`,
		}},
		{"does not", fakeserver.NoUserEnumeration(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, fakeserver.With(fakeserver.Config{}, tt.behaviour))
			o := checkOptions(srv, nil, CheckUserEnumeration)
			o.CheckOptions.UnknownUser = "nobody"
			rep := Run(testCtx(t), o)
			var got []string
			for _, f := range findingsOf(rep, FindingUserEnumeration) {
				got = append(got, f.Summary)
				if n := len(f.Evidence); f.Severity != SeverityMedium || n != 4 && !strings.HasPrefix(f.Summary, "RCPT") || n != 6 && strings.HasPrefix(f.Summary, "RCPT") {
					t.Errorf("finding %+v", f)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings:\n%q\nwant\n%q", got, tt.want)
			}
			if tt.want != nil {
				want := []string{"C: VRFY postmaster@example.test", "S: 250 2.1.5 <postmaster@example.test>",
					"C: VRFY nobody@example.test", "S: 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"}
				if ev := evidenceText(findingsOf(rep, FindingUserEnumeration)[0].Evidence); !slices.Equal(ev, want) {
					t.Errorf("evidence = %q, want %q", ev, want)
				}
			}
		})
	}
}

// TestChecksAll runs every check against a server weak in every respect,
// and one safe in every respect, in one Run each.
func TestChecksAll(t *testing.T) {
	pki := testPKI(t)
	users := map[string]string{"alice": "secret"}
	weak := fakeserver.With(fakeserver.Config{TLSCert: &pki.Valid},
		fakeserver.OpenRelay(func(p string) bool { return strings.HasSuffix(p, "[192.0.2.1]") }),
		fakeserver.PlaintextAuth(users), fakeserver.InjectableStartTLS(), fakeserver.SmugglingDATA("\r\n.\r"),
		fakeserver.AcceptEarlyTalkers(), fakeserver.UserEnumeration("postmaster", "bob"))
	safe := fakeserver.With(fakeserver.Config{TLSConfig: pinnedTLS(pki, tls.VersionTLS12, tls.VersionTLS13)},
		fakeserver.ClosedRelay(), fakeserver.TLSOnlyAuth(users), fakeserver.SafeStartTLS(), fakeserver.StrictDATA(),
		fakeserver.SyncGuard(300*time.Millisecond), fakeserver.NoUserEnumeration())
	checks := AllChecks()
	for _, tt := range []struct {
		name string
		cfg  fakeserver.Config
		want []FindingID
	}{
		{"weak", weak, []FindingID{FindingAuthBeforeTLS, FindingOpenRelay, FindingAuthPlaintextAccepted,
			FindingStartTLSInjection, FindingPregreetAccepted, FindingUnsyncPipelining,
			FindingUserEnumeration, FindingUserEnumeration, FindingUserEnumeration, FindingSMTPSmuggling}},
		{"safe", safe, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.cfg)
			o := checkOptions(srv, pki, checks...)
			o.StartTLS = StartTLSNever
			if tt.name == "safe" {
				o.StartTLS = StartTLSRequired
			}
			o.Username, o.Password = "alice", "secret"
			o.Dialer.AllowInsecureAuth = true
			o.CheckOptions.SmugglingRecipient = "bob@example.test"
			o.CheckOptions.Wait = 300 * time.Millisecond
			// Ten smuggling sessions, each with a greeting delay, TLS, AUTH
			// and two waits: more than testCtx allows.
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			rep := Run(ctx, o)
			if rep.Error != nil {
				t.Fatalf("run: %v", rep.Error)
			}
			if got := findingIDs(rep); !slices.Equal(got, tt.want) {
				t.Errorf("findings = %v, want %v", got, tt.want)
			}
			var ids []CheckID
			for _, c := range rep.Checks {
				ids = append(ids, c.ID)
				skipped := c.ID == CheckTLSVersions && tt.name == "weak" // STARTTLS never
				if c.Error != nil || (c.Status != CheckFound && c.Status != CheckPassed && !skipped) {
					t.Errorf("%s: %+v", c.ID, c)
				}
			}
			if !slices.Equal(ids, checks) {
				t.Errorf("checks ran %v, want %v", ids, checks)
			}
		})
	}
}

// TestChecksImplicitTLS: on an implicit-TLS server the plaintext checks
// do not apply, and the others talk inside TLS from the first byte.
func TestChecksImplicitTLS(t *testing.T) {
	pki := testPKI(t)
	srv := startServer(t, fakeserver.With(fakeserver.Config{TLSCert: &pki.Valid, ImplicitTLS: true}, fakeserver.AcceptEarlyTalkers()))
	o := checkOptions(srv, pki, CheckAuthPlaintext, CheckStartTLSInjection, CheckPipeliningGuard)
	o.ImplicitTLS = true
	o.Username, o.Password = "alice", "secret"
	o.Dialer.AllowInsecureAuth = true
	rep := Run(testCtx(t), o)
	want := map[CheckID]string{
		CheckAuthPlaintext:     "the session begins with TLS: there is no plaintext AUTH",
		CheckStartTLSInjection: "the session begins with TLS: there is no STARTTLS",
	}
	for id, detail := range want {
		if res := checkResult(t, rep, id); res.Status != CheckSkipped || res.Detail != detail || len(res.Transcripts) != 0 {
			t.Errorf("%s: %+v, want skipped: %s", id, res, detail)
		}
	}
	res := checkResult(t, rep, CheckPipeliningGuard)
	if res.Status != CheckFound || len(res.Transcripts) != 2 {
		t.Fatalf("pipelining-guard: %+v", res)
	}
	for _, e := range res.Transcripts[0].Entries() {
		if e.Kind != probe.Note && !e.TLS {
			t.Errorf("entry outside TLS: %v", e)
		}
	}
}

// TestChecksErrorsAndRefusals: a check that cannot finish reports why; a
// server that refuses MAIL without AUTH cannot relay.
func TestChecksErrorsAndRefusals(t *testing.T) {
	srv := startServer(t, fakeserver.Config{
		RejectRecipients: map[string]fakeserver.Reply{"gone@example.test": {Code: 550, Lines: []string{"5.1.1 gone"}}},
		CheckSender: func(_ *fakeserver.Session, addr string, _ []string) *fakeserver.Reply {
			if addr == "" {
				return &fakeserver.Reply{Code: 530, Lines: []string{"5.7.0 Authentication required"}}
			}
			return nil
		},
	})
	o := checkOptions(srv, nil, CheckOpenRelay, CheckUserEnumeration, CheckSMTPSmuggling)
	o.From = "probe@probe.test"
	o.CheckOptions.SmugglingRecipient = "gone@example.test"
	rep := Run(testCtx(t), o)
	smuggling := checkResult(t, rep, CheckSMTPSmuggling)
	if smuggling.Status != CheckError || smuggling.Error == nil || smuggling.Error.Class != ClassReply || smuggling.Error.Code != 550 {
		t.Errorf("smtp-smuggling: %+v, want an error with the 550", smuggling)
	}
	if srv.MessageCount() != 0 {
		t.Errorf("%d messages sent", srv.MessageCount())
	}

	o.From = ""
	o.Checks = []CheckID{CheckOpenRelay, CheckUserEnumeration}
	rep = Run(testCtx(t), o)
	for id, detail := range map[CheckID]string{
		CheckOpenRelay:       "MAIL FROM refused without AUTH: nothing can be relayed",
		CheckUserEnumeration: "MAIL FROM refused without AUTH: RCPT not compared",
	} {
		if res := checkResult(t, rep, id); res.Status != CheckPassed || res.Detail != detail {
			t.Errorf("%s: %+v, want passed: %s", id, res, detail)
		}
	}
}

// TestChecksUnknownUserDefault: without UnknownUser the check makes up a
// random one, and without a local domain it compares VRFY and EXPN only.
func TestChecksUnknownUserDefault(t *testing.T) {
	srv := startServer(t, fakeserver.With(fakeserver.Config{Hostname: "localhost", Banner: []string{"ready"}},
		fakeserver.UserEnumeration("postmaster")))
	o := checkOptions(srv, nil, CheckUserEnumeration)
	o.CheckOptions.LocalDomain = ""
	rep := Run(testCtx(t), o)
	res := checkResult(t, rep, CheckUserEnumeration)
	if res.Status != CheckFound || res.Findings != 2 || res.Detail != "no local domain known (set CheckOptions.LocalDomain or ExpectName): RCPT not compared" {
		t.Fatalf("result = %+v", res)
	}
	fs := findingsOf(rep, FindingUserEnumeration)
	if !strings.HasPrefix(fs[0].Summary, `VRFY tells users apart: 250 for "postmaster", 550 for "probe-nouser-`) {
		t.Errorf("summary = %q", fs[0].Summary)
	}
}

// TestCheckPipeliningGuardPipeconnect: a server that advertises
// PIPECONNECT invites early talkers; the pregreet finding is only info.
func TestCheckPipeliningGuardPipeconnect(t *testing.T) {
	srv := startServer(t, fakeserver.Config{EhloLines: []string{"PIPELINING", "PIPECONNECT"}})
	rep := Run(testCtx(t), checkOptions(srv, nil, CheckPipeliningGuard))
	fs := rep.Checks[0].found
	want := []string{
		"the server answered 250 to an EHLO sent before its greeting: it does not turn away early talkers (it advertises PIPECONNECT, which permits early pipelining)",
		"the server answered a NOOP sent with EHLO before the EHLO reply: it does not enforce command synchronization (it advertises PIPECONNECT, which permits early pipelining)",
	}
	if len(fs) != 2 || fs[0].Summary != want[0] || fs[1].Summary != want[1] || fs[0].Severity != SeverityInfo || fs[1].Severity != SeverityInfo {
		t.Errorf("findings = %+v, want info: %q", fs, want)
	}
}

// TestChecksMX: with Options.MX the checks go to the MX host that
// answered, and LOCAL is its name.
func TestChecksMX(t *testing.T) {
	srv := startServer(t, fakeserver.With(fakeserver.Config{Hostname: "mx2.example.test"},
		fakeserver.OpenRelay(func(p string) bool { return strings.Contains(p, "!") })))
	_, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)
	res := &fakeResolver{
		mx:    map[string][]*net.MX{"example.test": {{Host: "mx1.example.test.", Pref: 10}, {Host: "mx2.example.test.", Pref: 20}}},
		hosts: map[string][]string{"mx1.example.test": {"127.0.0.2"}, "mx2.example.test": {"127.0.0.1"}},
	}
	rep := Run(testCtx(t), Options{Target: "example.test", MX: true, Resolver: res, Port: p, QuitAfter: StageEhlo,
		Checks: []CheckID{CheckOpenRelay}})
	fs := findingsOf(rep, FindingOpenRelay)
	if len(fs) != 1 || !strings.Contains(fs[0].Summary, `"example.net!user@mx2.example.test" (bang path)`) {
		t.Fatalf("findings = %+v (checks %+v)", rep.Findings, rep.Checks)
	}
	if recs, err := srv.WaitSessions(2, 5*time.Second); err != nil || len(recs) != 2 {
		t.Errorf("sessions at mx2: %d, %v", len(recs), err)
	}
}

// TestChecksJSON: the checks marshal with the Report, their findings
// among the others.
func TestChecksJSON(t *testing.T) {
	srv := startServer(t, fakeserver.With(fakeserver.Config{}, fakeserver.AcceptEarlyTalkers()))
	rep := Run(testCtx(t), checkOptions(srv, nil, CheckPipeliningGuard))
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Findings []struct {
			ID string `json:"id"`
		} `json:"findings"`
		Checks []struct {
			ID          string            `json:"id"`
			Status      string            `json:"status"`
			Findings    int               `json:"findings"`
			Transcripts []json.RawMessage `json:"transcripts"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range back.Findings {
		ids = append(ids, f.ID)
	}
	if want := []string{"starttls-missing", "pregreet-accepted", "unsync-pipelining-accepted"}; !slices.Equal(ids, want) {
		t.Errorf("findings %v, want %v", ids, want)
	}
	if len(back.Checks) != 1 || back.Checks[0].ID != "pipelining-guard" || back.Checks[0].Status != "found" ||
		back.Checks[0].Findings != 2 || len(back.Checks[0].Transcripts) != 2 {
		t.Errorf("checks = %+v", back.Checks)
	}
}

// TestChecksStartTLSRefused: the checks follow the STARTTLS policy as Run
// does: under StartTLSIfOffered a refused STARTTLS is noted and the check
// goes on in plaintext; under StartTLSRequired it ends with ErrNoStartTLS.
func TestChecksStartTLSRefused(t *testing.T) {
	pki := testPKI(t)
	cfg := fakeserver.With(fakeserver.Config{TLSCert: &pki.Valid}, fakeserver.ClosedRelay())
	if cfg.Handlers == nil {
		cfg.Handlers = map[string]fakeserver.HandlerFunc{}
	}
	cfg.Handlers["STARTTLS"] = func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.Reply(454, "4.7.0 TLS not available due to temporary reason")
		return true
	}
	srv := startServer(t, cfg)

	o := checkOptions(srv, pki, CheckOpenRelay)
	rep := Run(testCtx(t), o)
	res := checkResult(t, rep, CheckOpenRelay)
	if rep.Error != nil || res.Status != CheckPassed || res.Error != nil || len(res.Transcripts) != 1 {
		t.Fatalf("run error %v; result %+v, want passed in plaintext", rep.Error, res)
	}
	text := res.Transcripts[0].String()
	if !strings.Contains(text, "*  STARTTLS refused; going on without TLS (policy if-offered)") || !strings.Contains(text, "C: MAIL FROM:") {
		t.Errorf("transcript:\n%s", text)
	}

	o.StartTLS = StartTLSRequired
	rep = Run(testCtx(t), o)
	res = checkResult(t, rep, CheckOpenRelay)
	if res.Status != CheckError || res.Error == nil || res.Error.Class != ClassStartTLSUnavailable || !errors.Is(res.Error, ErrNoStartTLS) {
		t.Errorf("required: result %+v, want an error with ErrNoStartTLS", res)
	}
}

// TestDefaultLocalName: without Dialer.LocalName, everything the library
// writes by itself names the client as EHLO does, by the address literal
// of the local address: Run's EHLO and test message (From postmaster at
// it), the checks' raw EHLO lines and their messages.
func TestDefaultLocalName(t *testing.T) {
	const literal = "[127.0.0.1]"
	srv := startServer(t, fakeserver.With(fakeserver.Config{}, fakeserver.AcceptEarlyTalkers()))
	o := checkOptions(srv, nil, CheckPipeliningGuard, CheckSMTPSmuggling)
	o.Dialer.LocalName = ""
	o.To = []string{"bob@example.test"}
	o.CheckOptions.SmugglingRecipient = "bob@example.test"
	rep := Run(testCtx(t), o)
	if rep.Error != nil {
		t.Fatal(rep.Error)
	}
	if got := evidenceText(rep.Transcript.Entries()); !slices.Contains(got, "C: EHLO "+literal) {
		t.Errorf("main transcript: %q", got)
	}
	for i, tr := range checkResult(t, rep, CheckPipeliningGuard).Transcripts {
		if got := evidenceText(tr.Entries()); !slices.Contains(got, "C: EHLO "+literal) {
			t.Errorf("pipelining-guard transcript %d: %q", i, got)
		}
	}
	msgs, err := srv.WaitMessages(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs[:2] { // Run's, then the first of smtp-smuggling
		body := string(m.Data)
		if !strings.HasPrefix(body, "From: <postmaster@"+literal+">\r\n") || !strings.Contains(body, "@"+literal+">\r\n\r\n") {
			t.Errorf("message %d:\n%s", i, body)
		}
	}
}

// TestCheckStartTLSInjectionPlaintextReply: a server that answers the
// NOOP in plaintext, right after its 220, and then discards nothing more
// (the NOOP is consumed) is safe for CVE-2011-0411: the check passes with
// a note, whether the reply comes in the 220's packet or in one of its
// own (the delay before it is the scenario: no signal can stand for it).
func TestCheckStartTLSInjectionPlaintextReply(t *testing.T) {
	pki := testPKI(t)
	for _, later := range []bool{false, true} {
		t.Run("later packet "+strconv.FormatBool(later), func(t *testing.T) {
			cfg := fakeserver.Config{TLSCert: &pki.Valid, Handlers: map[string]fakeserver.HandlerFunc{
				"STARTTLS": func(s *fakeserver.Session, _ fakeserver.Command) bool {
					s.Reply(220, "2.0.0 Ready to start TLS")
					if later {
						s.Flush()
						time.Sleep(100 * time.Millisecond)
					}
					if line, err := s.ReadLine(); err != nil || line != "NOOP" {
						t.Errorf("server read %q, %v", line, err)
					}
					s.Reply(250, "2.0.0 Ok")
					if err := s.StartTLS(); err != nil {
						t.Errorf("server StartTLS: %v", err)
					}
					return true
				}}}
			srv := startServer(t, cfg)
			o := checkOptions(srv, pki, CheckStartTLSInjection)
			o.CheckOptions.Wait = time.Second
			o.StartTLS = StartTLSNever // the handler expects a NOOP behind STARTTLS: only the check sends one
			rep := Run(testCtx(t), o)
			res := checkResult(t, rep, CheckStartTLSInjection)
			if res.Status != CheckPassed || res.Error != nil || res.Detail != "the server answered in plaintext after its STARTTLS 220" {
				t.Fatalf("result %+v", res)
			}
			got := evidenceText(res.Transcripts[0].Entries())
			if !slices.Contains(got, `*  server sent 14 bytes after its 220, before the TLS handshake: 250 2.0.0 Ok\r\n`) {
				t.Errorf("transcript %q", got)
			}
		})
	}
}
