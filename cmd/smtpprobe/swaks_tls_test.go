package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// pinnedServer is a STARTTLS server that accepts TLS versions min to max.
func pinnedServer(t *testing.T, pki *testPKI, min, max uint16) *fakeserver.Server {
	t.Helper()
	return fakeserver.NewTB(t, fakeserver.Config{TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{pki.Valid}, MinVersion: min, MaxVersion: max}})
}

// TestTLSVersionFlags: -tls-min and -tls-max bound what is offered, and
// -ciphers picks the suite of TLS 1.2 and older.
func TestTLSVersionFlags(t *testing.T) {
	pki := newTestPKI(t)
	srv := pinnedServer(t, pki, tls.VersionTLS10, tls.VersionTLS12)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-tls-max", "1.1", "-tls-min", "1.1"}, exitOK, "TLS:       TLS 1.1 "},
		{[]string{"-tls-min", "1.3"}, exitTLS, "protocol version"},
		{[]string{"-tls-max", "1.2", "-ciphers", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"}, exitOK, "TLS:       TLS 1.2 TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,"},
		{[]string{}, exitOK, "TLS:       TLS 1.2 "},
	} {
		args := append(tt.args, "-starttls", "-cafile", pki.caFile, "-server-name", pki.Hostname, "-quit-after", "tls", srv.Addr())
		r := runCLI(t, args...)
		if r.code != tt.code || !bytes.Contains([]byte(r.stdout), []byte(tt.want)) {
			t.Errorf("%q: exit %d, want %d and %q in\n%s%s", tt.args, r.code, tt.code, tt.want, r.stdout, r.stderr)
		}
	}
}

// writeCertFiles writes cert and its key as PEM files.
func writeCertFiles(t *testing.T, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	for _, f := range [...]struct {
		name, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", cert.Certificate[0]}, {keyFile, "PRIVATE KEY", key}} {
		if err := os.WriteFile(f.name, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// TestClientCertificate: -cert and -key present a client certificate that
// a server asking for one verifies, and -auth EXTERNAL authenticates with
// it.
func TestClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	client, err := pki.ClientCert("alice@example.test")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCertFiles(t, client)
	srv := fakeserver.NewTB(t, fakeserver.Config{TLSConfig: pki.ServerConfig(tls.RequireAndVerifyClientCert),
		SASL: map[string]func(*fakeserver.Session) sasl.Server{"EXTERNAL": fakeserver.External}})
	r := runCLI(t, "-starttls", "-cafile", pki.caFile, "-server-name", pki.Hostname, "-cert", certFile, "-key", keyFile,
		"-auth", "EXTERNAL", "-quit-after", "auth", srv.Addr())
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rec := onlySession(t, srv)
	if rec.ClientCert == nil || !rec.ClientCertVerified || rec.ClientCert.Subject.CommonName != "alice@example.test" {
		t.Errorf("server saw client certificate %v (verified %v)", rec.ClientCert, rec.ClientCertVerified)
	}
	assertContains(t, r.stdout, "C: AUTH EXTERNAL", "S: 235", "Auth:      EXTERNAL accepted")
	if r := runCLI(t, "-starttls", "-cafile", pki.caFile, "-server-name", pki.Hostname, "-quit-after", "tls", srv.Addr()); r.code != exitTLS {
		t.Errorf("without -cert: exit %d, want %d", r.code, exitTLS)
	}
}

// TestSaveChain: -save-chain writes the chain the server presented, also
// when it did not verify; without TLS it says there is none.
func TestSaveChain(t *testing.T) {
	pki := newTestPKI(t)
	for _, tt := range []struct {
		name string
		cert tls.Certificate
		args []string
		code int
	}{
		{"trusted", pki.Valid, []string{"-cafile", pki.caFile, "-server-name", pki.Hostname}, exitOK},
		{"self-signed, -insecure", pki.SelfSigned, []string{"-insecure"}, exitOK},
		{"self-signed, refused", pki.SelfSigned, nil, exitTLS},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := tlsServer(t, tt.cert, nil)
			file := filepath.Join(t.TempDir(), "chain.pem")
			r := runCLI(t, append(tt.args, "-quit-after", "tls", "-save-chain", file, srv.Addr())...)
			if r.code != tt.code {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			block, rest := pem.Decode(b)
			if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, tt.cert.Certificate[0]) || len(bytes.TrimSpace(rest)) != 0 {
				t.Errorf("saved chain %q", b)
			}
		})
	}
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	file := filepath.Join(t.TempDir(), "chain.pem")
	r := runCLI(t, "-quit-after", "ehlo", "-save-chain", file, srv.Addr())
	if _, err := os.Stat(file); err == nil || r.code != exitOK || !bytes.Contains([]byte(r.stderr), []byte("no certificate to save")) {
		t.Errorf("no TLS: exit %d, stderr %q, file %v", r.code, r.stderr, err)
	}
}
