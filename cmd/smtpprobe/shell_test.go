package main

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// script joins lines into what a script gives the shell on stdin.
func script(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// runScript runs smtpprobe -i with the script on stdin (a pipe, not a
// terminal) and the extra flags, against target.
func runScript(t *testing.T, target, stdin string, flags ...string) result {
	t.Helper()
	args := append(append([]string{"-i", "-timeout", "10s"}, flags...), target)
	return invocation{args: args, stdin: stdin}.run(t)
}

// clientBytes is what the client sent in the server's only session.
func clientBytes(t *testing.T, srv *fakeserver.Server) string {
	t.Helper()
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return string(recs[0].ClientBytes)
}

// replyWith makes a handler answer with raw reply lines (LF made CRLF).
func replyWith(lines string) fakeserver.HandlerFunc {
	return func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.WriteRaw([]byte(strings.ReplaceAll(lines, "\n", "\r\n") + "\r\n"))
		return true
	}
}

// The seed sessions (../../shared/seeds), as their administrators typed
// them into telnet or openssl s_client, played by the shell against
// fakeserver shaped as the seed's server.
var seedSessions = []struct {
	name   string
	cfg    fakeserver.Config
	lines  []string
	want   []string // on stdout, in this order
	absent []string // never on stdout
	sent   string   // the client's bytes after the banner, CRLF as LF
	code   int
}{
	{
		name: "003 telnet: HELO, MAIL, RCPT, DATA, QUIT",
		cfg:  fakeserver.Config{Banner: []string{"ESMTP"}, LocalDomains: []string{"mail.getsdeliveredhere.net"}},
		lines: []string{"HELO justtesting", "MAIL FROM: <me@telnettingin.com>", "RCPT TO: <postmaster@mail.getsdeliveredhere.net>", "DATA",
			"To: postmaster@mail.getsdeliveredhere.net", "From: telnetclient@mail.getsdeliveredhere.net",
			"Subject: this is a test message", "Date: Thu, 21 Jun 2007 11:11:40 -0400", "",
			"Just testing SMTP functionality by telnetting in to port 25.", ".", "QUIT"},
		want: []string{"      S: 220 ESMTP", "      C: HELO justtesting", "      S: 250 ", "      C: MAIL FROM: <me@telnettingin.com>", "      S: 250 ",
			"      C: DATA", "      S: 354 ", "      C: Subject: this is a test message", "      C: \n", "      C: .\n", "      S: 250 2.0.0 Ok: queued as ",
			"      C: QUIT", "      S: 221 "},
		sent: "HELO justtesting\nMAIL FROM: <me@telnettingin.com>\nRCPT TO: <postmaster@mail.getsdeliveredhere.net>\nDATA\n" +
			"To: postmaster@mail.getsdeliveredhere.net\nFrom: telnetclient@mail.getsdeliveredhere.net\nSubject: this is a test message\n" +
			"Date: Thu, 21 Jun 2007 11:11:40 -0400\n\nJust testing SMTP functionality by telnetting in to port 25.\n.\nQUIT\n",
	},
	{
		name: "003 AUTH PLAIN typed in base64",
		cfg: fakeserver.Config{Hostname: "mail.server.local", Banner: []string{"mail.server.local ESMTP"}, AuthBeforeTLS: true, Users: map[string]string{"user@domain.com": "password"},
			EhloLines: []string{"AUTH LOGIN PLAIN", "AUTH LOGIN PLAIN", "STARTTLS", "PIPELINING", "8BITMIME"}},
		lines:  []string{"ehlo test", "AUTH PLAIN AHVzZXJAZG9tYWluLmNvbQBwYXNzd29yZA=="},
		want:   []string{"      S: 220 mail.server.local ESMTP", "      C: ehlo test", "      S: 250-AUTH LOGIN PLAIN", "      S: 250 8BITMIME", "      C: AUTH PLAIN [credentials redacted]", "      S: 235 ", "      C: QUIT"},
		absent: []string{"AHVzZXJAZG9tYWluLmNvbQBwYXNzd29yZA=="},
		sent:   "ehlo test\nAUTH PLAIN AHVzZXJAZG9tYWluLmNvbQBwYXNzd29yZA==\nQUIT\n",
	},
	{
		name:  "003 AUTH LOGIN typed in base64, prompts decoded",
		cfg:   fakeserver.Config{Banner: []string{"mail.server.local ESMTP"}, AuthBeforeTLS: true, Users: map[string]string{"user@domain.com": "password"}},
		lines: []string{"ehlo test", "AUTH LOGIN", "dXNlckBkb21haW4uY29t", "cGFzc3dvcmQ="},
		want: []string{"      C: AUTH LOGIN\n", "      S: 334 VXNlcm5hbWU6  (Username:)", "      C: [credentials redacted]",
			"      S: 334 UGFzc3dvcmQ6  (Password:)", "      C: [credentials redacted]", "      S: 235 "},
		absent: []string{"cGFzc3dvcmQ=", "dXNlckBkb21haW4uY29t"},
		sent:   "ehlo test\nAUTH LOGIN\ndXNlckBkb21haW4uY29t\ncGFzc3dvcmQ=\nQUIT\n",
	},
	{
		name: "002 qmail: AUTH PLAIN, then a message",
		cfg: fakeserver.Config{Hostname: "a.mx.jms1.net", Greeting: "NO UCE", Banner: []string{"a.mx.jms1.net NO UCE ESMTP"}, AuthBeforeTLS: true,
			LocalDomains: []string{"jms1.net"}, Users: map[string]string{"jms1@jms1.net": "not.my.real.password"},
			EhloLines: []string{"AUTH LOGIN PLAIN", "AUTH=LOGIN PLAIN", "PIPELINING", "8BITMIME"}},
		lines: []string{"ehlo testing", "AUTH PLAIN AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ=", "mail from: <nospam@jms1.net>",
			"rcpt to: <nospam@jms1.net>", "data", "From: John <nospam@jms1.net>", "To: Nobody <nospam@jms1.net>", "Subject: fnord", "",
			"hail eris!", ".", "quit"},
		want: []string{"      S: 220 a.mx.jms1.net NO UCE ESMTP", "      S: 250-AUTH=LOGIN PLAIN", "      C: AUTH PLAIN [credentials redacted]", "      S: 235 ",
			"      C: mail from: <nospam@jms1.net>", "      S: 250 ", "      C: data", "      S: 354 ", "      C: hail eris!", "      S: 250 2.0.0 Ok: queued as ",
			"      C: quit", "      S: 221 "},
		absent: []string{"AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ="},
		sent: "ehlo testing\nAUTH PLAIN AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ=\nmail from: <nospam@jms1.net>\nrcpt to: <nospam@jms1.net>\n" +
			"data\nFrom: John <nospam@jms1.net>\nTo: Nobody <nospam@jms1.net>\nSubject: fnord\n\nhail eris!\n.\nquit\n",
	},
	{
		name:  "002 qmail: the wrong password, then nothing",
		cfg:   fakeserver.Config{Banner: []string{"a.mx.jms1.net NO UCE ESMTP"}, AuthBeforeTLS: true, Users: map[string]string{"jms1@jms1.net": "another"}},
		lines: []string{"ehlo testing", "AUTH PLAIN AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ="},
		want:  []string{"      C: AUTH PLAIN [credentials redacted]", "      S: 535 ", "      C: QUIT", "      S: 221 "},
		sent:  "ehlo testing\nAUTH PLAIN AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ=\nQUIT\n",
		code:  exitReply5xx,
	},
	{
		name: "000 EHLO: the STARTTLS list, then quit",
		cfg: fakeserver.Config{Hostname: "smtp.yourdomain.com", Banner: []string{"SMTP banner"},
			EhloLines: []string{"PIPELINING", "SIZE 36360000", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN"}},
		lines: []string{"EHLO smtp.yourdomain.com", ".caps", "quit"},
		want: []string{"      S: 220 SMTP banner", "      C: EHLO smtp.yourdomain.com", "      S: 250-STARTTLS", "      S: 250 DSN",
			"Server:    smtp.yourdomain.com\n", "Extension: PIPELINING\n", "           SIZE 36360000\n", "           STARTTLS\n", "           DSN\n", "SIZE:      36360000 bytes\n",
			"      C: quit", "      S: 221 "},
		sent: "EHLO smtp.yourdomain.com\nquit\n",
	},
	{
		name: "001 sendmail: the AUTH list, AUTH LOGIN",
		cfg: fakeserver.Config{Hostname: "mail.example.com", Greeting: "Hello hostname.example.com [10.10.10.10], pleased to meet you",
			Banner: []string{"mail.example.com ESMTP"}, AuthBeforeTLS: true, Users: map[string]string{"user@example.com": "mypass"},
			EhloLines: []string{"ENHANCEDSTATUSCODES", "PIPELINING", "8BITMIME", "SIZE", "DSN", "AUTH LOGIN PLAIN", "DELIVERBY", "HELP"}},
		lines: []string{"ehlo hostname.example.com", ".caps", "auth login", "dXNlckBleGFtcGxlLmNvbQ==", "bXlwYXNz"},
		want: []string{"      S: 250-mail.example.com Hello hostname.example.com [10.10.10.10], pleased to meet you", "      S: 250 HELP",
			"Server:    mail.example.com Hello hostname.example.com [10.10.10.10], pleased to meet you\n", "AUTH:      LOGIN PLAIN\n",
			"      C: auth login", "      S: 334 VXNlcm5hbWU6  (Username:)", "      C: [credentials redacted]", "      S: 334 UGFzc3dvcmQ6  (Password:)",
			"      C: [credentials redacted]", "      S: 235 "},
		absent: []string{"bXlwYXNz", "dXNlckBleGFtcGxlLmNvbQ=="},
		sent:   "ehlo hostname.example.com\nauth login\ndXNlckBleGFtcGxlLmNvbQ==\nbXlwYXNz\nQUIT\n",
	},
}

// TestShellSeedSessions replays the seed sessions through a pipe: every
// line goes out as typed, every reply is shown whole, credentials typed
// in base64 are redacted in what is shown, and the exit status is the
// class of the last reply before QUIT.
func TestShellSeedSessions(t *testing.T) {
	for _, s := range seedSessions {
		t.Run(s.name, func(t *testing.T) {
			srv := fakeserver.NewTB(t, s.cfg)
			r := runScript(t, srv.Addr(), script(s.lines...))
			if r.code != s.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, s.code, r.stdout, r.stderr)
			}
			assertContains(t, r.stdout, s.want...)
			for _, a := range s.absent {
				if strings.Contains(r.stdout, a) {
					t.Errorf("stdout shows %q:\n%s", a, r.stdout)
				}
			}
			if got := strings.ReplaceAll(clientBytes(t, srv), "\r\n", "\n"); got != s.sent {
				t.Errorf("the client sent\n%q\nwant\n%q", got, s.sent)
			}
			if r.stderr != "" {
				t.Errorf("stderr = %q, want nothing", r.stderr)
			}
		})
	}
}

