package scan_test

import (
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/mta"
	"github.com/smtpprobe/probe/scan"
)

// runCase is one Run against one endpoint and what its Report must say.
type runCase struct {
	name   string
	srv    mta.Server
	opts   func(t *testing.T, o *scan.Options) // fills in what the case needs
	stage  scan.Stage
	phases []scan.Stage
	mech   string // the AUTH mechanism used; "" when none
	// errClass, errStage and errCode describe Report.Error; errClass ""
	// means success.
	errClass scan.ErrorClass
	errStage scan.Stage
	errCode  int
	findings []scan.FindingID
	// check looks further, with the token of the message sent.
	check func(t *testing.T, rep *scan.Report, token string)
}

// runOptions are Options for srv trusting the test CA.
func runOptions(t *testing.T, srv mta.Server) scan.Options {
	t.Helper()
	return scan.Options{Target: srv.Addr(t), Dialer: *srv.Dialer(t), ImplicitTLS: srv.Implicit}
}

func withAuth(mech string) func(t *testing.T, o *scan.Options) {
	return func(t *testing.T, o *scan.Options) {
		v := mta.RequireEnv(t, mta.EnvUser, mta.EnvPassword)
		o.Username, o.Password, o.AuthMechanism = v[0], v[1], mech
	}
}

// The forms of the queue ids in the servers' final replies.
const (
	postfixQueueID = `^[0-9A-F]{8,}$`
	eximQueueID    = `^[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}$`
)

func runCases() []runCase {
	starttlsAuth := []scan.Stage{"connect", "banner", "ehlo", "tls", "ehlo_tls", "auth", "transaction", "quit"}
	return []runCase{{
		name: "postfix-mx", srv: mta.PostfixMX(), stage: scan.StageData, phases: starttlsAuth, mech: "SCRAM-SHA-256",
		opts: func(t *testing.T, o *scan.Options) {
			withAuth("")(t, o)
			o.StartTLS = scan.StartTLSRequired
		},
		check: checkDelivered(mta.PostfixMX(), postfixQueueID, "bob"),
	}, {
		name: "postfix-submission-relay", srv: mta.PostfixSubmission(), stage: scan.StageData, phases: starttlsAuth, mech: "PLAIN",
		opts: func(t *testing.T, o *scan.Options) {
			withAuth("PLAIN")(t, o)
			o.StartTLS = scan.StartTLSRequired
			o.To = []string{mta.OutsideRecipient}
		},
		check: func(t *testing.T, rep *scan.Report, _ string) {
			mta.WaitForLog(t, mta.Context(t), "postfix.log", rep.QueueID+": to=<"+mta.OutsideRecipient+">", "status=sent (relaying disabled in the test environment)")
		},
	}, {
		name: "postfix-smtps", srv: mta.PostfixSMTPS(), stage: scan.StageData, mech: "LOGIN",
		phases: []scan.Stage{"connect", "tls", "banner", "ehlo", "auth", "transaction", "quit"},
		opts:   withAuth("LOGIN"),
		check:  checkDelivered(mta.PostfixMX(), postfixQueueID, "bob"),
	}, {
		name: "exim", srv: mta.Exim(), stage: scan.StageData, phases: starttlsAuth, mech: "CRAM-MD5",
		opts: func(t *testing.T, o *scan.Options) {
			v := mta.RequireEnv(t, mta.EnvEximUser, mta.EnvEximPass)
			o.Username, o.Password = v[0], v[1]
		},
		check: checkDelivered(mta.Exim(), eximQueueID, "bob"),
	}, {
		name: "dovecot-lmtp", srv: mta.DovecotLMTP(), stage: scan.StageData,
		phases: []scan.Stage{"connect", "banner", "ehlo", "tls", "ehlo_tls", "transaction", "quit"},
		opts: func(t *testing.T, o *scan.Options) {
			o.StartTLS = scan.StartTLSRequired
			o.To = []string{mta.LocalAddr(t, "bob"), mta.LocalAddr(t, "nobody"), mta.LocalAddr(t, "alice")}
		},
		check: checkLMTPReport,
	}, {
		name: "postfix-mx-untrusted", srv: mta.PostfixMX(), stage: scan.StageEhlo,
		phases:   []scan.Stage{"connect", "banner", "ehlo", "tls"},
		errClass: scan.ClassTLSUntrusted, errStage: scan.StageTLS,
		findings: []scan.FindingID{scan.FindingCertUntrusted},
		opts: func(t *testing.T, o *scan.Options) {
			withAuth("")(t, o)
			o.Dialer.TLSConfig.RootCAs = nil // the system pool
		},
		check: func(t *testing.T, rep *scan.Report, _ string) {
			if rep.TLS == nil || rep.TLS.Trusted || !strings.Contains(rep.TLS.TrustError, "unknown authority") || rep.Auth != nil || rep.Quit != nil {
				t.Errorf("tls %+v auth %v quit %v; want the untrusted verdict, no AUTH and no QUIT on the broken session", rep.TLS, rep.Auth, rep.Quit)
			}
		},
	}, {
		name: "postfix-mx-wrong-password", srv: mta.PostfixMX(), stage: scan.StageTLS, mech: "PLAIN",
		phases:   []scan.Stage{"connect", "banner", "ehlo", "tls", "ehlo_tls", "auth", "quit"},
		errClass: scan.ClassAuthFailed, errStage: scan.StageAuth, errCode: 535,
		opts: func(t *testing.T, o *scan.Options) {
			withAuth("PLAIN")(t, o)
			o.Password += "-wrong"
			o.Dialer.NetDialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: mta.FreshLoopback(t)}}
		},
		check: func(t *testing.T, rep *scan.Report, _ string) {
			if rep.Auth.Success || rep.Auth.Reply.Code != 535 || rep.Error.Enhanced != "5.7.8" || rep.Quit.Code != 221 {
				t.Errorf("auth %+v error %+v quit %v", rep.Auth, rep.Error, rep.Quit)
			}
		},
	}, {
		name: "postfix-mx-relay-without-auth", srv: mta.PostfixMX(), stage: scan.StageMail,
		phases:   []scan.Stage{"connect", "banner", "ehlo", "tls", "ehlo_tls", "transaction", "quit"},
		errClass: scan.ClassReply, errStage: scan.StageRcpt, errCode: 554,
		opts: func(t *testing.T, o *scan.Options) { o.To = []string{mta.OutsideRecipient} },
		check: func(t *testing.T, rep *scan.Report, _ string) {
			if len(rep.Recipients) != 1 || rep.Recipients[0].Accepted() || rep.Recipients[0].Rcpt.Code != 554 || rep.Final != nil {
				t.Errorf("recipients %+v final %v, want the relay refused", rep.Recipients, rep.Final)
			}
		},
	}, {
		name: "exim-quit-after-ehlo", srv: mta.Exim(), stage: scan.StageEhlo,
		phases: []scan.Stage{"connect", "banner", "ehlo", "quit"},
		opts:   func(t *testing.T, o *scan.Options) { o.QuitAfter = scan.StageEhlo },
		check: func(t *testing.T, rep *scan.Report, _ string) {
			if rep.TLS != nil || rep.CapabilitiesTLS != nil || !rep.Capabilities.StartTLS || rep.Quit.Code != 221 {
				t.Errorf("tls %v caps after TLS %v STARTTLS offered %v quit %v", rep.TLS, rep.CapabilitiesTLS, rep.Capabilities.StartTLS, rep.Quit)
			}
		},
	}}
}

