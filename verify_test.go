package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

type verdictCase struct {
	name       string
	cert       func(p *fakeserver.PKI) tls.Certificate
	leafName   string
	trustErr   string
	hostErr    string
	expired    bool
	notYet     bool
	validity   func(p *fakeserver.PKI) string
	selfSigned bool
	daysLeft   int
	errTarget  func() any // for errors.As on a verification failure
}

func verdictCases() []verdictCase {
	unknownAuthority := func() any { return new(x509.UnknownAuthorityError) }
	return []verdictCase{
		{name: "valid", cert: func(p *fakeserver.PKI) tls.Certificate { return p.Valid }, leafName: testHost, daysLeft: 364},
		{name: "self-signed", cert: func(p *fakeserver.PKI) tls.Certificate { return p.SelfSigned }, leafName: testHost,
			trustErr: "certificate signed by unknown authority", selfSigned: true, daysLeft: 364, errTarget: unknownAuthority},
		{name: "unknown CA", cert: func(p *fakeserver.PKI) tls.Certificate { return p.UnknownCA }, leafName: testHost,
			trustErr: "certificate signed by unknown authority", daysLeft: 364, errTarget: unknownAuthority},
		{name: "wrong hostname", cert: func(p *fakeserver.PKI) tls.Certificate { return p.WrongName }, leafName: "wrong.example.test",
			hostErr: "certificate is valid for wrong.example.test, not mail.example.test", daysLeft: 364,
			errTarget: func() any { return new(x509.HostnameError) }},
		{name: "expired", cert: func(p *fakeserver.PKI) tls.Certificate { return p.Expired }, leafName: testHost,
			expired: true, validity: func(*fakeserver.PKI) string { return "certificate expired 1 day ago" }, daysLeft: -1,
			errTarget: func() any { return new(x509.CertificateInvalidError) }},
		{name: "not yet valid", cert: func(p *fakeserver.PKI) tls.Certificate { return p.NotYetValid }, leafName: testHost,
			notYet: true, daysLeft: 1, validity: func(p *fakeserver.PKI) string {
				return "certificate is not valid until " + p.NotYetValid.Leaf.NotBefore.UTC().Format(time.RFC3339) + " (in less than a day)"
			},
			errTarget: func() any { return new(x509.CertificateInvalidError) }},
	}
}

func (vc verdictCase) problems(p *fakeserver.PKI) []string {
	var out []string
	for _, s := range []string{vc.trustErr, vc.hostErr} {
		if s != "" {
			out = append(out, s)
		}
	}
	if vc.validity != nil {
		out = append(out, vc.validity(p))
	}
	return out
}

// TestStartTLSVerdicts checks every verdict for each kind of bad
// certificate, with verification on (a *TLSError carrying the report, the
// handshake stopped, the Conn closed, nothing sent inside TLS) and off (the
// same report, the session going on inside TLS).
func TestStartTLSVerdicts(t *testing.T) {
	p := newPKI(t)
	for _, vc := range verdictCases() {
		for _, skip := range []bool{false, true} {
			name := vc.name + "/verify"
			if skip {
				name = vc.name + "/skip-verify"
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t)
				cert := vc.cert(p)
				sni := make(chan string, 1)
				srv := startServer(t, fakeserver.Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert},
					GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
						sni <- hello.ServerName
						return nil, nil
					}}})
				c := dialEhlo(t, ctx, srv, Dialer{})
				cfg := &tls.Config{RootCAs: p.CAPool(), InsecureSkipVerify: skip}
				info, err := c.StartTLS(ctx, cfg)
				problems := vc.problems(p)
				failed := len(problems) > 0 && !skip
				if failed {
					info = checkVerifyFailure(t, c, err, vc)
				} else if err != nil {
					t.Fatalf("StartTLS: %v", err)
				}
				checkVerdicts(t, info, vc, p, problems, skip)
				checkChain(t, info, cert, vc)

				want := info.VersionName + " " + info.CipherSuiteName + ", certificate " + vc.leafName + " verified"
				if len(problems) > 0 {
					want = info.VersionName + " " + info.CipherSuiteName + ", certificate " + vc.leafName + " NOT trusted: " + strings.Join(problems, "; ")
					if skip {
						want += " (InsecureSkipVerify: going on)"
					}
				}
				if got := lastNote(c); got != want {
					t.Errorf("note = %q, want %q", got, want)
				}
				if !failed {
					checkInsideTLS(t, ctx, c, info)
				}
				rec := waitSessionAfterQuit(t, ctx, c, srv)
				if got := <-sni; got != testHost {
					t.Errorf("server saw SNI %q, want %q", got, testHost)
				}
				if rec.TLS == failed {
					t.Errorf("server's handshake completed: %v, want %v", rec.TLS, !failed)
				}
				if failed && len(rec.ClientTLS()) != 0 {
					t.Errorf("client sent %q inside TLS after a failed verification", rec.ClientTLS())
				}
			})
		}
	}
}