// TestShellBuiltinsScript plays every built-in from a script against a
// server with STARTTLS and AUTH: the password comes on the line after
// .auth and shows nowhere, the message typed after .data arrives
// dot-stuffed, and .save writes the transcript as text and as JSON.
func TestShellBuiltinsScript(t *testing.T) {
	const password = "Tr0ub4dor&3"
	pki := newTestPKI(t)
	srv := tlsServer(t, pki.Valid, func(c *fakeserver.Config) { c.Users = map[string]string{"alice@example.test": password} })
	dir := t.TempDir()
	text, js := filepath.Join(dir, "session.txt"), filepath.Join(dir, "session.json")
	r := runScript(t, srv.Addr(), script(
		".help",
		".ehlo probe.example",
		".starttls ehlo",
		".caps",
		".auth login alice@example.test",
		password,
		"MAIL FROM:<alice@example.test>",
		"RCPT TO:<bob@example.test>",
		".data",
		"Subject: shell test",
		"",
		".hidden line",
		"hello",
		".",
		".tls",
		".save "+text,
		".save "+js,
		".quit",
		"NOOP",
	), "-cafile", pki.caFile, "-server-name", fakeserver.DefaultHostname)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	assertContains(t, r.stdout,
		"  .starttls [ehlo]", "  .auth [MECH [USER]]", "  .quit",
		"      C: EHLO probe.example", "      S: 250-STARTTLS",
		"      C: STARTTLS", "      S: 220 ", "TLS:       TLS 1.3 ", "verified for mail.example.test",
		"[tls] C: EHLO ", "[tls] S: 250-AUTH PLAIN LOGIN",
		"AUTH:      PLAIN LOGIN CRAM-MD5\n",
		"[tls] C: AUTH LOGIN", "[tls] S: 334 VXNlcm5hbWU6  (Username:)", "[tls] C: YWxpY2VAZXhhbXBsZS50ZXN0",
		"[tls] S: 334 UGFzc3dvcmQ6  (Password:)", "[tls] C: [password redacted]", "[tls] S: 235 ",
		"[tls] C: MAIL FROM:<alice@example.test>", "[tls] C: DATA", "[tls] S: 354 ", "message body: ", "[tls] C: .\n", "[tls] S: 250 2.0.0 Ok: queued as ",
		"TLS:       TLS 1.3", "Exchange:  ", "SNI:       mail.example.test", "Cert 0:    CN=mail.example.test, issued by CN=fakeserver test CA",
		"[tls] C: QUIT", "[tls] S: 221 ")
	if strings.Contains(r.stdout, "NOOP") {
		t.Errorf("a line after .quit was played:\n%s", r.stdout)
	}
	assertContains(t, r.stderr, "saved ", "session.txt", "saved ", "session.json")
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(msgs[0].Data); got != "Subject: shell test\r\n\r\n.hidden line\r\nhello\r\n" || msgs[0].AuthUser != "alice@example.test" || !msgs[0].TLS {
		t.Errorf("message %q from %q (TLS %v)", got, msgs[0].AuthUser, msgs[0].TLS)
	}
	if !strings.Contains(clientBytes(t, srv), "\r\n..hidden line\r\n") {
		t.Error("the line beginning with a dot was not dot-stuffed")
	}
	saved, err := os.ReadFile(text)
	if err != nil {
		t.Fatal(err)
	}
	assertContains(t, string(saved), "S: 220 ", "C: STARTTLS", "C: AUTH LOGIN", "C: [password redacted]", "S: 235 ", "C: .\n", "S: 250 2.0.0 Ok: queued")
	savedJSON, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var tr probe.Transcript
	if err := json.Unmarshal(savedJSON, &tr); err != nil || tr.Len() < 20 {
		t.Errorf("the JSON transcript reads back as %d entries, %v", tr.Len(), err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(password))
	for name, s := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "the text": string(saved), "the JSON": string(savedJSON)} {
		if strings.Contains(s, password) || strings.Contains(s, b64) {
			t.Errorf("%s shows the password", name)
		}
	}
}

