package probe_test

// Integration tests of Options.Checks against the real servers of
// testdata/mta (see integration_test.go). Skipped unless the variables of
// testdata/mta/run/env are set. smtp-smuggling sends its messages to
// alice@example.test, which every server delivers locally.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
)

// checksCase is what one real server must show when every check runs.
type checksCase struct {
	srv      server
	startTLS probe.StartTLSPolicy
	// must lists finding IDs that must be among the findings of the
	// checks; no others may be, but for smtp-smuggling.
	must []probe.FindingID
	// smuggled lists the sequences smtp-smuggling must find, exactly.
	smuggled []string
	// earlySeverity is the severity of the finding pregreet-accepted.
	earlySeverity probe.Severity
}

// bareLF are the sequences a server that takes a bare LF for a line end
// ends the data at: Postfix before smtpd_forbid_bare_newline (3.7's
// default is no), CVE-2023-51764.
var bareLF = []string{`\n.\n`, `\n.\r\n`, `\r\n.\n`}

// TestIntegrationChecks runs every check, smtp-smuggling included (to
// alice@example.test, delivered locally), against Postfix (MX and
// submission) and Exim, logs each check and finding, and asserts what
// their configuration (testdata/mta) makes them show: no open relay, no
// AUTH on plaintext, no STARTTLS injection anywhere; smuggling where the
// server takes bare LFs; early talkers let in.
func TestIntegrationChecks(t *testing.T) {
	requireMTA(t)
	for _, tt := range []checksCase{
		{
			srv: postfixMX(),
			// Postfix answers VRFY (disable_vrfy_command = no) and rejects
			// unknown users of its virtual domain at RCPT: both tell alice
			// from a random user. It has no postscreen and leaves
			// smtpd_forbid_unauth_pipelining at 3.7's default, no.
			must: []probe.FindingID{probe.FindingPregreetAccepted, probe.FindingUnsyncPipelining,
				probe.FindingUserEnumeration, probe.FindingUserEnumeration},
			// smtpd_forbid_bare_newline=normalize (main.cf): no smuggling.
			earlySeverity: probe.SeverityLow,
		},
		{
			// Submission: MAIL needs TLS and AUTH, so nothing can be
			// relayed or enumerated without them; smuggling authenticates.
			// Left at 3.7's smtpd_forbid_bare_newline=no on purpose
			// (master.cf): the check must find the real vulnerability.
			srv: postfixSubmission(), startTLS: probe.StartTLSRequired,
			must:     []probe.FindingID{probe.FindingPregreetAccepted, probe.FindingUnsyncPipelining},
			smuggled: bareLF, earlySeverity: probe.SeverityLow,
		},
		{
			// Exim 4.96 (Debian, CVE-2023-51766 fixed) ends data at CRLF.CRLF
			// only; it advertises PIPECONNECT, which turns off its
			// synchronization check; its ACL refuses unknown users at RCPT.
			srv:           exim(),
			must:          []probe.FindingID{probe.FindingPregreetAccepted, probe.FindingUnsyncPipelining, probe.FindingUserEnumeration},
			earlySeverity: probe.SeverityInfo,
		},
	} {
		t.Run(tt.srv.name, func(t *testing.T) {
			rep := runChecksOn(t, tt.srv, tt.startTLS)
			findings := logChecks(t, rep)
			var ids []probe.FindingID
			var smuggled []string
			for _, f := range findings {
				switch f.ID {
				case probe.FindingSMTPSmuggling:
					_, seq, _ := strings.Cut(f.Summary, "with the sequence ")
					smuggled = append(smuggled, strings.TrimSuffix(seq, " is possible"))
				case probe.FindingPregreetAccepted:
					if f.Severity != tt.earlySeverity {
						t.Errorf("%s: severity %s, want %s", f.ID, f.Severity, tt.earlySeverity)
					}
					ids = append(ids, f.ID)
				default:
					ids = append(ids, f.ID)
				}
			}
			slices.Sort(ids)
			want := slices.Sorted(slices.Values(tt.must))
			if !slices.Equal(ids, want) {
				t.Errorf("findings %v, want %v (and smuggling)", ids, want)
			}
			if !slices.Equal(smuggled, tt.smuggled) {
				t.Errorf("smuggling sequences %q, want %q", smuggled, tt.smuggled)
			}
			for _, c := range rep.Checks {
				if c.Status == probe.CheckError || c.Status == probe.CheckSkipped {
					t.Errorf("check %s: %s %s %v", c.ID, c.Status, c.Detail, c.Error)
				}
			}
		})
	}
}

// runChecksOn runs every check against s, smtp-smuggling to alice.
func runChecksOn(t *testing.T, s server, policy probe.StartTLSPolicy) *probe.Report {
	t.Helper()
	user, pass := s.credentials(t)
	d := s.dialer(t)
	d.AllowInsecureAuth = true // for auth-plaintext: loopback, test account
	d.Timeouts.Command = 20 * time.Second
	ctx := testContext(t)
	rep := probe.Run(ctx, probe.Options{
		Target: s.addr(t), Dialer: *d, StartTLS: policy, QuitAfter: probe.StageTLS,
		Username: user, Password: pass,
		From:   localAddr(t, "probe"),
		Checks: probe.AllChecks(),
		CheckOptions: probe.CheckOptions{
			LocalDomain:        requireEnv(t, envDomain)[0],
			SmugglingRecipient: localAddr(t, "alice"),
			KnownUser:          "alice",
			Wait:               500 * time.Millisecond,
		},
	})
	if rep.Error != nil {
		t.Fatalf("run: %v\n%s", rep.Error, rep.Transcript)
	}
	if len(rep.Checks) != len(probe.AllChecks()) {
		t.Fatalf("checks = %+v, want all", rep.Checks)
	}
	return rep
}

// logChecks logs each check and each finding with its evidence, and
// returns the findings of the checks.
func logChecks(t *testing.T, rep *probe.Report) []probe.Finding {
	t.Helper()
	for _, c := range rep.Checks {
		t.Logf("check %-18s %-7s findings=%d %s %v (%d connections, %v)", c.ID, c.Status, c.Findings, c.Detail,
			errText(c.Error), len(c.Transcripts), c.Duration.Round(time.Millisecond))
	}
	own := map[probe.FindingID]bool{}
	for _, id := range []probe.FindingID{probe.FindingOpenRelay, probe.FindingAuthPlaintextAccepted,
		probe.FindingStartTLSInjection, probe.FindingSMTPSmuggling, probe.FindingPregreetAccepted,
		probe.FindingUnsyncPipelining, probe.FindingUserEnumeration} {
		own[id] = true
	}
	var out []probe.Finding
	for _, f := range rep.Findings {
		var ev []string
		for _, e := range f.Evidence {
			ev = append(ev, e.String())
		}
		t.Logf("finding %s [%s] %s (%s)\n    %s", f.ID, f.Severity, f.Summary, f.Reference, strings.Join(ev, "\n    "))
		if own[f.ID] {
			out = append(out, f)
		}
	}
	return out
}

func errText(e *probe.RunError) string {
	if e == nil {
		return ""
	}
	return e.Error()
}
