package scan_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/internal/mta"
	"github.com/smtpprobe/probe/scan"
)

// The variables of testdata/dns/run/env (.ci/dns-up) the domain tests read.
const (
	envDNSResolver   = "PROBE_DNS_RESOLVER"
	envDNSTLSAPort   = "PROBE_DNS_TLSA_PORT"
	envDNSPolicies   = "PROBE_DNS_STS_POLICIES"
	envDNSMXSPKI     = "PROBE_DNS_MX_SPKI_SHA256"
	envDNSUnfetchAdr = "PROBE_DNS_STS_UNFETCHABLE_ADDR"
)

// stsDomains are the zones whose MTA-STS policy the test serves.
var stsDomains = []string{"sts-ok.test", "sts-mismatch.test", "sts-testing.test", "sts-unfetchable.test"}

// domainEnv is the real DNS stack (knot signing, unbound validating) and
// the CI Postfix, with an HTTPS server on 127.0.0.1 for the MTA-STS
// policies of testdata/dns/mta-sts.
type domainEnv struct {
	resolver, spki string
	port, https    int
	opts           scan.DomainOptions
}

// requireDomainEnv skips without the DNS stack or the mail servers, and
// starts the policy server.
func requireDomainEnv(t *testing.T) *domainEnv {
	t.Helper()
	v := mta.RequireEnv(t, envDNSResolver, envDNSTLSAPort, envDNSPolicies, envDNSMXSPKI, mta.EnvCA)
	port, err := strconv.Atoi(v[1])
	if err != nil {
		t.Fatalf("%s=%q: %v", envDNSTLSAPort, v[1], err)
	}
	roots := mta.Roots(t)
	var certs []tls.Certificate
	for _, d := range stsDomains {
		pki, err := fakeserver.NewPKI("mta-sts." + d)
		if err != nil {
			t.Fatal(err)
		}
		roots.AddCert(pki.CACert())
		certs = append(certs, pki.Valid)
	}
	dir := v[2]
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		domain, ok := strings.CutPrefix(r.Host, "mta-sts.")
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" || !slices.Contains(stsDomains, domain) {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(filepath.Join(dir, domain+".txt"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}))
	// 127.0.0.1 only: sts-unfetchable.test's policy host, 127.0.0.2, must find nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	web.Listener.Close()
	web.Listener = ln
	web.TLS = &tls.Config{Certificates: certs}
	web.StartTLS()
	t.Cleanup(web.Close)
	e := &domainEnv{resolver: v[0], spki: v[3], port: port, https: ln.Addr().(*net.TCPAddr).Port}
	e.opts = scan.DomainOptions{Resolver: e.resolver, Port: e.port, RootCAs: roots, HTTPSPort: e.https,
		DNSTimeout: 5 * time.Second, HTTPTimeout: 5 * time.Second}
	return e
}

// scanDomain scans domain through the real stack.
func (e *domainEnv) scanDomain(t *testing.T, domain string) *scan.DomainReport {
	t.Helper()
	o := e.opts
	o.Domain = domain
	rep := scan.Domain(mta.Context(t), o)
	t.Logf("%s: verdict %s, protection %v, findings %v", domain, rep.Verdict, rep.Protection, ids(rep.AllFindings()))
	return rep
}

func ids(fs []scan.Finding) []scan.FindingID {
	var out []scan.FindingID
	for _, f := range fs {
		out = append(out, f.ID)
	}
	slices.Sort(out)
	return out
}

// wantFindings fails unless the report's findings are exactly want.
func wantFindings(t *testing.T, rep *scan.DomainReport, want ...scan.FindingID) {
	t.Helper()
	slices.Sort(want)
	if got := ids(rep.AllFindings()); !slices.Equal(got, want) {
		t.Errorf("%s: findings %v, want %v", rep.Domain, got, want)
		for _, f := range rep.AllFindings() {
			t.Logf("  [%s] %s: %s", f.Severity, f.ID, f.Summary)
		}
	}
}

