package exporter

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"flag"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

var update = flag.Bool("update", false, "rewrite the golden exposition files in testdata")

// deterministic are the metrics whose values a golden file can hold; the
// timings are checked apart.
var deterministic = []string{
	"probe_success", "probe_timeout_seconds", "probe_dns_lookup_time_seconds", "probe_ip_protocol",
	"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds", "probe_ssl_last_chain_info",
	"probe_tls_version_info", "probe_tls_cipher_info",
	"probe_smtp_phase_reply_code", "probe_smtp_stage_reached_info", "probe_smtp_error_info",
	"probe_smtp_starttls_offered", "probe_smtp_tls_verified", "probe_smtp_auth_success",
	"probe_smtp_findings", "probe_smtp_check_status", "probe_smtp_banner_matched",
}

// certVars are the values of a certificate a golden file refers to.
type certVars struct {
	Fingerprint, Subject, Issuer, SANs, Serial string
	Earliest, LastChain                        int64
}

func varsOf(t *testing.T, c tls.Certificate, ca *x509.Certificate) certVars {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Raw)
	v := certVars{
		Fingerprint: hex.EncodeToString(sum[:]), Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(),
		SANs: strings.Join(leaf.DNSNames, ","), Serial: hex.EncodeToString(leaf.SerialNumber.Bytes()),
		Earliest: leaf.NotAfter.Unix(), LastChain: min(leaf.NotAfter.Unix(), ca.NotAfter.Unix()),
	}
	return v
}

// golden compares the answer with testdata/name.prom, or rewrites that
// file with -update (values of vars become template fields again).
func golden(t *testing.T, mfs map[string]*dto.MetricFamily, name string, vars *certVars) {
	t.Helper()
	if *update {
		writeGolden(t, mfs, name, vars)
	}
	compareGolden(t, mfs, name, vars, deterministic...)
}

func writeGolden(t *testing.T, mfs map[string]*dto.MetricFamily, name string, vars *certVars) {
	var b strings.Builder
	names := make([]string, 0, len(mfs))
	for n := range mfs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, d := range deterministic {
			if d == n {
				writeFamily(&b, mfs[n])
			}
		}
	}
	s := b.String()
	if vars != nil {
		s = strings.NewReplacer(vars.Fingerprint, "{{.Fingerprint}}", vars.Subject, "{{.Subject}}", vars.Issuer, "{{.Issuer}}",
			vars.Serial, "{{.Serial}}", fmtStamp(vars.Earliest), "{{.Earliest}}", fmtStamp(vars.LastChain), "{{.LastChain}}").Replace(s)
	}
	writeFile(t, filepath.Join("testdata", name+".prom"), s)
}

// fmtStamp is how the text format writes a timestamp in seconds.
func fmtStamp(s int64) string {
	return strconv.FormatFloat(float64(s), 'e', -1, 64)
}

func writeFamily(b *strings.Builder, mf *dto.MetricFamily) {
	b.WriteString("# HELP " + mf.GetName() + " " + mf.GetHelp() + "\n# TYPE " + mf.GetName() + " gauge\n")
	for _, m := range mf.Metric {
		b.WriteString(mf.GetName())
		if len(m.Label) > 0 {
			var ls []string
			for _, lp := range m.Label {
				ls = append(ls, lp.GetName()+"="+strconv.Quote(lp.GetValue()))
			}
			b.WriteString("{" + strings.Join(ls, ",") + "}")
		}
		b.WriteString(" " + strconv.FormatFloat(m.GetGauge().GetValue(), 'g', -1, 64) + "\n")
	}
}

// phases checks that each named phase has a duration above zero.
func phases(t *testing.T, mfs map[string]*dto.MetricFamily, names ...string) {
	t.Helper()
	for _, n := range names {
		if v, ok := value(mfs, "probe_smtp_phase_duration_seconds", "phase", n); !ok || v <= 0 {
			t.Errorf("probe_smtp_phase_duration_seconds{phase=%q} = %v, %v; want a duration", n, v, ok)
		}
	}
	if got := len(mfs["probe_smtp_phase_duration_seconds"].GetMetric()); got != len(names) {
		t.Errorf("%d phases timed, want %d (%v)", got, len(names), names)
	}
	if v, _ := value(mfs, "probe_duration_seconds"); v <= 0 {
		t.Errorf("probe_duration_seconds = %v", v)
	}
}

func TestMetricsPlaintext(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n", nil, Options{})
	mfs := scrape(t, e, "plain", srv.Addr())
	golden(t, mfs, "plaintext", nil)
	phases(t, mfs, "connect", "banner", "ehlo", "quit")
}

