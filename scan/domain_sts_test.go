package scan

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/policy"
)

const (
	stsEnforce = "version: STSv1\nmode: enforce\nmx: mail.example.test\nmax_age: 604800\n"
	stsTesting = "version: STSv1\nmode: testing\nmx: *.example.test\nmax_age: 604800\n"
	tlsrptOK   = `_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@example.test"`
)

// unsigned makes example.test an unsigned zone, so that only MTA-STS can
// protect it.
func unsigned(t *testing.T, w *domainWorld) {
	w.dns.zone("example.test", false)
	w.dns.add(t, nil, tlsrptOK)
}

func TestDomainMTASTS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        fakeserver.Config
		body       string
		verdict    Verdict
		want       []FindingID
		protection Protection
		match      bool
	}{
		{"enforce passes", fakeserver.Config{}, stsEnforce, VerdictOK, nil, ProtectionMTASTS, true},
		{"enforce, mx does not match", fakeserver.Config{}, strings.Replace(stsEnforce, "mx: mail.", "mx: other.", 1),
			VerdictFail, []FindingID{FindingSTSMXMismatch}, ProtectionMTASTS, false},
		{"testing, mx does not match", fakeserver.Config{}, strings.Replace(stsTesting, "*.example.test", "*.elsewhere.test", 1),
			VerdictWarning, []FindingID{FindingSTSMXMismatch, FindingSTSTesting, FindingNoProtection}, ProtectionNone, false},
		{"testing passes", fakeserver.Config{}, stsTesting,
			VerdictWarning, []FindingID{FindingSTSTesting, FindingNoProtection}, ProtectionNone, true},
		{"mode none", fakeserver.Config{}, "version: STSv1\nmode: none\nmax_age: 86400\n",
			VerdictWarning, []FindingID{FindingSTSModeNone, FindingNoProtection}, ProtectionNone, false},
		{"short max_age", fakeserver.Config{}, strings.Replace(stsEnforce, "604800", "3600", 1),
			VerdictOK, []FindingID{FindingSTSMaxAgeShort}, ProtectionMTASTS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.cfg)
			unsigned(t, w)
			w.serveSTS(t, tc.body, nil)
			rep := w.scan(t, nil)
			got := idsOf(rep.AllFindings())
			if rep.Verdict != tc.verdict || !sameIDs(got, append(tc.want, FindingDNSSECInsecure)) || rep.Protection[0] != tc.protection {
				t.Fatalf("verdict %s, findings %v, protection %v; want %s, %v, %s (MTA-STS %+v)", rep.Verdict, got, rep.Protection,
					tc.verdict, tc.want, tc.protection, rep.MTASTS)
			}
			if m := rep.MX[0].MTASTSMatch; (m == nil) != (tc.body == "version: STSv1\nmode: none\nmax_age: 86400\n") || (m != nil && *m != tc.match) {
				t.Errorf("MX match %v, want %v", m, tc.match)
			}
			if rep.MTASTS.ID != "20261205T01" || rep.MTASTS.Status != 200 || rep.MTASTS.URL != "https://mta-sts.example.test/.well-known/mta-sts.txt" {
				t.Errorf("MTA-STS %+v", rep.MTASTS)
			}
		})
	}
}

func TestDomainMTASTSCertificate(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		cert func(*fakeserver.PKI) *tls.Certificate
		sev  Severity
	}{
		{"enforce, self-signed", stsEnforce, func(p *fakeserver.PKI) *tls.Certificate { return &p.SelfSigned }, SeverityHigh},
		{"enforce, wrong name", stsEnforce, func(p *fakeserver.PKI) *tls.Certificate { return &p.WrongName }, SeverityHigh},
		{"enforce, expired", stsEnforce, func(p *fakeserver.PKI) *tls.Certificate { return &p.Expired }, SeverityHigh},
		{"testing, wrong name", stsTesting, func(p *fakeserver.PKI) *tls.Certificate { return &p.WrongName }, SeverityMedium},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, fakeserver.Config{})
			w.smtp.Close()
			w.smtp = startServer(t, fakeserver.Config{TLSCert: tc.cert(w.pki)})
			unsigned(t, w)
			w.serveSTS(t, tc.body, nil)
			rep := w.scan(t, nil)
			a := rep.MX[0].Addresses[0]
			if !a.StartTLS || a.WebPKIValid || len(a.Findings) != 1 || a.Findings[0].ID != FindingSTSCertInvalid || a.Findings[0].Severity != tc.sev {
				t.Fatalf("address %+v", a)
			}
			if len(a.TLS.Problems) == 0 || len(a.Findings[0].Evidence) == 0 {
				t.Errorf("no problems or evidence: %+v", a.TLS)
			}
		})
	}
}

