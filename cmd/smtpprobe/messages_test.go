package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// goFieldWords are how the library names its Go fields; none reaches the
// user of the command in the text or -nagios output.
var goFieldWords = []string{"Dialer.", "Options.", "Limits.", "CheckOptions", "InsecureSkipVerify", "AllowInsecureAuth",
	"Username", "QuitAfter", "AuthMechanism", "policy if-offered"}

// assertCLIWords fails when out holds a Go field's name.
func assertCLIWords(t *testing.T, out string) {
	t.Helper()
	for _, w := range goFieldWords {
		if strings.Contains(out, w) {
			t.Errorf("the output names %q:\n%s", w, out)
		}
	}
}

// TestLibraryTerms: the library still says each text cliText translates
// (else the translation would silently stop), and cliText turns it into
// flags.
func TestLibraryTerms(t *testing.T) {
	var src strings.Builder
	for _, dir := range []string{"../..", "../../scan"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
	}
	for _, term := range libraryTerms {
		if term.lib == "(policy if-offered)" {
			continue // put together at run time; TestCLIWords sees it
		}
		if !strings.Contains(src.String(), term.lib) {
			t.Errorf("the library no longer says %q: update libraryTerms", term.lib)
		}
	}
	if !strings.Contains(probe.ErrInsecureAuth.Error(), "(see Dialer.AllowInsecureAuth)") {
		t.Errorf("ErrInsecureAuth says %q", probe.ErrInsecureAuth)
	}
	if got, want := cliText(probe.ErrInsecureAuth.Error()), "on a connection without TLS (-plaintext-auth allows it)"; !strings.HasSuffix(got, want) {
		t.Errorf("cliText(ErrInsecureAuth) = %q, want it to end %q", got, want)
	}
	for _, tt := range []struct{ in, want string }{
		{`probe: invalid options: From: invalid address "<>": angle bracket inside the address`, `invalid input: -from: invalid address "<>": angle bracket inside the address`},
		{`probe: invalid options: QuitAfter "rcpt" needs recipients`, `invalid input: -quit-after "rcpt" needs -to`},
		{`probe: invalid options: check smtp-smuggling sends messages: it needs CheckOptions.SmugglingRecipient`, `invalid input: check smtp-smuggling sends messages: it needs -smuggling-to`},
		{`probe: invalid options: AuthMechanism "X" is not one Run knows; use Options.SASL`, `invalid input: -auth "X" is not a mechanism smtpprobe knows`},
		{"From: the server said so", "From: the server said so"}, // only Options errors are translated thus
	} {
		if got := cliText(tt.in); got != tt.want {
			t.Errorf("cliText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCLIWords: what the library says in its own terms reaches the user in
// flags, and the summary says who refused.
func TestCLIWords(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name   string
		cfg    fakeserver.Config
		args   []string
		code   int
		want   []string
		nagios string // in the -nagios status line
	}{
		{name: "AUTH refused by the client on plaintext", code: exitAuth,
			nagios: "AUTH failed (insecure-auth; refused by smtpprobe, not the server): smtp AUTH CRAM-MD5: smtp: AUTH with credentials refused on a connection without TLS (-plaintext-auth allows it)",
			cfg:    fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{"alice@example.test": "secret"}},
			args:   []string{"-user", "alice@example.test", "-password", "secret"},
			want:   []string{"Error:     insecure-auth at AUTH (refused by smtpprobe, not the server): ", "(-plaintext-auth allows it)"}},
		{name: "AUTH refused by the server", code: exitAuth,
			cfg:  fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{"alice@example.test": "secret"}},
			args: []string{"-user", "alice@example.test", "-password", "wrong", "-plaintext-auth"},
			want: []string{"Error:     auth-failed at AUTH (refused by the server): ", "535"}},
		{name: "MAIL refused by the server", code: exitMail, nagios: "MAIL failed (reply-error; refused by the server): ",
			cfg:  fakeserver.Config{Misbehave: map[string]fakeserver.Step{"MAIL": {Reply: &fakeserver.Reply{Code: 553, Lines: []string{"5.7.1 no"}}}}},
			args: []string{"-from", "alice@example.test", "-quit-after", "mail"},
			want: []string{"Error:     reply-error at MAIL (refused by the server): "}},
		{name: "STARTTLS refused, optional", code: exitOK,
			cfg:  fakeserver.Config{TLSCert: &pki.Valid, Misbehave: map[string]fakeserver.Step{"STARTTLS": {Reply: &fakeserver.Reply{Code: 454, Lines: []string{"4.7.0 not now"}}}}},
			args: []string{"-quit-after", "tls"},
			want: []string{"*  STARTTLS refused; going on without TLS (-starttls-optional)", "TLS:       none: the session was in plaintext"}},
		{name: "STARTTLS refused, required", code: exitTLS,
			cfg:  fakeserver.Config{TLSCert: &pki.Valid, Misbehave: map[string]fakeserver.Step{"STARTTLS": {Reply: &fakeserver.Reply{Code: 454, Lines: []string{"4.7.0 not now"}}}}},
			args: []string{"-starttls", "-quit-after", "tls"},
			want: []string{"TLS:       not established (see Error)", "Error:     starttls-unavailable at TLS (refused by the server): "}},
		{name: "STARTTLS not offered, required", code: exitTLS, args: []string{"-starttls", "-quit-after", "tls"},
			want: []string{"Error:     starttls-unavailable at TLS (not offered by the server): "}},
		{name: "no AUTH offered", code: exitAuth, args: []string{"-user", "alice@example.test", "-password", "secret"},
			want: []string{"Error:     auth-unavailable at AUTH (not offered by the server): "}},
		{name: "checks skipped", code: exitOK, args: []string{"-checks", "all", "-quit-after", "ehlo"},
			want: []string{"auth-plaintext skipped (needs -user, a password and -plaintext-auth: "}},
		{name: "a line over the limit", code: exitBanner, cfg: fakeserver.Config{Banner: []string{strings.Repeat("x", 20000)}},
			want: []string{"reply line longer than 16384 bytes (smtpprobe's limit)", "Error:     protocol-error at banner: "}},
		{name: "-insecure goes on", code: exitOK, cfg: fakeserver.Config{TLSCert: &pki.UnknownCA}, args: []string{"-insecure", "-quit-after", "tls"},
			want: []string{"NOT trusted: certificate signed by unknown authority (-insecure: going on)", "NOT verified (-insecure): certificate signed by unknown authority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeserver.NewTB(t, tt.cfg)
			for _, nagios := range []bool{false, true} {
				args := append(append([]string{}, tt.args...), srv.Addr())
				if nagios {
					args = append([]string{"-nagios"}, args...)
				}
				r := runCLI(t, args...)
				assertCLIWords(t, r.stdout+r.stderr)
				if nagios && tt.nagios != "" && !strings.Contains(r.stdout, tt.nagios) {
					t.Errorf("status line %q lacks %q", r.stdout, tt.nagios)
				}
				if !nagios {
					if r.code != tt.code {
						t.Fatalf("exit %d, want %d\n%s%s", r.code, tt.code, r.stdout, r.stderr)
					}
					assertContains(t, r.stdout, tt.want...)
				}
			}
		})
	}
}

// TestRefusedBy: each refusal class names who refused; other failures
// name nobody.
func TestRefusedBy(t *testing.T) {
	for _, tt := range []struct {
		class scan.ErrorClass
		code  int
		want  string
	}{
		{scan.ClassInsecureAuth, 0, "refused by smtpprobe, not the server"},
		{scan.ClassInvalidInput, 0, "refused by smtpprobe, not the server"},
		{scan.ClassTLSUntrusted, 0, "smtpprobe refused the certificate"},
		{scan.ClassReply, 550, "refused by the server"},
		{scan.ClassAuthFailed, 535, "refused by the server"},
		{scan.ClassAuthFailed, 0, "smtpprobe refused the server's proof"},
		{scan.ClassStartTLSUnavailable, 454, "refused by the server"},
		{scan.ClassStartTLSUnavailable, 0, "not offered by the server"},
		{scan.ClassAuthUnavailable, 0, "not offered by the server"},
		{scan.ClassTimeout, 0, ""},
		{scan.ClassServerClosed, 421, ""},
		{scan.ClassConnectionRefused, 0, ""},
	} {
		if got := refusedBy(&scan.RunError{Class: tt.class, Code: tt.code}); got != tt.want {
			t.Errorf("%s %d: %q, want %q", tt.class, tt.code, got, tt.want)
		}
	}
}

// TestTLSLine: "TLS: none" only after a plaintext session; nothing when
// no session took place; "not established" when the handshake failed.
func TestTLSLine(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		r := runCLI(t, fakeserver.ClosedAddr(t))
		if r.code != exitConnect || strings.Contains(r.stdout, "TLS:") {
			t.Errorf("exit %d, a TLS line without a session:\n%s", r.code, r.stdout)
		}
	})
	t.Run("quit after connect", func(t *testing.T) {
		srv := fakeserver.NewTB(t, fakeserver.Config{})
		r := runCLI(t, "-quit-after", "connect", srv.Addr())
		if r.code != exitOK || strings.Contains(r.stdout, "TLS:") {
			t.Errorf("exit %d, a TLS line without a session:\n%s", r.code, r.stdout)
		}
	})
	t.Run("plaintext session", func(t *testing.T) {
		srv := fakeserver.NewTB(t, fakeserver.Config{})
		r := runCLI(t, "-quit-after", "ehlo", srv.Addr())
		assertContains(t, r.stdout, "TLS:       none: the session was in plaintext\n")
	})
	t.Run("handshake failed", func(t *testing.T) {
		pki := newTestPKI(t)
		srv := tlsServer(t, pki.Valid, func(c *fakeserver.Config) {
			c.Misbehave = map[string]fakeserver.Step{"STARTTLS": {Raw: []byte("220 2.0.0 go ahead\r\n")}}
		})
		r := runCLI(t, "-starttls", "-cafile", pki.caFile, "-timeout", "5", srv.Addr())
		if r.code != exitTLS {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
		assertContains(t, r.stdout, "TLS:       not established (see Error)\n", "Error:     protocol-error at TLS: ")
	})
}

