package fakeserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync"
	"time"
)

// PKI is a throw-away test CA with leaf certificates for every TLS failure
// mode a client should detect. All keys are ECDSA P-256 except ValidRSA's.
type PKI struct {
	// Hostname is the name the valid certificates are issued for.
	Hostname string
	// Valid is signed by the CA for Hostname, "localhost", 127.0.0.1, ::1.
	Valid tls.Certificate
	// SelfSigned is a self-signed certificate for the same names.
	SelfSigned tls.Certificate
	// UnknownCA is signed by another CA that is not exported.
	UnknownCA tls.Certificate
	// WrongName is signed by the CA for "wrong.example.test" only.
	WrongName tls.Certificate
	// Expired is signed by the CA and expired yesterday.
	Expired tls.Certificate
	// NotYetValid is signed by the CA and valid from tomorrow.
	NotYetValid tls.Certificate

	ca    *x509.Certificate
	caKey crypto.Signer
	caPEM []byte

	rsaOnce sync.Once
	rsaCert tls.Certificate
	rsaErr  error
}

// leafSpec describes one leaf certificate to issue.
type leafSpec struct {
	names     []string
	notBefore time.Time
	notAfter  time.Time
}

// NewPKI generates a CA and the leaf certificates for hostname.
func NewPKI(hostname string) (*PKI, error) {
	if hostname == "" {
		hostname = DefaultHostname
	}
	p := &PKI{Hostname: hostname}
	var err error
	if p.ca, p.caKey, err = newCA("fakeserver test CA"); err != nil {
		return nil, err
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw})
	other, otherKey, err := newCA("fakeserver unknown CA")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	good := leafSpec{[]string{hostname, "localhost", "127.0.0.1", "::1"}, now.Add(-time.Hour), now.Add(365 * 24 * time.Hour)}
	jobs := []struct {
		dst    *tls.Certificate
		spec   leafSpec
		parent *x509.Certificate
		key    crypto.Signer
	}{
		{&p.Valid, good, p.ca, p.caKey},
		{&p.SelfSigned, good, nil, nil},
		{&p.UnknownCA, good, other, otherKey},
		{&p.WrongName, leafSpec{[]string{"wrong.example.test"}, good.notBefore, good.notAfter}, p.ca, p.caKey},
		{&p.Expired, leafSpec{good.names, now.Add(-48 * time.Hour), now.Add(-24 * time.Hour)}, p.ca, p.caKey},
		{&p.NotYetValid, leafSpec{good.names, now.Add(24 * time.Hour), now.Add(48 * time.Hour)}, p.ca, p.caKey},
	}
	for _, j := range jobs {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		if *j.dst, err = issue(j.spec, key, j.parent, j.key); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ValidRSA returns a certificate like Valid but with an RSA-2048 key. The
// key is generated on first use.
func (p *PKI) ValidRSA() (tls.Certificate, error) {
	p.rsaOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			p.rsaErr = err
			return
		}
		spec := leafSpec{[]string{p.Hostname, "localhost", "127.0.0.1", "::1"}, time.Now().Add(-time.Hour), time.Now().Add(365 * 24 * time.Hour)}
		p.rsaCert, p.rsaErr = issue(spec, key, p.ca, p.caKey)
	})
	return p.rsaCert, p.rsaErr
}

// CACert returns the CA certificate.
func (p *PKI) CACert() *x509.Certificate { return p.ca }

// CACertPEM returns the CA certificate in PEM form.
func (p *PKI) CACertPEM() []byte { return append([]byte(nil), p.caPEM...) }

// CAPool returns a pool holding only the CA certificate.
func (p *PKI) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// WriteCAFile writes the CA certificate in PEM form to path (mode 0644).
func (p *PKI) WriteCAFile(path string) error {
	return os.WriteFile(path, p.caPEM, 0o644)
}

// ClientConfig returns a client TLS configuration trusting only the CA,
// with ServerName set to the PKI's hostname.
func (p *PKI) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.CAPool(), ServerName: p.Hostname}
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
}

func newCA(name string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"fakeserver"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("fakeserver: CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// issue creates a leaf certificate; a nil parent makes it self-signed.
func issue(spec leafSpec, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer) (tls.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: spec.names[0]},
		NotBefore:    spec.notBefore,
		NotAfter:     spec.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range spec.names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fakeserver: certificate %s: %w", spec.names[0], err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ClientCert issues a client certificate (extended key usage clientAuth
// only) for commonName, signed by the CA.
func (p *PKI) ClientCert(commonName string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	sn, err := serial()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"fakeserver"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fakeserver: client certificate %s: %w", commonName, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerConfig returns a server TLS configuration for Config.TLSConfig:
// the Valid certificate, TLS 1.0 and up, and client certificates handled
// as auth says. With tls.VerifyClientCertIfGiven and
// tls.RequireAndVerifyClientCert they are verified against the CA (and the
// server names the CA when it asks); with tls.RequestClientCert and
// tls.RequireAnyClientCert it names none and takes any certificate.
func (p *PKI) ServerConfig(auth tls.ClientAuthType) *tls.Config {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{p.Valid},
		MinVersion:   tls.VersionTLS10,
		ClientAuth:   auth,
	}
	if auth >= tls.VerifyClientCertIfGiven {
		cfg.ClientCAs = p.CAPool()
	}
	return cfg
}
