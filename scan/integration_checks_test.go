package scan_test

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
	"github.com/smtpprobe/probe/internal/mta"
	"github.com/smtpprobe/probe/scan"
)

// checksCase is what one real server must show when every check runs.
type checksCase struct {
	srv      mta.Server
	startTLS scan.StartTLSPolicy
	// must lists finding IDs that must be among the findings of the
	// checks; no others may be, but for smtp-smuggling.
	must []scan.FindingID
	// smuggled lists the sequences smtp-smuggling must find, exactly.
	smuggled []string
	// earlySeverity is the severity of the finding pregreet-accepted.
	earlySeverity scan.Severity
}

// bareLF are the sequences a server that takes a bare LF for a line end
// ends the data at: Postfix before smtpd_forbid_bare_newline (3.7's
// default is no), CVE-2023-51764.
var bareLF = []string{`\n.\n`, `\n.\r\n`, `\r\n.\n`}

// legacy is tls-versions' finding for TLS 1.0 and for 1.1, which Postfix
// (OpenSSL) and Exim (GnuTLS) accept on these ports (testdata/mta).
const legacy = scan.FindingTLSLegacyAccepted

// TestIntegrationChecks runs every check, smtp-smuggling included (to
// alice@example.test, delivered locally), against Postfix (MX and
// submission) and Exim, logs each check and finding, and asserts what
// their configuration (testdata/mta) makes them show: no open relay, no
// AUTH on plaintext, no STARTTLS injection anywhere; smuggling where the
// server takes bare LFs; early talkers let in.
func TestIntegrationChecks(t *testing.T) {
	mta.RequireMTA(t)
	for _, tt := range []checksCase{
		{
			srv: mta.PostfixMX(),
			// Postfix answers VRFY (disable_vrfy_command = no) and rejects
			// unknown users of its virtual domain at RCPT: both tell alice
			// from a random user. It has no postscreen and leaves
			// smtpd_forbid_unauth_pipelining at 3.7's default, no.
			must: []scan.FindingID{scan.FindingPregreetAccepted, scan.FindingUnsyncPipelining,
				scan.FindingUserEnumeration, scan.FindingUserEnumeration, legacy, legacy},
			// smtpd_forbid_bare_newline=normalize (main.cf): no smuggling.
			earlySeverity: scan.SeverityLow,
		},
		{
			// Submission: MAIL needs TLS and AUTH, so nothing can be
			// relayed or enumerated without them; smuggling authenticates.
			// Left at 3.7's smtpd_forbid_bare_newline=no on purpose
			// (master.cf): the check must find the real vulnerability.
			srv: mta.PostfixSubmission(), startTLS: scan.StartTLSRequired,
			must:     []scan.FindingID{scan.FindingPregreetAccepted, scan.FindingUnsyncPipelining, legacy, legacy},
			smuggled: bareLF, earlySeverity: scan.SeverityLow,
		},
		{
			// Exim 4.96 (Debian, CVE-2023-51766 fixed) ends data at CRLF.CRLF
			// only; it advertises PIPECONNECT, which turns off its
			// synchronization check; its ACL refuses unknown users at RCPT.
			srv:           mta.Exim(),
			must:          []scan.FindingID{scan.FindingPregreetAccepted, scan.FindingUnsyncPipelining, scan.FindingUserEnumeration, legacy, legacy},
			earlySeverity: scan.SeverityInfo,
		},
	} {
		t.Run(tt.srv.Name, func(t *testing.T) {
			rep := runChecksOn(t, tt.srv, tt.startTLS)
			findings := logChecks(t, rep)
			var ids []scan.FindingID
			var smuggled []string
			for _, f := range findings {
				switch f.ID {
				case scan.FindingSMTPSmuggling:
					_, seq, _ := strings.Cut(f.Summary, "with the sequence ")
					smuggled = append(smuggled, strings.TrimSuffix(seq, " is possible"))
				case scan.FindingPregreetAccepted:
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
				if c.Status == scan.CheckError || c.Status == scan.CheckSkipped {
					t.Errorf("check %s: %s %s %v", c.ID, c.Status, c.Detail, c.Error)
				}
			}
		})
	}
}

// runChecksOn runs every check against s, smtp-smuggling to alice.
func runChecksOn(t *testing.T, s mta.Server, policy scan.StartTLSPolicy) *scan.Report {
	t.Helper()
	user, pass := s.Credentials(t)
	d := s.Dialer(t)
	d.AllowInsecureAuth = true // for auth-plaintext: loopback, test account
	d.Timeouts.Command = 20 * time.Second
	ctx := mta.Context(t)
	rep := scan.Run(ctx, scan.Options{
		Target: s.Addr(t), Dialer: *d, StartTLS: policy, QuitAfter: scan.StageTLS,
		Username: user, Password: pass,
		Checks: scan.AllChecks(),
		CheckOptions: scan.CheckOptions{
			LocalDomain:        mta.RequireEnv(t, mta.EnvDomain)[0],
			SmugglingRecipient: mta.LocalAddr(t, "alice"),
			KnownUser:          "alice",
			Wait:               500 * time.Millisecond,
		},
		Envelope: probe.Envelope{From: mta.LocalAddr(t, "probe")},
	})
	if rep.Error != nil {
		t.Fatalf("run: %v\n%s", rep.Error, rep.Transcript)
	}
	if len(rep.Checks) != len(scan.AllChecks()) {
		t.Fatalf("checks = %+v, want all", rep.Checks)
	}
	return rep
}

// logChecks logs each check and each finding with its evidence, and
// returns the findings of the checks.
func logChecks(t *testing.T, rep *scan.Report) []scan.Finding {
	t.Helper()
	for _, c := range rep.Checks {
		t.Logf("check %-18s %-7s findings=%d %s %v (%d connections, %v)", c.ID, c.Status, c.Findings, c.Detail,
			errText(c.Error), len(c.Transcripts), c.Duration.Round(time.Millisecond))
	}
	own := map[scan.FindingID]bool{}
	for _, id := range []scan.FindingID{scan.FindingOpenRelay, scan.FindingAuthPlaintextAccepted,
		scan.FindingStartTLSInjection, scan.FindingSMTPSmuggling, scan.FindingPregreetAccepted,
		scan.FindingUnsyncPipelining, scan.FindingUserEnumeration, scan.FindingTLSLegacyAccepted} {
		own[id] = true
	}
	var out []scan.Finding
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

func errText(e *scan.RunError) string {
	if e == nil {
		return ""
	}
	return e.Error()
}
