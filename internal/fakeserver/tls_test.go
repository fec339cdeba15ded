package fakeserver_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func TestSTARTTLS(t *testing.T) {
	srv := start(t, fakeserver.Config{TLSCert: &testPKI.Valid, Users: map[string]string{"u": "p"}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	plain := cl.cmd("EHLO c", 250)
	if !slices.Contains(plain, "STARTTLS") || slices.ContainsFunc(plain, isAuthLine) {
		t.Fatalf("plaintext EHLO %q", plain)
	}
	cl.cmd("STARTTLS extra", 501)
	cl.send("STARTTLS\r\nMAIL FROM:<injected@x>\r\n") // pipelined plaintext must be dropped
	cl.expect(220)
	tc := tls.Client(cl.c, testPKI.ClientConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cl.c, cl.r = tc, newReader(tc)
	cl.cmd("MAIL FROM:<a@b.test>", 503) // EHLO state forgotten
	secure := cl.cmd("EHLO c", 250)
	want := []string{"mail.example.test", "PIPELINING", "SIZE 36360000", "AUTH PLAIN LOGIN CRAM-MD5", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"}
	if !reflect.DeepEqual(secure, want) {
		t.Fatalf("TLS EHLO %q", secure)
	}
	cl.cmd("STARTTLS", 554)
	cl.cmd("MAIL FROM:<a@b.test>", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.cmd("DATA", 354)
	cl.send("secret\r\n.\r\n")
	cl.expect(250)
	cl.cmd("QUIT", 221)

	rec := waitOne(t, srv)
	if !rec.TLS || rec.ServerName != "mail.example.test" || rec.TLSVersion != tls.VersionTLS13 {
		t.Fatalf("TLS record %+v", rec)
	}
	if got := string(rec.ClientPlain()); got != "EHLO c\r\nSTARTTLS extra\r\nSTARTTLS\r\nMAIL FROM:<injected@x>\r\n" {
		t.Fatalf("plaintext %q", got)
	}
	if string(rec.Discarded) != "MAIL FROM:<injected@x>\r\n" {
		t.Fatalf("discarded %q", rec.Discarded)
	}
	if !bytes.HasPrefix(rec.ClientTLS(), []byte("MAIL FROM:<a@b.test>\r\nEHLO c\r\n")) {
		t.Fatalf("TLS bytes %q", rec.ClientTLS())
	}
	if !bytes.HasPrefix(rec.ServerBytes[rec.ServerTLSOffset:], []byte("503 ")) {
		t.Fatalf("server TLS bytes %q", rec.ServerBytes[rec.ServerTLSOffset:])
	}
	if rec.Commands[2].TLS || !rec.Commands[3].TLS {
		t.Fatalf("command TLS flags %+v", rec.Commands)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || string(msgs[0].Data) != "secret\r\n" {
		t.Fatalf("messages %+v", msgs)
	}
}

func isAuthLine(l string) bool { return len(l) >= 4 && l[:4] == "AUTH" }

func TestImplicitTLS(t *testing.T) {
	if _, err := fakeserver.Start(fakeserver.Config{ImplicitTLS: true}); err == nil {
		t.Fatal("ImplicitTLS without certificate accepted")
	}
	srv := start(t, fakeserver.Config{TLSCert: &testPKI.Valid, ImplicitTLS: true})
	cl := dialTLS(t, srv.Addr(), testPKI.ClientConfig())
	cl.expect(220)
	if l := cl.cmd("EHLO c", 250); slices.Contains(l, "STARTTLS") || !slices.ContainsFunc(l, isAuthLine) {
		t.Fatalf("EHLO %q", l)
	}
	cl.cmd("QUIT", 221)
	rec := waitOne(t, srv)
	if !rec.TLS || rec.ClientTLSOffset != 0 || rec.ServerTLSOffset != 0 {
		t.Fatalf("record %+v", rec)
	}
}

func TestRequireTLS(t *testing.T) {
	srv := start(t, fakeserver.Config{TLSCert: &testPKI.Valid, RequireTLS: true, AuthBeforeTLS: true})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	l := cl.cmd("EHLO c", 250)
	if !slices.Contains(l, "AUTH PLAIN LOGIN CRAM-MD5") {
		t.Fatalf("EHLO %q", l)
	}
	if l := cl.cmd("MAIL FROM:<a@b>", 530); l[0] != "5.7.0 Must issue a STARTTLS command first" {
		t.Fatalf("MAIL %q", l)
	}
	cl.cmd("AUTH PLAIN", 530)
	cl.startTLS(testPKI.ClientConfig())
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<a@b>", 250)
}

func TestTLSHandshakeFailureEndsSession(t *testing.T) {
	srv := start(t, fakeserver.Config{TLSCert: &testPKI.SelfSigned})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("STARTTLS", 220)
	tc := tls.Client(cl.c, testPKI.ClientConfig())
	var uerr x509.UnknownAuthorityError
	if err := tc.Handshake(); !errors.As(err, &uerr) {
		t.Fatalf("handshake error %v", err)
	}
	rec := waitOne(t, srv)
	if rec.TLS || rec.Err == nil {
		t.Fatalf("record %+v", rec)
	}
}

func TestPKI(t *testing.T) {
	p := testPKI
	verify := func(c tls.Certificate, name string) error {
		_, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: p.CAPool()})
		return err
	}
	if err := verify(p.Valid, "mail.example.test"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := verify(p.Valid, n); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	checks := []struct {
		name string
		c    tls.Certificate
		want any
	}{
		{"SelfSigned", p.SelfSigned, &ua},
		{"UnknownCA", p.UnknownCA, &ua},
		{"WrongName", p.WrongName, &hn},
		{"Expired", p.Expired, &ci},
		{"NotYetValid", p.NotYetValid, &ci},
	}
	for _, c := range checks {
		if err := verify(c.c, "mail.example.test"); err == nil || !errors.As(err, c.want) {
			t.Errorf("%s: got %v", c.name, err)
		}
		if _, ok := c.c.PrivateKey.(*ecdsa.PrivateKey); !ok {
			t.Errorf("%s: key %T", c.name, c.c.PrivateKey)
		}
	}
	if ci.Reason != x509.Expired {
		t.Errorf("reason %v", ci.Reason)
	}
	if !p.CACert().IsCA || !bytes.Contains(p.CACertPEM(), []byte("BEGIN CERTIFICATE")) {
		t.Fatal("bad CA")
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := p.WriteCAFile(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, p.CACertPEM()) {
		t.Fatal("CA file differs")
	}
}

func TestPKIRSA(t *testing.T) {
	c, err := testPKI.ValidRSA()
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := c.PrivateKey.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("key %T", c.PrivateKey)
	}
	srv := start(t, fakeserver.Config{TLSCert: &c, ImplicitTLS: true})
	cl := dialTLS(t, srv.Addr(), testPKI.ClientConfig())
	cl.expect(220)
	if _, ok := cl.c.(*tls.Conn).ConnectionState().PeerCertificates[0].PublicKey.(*rsa.PublicKey); !ok {
		t.Fatal("server did not present the RSA certificate")
	}
}

func TestPKISpeed(t *testing.T) {
	t0 := time.Now()
	if _, err := fakeserver.NewPKI(""); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("NewPKI took %v", d)
	}
}