// TestShellSaveRedactsTypedCredentials: credentials typed in base64 are
// redacted in the saved transcript too, and a file name ending in .json
// gets the transcript's JSON.
func TestShellSaveRedactsTypedCredentials(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{"user@domain.com": "password"}})
	js := filepath.Join(t.TempDir(), "t.JSON")
	r := runScript(t, srv.Addr(), script("EHLO x", "AUTH PLAIN AHVzZXJAZG9tYWluLmNvbQBwYXNzd29yZA==", ".save "+js))
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var tr probe.Transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	assertContains(t, tr.String(), "C: EHLO x\n", "C: AUTH PLAIN [credentials redacted]\n", "S: 235 ")
	if strings.Contains(string(b), "AHVzZXJAZG9tYWluLmNvbQBwYXNzd29yZA==") {
		t.Errorf("the saved JSON holds the credentials:\n%s", b)
	}
	var redacted bool
	for _, e := range tr.Entries() {
		redacted = redacted || e.Redacted
	}
	if !redacted {
		t.Error("no entry is marked redacted")
	}
}

// TestShellExitStatus: the exit status is the class of the last reply
// before QUIT, or says why the session could not start or go on.
func TestShellExitStatus(t *testing.T) {
	pki := newTestPKI(t)
	closeAfter := func(reply string) fakeserver.HandlerFunc {
		return func(s *fakeserver.Session, _ fakeserver.Command) bool {
			if reply != "" {
				s.WriteRaw([]byte(reply + "\r\n"))
			}
			s.Close()
			return true
		}
	}
	tests := []struct {
		name      string
		cfg       fakeserver.Config
		target    string // default: the server's
		flags     []string
		lines     []string
		code      int
		stdout    []string
		stderr    []string
		notSent   string // a line neither sent nor shown
		noSession bool
	}{
		{name: "2xx", lines: []string{"EHLO x", "MAIL FROM:<>"}, code: exitOK, stdout: []string{"S: 250 2.1.0"}},
		{name: "4xx", cfg: fakeserver.Config{RejectRecipients: map[string]fakeserver.Reply{"busy@example.test": {Code: 450, Lines: []string{"4.2.1 busy"}}}},
			lines: []string{"EHLO x", "MAIL FROM:<>", "RCPT TO:<busy@example.test>"}, code: exitReply4xx, stdout: []string{"S: 450 4.2.1 busy"}},
		{name: "5xx", lines: []string{"EHLO x", "MAIL FROM:<>", "RCPT TO:<x@elsewhere.example>"}, code: exitReply5xx, stdout: []string{"S: 554 "}},
		{name: "a 5xx, then a 2xx", lines: []string{"EHLO x", "RCPT TO:<x@elsewhere.example>", "RSET"}, code: exitOK},
		{name: "unknown built-in", lines: []string{"EHLO x", ".frobnicate"}, code: exitUsage, stderr: []string{".frobnicate is no built-in command; .help lists them"}},
		{name: "built-in misused", lines: []string{".save"}, code: exitUsage, stderr: []string{"usage: .save FILE"}},
		{name: "AUTH without TLS", lines: []string{"EHLO x", ".auth plain alice"}, code: exitUsage,
			stderr: []string{"AUTH PLAIN without TLS would send the credentials in clear"}, notSent: "AUTH"},
		{name: ".data from a missing file", lines: []string{"EHLO x", "MAIL FROM:<>", "RCPT TO:<bob@example.test>", ".data /nonexistent/message.eml"},
			code: exitError, stderr: []string{".data: open /nonexistent/message.eml"}, notSent: "DATA"},
		{name: "the input ends inside .data", lines: []string{"EHLO x", "MAIL FROM:<>", "RCPT TO:<bob@example.test>", ".data", "Subject: x"},
			code: exitError, stderr: []string{"the message abandoned, nothing was sent"}, notSent: "DATA"},
		{name: "421 ends the session", cfg: fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"NOOP": closeAfter("421 4.3.2 Shutting down")}},
			lines: []string{"EHLO x", "NOOP", "MAIL FROM:<>"}, code: exitReply4xx,
			stdout: []string{"S: 421 4.3.2 Shutting down"}, stderr: []string{"the server closed the session (421)"}, notSent: "MAIL"},
		{name: "the server hangs up", cfg: fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"NOOP": closeAfter("")}},
			lines: []string{"EHLO x", "NOOP", "MAIL FROM:<>"}, code: exitError, stderr: []string{"the session is over: "}, notSent: "MAIL"},
		{name: "421 while idle", cfg: fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"NOOP": closeAfter("250 2.0.0 Ok\r\n421 4.4.2 Idle timeout")}},
			lines: []string{"EHLO x", "NOOP", "MAIL FROM:<>"}, code: exitReply4xx, stdout: []string{"S: 250 2.0.0 Ok", "S: 421 4.4.2 Idle timeout"},
			stderr: []string{"the server said, unasked:", "the server closed the session (421)"}, notSent: "MAIL"},
		{name: "hung up while idle", cfg: fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"NOOP": closeAfter("250 2.0.0 Ok")}},
			lines: []string{"EHLO x", "NOOP", "MAIL FROM:<>"}, code: exitError, stdout: []string{"S: 250 2.0.0 Ok"},
			stderr: []string{"the session is over: "}, notSent: "MAIL"},
		{name: "the input ends inside a DATA typed", lines: []string{"EHLO x", "MAIL FROM:<>", "RCPT TO:<bob@example.test>", "DATA", "Subject: x"},
			code: exitError, stdout: []string{"C: DATA", "S: 354 ", "C: Subject: x"}, stderr: []string{"closed without the final \".\""}, notSent: "QUIT"},
		{name: "implicit TLS, untrusted", cfg: fakeserver.Config{TLSCert: &pki.Valid, ImplicitTLS: true}, flags: []string{"-tls"},
			lines: []string{"EHLO x"}, code: exitTLS, stdout: []string{"TLS:       TLS 1.3", "NOT verified"},
			stderr: []string{"no session with ", "with -insecure the session goes on"}, notSent: "EHLO"},
		{name: "connect refused", target: fakeserver.ClosedAddr(t), lines: []string{"EHLO x"}, code: exitConnect, stderr: []string{"no session with 127.0.0.1:"}, noSession: true},
		{name: "554 banner", cfg: fakeserver.Config{BannerCode: 554, Banner: []string{"go \x1b[2Jaway"}}, lines: []string{"EHLO x"}, code: exitBanner,
			stdout: []string{`S: 554 go \x1b[2Jaway`}, stderr: []string{"no session with ", `go \x1b[2Jaway`}, notSent: "EHLO"},
		{name: "-starttls, none offered", flags: []string{"-starttls"}, lines: []string{"MAIL FROM:<>"}, code: exitTLS,
			stderr: []string{"the server does not offer STARTTLS, which -starttls requires"}, notSent: "MAIL"},
		{name: "an untrusted certificate", cfg: fakeserver.Config{TLSCert: &pki.Valid}, lines: []string{"EHLO x", ".starttls", "MAIL FROM:<>"}, code: exitTLS,
			stdout: []string{"C: STARTTLS", "NOT verified"}, stderr: []string{"with -insecure the session goes on"}, notSent: "MAIL"},
		{name: "-insecure goes on", cfg: fakeserver.Config{TLSCert: &pki.Valid}, flags: []string{"-insecure"}, lines: []string{"EHLO x", "STARTTLS", "EHLO x", "MAIL FROM:<>"},
			code: exitOK, stdout: []string{"NOT verified (-insecure)", "[tls] C: MAIL FROM:<>", "[tls] S: 250 "}},
		{name: "implicit TLS", cfg: fakeserver.Config{TLSCert: &pki.Valid, ImplicitTLS: true}, flags: []string{"-tls", "-cafile", pki.caFile, "-server-name", fakeserver.DefaultHostname},
			lines: []string{"EHLO x"}, code: exitOK, stdout: []string{"[tls] *  TLS 1.3", "[tls] S: 220 ", "TLS:       TLS 1.3", "verified", "[tls] C: EHLO x", "[tls] S: 250 "}},
		{name: "-starttls", cfg: fakeserver.Config{TLSCert: &pki.Valid}, flags: []string{"-starttls", "-cafile", pki.caFile, "-server-name", fakeserver.DefaultHostname},
			lines: []string{".tls"}, code: exitOK, stdout: []string{"      C: EHLO ", "      C: STARTTLS", "TLS:       TLS 1.3", "[tls] C: EHLO ", "[tls] S: 250 ", "Cert 0:    CN=mail.example.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			var srv *fakeserver.Server
			if target == "" {
				srv = fakeserver.NewTB(t, tt.cfg)
				target = srv.Addr()
			}
			r := runScript(t, target, script(tt.lines...), tt.flags...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			assertContains(t, r.stdout, tt.stdout...)
			assertContains(t, r.stderr, tt.stderr...)
			if strings.Contains(r.stdout+r.stderr, "\x1b") {
				t.Errorf("an escape byte reached the output:\n%q\n%q", r.stdout, r.stderr)
			}
			if tt.notSent != "" && strings.Contains(r.stdout, "C: "+tt.notSent) {
				t.Errorf("stdout shows %q sent:\n%s", tt.notSent, r.stdout)
			}
			if srv != nil && tt.notSent != "" {
				if sent := clientBytes(t, srv); strings.Contains(sent, tt.notSent) {
					t.Errorf("the server received %q:\n%s", tt.notSent, sent)
				}
			}
		})
	}
}

