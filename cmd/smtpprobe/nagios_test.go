package main

import (
	"crypto/tls"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestNagios: each status, its exit code and the perfdata.
func TestNagios(t *testing.T) {
	pki := newTestPKI(t)
	slow := func(c *fakeserver.Config) { c.BannerDelay = 80 * time.Millisecond }
	tests := []struct {
		name string
		cert string // "expired", "unknown-ca", or "" for the valid one
		edit func(*fakeserver.Config)
		args []string
		code int
		line string // a regexp the whole status line must match
	}{
		{name: "ok", args: []string{"-cafile", pki.caFile}, code: nagiosOK,
			line: `^SMTP OK - 127\.0\.0\.1:\d+ reached TLS in \d\.\d{3}s, certificate 364 days, TLS 1\.3 verified \| ` +
				`connect=\d\.\d{3}s;;;0 banner=\d\.\d{3}s;;;0 ehlo=\d\.\d{3}s;;;0 tls=\d\.\d{3}s;;;0 total=\d\.\d{3}s;;;0 cert_days=364;14:;7:;;$`},
		{name: "warning: slow", edit: slow, args: []string{"-cafile", pki.caFile, "-warn", "0.05", "-crit", "10"}, code: nagiosWarning,
			line: `^SMTP WARNING - .* reached TLS in 0\.\d{3}s, took 0\.\d{3}s, over the warning 0\.05s, .* total=0\.\d{3}s;0\.05;10;0 cert_days=364;14:;7:;;$`},
		{name: "critical: slow", edit: slow, args: []string{"-cafile", pki.caFile, "-warn", "20ms", "-crit", "0.05"}, code: nagiosCritical,
			line: `^SMTP CRITICAL - .*took 0\.\d{3}s, over the critical 0\.05s, .* total=0\.\d{3}s;0\.02;0\.05;0 `},
		{name: "warning: certificate expiring", args: []string{"-cafile", pki.caFile, "-cert-warn", "400", "-cert-crit", "30"}, code: nagiosWarning,
			line: `^SMTP WARNING - .*certificate expires in 364 days, TLS 1\.3 verified \| .* cert_days=364;400:;30:;;$`},
		{name: "critical: certificate expiring", args: []string{"-cafile", pki.caFile, "-cert-warn", "800", "-cert-crit", "400"}, code: nagiosCritical,
			line: `^SMTP CRITICAL - .*certificate expires in 364 days.* cert_days=364;800:;400:;;$`},
		{name: "critical: failure", edit: func(c *fakeserver.Config) { c.Misbehave = map[string]fakeserver.Step{"EHLO": fakeserver.Shutdown421()} },
			args: []string{"-cafile", pki.caFile}, code: nagiosCritical,
			line: `^SMTP CRITICAL - EHLO failed \(server-closed\): .*421 4\.3\.2 Service shutting down \| connect=\d\.\d{3}s;;;0 banner=.* ehlo=.* total=`},
		{name: "critical: expired certificate", cert: "expired", args: []string{"-cafile", pki.caFile}, code: nagiosCritical,
			line: `^SMTP CRITICAL - TLS failed \(tls-untrusted; smtpprobe refused the certificate\), certificate expired 1 day ago \| .* cert_days=-1;14:;7:;;$`},
		{name: "critical: expired certificate, -insecure", cert: "expired", args: []string{"-cafile", pki.caFile, "-insecure"}, code: nagiosCritical,
			line: `^SMTP CRITICAL - .* reached TLS in [0-9.]+s, certificate expired 1 day ago \| `},
		{name: "warning: untrusted, -insecure", cert: "unknown-ca", args: []string{"-insecure"}, code: nagiosWarning,
			line: `^SMTP WARNING - .* reached TLS .*certificate not verified: .*unknown authority`},
		{name: "critical: untrusted", cert: "unknown-ca", code: nagiosCritical,
			line: `^SMTP CRITICAL - TLS failed \(tls-untrusted; smtpprobe refused the certificate\), certificate 364 days, certificate not verified: certificate signed by unknown authority \| `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := map[string]tls.Certificate{"": pki.Valid, "expired": pki.Expired, "unknown-ca": pki.UnknownCA}[tt.cert]
			srv := tlsServer(t, cert, tt.edit)
			r := runCLI(t, append(append([]string{"-nagios", "-starttls"}, tt.args...), srv.Addr())...)
			line := strings.TrimSuffix(r.stdout, "\n")
			if r.code != tt.code || strings.Count(r.stdout, "\n") != 1 || !regexp.MustCompile(tt.line).MatchString(line) {
				t.Errorf("exit %d (want %d), stdout:\n%s\nwant a line matching\n%s", r.code, tt.code, r.stdout, tt.line)
			}
			if n := strings.Count(line, "expire"); n > 1 {
				t.Errorf("the expiry is told %d times: %s", n, line)
			}
		})
	}
}

// TestNagiosUnknown: bad flags give UNKNOWN on stdout with exit 3.
func TestNagiosUnknown(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-nagios", "-warn", "soon", "mx.example.test"}, `SMTP UNKNOWN - bad arguments: invalid value "soon" for flag -warn`},
		{[]string{"-nagios", "-json", "mx.example.test"}, "SMTP UNKNOWN - bad arguments: -nagios and -json are different outputs"},
		{[]string{"-nagios", "-warn", "5", "-crit", "1", "mx.example.test"}, "SMTP UNKNOWN - bad arguments: -warn 5 is above -crit 1"},
		{[]string{"-nagios", "-cert-warn", "3", "-cert-crit", "7", "mx.example.test"}, "SMTP UNKNOWN - bad arguments: -cert-warn 3 is below -cert-crit 7"},
		{[]string{"--nagios", "-no-such-flag"}, "SMTP UNKNOWN - bad arguments: flag provided but not defined: -no-such-flag"},
		{[]string{"-nagios", "-targets", "list.txt"}, "SMTP UNKNOWN - bad arguments: -nagios checks one target"},
	}
	for _, tt := range tests {
		r := runCLI(t, tt.args...)
		if r.code != nagiosUnknown || !strings.HasPrefix(r.stdout, tt.want) || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q; want 3 and %q", tt.args, r.code, r.stdout, tt.want)
		}
	}
}

// TestNagiosText: the status text cannot break the plugin format.
func TestNagiosText(t *testing.T) {
	got := nagiosText("a|b\r\nc\nd\x1b[31m")
	if want := `a/b c d\x1b[31m`; got != want {
		t.Errorf("nagiosText = %q, want %q", got, want)
	}
}