// TestIntegrationRun plays whole probes with Run against every endpoint,
// successful ones and ones that must fail, and checks each Report: the
// stage reached, the phases, the TLS verdicts, the AUTH result, the queue
// id, the error, the findings and the JSON form.
func TestIntegrationRun(t *testing.T) {
	mta.RequireMTA(t)
	for _, tc := range runCases() {
		t.Run(tc.name, func(t *testing.T) {
			o := runOptions(t, tc.srv)
			o.From = mta.LocalAddr(t, "alice")
			o.To = []string{mta.LocalAddr(t, "bob")}
			if tc.opts != nil {
				tc.opts(t, &o)
			}
			token := mta.UniqueToken(t)
			o.Body = strings.NewReader(mta.PlainMessage(o.From, o.To[0], token, "Run "+tc.name))
			rep := scan.Run(mta.Context(t), o)
			checkReport(t, tc, rep, o.Password)
			if t.Failed() {
				t.Logf("transcript:\n%s", rep.Transcript)
				return
			}
			if tc.check != nil {
				tc.check(t, rep, token)
			}
		})
	}
}

func checkReport(t *testing.T, tc runCase, rep *scan.Report, password string) {
	t.Helper()
	if got := phaseNames(rep); !slices.Equal(got, tc.phases) {
		t.Errorf("phases %q, want %q", got, tc.phases)
	}
	if rep.Stage != tc.stage {
		t.Errorf("stage %q, want %q", rep.Stage, tc.stage)
	}
	if tc.errClass == "" {
		if !rep.Success || rep.Error != nil {
			t.Fatalf("run failed: %v", rep.Error)
		}
		if tc.stage == scan.StageData {
			checkWholeRun(t, tc, rep)
		}
	} else if rep.Success || rep.Error == nil || rep.Error.Class != tc.errClass || rep.Error.Stage != tc.errStage || rep.Error.Code != tc.errCode {
		t.Errorf("error %+v, want class %s at %s with code %d", rep.Error, tc.errClass, tc.errStage, tc.errCode)
	}
	var ids []scan.FindingID
	for _, f := range rep.Findings {
		ids = append(ids, f.ID)
	}
	if !slices.Equal(ids, tc.findings) {
		t.Errorf("findings %q, want %q", ids, tc.findings)
	}
	if tc.mech != "" && (rep.Auth == nil || rep.Auth.Mechanism != tc.mech) {
		t.Errorf("auth %+v, want mechanism %s", rep.Auth, tc.mech)
	}
	checkReportJSON(t, rep, password)
}