func TestMetricsStartTLS(t *testing.T) {
	pki, err := fakeserver.NewPKI("")
	if err != nil {
		t.Fatal(err)
	}
	srv := fakeserver.NewTB(t, fakeserver.Config{TLSCert: &pki.Valid})
	e := newExporter(t, `modules:
  starttls:
    starttls: required
    tls_config: {ca_file: "{{.Dir}}/ca.pem", server_name: mail.example.test}
`, pki, Options{})
	mfs := scrape(t, e, "starttls", srv.Addr())
	vars := varsOf(t, pki.Valid, pki.CACert())
	golden(t, mfs, "starttls", &vars)
	phases(t, mfs, "connect", "banner", "ehlo", "tls", "ehlo_tls", "quit")
}

func TestMetricsExpiredCertificate(t *testing.T) {
	pki, err := fakeserver.NewPKI("")
	if err != nil {
		t.Fatal(err)
	}
	srv := fakeserver.NewTB(t, fakeserver.Config{TLSCert: &pki.Expired})
	e := newExporter(t, `modules:
  starttls:
    tls_config: {ca_file: "{{.Dir}}/ca.pem", server_name: mail.example.test}
`, pki, Options{})
	mfs := scrape(t, e, "starttls", srv.Addr())
	vars := varsOf(t, pki.Expired, pki.CACert())
	golden(t, mfs, "expired", &vars)
	if v, _ := value(mfs, "probe_ssl_earliest_cert_expiry"); v >= float64(time.Now().Unix()) {
		t.Errorf("probe_ssl_earliest_cert_expiry %v is not in the past", v)
	}
}

func TestMetricsImplicitTLSAuth(t *testing.T) {
	pki, err := fakeserver.NewPKI("")
	if err != nil {
		t.Fatal(err)
	}
	srv := fakeserver.NewTB(t, fakeserver.Config{TLSCert: &pki.Valid, ImplicitTLS: true, Users: map[string]string{"alice": "s3cret-pw"}})
	e := newExporter(t, `modules:
  smtps:
    tls: implicit
    tls_config: {ca_file: "{{.Dir}}/ca.pem", server_name: mail.example.test}
    auth: {username: alice, mechanism: PLAIN, password_env: PW}
    quit_after: auth
  smtps_bad:
    tls: implicit
    tls_config: {ca_file: "{{.Dir}}/ca.pem", server_name: mail.example.test}
    auth: {username: alice, password_env: BADPW}
`, pki, Options{Getenv: env{"PW": "s3cret-pw", "BADPW": "wrong"}.get})
	mfs := scrape(t, e, "smtps", srv.Addr())
	vars := varsOf(t, pki.Valid, pki.CACert())
	golden(t, mfs, "implicit_auth", &vars)
	phases(t, mfs, "connect", "tls", "banner", "ehlo", "auth", "quit")
	golden(t, scrape(t, e, "smtps_bad", srv.Addr()), "implicit_auth_refused", &vars)
}

func TestMetricsConnectionRefused(t *testing.T) {
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n", nil, Options{})
	golden(t, scrape(t, e, "plain", fakeserver.ClosedAddr(t)), "refused", nil)
}

func TestMetricsBannerAndTransaction(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{Banner: []string{"mail.example.test ESMTP ready", "no UCE"}})
	e := newExporter(t, `modules:
  good:
    tls: none
    expect_banner: '(?m)^220 no UCE$'
    mail_from: probe@example.net
    rcpt_to: [postmaster@example.test]
  bad:
    tls: none
    expect_banner: 'Exim'
`, nil, Options{})
	mfs := scrape(t, e, "good", srv.Addr())
	golden(t, mfs, "banner_transaction", nil)
	phases(t, mfs, "connect", "banner", "ehlo", "transaction", "quit")
	golden(t, scrape(t, e, "bad", srv.Addr()), "banner_mismatch", nil)
}

func TestMetricsChecks(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	e := newExporter(t, `modules:
  checks:
    tls: none
    checks: [pipelining-guard, user-enumeration]
`, nil, Options{})
	golden(t, scrape(t, e, "checks", srv.Addr()), "checks", nil)
}

func TestMetricsNameLookup(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n    preferred_ip_protocol: ip4\n", nil, Options{})
	mfs := scrape(t, e, "plain", "localhost:"+strconv.Itoa(srv.Port()))
	if v, ok := value(mfs, "probe_ip_protocol"); !ok || v != 4 {
		t.Errorf("probe_ip_protocol = %v, %v; want 4", v, ok)
	}
	if v, ok := value(mfs, "probe_dns_lookup_time_seconds"); !ok || v <= 0 {
		t.Errorf("probe_dns_lookup_time_seconds = %v, %v; want a duration", v, ok)
	}
	if v, _ := value(mfs, "probe_success"); v != 1 {
		t.Errorf("probe_success = %v", v)
	}
}

// env is a fake environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }
