package fakeserver_test

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func externalServer(t *testing.T, auth tls.ClientAuthType) *fakeserver.Server {
	t.Helper()
	return start(t, fakeserver.Config{
		TLSConfig: testPKI.ServerConfig(auth),
		SASL:      map[string]func(*fakeserver.Session) sasl.Server{"EXTERNAL": fakeserver.External},
	})
}

func clientWithCert(t *testing.T, cert tls.Certificate) *tls.Config {
	t.Helper()
	cfg := testPKI.ClientConfig()
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

func TestClientCertificateAndExternal(t *testing.T) {
	cert, err := testPKI.ClientCert("alice-device")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, auth, answer string // answer: the line after a 334, if any
		want               string
	}{
		{"initial-empty", "AUTH EXTERNAL =", "", "alice-device"},
		{"initial-authzid", "AUTH EXTERNAL " + b64("bob"), "", "bob"},
		{"challenge", "AUTH EXTERNAL", "=", "alice-device"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := externalServer(t, tls.VerifyClientCertIfGiven)
			cl := dial(t, srv.Addr())
			cl.expect(220)
			cl.cmd("EHLO c", 250)
			cl.startTLS(clientWithCert(t, cert))
			ehlo := cl.cmd("EHLO c", 250)
			if !slices.ContainsFunc(ehlo, func(l string) bool { return strings.HasPrefix(l, "AUTH ") && strings.HasSuffix(l, " EXTERNAL") }) {
				t.Fatalf("EHLO %q", ehlo)
			}
			if c.answer != "" {
				if l := cl.cmd(c.auth, 334); l[0] != "" {
					t.Fatalf("challenge %q", l)
				}
				cl.cmd(c.answer, 235)
			} else {
				cl.cmd(c.auth, 235)
			}
			cl.cmd("QUIT", 221)
			rec := waitOne(t, srv)
			if rec.ClientCert == nil || rec.ClientCert.Subject.CommonName != "alice-device" || !rec.ClientCertVerified {
				t.Fatalf("client certificate %v, verified %v", rec.ClientCert, rec.ClientCertVerified)
			}
			if rec.AuthUser != c.want {
				t.Fatalf("authenticated as %q, want %q", rec.AuthUser, c.want)
			}
		})
	}
}

func TestExternalRefused(t *testing.T) {
	t.Run("no-certificate", func(t *testing.T) {
		srv := externalServer(t, tls.VerifyClientCertIfGiven)
		cl := dial(t, srv.Addr())
		cl.expect(220)
		cl.cmd("EHLO c", 250)
		cl.startTLS(testPKI.ClientConfig())
		cl.cmd("EHLO c", 250)
		cl.cmd("AUTH EXTERNAL =", 535)
		cl.cmd("QUIT", 221)
		if rec := waitOne(t, srv); rec.ClientCert != nil || rec.AuthUser != "" {
			t.Fatalf("certificate %v, user %q", rec.ClientCert, rec.AuthUser)
		}
	})
	t.Run("unverified-certificate", func(t *testing.T) {
		srv := externalServer(t, tls.RequestClientCert)
		cl := dial(t, srv.Addr())
		cl.expect(220)
		cl.cmd("EHLO c", 250)
		cl.startTLS(clientWithCert(t, testPKI.SelfSigned))
		cl.cmd("EHLO c", 250)
		cl.cmd("AUTH EXTERNAL =", 535)
		cl.cmd("QUIT", 221)
		rec := waitOne(t, srv)
		if rec.ClientCert == nil || rec.ClientCertVerified || rec.AuthUser != "" {
			t.Fatalf("certificate %v, verified %v, user %q", rec.ClientCert, rec.ClientCertVerified, rec.AuthUser)
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		srv := start(t, fakeserver.Config{
			AuthBeforeTLS: true,
			SASL:          map[string]func(*fakeserver.Session) sasl.Server{"EXTERNAL": fakeserver.External},
		})
		cl := dial(t, srv.Addr())
		cl.expect(220)
		cl.cmd("EHLO c", 250)
		cl.cmd("AUTH EXTERNAL =", 535)
	})
	t.Run("required-and-missing", func(t *testing.T) {
		srv := externalServer(t, tls.RequireAndVerifyClientCert)
		cl := dial(t, srv.Addr())
		cl.expect(220)
		cl.cmd("EHLO c", 250)
		cl.cmd("STARTTLS", 220)
		tc := tls.Client(cl.c, testPKI.ClientConfig())
		err := tc.Handshake()
		if err == nil { // TLS 1.3: the server's refusal comes with the first read
			_, err = tc.Read(make([]byte, 1))
		}
		if err == nil {
			t.Fatal("handshake without the required certificate worked")
		}
		if rec := waitOne(t, srv); rec.Err == nil || rec.TLS {
			t.Fatalf("err %v, TLS %v", rec.Err, rec.TLS)
		}
	})
}

func TestTLSVersionRange(t *testing.T) {
	versions := []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}
	for _, v := range versions {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cfg := testPKI.ServerConfig(tls.NoClientCert)
			cfg.MinVersion, cfg.MaxVersion = v, v
			srv := start(t, fakeserver.Config{TLSConfig: cfg})
			for _, other := range versions {
				cl := dial(t, srv.Addr())
				cl.expect(220)
				cl.cmd("EHLO c", 250)
				cl.cmd("STARTTLS", 220)
				ccfg := testPKI.ClientConfig()
				ccfg.MinVersion, ccfg.MaxVersion = other, other
				tc := tls.Client(cl.c, ccfg)
				err := tc.Handshake()
				if (err == nil) != (other == v) {
					t.Fatalf("client %s: handshake error %v", tls.VersionName(other), err)
				}
				_ = cl.c.Close()
			}
			recs, err := srv.WaitSessions(len(versions), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range recs {
				if rec.TLS != (rec.TLSVersion == v) {
					t.Fatalf("session %d: TLS %v version %x", rec.ID, rec.TLS, rec.TLSVersion)
				}
			}
		})
	}
}
