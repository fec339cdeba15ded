package probe_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/mta"
)

const (
	testLeafSubject = "CN=mail.example.test,O=smtpprobe tests"
	testCASubject   = "CN=smtpprobe test CA,O=smtpprobe tests"
)

func tlsServers() []mta.Server {
	return []mta.Server{mta.PostfixMX(), mta.PostfixSubmission(), mta.PostfixSMTPS(), mta.DovecotLMTP(), mta.Exim()}
}

// secureWith opens a TLS session to s with cfg: STARTTLS after EHLO, or
// implicit TLS. It returns the TLS report, or the error of the step that
// failed.
func secureWith(s mta.Server, t *testing.T, cfg *tls.Config) (*probe.Conn, *probe.TLSInfo, error) {
	t.Helper()
	ctx := mta.Context(t)
	d := &probe.Dialer{LocalName: "probe.example.test", TLSConfig: cfg, LMTP: s.LMTP}
	if s.Implicit {
		c, err := d.DialTLS(ctx, s.Addr(t))
		if err != nil {
			return nil, nil, err
		}
		mta.CloseWithQuit(t, c)
		return c, c.TLS(), nil
	}
	c := s.DialWith(t, ctx, d)
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	info, err := c.StartTLS(ctx, nil)
	return c, info, err
}

// verifyStep is the step a *TLSError names when verification fails.
func verifyStep(s mta.Server) string {
	if s.Implicit {
		return "TLS verify"
	}
	return "STARTTLS verify"
}

// checkTestCert checks what TLSInfo says about the environment's
// certificate, whatever the verdicts.
func checkTestCert(t *testing.T, info *probe.TLSInfo) {
	t.Helper()
	if info.Version < tls.VersionTLS12 || !strings.HasPrefix(info.VersionName, "TLS 1.") {
		t.Errorf("version = %#x %q, want TLS 1.2 or later", info.Version, info.VersionName)
	}
	if info.CipherSuiteName == "" || info.CipherSuiteName != tls.CipherSuiteName(info.CipherSuite) {
		t.Errorf("cipher suite = %#x %q", info.CipherSuite, info.CipherSuiteName)
	}
	if info.HandshakeDuration <= 0 || info.HandshakeTime.IsZero() {
		t.Errorf("handshake time %v, duration %v", info.HandshakeTime, info.HandshakeDuration)
	}
	if len(info.Chain) == 0 {
		t.Fatal("empty chain")
	}
	leaf := info.Chain[0]
	if leaf.Subject != testLeafSubject || leaf.Issuer != testCASubject {
		t.Errorf("leaf subject %q issuer %q, want %q by %q", leaf.Subject, leaf.Issuer, testLeafSubject, testCASubject)
	}
	if !slices.Contains(leaf.DNSNames, "mail.example.test") || !slices.Contains(leaf.IPAddresses, "127.0.0.1") {
		t.Errorf("leaf names %v %v, want mail.example.test and 127.0.0.1", leaf.DNSNames, leaf.IPAddresses)
	}
	// .ci/mta-up issues the certificate for 30 days at every start.
	if leaf.DaysLeft <= 0 || leaf.DaysLeft > 30 {
		t.Errorf("leaf DaysLeft = %d, want 1..30", leaf.DaysLeft)
	}
	if leaf.KeyType != "RSA" || leaf.KeyBits != 2048 || leaf.IsCA || leaf.SelfSigned || len(leaf.SHA256) != 64 {
		t.Errorf("leaf key %s/%d CA %v self-signed %v sha256 %q", leaf.KeyType, leaf.KeyBits, leaf.IsCA, leaf.SelfSigned, leaf.SHA256)
	}
	if info.Expired || info.NotYetValid || info.ValidityError != "" {
		t.Errorf("validity: expired %v not yet valid %v %q", info.Expired, info.NotYetValid, info.ValidityError)
	}
}

