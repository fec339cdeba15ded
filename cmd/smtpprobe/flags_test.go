package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// TestUsageErrors: every malformed or contradictory command line exits 3
// with a message that names the problem, and sends nothing.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"a.example", "b.example"}, "one target at a time"},
		{[]string{"-starttls", "-tls", "mx.example"}, "choose one of -starttls, -starttls-optional, -no-starttls and -tls"},
		{[]string{"-starttls-optional", "-no-starttls", "mx.example"}, "choose one of"},
		{[]string{"-auth", "NTLM", "mx.example"}, `-auth "NTLM": want one of PLAIN`},
		{[]string{"-quit-after", "helo", "mx.example"}, `-quit-after "helo": want connect, banner`},
		{[]string{"-quit-after", "rcpt", "mx.example"}, "-quit-after rcpt needs a recipient (-to)"},
		{[]string{"-quit-after", "resolve", "mx.example"}, "-quit-after resolve needs -mx"},
		{[]string{"-header", "no colon", "-to", "a@example.test", "mx.example"}, `-header "no colon": want "Name: value"`},
		{[]string{"-header", "Bad Name: x", "-to", "a@example.test", "mx.example"}, "the name may hold only printable ASCII"},
		{[]string{"-header", "X-A: b", "mx.example"}, "-body and -header need a recipient (-to)"},
		{[]string{"-to", "a b@example.test", "mx.example"}, `-to "a b@example.test": space outside a quoted local part`},
		{[]string{"-ehlo", "bad\x00name", "mx.example"}, "no spaces or control characters"},
		{[]string{"-proxy", "http://127.0.0.1:8080", "mx.example"}, "-proxy \"http://127.0.0.1:8080\": want socks5://"},
		{[]string{"-timeout", "0s", "mx.example"}, "-timeout 0: want more than 0 seconds"},
		{[]string{"-warn", "2", "mx.example"}, "-warn needs -nagios"},
		{[]string{"-cert-crit", "2", "mx.example"}, "-cert-crit needs -nagios"},
		{[]string{"-concurrency", "4", "mx.example"}, "-concurrency needs -targets"},
		{[]string{"-targets", "-", "-concurrency", "0"}, "-concurrency 0: want 1 to 4096"},
		{[]string{"-targets", "-", "mx.example"}, "give a target or -targets, not both"},
		{[]string{"-targets", "-", "-body", "-", "-to", "a@example.test"}, "cannot both read stdin"},
		{[]string{"-mx"}, "-mx needs a mail domain as target"},
		{[]string{"-user", "alice", "mx.example"}, "-user needs a password"},
		{[]string{"-auth", "cram-md5", "mx.example"}, "-auth cram-md5 needs -user"},
		{[]string{"-password", "x", "-password-file", "f", "mx.example"}, "give -password or -password-file, not both"},
		{[]string{"-password-file", "/nonexistent/pw", "-user", "a", "mx.example"}, "-password-file: open /nonexistent/pw"},
		{[]string{"-cafile", "/nonexistent/ca.pem", "mx.example"}, "-cafile: open /nonexistent/ca.pem"},
		{[]string{"-body", "/nonexistent/msg", "-to", "a@example.test", "mx.example"}, "-body: open /nonexistent/msg"},
		{[]string{"-warn", "x", "-nagios", "mx.example"}, ""}, // UNKNOWN on stdout instead; see TestNagiosUnknown
		{[]string{"mx.example:25/x"}, `target "mx.example:25/x": want host[:port]`},
	}
	for _, tt := range tests {
		r := runCLI(t, tt.args...)
		if r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, r.code, exitUsage, r.stderr)
			continue
		}
		if tt.want != "" && (!strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "Run 'smtpprobe -h'") || r.stdout != "") {
			t.Errorf("%q: stdout %q, stderr %q; want %q on stderr", tt.args, r.stdout, r.stderr, tt.want)
		}
	}
}

// TestHelp: -h prints every flag, grouped, and the exit-code table on
// stdout, and exits 0.
func TestHelp(t *testing.T) {
	r := runCLI(t, "-h")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	var c config
	newFlagSet(&c).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(r.stdout, "\n  -"+f.Name+" ") {
			t.Errorf("help lacks -%s", f.Name)
		}
	})
	listed := 0
	for _, g := range flagGroups {
		listed += len(g.names)
	}
	n := 0
	newFlagSet(&c).VisitAll(func(*flag.Flag) { n++ })
	if listed != n {
		t.Errorf("help groups list %d flags, the flag set has %d", listed, n)
	}
	for _, e := range exitCodes {
		if !strings.Contains(r.stdout, e.meaning) {
			t.Errorf("help lacks exit code %d", e.code)
		}
	}
	assertContains(t, r.stdout, "Usage:", "$SMTPPROBE_PASSWORD", "Connection:", "TLS:", "Auth:", "Message:", "Output:", "Monitoring:", "Batch:", "Exit codes:",
		"   14  TLS", "with -nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
}