// testedAddresses returns the addresses of the report that were tested,
// failing when there is none; an untested one must be IPv6.
func testedAddresses(t *testing.T, rep *scan.DomainReport) []scan.AddressReport {
	t.Helper()
	var out []scan.AddressReport
	for _, mx := range rep.MX {
		for _, a := range mx.Addresses {
			if a.Verdict == scan.VerdictUntested {
				if a.Family != "ipv6" {
					t.Errorf("%s untested", a.Address)
				}
				continue
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no address tested", rep.Domain)
	}
	return out
}

func TestIntegrationDomainDANEMatch(t *testing.T) {
	e := requireDomainEnv(t)
	rep := e.scanDomain(t, "dane-ok.test")
	if rep.Verdict != scan.VerdictOK || !slices.Equal(rep.Protection, []scan.Protection{scan.ProtectionDANE}) {
		t.Fatalf("verdict %s, protection %v", rep.Verdict, rep.Protection)
	}
	wantFindings(t, rep, scan.FindingTLSRPTMissing)
	mx := rep.MX[0]
	if mx.Host != "mx.dane-ok.test" || mx.DANE.Status != scan.DANEValidated || len(mx.DANE.Records) != 2 || len(mx.DANE.Rollover) != 0 {
		t.Fatalf("MX %s DANE %+v", mx.Host, mx.DANE)
	}
	if !rep.MXLookup.AD || rep.MXLookup.DNSSEC != scan.DNSSECSecure {
		t.Errorf("MX lookup %+v", rep.MXLookup)
	}
	for _, a := range testedAddresses(t, rep) {
		if !a.StartTLS || a.DANE == nil || !a.DANE.Authenticated || a.TLS.SPKISHA256 != e.spki {
			t.Errorf("%s: %+v, DANE %+v", a.Address, a, a.DANE)
		}
	}
	// example.test publishes one record, for the key in use: not ready for a rollover.
	rep = e.scanDomain(t, "example.test")
	wantFindings(t, rep, scan.FindingTLSRPTMissing, scan.FindingDANERollover)
	if rep.Verdict != scan.VerdictWarning {
		t.Errorf("example.test: verdict %s", rep.Verdict)
	}
}

func TestIntegrationDomainDANEMismatch(t *testing.T) {
	e := requireDomainEnv(t)
	rep := e.scanDomain(t, "dane-bad.test")
	if rep.Verdict != scan.VerdictFail || rep.MX[0].DANE.Status != scan.DANEValidated {
		t.Fatalf("verdict %s, DANE %+v", rep.Verdict, rep.MX[0].DANE)
	}
	for _, a := range testedAddresses(t, rep) {
		if a.DANE == nil || a.DANE.Authenticated || len(a.DANE.Mismatched) != 1 || a.Verdict != scan.VerdictFail ||
			len(a.Findings) != 1 || a.Findings[0].ID != scan.FindingDANEMismatch {
			t.Errorf("%s: %+v", a.Address, a)
		}
	}
}

func TestIntegrationDomainUnsigned(t *testing.T) {
	e := requireDomainEnv(t)
	rep := e.scanDomain(t, "unsigned.test")
	d := rep.MX[0].DANE
	if d.Status != scan.DANEInsecure || rep.MXLookup.AD || rep.MXLookup.DNSSEC != scan.DNSSECInsecure {
		t.Fatalf("DANE %+v, MX lookup %+v", d, rep.MXLookup)
	}
	wantFindings(t, rep, scan.FindingDNSSECInsecure, scan.FindingNoProtection, scan.FindingTLSRPTMissing, scan.FindingDANETLSAIgnored)
	for _, a := range testedAddresses(t, rep) {
		if a.DANE != nil || !a.StartTLS {
			t.Errorf("%s: the unvalidated TLSA was matched: %+v", a.Address, a.DANE)
		}
	}
}

func TestIntegrationDomainBogus(t *testing.T) {
	e := requireDomainEnv(t)
	for _, domain := range []string{"bogus.test", "bogus-ds.test"} {
		rep := e.scanDomain(t, domain)
		if rep.Verdict != scan.VerdictFail || rep.MXLookup.DNSSEC != scan.DNSSECBogus || len(rep.MX) != 0 {
			t.Errorf("%s: verdict %s, MX lookup %+v, %d MX", domain, rep.Verdict, rep.MXLookup, len(rep.MX))
		}
		if !strings.Contains(strings.Join(rep.MXLookup.Records, " "), "mx."+domain) {
			t.Errorf("%s: the data behind the SERVFAIL (asked with CD) is not shown: %+v", domain, rep.MXLookup)
		}
		wantFindings(t, rep, scan.FindingDNSSECBogus)
	}
}

func TestIntegrationDomainMTASTSEnforce(t *testing.T) {
	e := requireDomainEnv(t)
	rep := e.scanDomain(t, "sts-ok.test")
	if !slices.Contains(rep.Protection, scan.ProtectionMTASTS) || rep.MTASTS.Mode != "enforce" || rep.MTASTS.Status != 200 {
		t.Fatalf("protection %v, MTA-STS %+v", rep.Protection, rep.MTASTS)
	}
	// mail.example.test also has one TLSA record: DANE too, with its rollover warning.
	wantFindings(t, rep, scan.FindingDANERollover)
	if m := rep.MX[0].MTASTSMatch; m == nil || !*m {
		t.Errorf("MX match %v", m)
	}
	for _, a := range testedAddresses(t, rep) {
		if !a.WebPKIValid {
			t.Errorf("%s: the certificate does not verify for mail.example.test: %+v", a.Address, a.TLS)
		}
	}
	if rep.TLSRPT.RUA[0] != "mailto:tlsrpt@sts-ok.test" || !rep.RequireTLS.Protected || rep.RequireTLS.Ready {
		t.Errorf("TLS-RPT %+v, REQUIRETLS %+v", rep.TLSRPT, rep.RequireTLS)
	}
}

func TestIntegrationDomainMTASTSMismatch(t *testing.T) {
	e := requireDomainEnv(t)
	rep := e.scanDomain(t, "sts-mismatch.test")
	wantFindings(t, rep, scan.FindingSTSMXMismatch, scan.FindingDANERollover, scan.FindingTLSRPTMissing)
	if rep.Verdict != scan.VerdictFail || *rep.MX[0].MTASTSMatch {
		t.Errorf("verdict %s, MX match %v", rep.Verdict, *rep.MX[0].MTASTSMatch)
	}
}

func TestIntegrationDomainMTASTSUnfetchable(t *testing.T) {
	e := requireDomainEnv(t)
	addr := mta.RequireEnv(t, envDNSUnfetchAdr)[0]
	rep := e.scanDomain(t, "sts-unfetchable.test")
	wantFindings(t, rep, scan.FindingSTSFetchFailed, scan.FindingDANERollover, scan.FindingTLSRPTMissing)
	if rep.Verdict != scan.VerdictFail || !strings.Contains(rep.MTASTS.Error, addr) || slices.Contains(rep.Protection, scan.ProtectionMTASTS) {
		t.Errorf("verdict %s, MTA-STS %+v, protection %v", rep.Verdict, rep.MTASTS, rep.Protection)
	}
}

func TestIntegrationDomainMTASTSTesting(t *testing.T) {
	e := requireDomainEnv(t)
	rep := e.scanDomain(t, "sts-testing.test")
	wantFindings(t, rep, scan.FindingSTSTesting, scan.FindingDANERollover)
	if rep.MTASTS.Mode != "testing" || slices.Contains(rep.Protection, scan.ProtectionMTASTS) ||
		rep.TLSRPT.RUA[0] != "https://tlsrpt.sts-testing.test/v1/report" {
		t.Errorf("MTA-STS %+v, protection %v, TLS-RPT %+v", rep.MTASTS, rep.Protection, rep.TLSRPT)
	}
}

func TestIntegrationDomainNullMX(t *testing.T) {
	e := requireDomainEnv(t)
	rep := e.scanDomain(t, "nullmx.test")
	if !rep.NullMX || rep.Verdict != scan.VerdictOK || len(rep.MX) != 0 || !rep.MXLookup.AD {
		t.Errorf("verdict %s, null MX %v, MX %v, lookup %+v", rep.Verdict, rep.NullMX, rep.MX, rep.MXLookup)
	}
	wantFindings(t, rep, scan.FindingNullMX)
}
