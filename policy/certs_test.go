package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// testNow is the time the test chains are valid at.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// pki is a small PKI made for the tests: a root CA, an intermediate under
// it, leaves, and an unrelated CA.
type pki struct {
	root, inter, otherCA           *x509.Certificate
	leaf                           *x509.Certificate // mx1.example.test, issued by root
	leafViaInter                   *x509.Certificate // mx1.example.test, issued by inter
	wildLeaf                       *x509.Certificate // *.example.test, issued by root
	expiredLeaf                    *x509.Certificate // expired, named other.invalid, issued by root
	otherLeaf                      *x509.Certificate // mx1.example.test, issued by otherCA
	renewedLeaf                    *x509.Certificate // the leaf's key in a new certificate
	nextLeaf                       *x509.Certificate // a new key for mx1.example.test
	selfSigned                     *x509.Certificate // mx1.example.test, its own issuer
	expiredRoot                    *x509.Certificate // a CA whose validity has ended
	clockRoot, clockLeaf           *x509.Certificate // valid around the real clock, not testNow
	leafOfExpired                  *x509.Certificate // mx1.example.test, valid, issued by expiredRoot
	cnLeaf, cnWildLeaf             *x509.Certificate // CN MX1.example.test and *.example.test, no DNS names
	sanAndCN                       *x509.Certificate // CN example.test, DNS name mx1.example.test
	rootKey, interKey, otherCAKey  crypto.Signer
	leafKey, nextKey, selfSignedKy crypto.Signer
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue makes a certificate for pub, signed by parent's key (self-signed
// when parent is nil).
func issue(t testing.TB, name string, dns []string, ca bool, notBefore, notAfter time.Time,
	pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              dns,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{}
	from, to := testNow.Add(-24*time.Hour), testNow.Add(90*24*time.Hour)
	mx := []string{"mx1.example.test"}
	p.rootKey, p.interKey, p.otherCAKey = newKey(t), newKey(t), newKey(t)
	p.leafKey, p.nextKey, p.selfSignedKy = newKey(t), newKey(t), newKey(t)
	p.root = issue(t, "Test Root", nil, true, from, to, p.rootKey.Public(), nil, p.rootKey)
	p.inter = issue(t, "Test Intermediate", nil, true, from, to, p.interKey.Public(), p.root, p.rootKey)
	p.otherCA = issue(t, "Other CA", nil, true, from, to, p.otherCAKey.Public(), nil, p.otherCAKey)
	p.leaf = issue(t, "mx1.example.test", mx, false, from, to, p.leafKey.Public(), p.root, p.rootKey)
	p.leafViaInter = issue(t, "mx1.example.test", mx, false, from, to, p.leafKey.Public(), p.inter, p.interKey)
	p.wildLeaf = issue(t, "*.example.test", []string{"*.example.test"}, false, from, to, p.leafKey.Public(), p.root, p.rootKey)
	p.expiredLeaf = issue(t, "other.invalid", []string{"other.invalid"}, false,
		testNow.Add(-400*24*time.Hour), testNow.Add(-10*24*time.Hour), p.leafKey.Public(), p.root, p.rootKey)
	p.otherLeaf = issue(t, "mx1.example.test", mx, false, from, to, p.leafKey.Public(), p.otherCA, p.otherCAKey)
	p.renewedLeaf = issue(t, "mx1.example.test", mx, false, from, to.Add(time.Hour), p.leafKey.Public(), p.root, p.rootKey)
	p.nextLeaf = issue(t, "mx1.example.test", mx, false, from, to, p.nextKey.Public(), p.root, p.rootKey)
	p.expiredRoot = issue(t, "Expired Root", nil, true, testNow.Add(-400*24*time.Hour), testNow.Add(-time.Hour),
		p.otherCAKey.Public(), nil, p.otherCAKey)
	p.leafOfExpired = issue(t, "mx1.example.test", mx, false, from, to, p.leafKey.Public(), p.expiredRoot, p.otherCAKey)
	now := time.Now()
	p.clockRoot = issue(t, "Clock Root", nil, true, now.Add(-time.Hour), now.Add(time.Hour), p.rootKey.Public(), nil, p.rootKey)
	p.clockLeaf = issue(t, "mx1.example.test", mx, false, now.Add(-time.Hour), now.Add(time.Hour), p.leafKey.Public(), p.clockRoot, p.rootKey)
	p.selfSigned = issue(t, "mx1.example.test", mx, false, from, to, p.selfSignedKy.Public(), nil, p.selfSignedKy)
	p.cnLeaf = issue(t, "MX1.example.test", nil, false, from, to, p.leafKey.Public(), p.root, p.rootKey)
	p.cnWildLeaf = issue(t, "*.example.test", nil, false, from, to, p.leafKey.Public(), p.root, p.rootKey)
	p.sanAndCN = issue(t, "example.test", mx, false, from, to, p.leafKey.Public(), p.root, p.rootKey)
	return p
}

// rec makes the TLSA record of usage u, selector s and matching type m for c.
func rec(u, s, m uint8, c *x509.Certificate) TLSA {
	content := c.Raw
	if s == SelectorSPKI {
		content = c.RawSubjectPublicKeyInfo
	}
	var data []byte
	switch m {
	case MatchingSHA256:
		sum := sha256.Sum256(content)
		data = sum[:]
	case MatchingSHA512:
		sum := sha512.Sum512(content)
		data = sum[:]
	default:
		data = append([]byte(nil), content...)
	}
	return TLSA{Usage: u, Selector: s, MatchingType: m, Data: data}
}