func checkVerifyFailure(t *testing.T, c *Conn, err error, vc verdictCase) *TLSInfo {
	t.Helper()
	var te *TLSError
	if !errors.As(err, &te) {
		t.Fatalf("StartTLS error = %v (%T), want *TLSError", err, err)
	}
	if te.Step != "STARTTLS verify" || te.Info == nil {
		t.Fatalf("TLSError step %q info %v", te.Step, te.Info)
	}
	if target := vc.errTarget(); !errors.As(err, target) {
		t.Errorf("errors.As(%v, %T) = false", err, target)
	}
	if c.TLS() != nil {
		t.Error("TLS() is set after a failed verification")
	}
	if !errors.Is(c.Err(), err) {
		t.Errorf("Conn.Err() = %v, want the TLSError", c.Err())
	}
	if _, nerr := c.Noop(context.Background()); nerr == nil {
		t.Error("NOOP worked on a Conn closed by a failed verification")
	}
	return te.Info
}

func checkVerdicts(t *testing.T, info *TLSInfo, vc verdictCase, p *fakeserver.PKI, problems []string, skip bool) {
	t.Helper()
	type verdicts struct {
		Trusted, HostnameMatch, Expired, NotYetValid, Verified, Skip     bool
		TrustError, HostnameError, ValidityError, VerifyName, ServerName string
		Problems                                                         []string
	}
	validity := ""
	if vc.validity != nil {
		validity = vc.validity(p)
	}
	got := verdicts{info.Trusted, info.HostnameMatch, info.Expired, info.NotYetValid, info.Verified, info.InsecureSkipVerify,
		info.TrustError, info.HostnameError, info.ValidityError, info.VerifyName, info.ServerName, info.Problems}
	want := verdicts{vc.trustErr == "", vc.hostErr == "", vc.expired, vc.notYet, len(problems) == 0, skip,
		vc.trustErr, vc.hostErr, validity, testHost, testHost, problems}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("verdicts:\n got %+v\nwant %+v", got, want)
	}
}

