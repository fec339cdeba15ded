package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakedns"
	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/internal/polite"
	"github.com/smtpprobe/probe/scan"
)

// testResolver is a validating resolver on 127.0.0.1 that answers, with
// AD set, from the records given: enough for the command's domain scan.
func testResolver(t *testing.T, records ...string) string {
	t.Helper()
	s, err := fakedns.Start(records...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr()
}

// domainSetup is a DANE-protected example.test whose MX runs a fakeserver.
func domainSetup(t *testing.T, tlsaMatches bool) (resolver string, port int) {
	t.Helper()
	pki := newTestPKI(t)
	srv := tlsServer(t, pki.Valid, nil)
	leaf, err := x509.ParseCertificate(pki.Valid.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	if !tlsaMatches {
		sum[0] ^= 0xff
	}
	tlsa := "_" + strconv.Itoa(srv.Port()) + "._tcp.mail.example.test. 60 IN TLSA 3 1 1 "
	resolver = testResolver(t,
		"example.test. 60 IN MX 10 mail.example.test.",
		"mail.example.test. 60 IN A 127.0.0.1",
		tlsa+hex.EncodeToString(sum[:]),
		tlsa+strings.Repeat("ab", 32), // a next key, so that no rollover warning comes
		`_smtp._tls.example.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:tls@example.test"`,
	)
	return resolver, srv.Port()
}

func TestDomainTable(t *testing.T) {
	resolver, port := domainSetup(t, true)
	res := runCLI(t, "-domain", "example.test", "-resolver", resolver, "-port", strconv.Itoa(port))
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	assertContains(t, res.stdout, "Domain example.test: OK (protection: dane; resolver "+resolver,
		"MX lookup: NOERROR 10 mail.example.test. (secure)",
		"MX HOST", "PREF", "ADDRESS", "TLS", "WEBPKI", "DANE", "MTA-STS", "REQUIRETLS", "VERDICT",
		"mail.example.test", "10", "2 TLSA", "-", "ok",
		"127.0.0.1", "TLS 1.3", "invalid", "match", "no", "ok",
		"MTA-STS: no record", "TLS-RPT: mailto:tls@example.test", "REQUIRETLS: advertised no, protected yes, ready no")
	if strings.Contains(res.stdout, "Findings:") {
		t.Errorf("findings on a clean domain:\n%s", res.stdout)
	}
}

func TestDomainMismatchOutputs(t *testing.T) {
	resolver, port := domainSetup(t, false)
	args := []string{"-domain", "example.test", "-resolver", resolver, "-port", strconv.Itoa(port)}
	res := runCLI(t, append(args, "-transcripts")...)
	if res.code != exitDomainFail {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	assertContains(t, res.stdout, "Domain example.test: FAIL", "MISMATCH", "fail", "Findings:",
		"[high] dane-mismatch: mail.example.test [127.0.0.1]: no TLSA record matches", "(RFC 7672 §2.2, §3)",
		"--- mail.example.test [127.0.0.1]", "C: STARTTLS", "C: QUIT")

	res = runCLI(t, append(args, "-json")...)
	var rep struct {
		SchemaVersion int    `json:"schema_version"`
		Verdict       string `json:"verdict"`
		MX            []struct {
			Addresses []struct {
				DANE struct{ Authenticated bool } `json:"dane"`
			} `json:"addresses"`
		} `json:"mx"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || res.code != exitDomainFail {
		t.Fatalf("exit %d, %v:\n%s", res.code, err, res.stdout)
	}
	if rep.SchemaVersion != 1 || rep.Verdict != "fail" || rep.MX[0].Addresses[0].DANE.Authenticated {
		t.Errorf("JSON %+v", rep)
	}

	res = runCLI(t, append(args, "-nagios")...)
	if res.code != nagiosCritical || !strings.HasPrefix(res.stdout, "SMTP-DOMAIN CRITICAL - example.test fail, 1 MX, 1 of 1 addresses tested, protection dane; dane-mismatch: ") ||
		!strings.Contains(res.stdout, "| time=") || strings.Count(strings.TrimSpace(res.stdout), "\n") != 0 {
		t.Errorf("exit %d: %q", res.code, res.stdout)
	}
}

func TestDomainNagiosVerdicts(t *testing.T) {
	resolver, port := domainSetup(t, true)
	res := runCLI(t, "-domain", "example.test", "-resolver", resolver, "-port", strconv.Itoa(port), "-nagios")
	if res.code != nagiosOK || !strings.HasPrefix(res.stdout, "SMTP-DOMAIN OK - example.test ok") {
		t.Errorf("exit %d: %q", res.code, res.stdout)
	}
	res = runCLI(t, "-domain", "nowhere.example.test", "-resolver", resolver, "-nagios")
	if res.code != nagiosCritical || !strings.Contains(res.stdout, "mx-no-address: the MX host nowhere.example.test has no address") {
		t.Errorf("exit %d: %q", res.code, res.stdout)
	}
	res = runCLI(t, "-domain", "bad name.test", "-resolver", resolver, "-nagios")
	if res.code != nagiosUnknown || !strings.HasPrefix(res.stdout, "SMTP-DOMAIN UNKNOWN - ") {
		t.Errorf("exit %d: %q", res.code, res.stdout)
	}
}

func TestDomainArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-domain", "example.test", "-h"}, exitOK, "Usage:\n  smtpprobe -domain example.com"},
		{[]string{"-domain=", "-resolver", "127.0.0.1"}, exitUsage, "-domain needs a mail domain"},
		{[]string{"-domain", "a.test", "-json", "-nagios"}, nagiosUnknown, "SMTP UNKNOWN - bad arguments"},
		{[]string{"-domain", "a.test", "extra"}, exitUsage, "takes no other argument"},
		{[]string{"-domain", "a.test", "-port", "0"}, exitUsage, "-port 0"},
		{[]string{"-domain", "a.test", "-concurrency", "0"}, exitUsage, "-concurrency 0"},
		{[]string{"-domain", "a.test", "-timeout", "0s"}, exitUsage, "positive duration"},
		{[]string{"-domain", "a.test", "-ehlo", "a b"}, exitUsage, "-ehlo"},
		{[]string{"-domain", "a.test", "-cafile", "/nonexistent/ca.pem"}, exitUsage, "-cafile"},
		{[]string{"-domain", "a.test", "-nosuchflag"}, exitUsage, "nosuchflag"},
		{[]string{"-domain", "exa\x00mple.test", "-resolver", "127.0.0.1:1"}, exitUsage, "Domain exa\x00mple.test: ERROR"},
		{[]string{"-domain", strings.Repeat("x", 64) + ".test", "-resolver", "127.0.0.1:1"}, exitUsage, "at most 63"},
	} {
		res := runCLI(t, tc.args...)
		if res.code != tc.code || !strings.Contains(res.stdout+res.stderr, tc.out) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s%s", tc.args, res.code, tc.code, tc.out, res.stdout, res.stderr)
		}
	}
}

func TestWantsDomain(t *testing.T) {
	for args, want := range map[string]bool{
		"-domain x":         true,
		"--domain=x":        true,
		"-json -domain x":   true,
		"host -- -domain":   false,
		"-domainx":          false,
		"mail.example.test": false,
		"":                  false,
	} {
		if got := wantsDomain(strings.Fields(args)); got != want {
			t.Errorf("wantsDomain(%q) = %v", args, got)
		}
	}
}

// TestDomainRateNet: -rate-net 10 spaces the sessions with the four MX
// hosts of one /24 by 100 ms (see checkSpacing), and the scan still tests
// every address.
func TestDomainRateNet(t *testing.T) {
	log := &acceptLog{times: map[string][]time.Time{}}
	pki := newTestPKI(t)
	srv := tlsServer(t, pki.Valid, func(c *fakeserver.Config) {
		c.Addr = "127.79.1.1:0"
		c.OnConnect = func(*fakeserver.Session) bool {
			log.mu.Lock()
			defer log.mu.Unlock()
			log.times["127.79.1.1"] = append(log.times["127.79.1.1"], time.Now())
			return false
		}
	})
	records := []string{}
	for i := range 4 {
		host := fmt.Sprintf("mx%d.example.test.", i)
		records = append(records, "example.test. 60 IN MX 10 "+host, host+" 60 IN A 127.79.1.1")
	}
	resolver := testResolver(t, records...)
	res := runCLI(t, "-domain", "example.test", "-resolver", resolver, "-port", strconv.Itoa(srv.Port()),
		"-rate-net", "10", "-json")
	var rep scan.DomainReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	tested := 0
	for _, mx := range rep.MX {
		for _, a := range mx.Addresses {
			if a.Session != nil && a.Session.Success {
				tested++
			}
		}
	}
	if tested != 4 {
		t.Fatalf("%d of 4 sessions succeeded\n%s", tested, res.stderr)
	}
	ts := log.of("127.79.1.1:25")
	if len(ts) != 4 {
		t.Fatalf("%d connections, want 4", len(ts))
	}
	checkSpacing(t, "one /24", ts, 100*time.Millisecond)
}

// TestDomainFileLimit: with an open-file limit of 48, -concurrency 100
// is capped at 8, said on stderr, and the scan runs.
func TestDomainFileLimit(t *testing.T) {
	resolver, port := domainSetup(t, true)
	var out, errb bytes.Buffer
	files := fileLimits{
		get: func() (polite.FileLimit, error) { return polite.FileLimit{Soft: 48, Hard: 48}, nil },
		set: func(uint64) error { return errors.New("not asked to") },
	}
	code := runContext(t.Context(), []string{"-domain", "example.test", "-resolver", resolver, "-port", strconv.Itoa(port), "-concurrency", "100"},
		stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(string) string { return "" }, files: files})
	if code != exitOK || !strings.Contains(errb.String(), "concurrency capped at 8: the open-file limit is 48") {
		t.Errorf("exit %d, stderr %q\n%s", code, errb.String(), out.String())
	}
}