// checkWholeRun checks the Report of a run that played every stage.
func checkWholeRun(t *testing.T, tc runCase, rep *scan.Report) {
	t.Helper()
	if rep.Banner == nil || rep.Banner.Code != 220 || rep.Quit == nil || rep.Quit.Code != 221 {
		t.Errorf("banner %v quit %v", rep.Banner, rep.Quit)
	}
	if rep.TLS == nil || !rep.TLS.Verified || rep.TLS.Version < 0x0303 {
		t.Errorf("TLS %+v, want verified TLS 1.2 or later", rep.TLS)
	}
	if !tc.srv.Implicit && (!rep.Capabilities.StartTLS || len(rep.Capabilities.Auth) != 0 || rep.CapabilitiesTLS == nil || rep.CapabilitiesTLS.StartTLS) {
		t.Errorf("capabilities before TLS %+v, after %+v; want STARTTLS and no AUTH, then no STARTTLS", rep.Capabilities, rep.CapabilitiesTLS)
	}
	if tc.mech != "" && (!rep.Auth.Success || rep.Auth.Reply.Code != 235 || !offeredCaps(rep).SupportsAuth(tc.mech)) {
		t.Errorf("auth %+v, want 235 with an offered mechanism", rep.Auth)
	}
	if !rep.Pipelined || rep.Mail.Code != 250 || rep.Data.Code != 354 || rep.Final.Code != 250 {
		t.Errorf("pipelined %v mail %v data %v final %v", rep.Pipelined, rep.Mail, rep.Data, rep.Final)
	}
	if rep.QueueID != rep.Final.QueueID() {
		t.Errorf("queue id %q, the final reply says %q", rep.QueueID, rep.Final.QueueID())
	}
	for _, p := range rep.Phases {
		if p.Duration <= 0 || p.Error != "" {
			t.Errorf("phase %+v", p)
		}
	}
}

// offeredCaps are the capabilities AUTH was chosen from: inside TLS.
func offeredCaps(rep *scan.Report) *probe.Capabilities {
	if rep.CapabilitiesTLS != nil {
		return rep.CapabilitiesTLS
	}
	return rep.Capabilities
}

func phaseNames(rep *scan.Report) []scan.Stage {
	var names []scan.Stage
	for _, p := range rep.Phases {
		names = append(names, p.Name)
	}
	return names
}

// checkReportJSON checks that the Report marshals and that what it says
// survives the round trip.
func checkReportJSON(t *testing.T, rep *scan.Report, password string) {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatalf("marshal the report: %v", err)
	}
	var back struct {
		Stage   scan.Stage `json:"stage"`
		Success bool       `json:"success"`
		QueueID string     `json:"queue_id"`
		Phases  []struct {
			Name string `json:"name"`
		} `json:"phases"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal the report: %v", err)
	}
	if back.Stage != rep.Stage || back.Success != rep.Success || back.QueueID != rep.QueueID || len(back.Phases) != len(rep.Phases) {
		t.Errorf("JSON round trip: %+v", back)
	}
	if password != "" && strings.Contains(string(b), password) {
		t.Errorf("the report's JSON holds the password")
	}
}

// checkDelivered checks the queue id's form and finds the message in
// localpart's Maildir, with the queue id in the server's Received field.
func checkDelivered(srv mta.Server, form, localpart string) func(t *testing.T, rep *scan.Report, token string) {
	return func(t *testing.T, rep *scan.Report, token string) {
		if !regexp.MustCompile(form).MatchString(rep.QueueID) {
			t.Errorf("queue id %q, want %s", rep.QueueID, form)
		}
		msg := mta.DeliveredMessage(t, mta.Context(t), mta.RequireEnv(t, srv.MaildirEnv)[0], localpart, token)
		if !regexp.MustCompile(`\sid ` + regexp.QuoteMeta(rep.QueueID) + `[;\s]`).Match(msg) {
			t.Errorf("queue id %s not in the delivered copy:\n%s", rep.QueueID, msg)
		}
	}
}

// checkLMTPReport: one final reply per accepted recipient, in order, and
// the unknown user refused at RCPT.
func checkLMTPReport(t *testing.T, rep *scan.Report, token string) {
	if rep.Auth != nil || len(rep.Recipients) != 3 {
		t.Fatalf("auth %v recipients %+v", rep.Auth, rep.Recipients)
	}
	for i, lp := range []string{"bob", "nobody", "alice"} {
		rr := rep.Recipients[i]
		if lp == "nobody" {
			mta.CheckUnknownLMTP(t, rr.Rcpt, rr.Address)
			if rr.Accepted() || rr.Final != nil {
				t.Errorf("unknown recipient %+v", rr)
			}
			continue
		}
		if !rr.Accepted() {
			t.Errorf("%s refused: %v", rr.Address, rr.Rcpt)
		}
		mta.CheckSavedLMTP(t, rr.Final, rr.Address)
		mta.DeliveredMessage(t, mta.Context(t), mta.RequireEnv(t, mta.DovecotLMTP().MaildirEnv)[0], lp, token)
	}
}
