package scan

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// pinnedTLS is a fakeserver TLS config that accepts versions min to max.
func pinnedTLS(pki *fakeserver.PKI, min, max uint16) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{pki.Valid}, MinVersion: min, MaxVersion: max}
}

// TestCheckTLSVersions: one connection per version, the accepted ones
// with their cipher suite in Detail, a finding for each accepted TLS 1.0
// and 1.1, through STARTTLS and implicit TLS.
func TestCheckTLSVersions(t *testing.T) {
	pki := testPKI(t)
	for _, tt := range []struct {
		name     string
		min, max uint16
		implicit bool
		accepted []string
	}{
		{"1.2 only", tls.VersionTLS12, tls.VersionTLS12, false, []string{"TLS 1.2"}},
		{"1.0 to 1.3", tls.VersionTLS10, tls.VersionTLS13, false, []string{"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}},
		{"1.3 only, implicit", tls.VersionTLS13, tls.VersionTLS13, true, []string{"TLS 1.3"}},
		{"1.0 and 1.1, implicit", tls.VersionTLS10, tls.VersionTLS11, true, []string{"TLS 1.0", "TLS 1.1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, fakeserver.Config{TLSConfig: pinnedTLS(pki, tt.min, tt.max), ImplicitTLS: tt.implicit})
			o := checkOptions(srv, pki, CheckTLSVersions)
			o.ImplicitTLS = tt.implicit
			o.Dialer.TLSConfig.MinVersion = tls.VersionTLS10 // the main session too
			rep := Run(testCtx(t), o)
			if rep.Error != nil {
				t.Fatalf("run: %v", rep.Error)
			}
			res := checkResult(t, rep, CheckTLSVersions)
			if len(res.Transcripts) != 4 {
				t.Errorf("%d connections, want 4", len(res.Transcripts))
			}
			var accepted, legacy []string
			for _, part := range strings.Split(res.Detail, "; ") {
				name, rest, _ := strings.Cut(part, " accepted (")
				if rest != "" {
					accepted = append(accepted, name)
					if !strings.HasPrefix(rest, "TLS_") {
						t.Errorf("no cipher suite in %q", part)
					}
				} else if !strings.Contains(part, " refused (") {
					t.Errorf("detail part %q", part)
				}
				if rest != "" && name < "TLS 1.2" {
					legacy = append(legacy, name)
				}
			}
			if !slices.Equal(accepted, tt.accepted) {
				t.Errorf("accepted %v, want %v (%s)", accepted, tt.accepted, res.Detail)
			}
			found := findingsOf(rep, FindingTLSLegacyAccepted)
			if len(found) != len(legacy) || (len(legacy) > 0) != (res.Status == CheckFound) {
				t.Fatalf("findings %+v, status %s for %v", found, res.Status, legacy)
			}
			for i, f := range found {
				if f.Severity != SeverityMedium || f.Reference != "RFC 8996" || f.Check != CheckTLSVersions ||
					!strings.Contains(f.Summary, legacy[i]) || len(f.Evidence) == 0 {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
}

// TestCheckTLSVersionsSkipped: without STARTTLS, or under the policy
// never, there is nothing to sweep.
func TestCheckTLSVersionsSkipped(t *testing.T) {
	pki := testPKI(t)
	for _, tt := range []struct {
		name   string
		cfg    fakeserver.Config
		policy StartTLSPolicy
		detail string
	}{
		{"no STARTTLS", fakeserver.Config{}, StartTLSIfOffered, "does not offer STARTTLS"},
		{"policy never", fakeserver.Config{TLSCert: &pki.Valid}, StartTLSNever, "policy is never"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.cfg)
			o := checkOptions(srv, pki, CheckTLSVersions)
			o.StartTLS = tt.policy
			rep := Run(testCtx(t), o)
			res := checkResult(t, rep, CheckTLSVersions)
			if res.Status != CheckSkipped || !strings.Contains(res.Detail, tt.detail) {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// TestCheckTLSVersionsIgnoresCertificate: the sweep judges versions, not
// the certificate, and keeps the Dialer's other TLS settings.
func TestCheckTLSVersionsIgnoresCertificate(t *testing.T) {
	pki := testPKI(t)
	srv := startServer(t, fakeserver.Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{pki.SelfSigned}, MinVersion: tls.VersionTLS12}})
	o := checkOptions(srv, pki, CheckTLSVersions)
	o.QuitAfter = StageEhlo // the main session stays away from the certificate
	rep := Run(testCtx(t), o)
	res := checkResult(t, rep, CheckTLSVersions)
	if res.Status != CheckPassed || !strings.Contains(res.Detail, "TLS 1.2 accepted") || !strings.Contains(res.Detail, "TLS 1.3 accepted") {
		t.Errorf("result %+v", res)
	}
}