func TestDomainMTASTSFetchFails(t *testing.T) {
	big := "version: STSv1\nmode: enforce\nmx: mail.example.test\nmax_age: 604800\n" + strings.Repeat("x: y\n", (1<<20)/5)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		body    string
		edit    func(*domainWorld, *DomainOptions)
		want    FindingID
		reason  string
	}{
		{"not found", func(rw http.ResponseWriter, _ *http.Request) { http.NotFound(rw, nil) }, "", nil,
			FindingSTSFetchFailed, "HTTP status 404"},
		{"redirect", func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, "https://mta-sts.example.test/elsewhere", http.StatusFound)
		}, "", nil, FindingSTSFetchFailed, "redirect"},
		{"not text/plain", func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "text/html")
			_, _ = rw.Write([]byte(stsEnforce))
		}, "", nil, FindingSTSFetchFailed, "text/plain"},
		{"nothing listens", nil, stsEnforce, func(w *domainWorld, o *DomainOptions) { o.HTTPSPort = freePort(t) },
			FindingSTSFetchFailed, "connection refused"},
		{"untrusted certificate", nil, stsEnforce, func(w *domainWorld, o *DomainOptions) { o.RootCAs = w.pki.CAPool() },
			FindingSTSFetchFailed, "certificate"},
		{"no address", nil, stsEnforce, func(w *domainWorld, o *DomainOptions) {
			w.dns.set("mta-sts.example.test", 1, failing)
		}, FindingSTSFetchFailed, "SERVFAIL"},
		{"times out", func(rw http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "", func(w *domainWorld, o *DomainOptions) { o.HTTPTimeout = 300 * time.Millisecond }, FindingSTSFetchFailed, "Timeout"},
		{"1 MiB policy", nil, big, nil, FindingSTSPolicyInvalid, policy.ErrTooLarge.Error()},
		{"garbage policy", nil, "\x00\xff<html>garbage", nil, FindingSTSPolicyInvalid, "MTA-STS policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, fakeserver.Config{})
			unsigned(t, w)
			w.serveSTS(t, tc.body, tc.handler)
			rep := w.scan(t, func(o *DomainOptions) {
				if tc.edit != nil {
					tc.edit(w, o)
				}
			})
			if !hasFinding(rep.Findings, tc.want) || rep.Verdict != VerdictFail || rep.Protection[0] != ProtectionNone ||
				!strings.Contains(rep.MTASTS.Error, tc.reason) {
				t.Fatalf("verdict %s, findings %v, MTA-STS error %q (want %q)", rep.Verdict, idsOf(rep.AllFindings()), rep.MTASTS.Error, tc.reason)
			}
		})
	}
}

// freePort is a loopback port nothing listens on.
func freePort(t *testing.T) int {
	_, port, _ := net.SplitHostPort(fakeserver.ClosedAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

func TestDomainMTASTSRecords(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records []string
		how     func(*rrset)
		want    []FindingID
	}{
		{"garbage TXT is no record", []string{`_mta-sts.example.test. 300 IN TXT "\000\255 garbage; v=STSv1"`}, nil, []FindingID{FindingNoProtection}},
		{"invalid record", []string{`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=not valid!;"`}, nil,
			[]FindingID{FindingSTSRecordInvalid, FindingNoProtection}},
		{"two records", []string{`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=1;"`, `_mta-sts.example.test. 300 IN TXT "v=STSv1; id=2;"`}, nil,
			[]FindingID{FindingSTSRecordInvalid, FindingNoProtection}},
		{"lookup fails", []string{`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=1;"`}, failing,
			[]FindingID{FindingSTSLookupFailed, FindingNoProtection}},
		{"split strings", []string{`_mta-sts.example.test. 300 IN TXT "v=STSv1; " "id=1;"`}, nil,
			[]FindingID{FindingSTSFetchFailed, FindingNoProtection}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, fakeserver.Config{})
			unsigned(t, w)
			w.dns.add(t, tc.how, tc.records...)
			rep := w.scan(t, func(o *DomainOptions) { o.HTTPSPort = freePort(t) })
			if got := idsOf(rep.Findings); !sameIDs(got, append(tc.want, FindingDNSSECInsecure)) {
				t.Fatalf("findings %v, want %v (MTA-STS %+v)", got, tc.want, rep.MTASTS)
			}
		})
	}
}

func TestDomainTLSRPT(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records []string
		how     func(*rrset)
		want    FindingID
	}{
		{"missing", nil, nil, FindingTLSRPTMissing},
		{"garbage", []string{`_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=gopher://x"`}, nil, FindingTLSRPTInvalid},
		{"two", []string{`_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:a@x.test"`, `_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:b@x.test"`}, nil, FindingTLSRPTInvalid},
		{"lookup fails", []string{`_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:a@x.test"`}, failing, FindingTLSRPTInvalid},
		{"https", []string{`_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=https://r.example.test/v1"`}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, fakeserver.Config{})
			w.dns.add(t, tc.how, tc.records...)
			rep := w.scan(t, nil)
			got := hasFinding(rep.Findings, FindingTLSRPTMissing) || hasFinding(rep.Findings, FindingTLSRPTInvalid)
			if (tc.want == "") == got || (tc.want != "" && !hasFinding(rep.Findings, tc.want)) {
				t.Fatalf("findings %v, want %q (TLS-RPT %+v)", idsOf(rep.Findings), tc.want, rep.TLSRPT)
			}
			if tc.want == "" && rep.TLSRPT.RUA[0] != "https://r.example.test/v1" {
				t.Errorf("TLS-RPT %+v", rep.TLSRPT)
			}
		})
	}
}

func TestDomainHTTPClientGiven(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	unsigned(t, w)
	w.serveSTS(t, stsEnforce, nil)
	var asked []string
	client := &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			asked = append(asked, r.URL.String())
			return nil, errors.New("refused by the test's client")
		}),
	}
	rep := w.scan(t, func(o *DomainOptions) { o.HTTPClient = client })
	if len(asked) != 1 || asked[0] != "https://mta-sts.example.test/.well-known/mta-sts.txt" ||
		!strings.Contains(rep.MTASTS.Error, "refused by the test's client") {
		t.Fatalf("asked %v, MTA-STS %+v", asked, rep.MTASTS)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