func checkChain(t *testing.T, info *TLSInfo, cert tls.Certificate, vc verdictCase) {
	t.Helper()
	if len(info.Chain) != 1 {
		t.Fatalf("chain has %d certificates, want 1", len(info.Chain))
	}
	ci := info.Chain[0]
	if ci.SHA256 != sha256Hex(cert.Leaf.Raw) || ci.Serial != cert.Leaf.SerialNumber.Text(16) {
		t.Errorf("chain[0] fingerprint %s serial %s do not match the server's certificate", ci.SHA256, ci.Serial)
	}
	if ci.SelfSigned != vc.selfSigned || ci.DaysLeft != vc.daysLeft || ci.KeyType != "ECDSA" || ci.KeyBits != 256 {
		t.Errorf("chain[0] self-signed %v days left %d key %s/%d, want %v %d ECDSA/256",
			ci.SelfSigned, ci.DaysLeft, ci.KeyType, ci.KeyBits, vc.selfSigned, vc.daysLeft)
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

// TestStartTLSCallerChecks checks that VerifyPeerCertificate and
// VerifyConnection run as crypto/tls would run them, and stop the session
// when they fail.
func TestStartTLSCallerChecks(t *testing.T) {
	p := newPKI(t)
	refusal := errors.New("hook says no")
	cases := []struct {
		name       string
		skip       bool
		peerErr    error
		connErr    error
		wantChains bool
		problem    string
	}{
		{"verify, hooks accept", false, nil, nil, true, ""},
		{"skip verify, hooks accept", true, nil, nil, false, ""},
		{"verify, VerifyConnection refuses", false, nil, refusal, true, "VerifyConnection: hook says no"},
		{"skip verify, VerifyPeerCertificate refuses", true, refusal, nil, false, "VerifyPeerCertificate: hook says no"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid})
			c := dialEhlo(t, ctx, srv, Dialer{})
			var peerChains, connChains int = -1, -1
			cfg := &tls.Config{RootCAs: p.CAPool(), InsecureSkipVerify: tc.skip,
				VerifyPeerCertificate: func(raw [][]byte, chains [][]*x509.Certificate) error {
					peerChains = len(chains)
					if len(raw) != 1 {
						t.Errorf("VerifyPeerCertificate got %d certificates", len(raw))
					}
					return tc.peerErr
				},
				VerifyConnection: func(st tls.ConnectionState) error {
					connChains = len(st.VerifiedChains)
					return tc.connErr
				},
			}
			info, err := c.StartTLS(ctx, cfg)
			if tc.problem == "" {
				if err != nil || !info.Verified {
					t.Fatalf("StartTLS: %v", err)
				}
			} else {
				var te *TLSError
				if !errors.As(err, &te) || !errors.Is(err, refusal) || te.Step != "STARTTLS verify" {
					t.Fatalf("StartTLS error %v, want a *TLSError wrapping the hook's", err)
				}
				if te.Info.Verified || !reflect.DeepEqual(te.Info.Problems, []string{tc.problem}) {
					t.Errorf("verified %v problems %q", te.Info.Verified, te.Info.Problems)
				}
				if note := lastNote(c); !strings.HasSuffix(note, "NOT trusted: "+tc.problem) {
					t.Errorf("note %q does not end with the hook's refusal", note)
				}
			}
			if got := peerChains > 0; got != tc.wantChains {
				t.Errorf("VerifyPeerCertificate saw %d verified chains", peerChains)
			}
			if tc.peerErr == nil && (connChains > 0) != tc.wantChains {
				t.Errorf("VerifyConnection saw %d verified chains", connChains)
			}
		})
	}
}

// TestStartTLSConfigTime checks that the config's Time is the moment the
// certificates are judged at.
func TestStartTLSConfigTime(t *testing.T) {
	ctx := testCtx(t)
	p := newPKI(t)
	srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid})
	c := dialEhlo(t, ctx, srv, Dialer{})
	later := time.Now().Add(400 * 24 * time.Hour)
	info, err := c.StartTLS(ctx, &tls.Config{RootCAs: p.CAPool(), InsecureSkipVerify: true, Time: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"certificate expired 35 days ago"}
	if !info.HandshakeTime.Equal(later) || !info.Trusted || !info.Expired || !reflect.DeepEqual(info.Problems, want) || info.Chain[0].DaysLeft != -35 {
		t.Errorf("time %v trusted %v expired %v problems %q days left %d", info.HandshakeTime, info.Trusted, info.Expired, info.Problems, info.Chain[0].DaysLeft)
	}
}