// TestIntegrationTLSVerdicts runs STARTTLS (implicit TLS on SMTPS) on every
// endpoint with the test CA trusted, with the system pool, with the wrong
// name, with no name (the IP address) and without verification, and checks
// the verdicts and the errors.
func TestIntegrationTLSVerdicts(t *testing.T) {
	mta.RequireMTA(t)
	for _, srv := range tlsServers() {
		t.Run(srv.Name, func(t *testing.T) {
			name := mta.RequireEnv(t, mta.EnvServerName)[0]
			t.Run("trusted", func(t *testing.T) {
				c, info, err := secureWith(srv, t, &tls.Config{RootCAs: mta.Roots(t), ServerName: name})
				if err != nil {
					t.Fatalf("TLS with the test CA: %v", err)
				}
				checkTestCert(t, info)
				if !info.Verified || !info.Trusted || !info.HostnameMatch || len(info.Problems) != 0 {
					t.Errorf("verdicts: verified %v trusted %v hostname %v problems %q", info.Verified, info.Trusted, info.HostnameMatch, info.Problems)
				}
				if info.ServerName != name || info.VerifyName != name || info.InsecureSkipVerify {
					t.Errorf("SNI %q, checked against %q, insecure %v; want %q", info.ServerName, info.VerifyName, info.InsecureSkipVerify, name)
				}
				if c.TLS() != info {
					t.Errorf("Conn.TLS() is not the TLSInfo the handshake returned")
				}
			})
			t.Run("system-pool", func(t *testing.T) {
				c, info, err := secureWith(srv, t, &tls.Config{ServerName: name})
				var te *probe.TLSError
				if !errors.As(err, &te) {
					t.Fatalf("TLS with the system pool: info %v, err %v; want a *TLSError", info, err)
				}
				if te.Step != verifyStep(srv) || te.Info == nil {
					t.Fatalf("TLSError step %q info %v, want %q with the report", te.Step, te.Info, verifyStep(srv))
				}
				var ua x509.UnknownAuthorityError
				if !errors.As(err, &ua) {
					t.Errorf("error %v does not wrap x509.UnknownAuthorityError", err)
				}
				checkTestCert(t, te.Info)
				if te.Info.Trusted || te.Info.Verified || !strings.Contains(te.Info.TrustError, "unknown authority") {
					t.Errorf("trusted %v verified %v trust error %q, want untrusted: unknown authority", te.Info.Trusted, te.Info.Verified, te.Info.TrustError)
				}
				if !te.Info.HostnameMatch || len(te.Info.Problems) != 1 {
					t.Errorf("hostname match %v problems %q, want the trust problem only", te.Info.HostnameMatch, te.Info.Problems)
				}
				if c != nil && c.Err() == nil {
					t.Errorf("Conn still usable after a failed verification")
				}
			})
			t.Run("wrong-name", func(t *testing.T) {
				_, _, err := secureWith(srv, t, &tls.Config{RootCAs: mta.Roots(t), ServerName: "wrong.example.test"})
				var te *probe.TLSError
				if !errors.As(err, &te) || te.Info == nil {
					t.Fatalf("TLS for a wrong name: %v; want a *TLSError with the report", err)
				}
				var he x509.HostnameError
				if !errors.As(err, &he) {
					t.Errorf("error %v does not wrap x509.HostnameError", err)
				}
				info := te.Info
				if !info.Trusted || info.HostnameMatch || !strings.Contains(info.HostnameError, "wrong.example.test") {
					t.Errorf("trusted %v hostname match %v %q, want trusted and a mismatch for wrong.example.test", info.Trusted, info.HostnameMatch, info.HostnameError)
				}
			})
			t.Run("ip-address", func(t *testing.T) {
				_, info, err := secureWith(srv, t, &tls.Config{RootCAs: mta.Roots(t)})
				if err != nil {
					t.Fatalf("TLS by IP address: %v", err)
				}
				if info.ServerName != "" || info.VerifyName != "127.0.0.1" || !info.HostnameMatch || !info.Verified {
					t.Errorf("SNI %q verify name %q match %v verified %v, want no SNI and a match on the IP SAN", info.ServerName, info.VerifyName, info.HostnameMatch, info.Verified)
				}
			})
			t.Run("insecure-skip-verify", func(t *testing.T) {
				c, info, err := secureWith(srv, t, &tls.Config{ServerName: name, InsecureSkipVerify: true})
				if err != nil {
					t.Fatalf("TLS without verification: %v", err)
				}
				checkTestCert(t, info)
				if info.Verified || info.Trusted || !info.InsecureSkipVerify || !info.HostnameMatch {
					t.Errorf("verified %v trusted %v insecure %v match %v", info.Verified, info.Trusted, info.InsecureSkipVerify, info.HostnameMatch)
				}
				if len(info.Problems) != 1 || !strings.Contains(info.Problems[0], "unknown authority") {
					t.Errorf("problems %q, want the unknown authority only", info.Problems)
				}
				// The session goes on inside TLS.
				if r, err := c.Noop(mta.Context(t)); err != nil || r.Code != 250 {
					t.Errorf("NOOP inside unverified TLS = %v, %v", r, err)
				}
			})
		})
	}
}