// TestStartTLSOptionalUntrusted: -starttls-optional (the default) makes
// STARTTLS optional, not the certificate: an untrusted one fails with exit
// 14 and a hint naming -insecure; with -insecure the session goes on, and
// -starttls needs no hint.
func TestStartTLSOptionalUntrusted(t *testing.T) {
	pki := newTestPKI(t)
	srv := tlsServer(t, pki.UnknownCA, nil)
	for _, flags := range [][]string{{"-starttls-optional"}, nil} {
		r := runCLI(t, append(flags, "-quit-after", "tls", srv.Addr())...)
		if r.code != exitTLS {
			t.Fatalf("%q: exit %d:\n%s", flags, r.code, r.stdout)
		}
		assertContains(t, r.stdout, "Error:     tls-untrusted at TLS (smtpprobe refused the certificate): ",
			"Hint:      STARTTLS is optional (-starttls-optional, the default), the certificate's verification is not: -insecure goes on")
	}
	r := runCLI(t, "-starttls-optional", "-insecure", "-to", "bob@example.test", srv.Addr())
	if r.code != exitOK {
		t.Fatalf("-insecure: exit %d:\n%s", r.code, r.stdout)
	}
	assertContains(t, r.stdout, "[tls] C: EHLO", "[tls] C: RCPT TO:<bob@example.test>", "Result:    OK, reached DATA")
	r = runCLI(t, "-starttls", "-quit-after", "tls", srv.Addr())
	if r.code != exitTLS || strings.Contains(r.stdout, "Hint:") {
		t.Errorf("-starttls: exit %d, a hint:\n%s", r.code, r.stdout)
	}
}

