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

// TestCipherSuiteName checks the shortcut against crypto/tls for every
// suite it knows, and an unknown one.
func TestCipherSuiteName(t *testing.T) {
	suites := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	ids := []uint16{0, 0x1305, 0xfefe}
	for _, s := range suites {
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		if got, want := cipherSuiteName(id), tls.CipherSuiteName(id); got != want {
			t.Errorf("cipherSuiteName(%#04x) = %q, want %q", id, got, want)
		}
	}
}