// TestStartTLSClientCertificateWithheld checks that a client certificate is
// never shown to a server whose certificate fails verification: the
// handshake stops as soon as the server's certificates are judged, before
// the client's Certificate and CertificateVerify, in TLS 1.2 and 1.3, and
// the *TLSError still carries the verdicts. With InsecureSkipVerify the
// handshake completes, the certificate is presented and the verdicts are
// reported all the same.
func TestStartTLSClientCertificateWithheld(t *testing.T) {
	p := newPKI(t)
	refusal := errors.New("caller says no")
	cases := []struct {
		name     string
		server   tls.Certificate
		skip     bool
		connErr  error
		problems []string
	}{
		{"self-signed", p.SelfSigned, false, nil, []string{"certificate signed by unknown authority"}},
		{"unknown CA", p.UnknownCA, false, nil, []string{"certificate signed by unknown authority"}},
		{"VerifyConnection refuses", p.Valid, false, refusal, []string{"VerifyConnection: caller says no"}},
		{"self-signed, skip verify", p.SelfSigned, true, nil, []string{"certificate signed by unknown authority"}},
	}
	versions := []uint16{tls.VersionTLS12, tls.VersionTLS13}
	for _, tc := range cases {
		for _, version := range versions {
			for _, viaCallback := range []bool{false, true} {
				name := tc.name + "/" + tls.VersionName(version) + "/Certificates"
				if viaCallback {
					name = tc.name + "/" + tls.VersionName(version) + "/GetClientCertificate"
				}
				t.Run(name, func(t *testing.T) {
					testClientCertificateWithheld(t, p, tc.server, version, viaCallback, tc.skip, tc.connErr, tc.problems)
				})
			}
		}
	}
}

func testClientCertificateWithheld(t *testing.T, p *fakeserver.PKI, server tls.Certificate, version uint16, viaCallback, skip bool, connErr error, problems []string) {
	ctx := testCtx(t)
	received := make(chan int, 1) // client certificates the server got
	srv := startServer(t, fakeserver.Config{TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{server},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   version, MaxVersion: version,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			received <- len(raw)
			return nil
		},
	}})
	c := dialEhlo(t, ctx, srv, Dialer{})
	asked := 0
	cfg := &tls.Config{RootCAs: p.CAPool(), InsecureSkipVerify: skip,
		VerifyConnection: func(tls.ConnectionState) error { return connErr }}
	if viaCallback {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked++
			return &p.Valid, nil
		}
	} else {
		cfg.Certificates = []tls.Certificate{p.Valid}
	}

	info, err := c.StartTLS(ctx, cfg)
	failed := !skip
	if failed {
		var te *TLSError
		if !errors.As(err, &te) || te.Step != "STARTTLS verify" || te.Info == nil {
			t.Fatalf("StartTLS error %v (%T), want a verify *TLSError with Info", err, err)
		}
		info = te.Info
	} else if err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if info.Version != version || info.Verified || info.InsecureSkipVerify != skip || !reflect.DeepEqual(info.Problems, problems) {
		t.Errorf("report: version %s verified %v skip %v problems %q, want %s false %v %q",
			info.VersionName, info.Verified, info.InsecureSkipVerify, info.Problems, tls.VersionName(version), skip, problems)
	}
	if len(info.Chain) != 1 || info.Chain[0].SHA256 != sha256Hex(server.Leaf.Raw) {
		t.Errorf("chain does not hold the server's certificate: %+v", info.Chain)
	}

	rec := waitSessionAfterQuit(t, ctx, c, srv)
	var got int
	select {
	case got = <-received:
	default:
	}
	switch {
	case failed && (got != 0 || rec.TLS || (viaCallback && asked != 0)):
		t.Errorf("server whose certificate failed verification got %d client certificates (handshake completed: %v, GetClientCertificate called %d times)", got, rec.TLS, asked)
	case !failed && (got != 1 || !rec.TLS):
		t.Errorf("with InsecureSkipVerify the server got %d client certificates, handshake completed: %v", got, rec.TLS)
	}
}
