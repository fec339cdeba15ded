package probe

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net"
	"reflect"
	"sort"
	"testing"
	"time"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// makeCert signs tmpl with parentKey (self-signed when parent is nil).
func makeCert(t *testing.T, tmpl, parent *x509.Certificate, pub any, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCertInfoKeys(t *testing.T) {
	p := newPKI(t)
	rsaCert, err := p.ValidRSA()
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	edCert := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(0xbeef), Subject: pkix.Name{CommonName: "ed.example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10*24*time.Hour + time.Minute), DNSNames: []string{"ed.example.test"}}, nil, pub, priv)

	cases := []struct {
		name   string
		cert   *x509.Certificate
		want   CertInfo
		issuer string
	}{
		{"ECDSA", p.Valid.Leaf, CertInfo{Subject: "CN=mail.example.test", Issuer: "CN=fakeserver test CA,O=fakeserver",
			DNSNames: []string{testHost, "localhost"}, IPAddresses: []string{"127.0.0.1", "::1"},
			DaysLeft: 364, KeyType: "ECDSA", KeyBits: 256, Curve: "P-256", SignatureAlgorithm: "ECDSA-SHA256"}, ""},
		{"RSA", rsaCert.Leaf, CertInfo{Subject: "CN=mail.example.test", Issuer: "CN=fakeserver test CA,O=fakeserver",
			DNSNames: []string{testHost, "localhost"}, IPAddresses: []string{"127.0.0.1", "::1"},
			DaysLeft: 364, KeyType: "RSA", KeyBits: 2048, SignatureAlgorithm: "ECDSA-SHA256"}, ""},
		{"Ed25519", edCert, CertInfo{Subject: "CN=ed.example.test", Issuer: "CN=ed.example.test",
			DNSNames: []string{"ed.example.test"}, Serial: "beef",
			DaysLeft: 10, KeyType: "Ed25519", KeyBits: 256, SignatureAlgorithm: "Ed25519", SelfSigned: true}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := newCertInfo(tc.cert, now)
			want := tc.want
			want.NotBefore, want.NotAfter = tc.cert.NotBefore, tc.cert.NotAfter
			want.SHA256 = sha256Hex(tc.cert.Raw)
			if want.Serial == "" {
				want.Serial = tc.cert.SerialNumber.Text(16)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// chainFixture is a root, an intermediate and a leaf with chosen dates.
type chainFixture struct {
	roots       *x509.CertPool
	inter, leaf *x509.Certificate
}

func newChain(t *testing.T, now time.Time, interUntil, leafFrom, leafUntil time.Time) chainFixture {
	t.Helper()
	return newChainRoot(t, now, now.Add(1000*24*time.Hour), interUntil, leafFrom, leafUntil)
}

func newChainRoot(t *testing.T, now, rootUntil, interUntil, leafFrom, leafUntil time.Time) chainFixture {
	t.Helper()
	rootKey, interKey, leafKey := ecKey(t), ecKey(t), ecKey(t)
	root := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root"},
		NotBefore: now.Add(-100 * 24 * time.Hour), NotAfter: rootUntil,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, rootKey.Public(), rootKey)
	inter := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test Intermediate"},
		NotBefore: now.Add(-50 * 24 * time.Hour), NotAfter: interUntil,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, root, interKey.Public(), rootKey)
	leaf := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: testHost},
		DNSNames: []string{testHost}, NotBefore: leafFrom, NotAfter: leafUntil,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, inter, leafKey.Public(), interKey)
	roots := x509.NewCertPool()
	roots.AddCert(root)
	return chainFixture{roots: roots, inter: inter, leaf: leaf}
}

// TestJudge checks the verdicts on chains with an intermediate, without a
// network: dates of the leaf and of the intermediate, a missing name, and
// no certificate at all.
func TestJudge(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	good := newChain(t, now, now.Add(500*day), now.Add(-10*day), now.Add(90*day))
	interExpired := newChain(t, now, now.Add(-3*day-time.Minute), now.Add(-10*day), now.Add(90*day))
	leafExpired := newChain(t, now, now.Add(500*day), now.Add(-10*day), now.Add(-3*day-time.Minute))
	rootExpired := newChainRoot(t, now, now.Add(-2*day-time.Minute), now.Add(500*day), now.Add(-10*day), now.Add(90*day))
	cases := []struct {
		name     string
		certs    []*x509.Certificate
		roots    *x509.CertPool
		host     string
		want     TLSInfo
		problems []string
	}{
		{"good chain", []*x509.Certificate{good.leaf, good.inter}, good.roots, testHost,
			TLSInfo{Trusted: true, HostnameMatch: true, Verified: true}, nil},
		{"missing intermediate", []*x509.Certificate{good.leaf}, good.roots, testHost,
			TLSInfo{TrustError: "certificate signed by unknown authority", HostnameMatch: true},
			[]string{"certificate signed by unknown authority"}},
		{"intermediate expired", []*x509.Certificate{interExpired.leaf, interExpired.inter}, interExpired.roots, testHost,
			TLSInfo{Trusted: true, HostnameMatch: true, Expired: true, ValidityError: "chain certificate 2 (Test Intermediate) expired 3 days ago"},
			[]string{"chain certificate 2 (Test Intermediate) expired 3 days ago"}},
		{"leaf expired", []*x509.Certificate{leafExpired.leaf, leafExpired.inter}, leafExpired.roots, testHost,
			TLSInfo{Trusted: true, HostnameMatch: true, Expired: true, ValidityError: "certificate expired 3 days ago"},
			[]string{"certificate expired 3 days ago"}},
		{"root expired", []*x509.Certificate{rootExpired.leaf, rootExpired.inter}, rootExpired.roots, testHost,
			TLSInfo{Trusted: true, HostnameMatch: true, Expired: true, ValidityError: "root certificate (Test Root) expired 2 days ago"},
			[]string{"root certificate (Test Root) expired 2 days ago"}},
		{"no name", []*x509.Certificate{good.leaf, good.inter}, good.roots, "",
			TLSInfo{Trusted: true, HostnameError: "no host name to check the certificate against"},
			[]string{"no host name to check the certificate against"}},
		{"IP not in the SANs", []*x509.Certificate{good.leaf, good.inter}, good.roots, "192.0.2.1",
			TLSInfo{Trusted: true, HostnameError: "cannot validate certificate for 192.0.2.1 because it doesn't contain any IP SANs"},
			[]string{"cannot validate certificate for 192.0.2.1 because it doesn't contain any IP SANs"}},
		{"no certificate", nil, good.roots, testHost,
			TLSInfo{TrustError: "server presented no certificate", HostnameError: "server presented no certificate"},
			[]string{"server presented no certificate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info := newTLSInfo(tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: tc.certs}, testHost, now, 0)
			errs := info.judge(&tls.Config{RootCAs: tc.roots}, tc.host)
			if len(errs) != len(tc.problems) {
				t.Errorf("%d errors for %d problems: %v", len(errs), len(tc.problems), errs)
			}
			type verdicts struct {
				Trusted, HostnameMatch, Expired, NotYetValid, Verified bool
				TrustError, HostnameError, ValidityError               string
				Problems                                               []string
			}
			got := verdicts{info.Trusted, info.HostnameMatch, info.Expired, info.NotYetValid, info.Verified,
				info.TrustError, info.HostnameError, info.ValidityError, info.Problems}
			w := tc.want
			want := verdicts{w.Trusted, w.HostnameMatch, w.Expired, w.NotYetValid, w.Verified,
				w.TrustError, w.HostnameError, w.ValidityError, tc.problems}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
			if info.Trusted && len(info.State.VerifiedChains) == 0 {
				t.Error("trusted without a verified chain")
			}
		})
	}
}

func TestTrustTime(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := func(from, until int) *x509.Certificate {
		return &x509.Certificate{NotBefore: base.AddDate(0, 0, from), NotAfter: base.AddDate(0, 0, until)}
	}
	cases := []struct {
		name  string
		certs []*x509.Certificate
		at    int
		want  int
	}{
		{"inside", []*x509.Certificate{cert(0, 10), cert(-5, 20)}, 3, 3},
		{"after the leaf", []*x509.Certificate{cert(0, 10), cert(-5, 20)}, 15, 10},
		{"after the intermediate", []*x509.Certificate{cert(0, 30), cert(-5, 20)}, 25, 20},
		{"before", []*x509.Certificate{cert(0, 10), cert(2, 20)}, -1, 2},
		{"no common period", []*x509.Certificate{cert(0, 10), cert(11, 20)}, 5, 5},
	}
	for _, tc := range cases {
		if got := trustTime(tc.certs, base.AddDate(0, 0, tc.at)); !got.Equal(base.AddDate(0, 0, tc.want)) {
			t.Errorf("%s: %v, want day %d", tc.name, got, tc.want)
		}
	}
}

func TestDays(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		d       time.Duration
		in, ago string
	}{
		{time.Hour, "less than a day", "less than a day ago"},
		{day + time.Hour, "1 day", "1 day ago"},
		{3*day + time.Second, "3 days", "3 days ago"},
	}
	for _, tc := range cases {
		if got, ago := days(tc.d), daysAgo(tc.d); got != tc.in || ago != tc.ago {
			t.Errorf("days(%v) = %q, daysAgo = %q; want %q, %q", tc.d, got, ago, tc.in, tc.ago)
		}
	}
}

// TestTLSInfoJSON checks the snake_case keys and that State stays out.
func TestTLSInfoJSON(t *testing.T) {
	p := newPKI(t)
	now := time.Now()
	st := tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, CurveID: tls.X25519,
		PeerCertificates: []*x509.Certificate{p.WrongName.Leaf}, OCSPResponse: []byte{1}}
	info := newTLSInfo(st, testHost, now, time.Millisecond)
	info.judge(&tls.Config{RootCAs: p.CAPool()}, testHost)
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"chain", "cipher_suite", "cipher_suite_name", "expired", "handshake_duration_ns", "handshake_time",
		"hostname_error", "hostname_match", "key_exchange", "not_yet_valid", "ocsp_stapled", "problems", "resumed",
		"server_name", "trusted", "verified", "verify_name", "version", "version_name"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys\n got %q\nwant %q", keys, want)
	}
	if m["version_name"] != "TLS 1.3" || m["cipher_suite_name"] != "TLS_AES_128_GCM_SHA256" || m["key_exchange"] != "X25519" ||
		m["ocsp_stapled"] != true || m["handshake_duration_ns"] != float64(time.Millisecond) {
		t.Errorf("values %v", m)
	}
	leaf := m["chain"].([]any)[0].(map[string]any)
	if leaf["sha256"] != sha256Hex(p.WrongName.Leaf.Raw) || leaf["key_type"] != "ECDSA" || leaf["dns_names"].([]any)[0] != "wrong.example.test" {
		t.Errorf("chain[0] %v", leaf)
	}
	var back TLSInfo
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(&back)
	if err != nil || string(again) != string(b) {
		t.Errorf("JSON round trip\n got %s\nwant %s", again, b)
	}
}

func TestCertName(t *testing.T) {
	cases := []struct {
		cert *x509.Certificate
		want string
	}{
		{&x509.Certificate{Subject: pkix.Name{CommonName: "cn.example"}, DNSNames: []string{"dns.example"}}, "cn.example"},
		{&x509.Certificate{DNSNames: []string{"dns.example"}}, "dns.example"},
		{&x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.0.2.7")}}, "192.0.2.7"},
		{&x509.Certificate{Subject: pkix.Name{Organization: []string{"Org"}}}, "O=Org"},
	}
	for _, tc := range cases {
		if got := certName(tc.cert); got != tc.want {
			t.Errorf("certName = %q, want %q", got, tc.want)
		}
	}
}