// TestSessionFlags: the session flags reach the wire and the message.
func TestSessionFlags(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := filepath.Join(dir, "msg.eml")
	if err := os.WriteFile(body, []byte("Subject: from a file\r\n\r\n.leading dot\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"-cafile", pki.caFile, "-from", "alice@example.test", "-to", "bob@example.test"}
	tests := []struct {
		name  string
		base  []string // instead of base, when not nil
		args  []string
		env   map[string]string
		stdin string
		check func(t *testing.T, r result, srv *fakeserver.Server)
	}{
		{name: "password file, LOGIN, EHLO name, headers", args: []string{"-password-file", pwFile, "-user", "alice@example.test",
			"-auth", "login", "-ehlo", "probe.example.test", "-header", "X-Probe: one", "-header", "X-Trace: two"},
			check: func(t *testing.T, r result, srv *fakeserver.Server) {
				m := onlyMessage(t, srv)
				if m.AuthUser != "alice@example.test" || m.Helo != "probe.example.test" || !m.TLS {
					t.Errorf("message: auth %q helo %q tls %v", m.AuthUser, m.Helo, m.TLS)
				}
				if !bytes.HasPrefix(m.Data, []byte("X-Probe: one\r\nX-Trace: two\r\nFrom: <alice@example.test>\r\nTo: <bob@example.test>\r\n")) {
					t.Errorf("message data:\n%s", m.Data)
				}
				assertContains(t, r.stdout, "C: EHLO probe.example.test", "[tls] C: AUTH LOGIN", "Auth:      LOGIN accepted")
				if strings.Contains(r.stderr, "visible in the process list") {
					t.Errorf("warned about -password without it: %q", r.stderr)
				}
			}},
		{name: "password flag warns", args: []string{"-password", "secret", "-user", "alice@example.test"},
			check: func(t *testing.T, r result, _ *fakeserver.Server) {
				if r.code != exitOK || !strings.Contains(r.stderr, "warning: -password is visible in the process list") {
					t.Errorf("exit %d, stderr %q", r.code, r.stderr)
				}
			}},
		{name: "password from the environment, secrets shown", args: []string{"-user", "alice@example.test", "-auth", "PLAIN", "-show-secrets"},
			env: map[string]string{"SMTPPROBE_PASSWORD": "secret"},
			check: func(t *testing.T, r result, _ *fakeserver.Server) {
				plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00secret"))
				assertContains(t, r.stdout, "[tls] C: AUTH PLAIN "+plain)
			}},
		{name: "body file", args: []string{"-body", body, "-to", "carol@example.test"},
			check: func(t *testing.T, r result, srv *fakeserver.Server) {
				m := onlyMessage(t, srv)
				if string(m.Data) != "Subject: from a file\r\n\r\n.leading dot\r\n" || len(m.To) != 2 {
					t.Errorf("message to %q:\n%q", m.To, m.Data)
				}
			}},
		{name: "body from stdin, recipients by comma", args: []string{"-body", "-", "-to", "carol@example.test,dave@example.test", "-header", "X-A: b"},
			stdin: "Subject: stdin\n\nhello\n",
			check: func(t *testing.T, r result, srv *fakeserver.Server) {
				m := onlyMessage(t, srv)
				if string(m.Data) != "X-A: b\r\nSubject: stdin\r\n\r\nhello\r\n" || len(m.To) != 3 {
					t.Errorf("message to %q:\n%q", m.To, m.Data)
				}
			}},
		{name: "quit after MAIL, no pipelining", args: []string{"-quit-after", "mail", "-no-pipelining"},
			check: func(t *testing.T, r result, srv *fakeserver.Server) {
				verbs := sessionVerbs(t, srv)
				if want := "EHLO STARTTLS EHLO MAIL QUIT"; verbs != want {
					t.Errorf("verbs %q, want %q", verbs, want)
				}
				assertContains(t, r.stdout, "reached MAIL")
			}},
		{name: "no STARTTLS", base: []string{}, args: []string{"-no-starttls", "-quit-after", "ehlo"},
			check: func(t *testing.T, r result, srv *fakeserver.Server) {
				if verbs := sessionVerbs(t, srv); verbs != "EHLO QUIT" {
					t.Errorf("verbs %q", verbs)
				}
				assertContains(t, r.stdout, "TLS:       none: the session was in plaintext")
			}},
		{name: "server name", args: []string{"-server-name", "wrong.example.test", "-quit-after", "tls"},
			check: func(t *testing.T, r result, _ *fakeserver.Server) {
				if r.code != exitTLS {
					t.Errorf("exit %d", r.code)
				}
				assertContains(t, r.stdout, "NOT verified", "wrong.example.test", "tls-untrusted at TLS")
			}},
		{name: "json", args: []string{"-json", "-quit-after", "rcpt"},
			check: func(t *testing.T, r result, _ *fakeserver.Server) {
				var rep scan.Report
				if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
					t.Fatalf("%v in %s", err, r.stdout)
				}
				if !rep.Success || rep.Stage != scan.StageRcpt || len(rep.Recipients) != 1 || !rep.Recipients[0].Accepted() {
					t.Errorf("report: %+v", rep)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tlsServer(t, pki.Valid, nil)
			b := base
			if tt.base != nil {
				b = tt.base
			}
			inv := invocation{args: append(append(append([]string{}, b...), tt.args...), srv.Addr()), env: tt.env, stdin: tt.stdin}
			r := inv.run(t)
			if r.code != exitOK && tt.name != "server name" {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			tt.check(t, r, srv)
		})
	}
}

// TestTransportFlags: -tls, -lmtp, -insecure, -proxy and -timeout.
func TestTransportFlags(t *testing.T) {
	pki := newTestPKI(t)
	t.Run("implicit TLS", func(t *testing.T) {
		srv := tlsServer(t, pki.Valid, func(c *fakeserver.Config) { c.ImplicitTLS = true })
		r := runCLI(t, "-tls", "-cafile", pki.caFile, "-quit-after", "ehlo", srv.Addr())
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stdout)
		}
		assertContains(t, r.stdout, "[tls] *  TLS 1.3", "[tls] S: 220 ", "[tls] C: EHLO")
	})
	t.Run("LMTP", func(t *testing.T) {
		srv := fakeserver.NewTB(t, fakeserver.Config{LMTP: true})
		r := runCLI(t, "-lmtp", "-no-starttls", "-to", "bob@example.test", srv.Addr())
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stdout)
		}
		assertContains(t, r.stdout, "C: LHLO [127.0.0.1]", "C: DATA", "reached DATA")
	})
	t.Run("insecure still reports the verdict", func(t *testing.T) {
		srv := tlsServer(t, pki.SelfSigned, nil)
		r := runCLI(t, "-starttls", "-insecure", "-quit-after", "tls", srv.Addr())
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stdout)
		}
		assertContains(t, r.stdout, "NOT verified (-insecure): ", "Findings:  [high] cert-untrusted")
	})
	t.Run("proxy down", func(t *testing.T) {
		r := runCLI(t, "-proxy", "socks5h://"+fakeserver.ClosedAddr(t), "-timeout", "5s", "127.0.0.1:25")
		if r.code != exitConnect {
			t.Fatalf("exit %d: %s", r.code, r.stdout)
		}
		assertContains(t, r.stdout, "FAILED at connect", "proxy at connect")
	})
	t.Run("timeout", func(t *testing.T) {
		srv := fakeserver.NewTB(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{fakeserver.StepConnect: fakeserver.Silent()}})
		start := time.Now()
		r := runCLI(t, "-timeout", "300ms", srv.Addr())
		if r.code != exitBanner || time.Since(start) > 10*time.Second {
			t.Fatalf("exit %d after %v: %s", r.code, time.Since(start), r.stdout)
		}
		assertContains(t, r.stdout, "FAILED at banner", "timeout at banner")
	})
}

// TestInterspersedFlags: flags may follow the target, and "--" ends them.
func TestInterspersedFlags(t *testing.T) {
	var c config
	fs := newFlagSet(&c)
	pos, err := parseArgs(fs, []string{"-json", "mx.example", "-starttls", "--", "-odd"})
	if err != nil || len(pos) != 2 || pos[0] != "mx.example" || pos[1] != "-odd" || !c.jsonOut || !c.starttls {
		t.Errorf("pos %q err %v json %v starttls %v", pos, err, c.jsonOut, c.starttls)
	}
}

func onlyMessage(t *testing.T, srv *fakeserver.Server) fakeserver.Message {
	t.Helper()
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages %d, err %v", len(msgs), err)
	}
	return msgs[0]
}

// sessionVerbs are the verbs of the server's only session.
func sessionVerbs(t *testing.T, srv *fakeserver.Server) string {
	t.Helper()
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil || len(recs) != 1 {
		t.Fatalf("sessions %d, err %v", len(recs), err)
	}
	return strings.Join(recs[0].Verbs(), " ")
}