// TestCertDaysPhrase: no "-1 days", no "1 days".
func TestCertDaysPhrase(t *testing.T) {
	for days, want := range map[int]string{-30: "expired 30 days ago", -1: "expired 1 day ago", 0: "expires today",
		1: "expires in 1 day", 364: "expires in 364 days"} {
		if got := certDaysPhrase(days); got != want {
			t.Errorf("certDaysPhrase(%d) = %q, want %q", days, got, want)
		}
	}
	var b bytes.Buffer
	info := &probe.TLSInfo{VersionName: "TLS 1.3", CipherSuiteName: "X", Expired: true, ValidityError: "certificate expired 1 day ago",
		Problems: []string{"certificate expired 1 day ago"}, Chain: []probe.CertInfo{{Subject: "CN=x", DaysLeft: -1}}}
	newPrinter(&b, false).summary(&scan.Report{TLS: info, Banner: &probe.Reply{Code: 220}})
	if line := b.String(); strings.Count(line, "expire") != 1 || !strings.Contains(line, "(expired 1 day ago), NOT verified\n") {
		t.Errorf("summary:\n%s", line)
	}
}

// TestHelpEHLOName: the help gives as -ehlo's default what the library
// sends without a name: the address literal of the local address.
func TestHelpEHLOName(t *testing.T) {
	r := runCLI(t, "-h")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "  -ehlo ") {
			if !strings.Contains(line, "(default: the address literal of the local address, such as [192.0.2.1])") {
				t.Errorf("-ehlo help: %q", line)
			}
			return
		}
	}
	t.Errorf("no -ehlo in the help:\n%s", r.stdout)
}

// TestNullDevice: /dev/null is no terminal, so it gets no colour.
func TestNullDevice(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if isTerminal(f) || useColour(f, func(string) string { return "" }) {
		t.Error("/dev/null counts as a terminal")
	}
}