// TestShellFlags: -i refuses the flags that script a session, and -h
// shows it.
func TestShellFlags(t *testing.T) {
	for _, args := range [][]string{{"-i", "-json", "host"}, {"-i", "-to", "a@b.example", "host"}, {"-i", "-targets", "-"}, {"-i", "-nagios", "host"}} {
		r := runCLI(t, args...)
		if r.code == exitOK || !strings.Contains(r.stderr+r.stdout, "does not go with -i") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	// -user and -auth alone are fine: .auth asks for the password.
	if _, _, err := parseConfig([]string{"-i", "-user", "alice", "-auth", "login", "host"}, func(string) string { return "" }); err != nil {
		t.Errorf("-i -user -auth: %v", err)
	}
	r := runCLI(t, "-h")
	assertContains(t, r.stdout, "smtpprobe -i [flags] [host[:port]]", "Interactive:", "  -i ", "with -i: 0 last reply 2xx or 3xx, 4 a 4xx, 5 a 5xx")
}

// TestShellDemo: -i without a target talks to the built-in server, with
// STARTTLS done and the demo's user ready for .auth plain.
func TestShellDemo(t *testing.T) {
	r := invocation{args: []string{"-i"}, stdin: script(".auth plain", "MAIL FROM:<alice@example.test>")}.run(t)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	assertContains(t, r.stdout, "      C: STARTTLS", "verified for mail.example.test", "[tls] C: AUTH PLAIN [credentials redacted]", "[tls] S: 235 ", "[tls] S: 250 2.1.0")
	assertContains(t, r.stderr, "a session with the built-in test server at 127.0.0.1:")
	if strings.Contains(r.stdout+r.stderr, demoPassword) {
		t.Error("the demo password shows")
	}
}

// TestShellAuthFromFlags: with -user and -password-file, .auth asks
// nothing; with -auth it needs no mechanism either.
func TestShellAuthFromFlags(t *testing.T) {
	pki := newTestPKI(t)
	srv := tlsServer(t, pki.Valid, nil)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runScript(t, srv.Addr(), script(".auth", "MAIL FROM:<alice@example.test>"),
		"-starttls", "-cafile", pki.caFile, "-server-name", fakeserver.DefaultHostname,
		"-user", "alice@example.test", "-password-file", pw, "-auth", "cram-md5")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	assertContains(t, r.stdout, "[tls] C: AUTH CRAM-MD5", "[tls] S: 334 ", "(<", "[tls] C: [credentials redacted]", "[tls] S: 235 ", "[tls] S: 250 2.1.0")
}

// TestShellAuthMechanisms: .auth plays each mechanism with the secret on
// the next line of the script, which never shows; a wrong one is a 5xx.
func TestShellAuthMechanisms(t *testing.T) {
	const user, password = "carol@example.test", "c0rrect-h0rse"
	srv := fakeserver.NewTB(t, fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{user: password},
		SASL: map[string]func(*fakeserver.Session) gosasl.Server{
			"SCRAM-SHA-1":   fakeserver.SCRAM(sha1.New, fakeserver.SCRAMOptions{}),
			"SCRAM-SHA-256": fakeserver.SCRAM(sha256.New, fakeserver.SCRAMOptions{}),
			"XOAUTH2":       fakeserver.XOAuth2(),
		}})
	for _, tt := range []struct {
		mech, secret string
		code         int
		want         []string
	}{
		{"plain", password, exitOK, []string{"C: AUTH PLAIN [credentials redacted]", "S: 235 "}},
		{"login", password, exitOK, []string{"C: AUTH LOGIN", "(Username:)", "C: [password redacted]", "S: 235 "}},
		{"cram-md5", password, exitOK, []string{"C: AUTH CRAM-MD5", "S: 334 ", "S: 235 "}},
		{"scram-sha-1", password, exitOK, []string{"C: AUTH SCRAM-SHA-1 ", "(r=", "S: 334 [server signature redacted]", "S: 235 "}},
		{"scram-sha-256", password, exitOK, []string{"C: AUTH SCRAM-SHA-256 ", "S: 235 "}},
		{"xoauth2", password, exitOK, []string{"C: AUTH XOAUTH2 [token redacted]", "S: 235 "}},
		{"scram-sha-256", "wrong", exitReply5xx, []string{"C: AUTH SCRAM-SHA-256 ", "S: 535 "}},
		{"xoauth2", "wrong", exitReply5xx, []string{"C: AUTH XOAUTH2 [token redacted]", `S: 334 `, `({"status":"401"`, "S: 535 "}},
	} {
		t.Run(tt.mech+" "+tt.secret, func(t *testing.T) {
			r := runScript(t, srv.Addr(), script("EHLO x", ".auth "+tt.mech+" "+user, tt.secret), "-plaintext-auth")
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			assertContains(t, r.stdout, tt.want...)
			if strings.Contains(r.stdout, tt.secret) || strings.Contains(r.stdout, base64.StdEncoding.EncodeToString([]byte(tt.secret))) {
				t.Errorf("the secret shows:\n%s", r.stdout)
			}
		})
	}
}

// TestShellLMTP: after the data LMTP answers once per recipient; the
// shell reads every reply, for .data and for a DATA typed.
func TestShellLMTP(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{LMTP: true})
	r := runScript(t, srv.Addr(), script(
		".ehlo",
		"MAIL FROM:<>", "RCPT TO:<bob@example.test>", "RCPT TO:<carol@example.test>",
		".data", "Subject: one", "", "first", ".",
		"MAIL FROM:<>", "RCPT TO:<bob@example.test>", "RCPT TO:<carol@example.test>",
		"DATA", "Subject: two", "", "second", ".",
		"NOOP",
	), "-lmtp")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	assertContains(t, r.stdout, "C: LHLO ", "C: DATA", "C: .\n", "S: 250 ", "S: 250 ", "C: DATA", "C: second", "C: .\n", "S: 250 ", "S: 250 ", "C: NOOP", "S: 250 ")
	if r.stderr != "" {
		t.Errorf("stderr = %q: a reply was left for later", r.stderr)
	}
	if _, err := srv.WaitMessages(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
