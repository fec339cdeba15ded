package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestChecksFlag: -checks runs the named checks after the session; a
// serious finding gives exit 4 and CRITICAL, a clean server exit 0.
func TestChecksFlag(t *testing.T) {
	anything := func(string) bool { return true }
	open := fakeserver.NewTB(t, fakeserver.With(fakeserver.Config{}, fakeserver.OpenRelay(anything)))
	closed := fakeserver.NewTB(t, fakeserver.With(fakeserver.Config{}, fakeserver.ClosedRelay()))

	r := runCLI(t, "-checks", "open-relay", "-quit-after", "ehlo", open.Addr())
	if r.code != exitFound {
		t.Fatalf("open relay: exit %d, want %d\n%s", r.code, exitFound, r.stdout)
	}
	assertContains(t, r.stdout, "Result:    OK", "[high] open-relay: ", "Checks:    open-relay found ")

	r = runCLI(t, "-checks", "open-relay", "-quit-after", "ehlo", closed.Addr())
	if r.code != exitOK {
		t.Fatalf("closed relay: exit %d\n%s", r.code, r.stdout)
	}
	assertContains(t, r.stdout, "Checks:    open-relay passed")

	r = runCLI(t, "-nagios", "-checks", "open-relay", "-quit-after", "ehlo", open.Addr())
	if re := regexp.MustCompile(`^SMTP CRITICAL - .* reached EHLO in .*, open-relay: .* \| connect=`); r.code != nagiosCritical || !re.MatchString(r.stdout) {
		t.Errorf("nagios: exit %d, %q", r.code, r.stdout)
	}
}

// TestChecksUsage: unknown checks and smtp-smuggling without a recipient
// are refused before anything is sent.
func TestChecksUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-checks", "open-relay,telnet", "mx.example"}, `-checks: probe: unknown check "telnet" (known: all, open-relay`},
		{[]string{"-checks", "smtp-smuggling", "mx.example"}, "name their recipient with -smuggling-to"},
		{[]string{"-smuggling-to", "a@example.test", "mx.example"}, "-smuggling-to needs -checks smtp-smuggling"},
		{[]string{"-checks", "smtp-smuggling", "-smuggling-to", "<a@example.test>", "mx.example"}, "want a bare address"},
	}
	for _, tt := range tests {
		r := runCLI(t, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 3 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}
