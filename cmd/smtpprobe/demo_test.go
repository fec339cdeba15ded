package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/scan"
)

// TestDemoFullSession: with no target, run probes the built-in server
// through the whole seed session and says so; the password never shows.
func TestDemoFullSession(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(nil, strings.NewReader(""), &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	s := out.String()
	assertContains(t, s,
		"      S: 220 mail.example.test ESMTP",
		"      C: EHLO [127.0.0.1]",
		"      S: 250-STARTTLS",
		"      C: STARTTLS",
		"      S: 220 2.0.0 Ready to start TLS",
		"[tls] *  TLS 1.3",
		"[tls] C: EHLO [127.0.0.1]",
		"[tls] C: AUTH PLAIN [credentials redacted]",
		"[tls] S: 235 2.7.0 Authentication successful",
		"[tls] C: MAIL FROM:<alice@example.test>",
		"[tls] C: RCPT TO:<bob@example.test>",
		"[tls] C: DATA",
		"[tls] S: 354 ",
		"[tls] C: .",
		"[tls] C: QUIT", // in the same write as the "." (PIPELINING)
		"[tls] S: 250 2.0.0 Ok: queued as ",
		"[tls] S: 221 ",
		"Result:    OK, reached DATA in ",
		"TLS:       TLS 1.3 ",
		"verified for mail.example.test",
		"Auth:      PLAIN accepted 235 2.7.0",
		"Recipient: <bob@example.test> accepted 250 2.1.5",
		"Queue ID:  ",
		"Findings:  none\n",
		"\nsmtpprobe: probed the built-in test server at 127.0.0.1:", "; to probe a real one, name it: smtpprobe -starttls mail.example.com:25",
	)
	if strings.Contains(s, demoPassword) || strings.Contains(s, "ZGVtby1wYXNzd29yZA") {
		t.Errorf("the demo password shows in the output:\n%s", s)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", errb.String())
	}
}

// TestDemoModes: the demo honours the output and session flags.
func TestDemoModes(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		r := runCLI(t, "-json")
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var rep scan.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("stdout is not a Report: %v\n%s", err, r.stdout)
		}
		if !rep.Success || rep.Stage != scan.StageData || rep.TLS == nil || !rep.TLS.Verified ||
			rep.Auth == nil || rep.Auth.Mechanism != "PLAIN" || !rep.Auth.Success || rep.QueueID == "" {
			t.Errorf("report: success %v stage %q tls %+v auth %+v queue %q", rep.Success, rep.Stage, rep.TLS, rep.Auth, rep.QueueID)
		}
		if !strings.Contains(r.stderr, "probed the built-in test server") {
			t.Errorf("stderr lacks the demo note: %q", r.stderr)
		}
	})
	t.Run("nagios", func(t *testing.T) {
		r := runCLI(t, "-nagios")
		re := regexp.MustCompile(`^SMTP OK - 127\.0\.0\.1:\d+ reached DATA in \d+\.\d{3}s, certificate 364 days, TLS 1\.3 verified \| ` +
			`connect=\d+\.\d{3}s;;;0 banner=\d+\.\d{3}s;;;0 ehlo=\d+\.\d{3}s;;;0 tls=\d+\.\d{3}s;;;0 auth=\d+\.\d{3}s;;;0 transaction=\d+\.\d{3}s;;;0 ` +
			`total=\d+\.\d{3}s;;;0 cert_days=364;14:;7:;;\n$`)
		if r.code != nagiosOK || !re.MatchString(r.stdout) {
			t.Errorf("exit %d, stdout %q", r.code, r.stdout)
		}
	})
	t.Run("implicit TLS, quit after AUTH", func(t *testing.T) {
		r := runCLI(t, "-tls", "-quit-after", "auth")
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stdout)
		}
		assertContains(t, r.stdout, "[tls] *  TLS 1.3", "[tls] S: 220 ", "[tls] C: AUTH PLAIN", "[tls] C: QUIT", "reached AUTH")
		if strings.Contains(r.stdout, "MAIL FROM") || strings.Contains(r.stdout, "STARTTLS") {
			t.Errorf("implicit TLS run went past AUTH or sent STARTTLS:\n%s", r.stdout)
		}
	})
	t.Run("another mechanism", func(t *testing.T) {
		r := runCLI(t, "-auth", "cram-md5", "-quit-after", "auth")
		if r.code != exitOK {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
		assertContains(t, r.stdout, "[tls] C: AUTH CRAM-MD5", "[tls] S: 235 ", "Auth:      CRAM-MD5 accepted")
	})
	t.Run("wrong user", func(t *testing.T) {
		r := runCLI(t, "-user", "mallory@example.test", "-password", "nope")
		if r.code != exitAuth {
			t.Fatalf("exit %d, want %d:\n%s", r.code, exitAuth, r.stdout)
		}
		assertContains(t, r.stdout, "FAILED at AUTH", "Error:     auth-failed at AUTH")
	})
}
