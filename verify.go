package probe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strconv"
	"strings"
	"time"
)

// judgement computes the verdicts of a handshake from inside it: check is
// installed as the handshake's VerifyConnection, which crypto/tls calls
// once it has the server's certificates (or, when resuming, the session's)
// and before the client sends its own certificate, CertificateVerify or
// Finished. Its error aborts the handshake.
type judgement struct {
	c    *Conn
	want *tls.Config // the caller's config: its verification is the one applied
	sni  string

	info  *TLSInfo // the verdicts, once check has run
	fatal error    // what stops the session, if anything
}

// check judges the state crypto/tls has reached and returns the error that
// must stop the handshake, if any. Only its first call judges: crypto/tls
// does not call it again for a renegotiation, which keeps the server's
// certificate.
func (j *judgement) check(st tls.ConnectionState) error {
	if j.info != nil {
		return j.fatal
	}
	at := time.Now()
	if j.want.Time != nil {
		at = j.want.Time()
	}
	j.info = newTLSInfo(st, j.sni, at, 0)
	j.fatal = j.c.verify(j.want, j.info)
	return j.fatal
}

// report describes the completed handshake st with the chain and the
// verdicts check computed, judged at the same moment.
func (j *judgement) report(st tls.ConnectionState, took time.Duration) *TLSInfo {
	info := *j.info
	verified := info.State.VerifiedChains
	info.setState(st)
	info.State.VerifiedChains = verified
	info.HandshakeDuration = took
	return &info
}

// verify computes the verdicts, runs the caller's own checks and returns
// the error that must stop the session, if any.
func (c *Conn) verify(cfg *tls.Config, info *TLSInfo) error {
	name := cfg.ServerName
	if name == "" {
		name = c.host
	}
	info.InsecureSkipVerify = cfg.InsecureSkipVerify
	if errs := info.judge(cfg, name); len(errs) > 0 && !cfg.InsecureSkipVerify {
		return &verifyError{errs: errs}
	}
	if cfg.InsecureSkipVerify {
		info.State.VerifiedChains = nil // as crypto/tls reports it
	}
	return callerChecks(cfg, info)
}

// judge computes the verdicts of info against cfg, checking the leaf's
// name against name. It returns the error behind each failed verdict, in
// the order of Problems. It never consults InsecureSkipVerify: the
// verdicts are the same whether or not the caller asked to verify.
func (info *TLSInfo) judge(cfg *tls.Config, name string) []error {
	info.VerifyName = name
	certs := info.State.PeerCertificates
	if len(certs) == 0 {
		err := errors.New("server presented no certificate")
		info.TrustError, info.HostnameError = err.Error(), err.Error()
		info.Problems = []string{err.Error()}
		return []error{err}
	}
	var errs []error
	anchor, err := info.judgeTrust(cfg, certs)
	if err != nil {
		errs = append(errs, err)
	}
	if err := info.judgeHostname(certs[0]); err != nil {
		errs = append(errs, err)
	}
	if anchor != nil {
		certs = append(certs[:len(certs):len(certs)], anchor)
	}
	if err := info.judgeValidity(certs, anchor != nil); err != nil {
		errs = append(errs, err)
	}
	info.Verified = len(errs) == 0
	return errs
}

// judgeTrust builds a chain from the leaf to a trusted root, with the rest
// of the presented chain as intermediates, and returns the root. The dates
// are left to judgeValidity: the chain is checked at a moment when every
// certificate in it was valid, if there is one. When there is none, a
// chain whose signatures lead to a trusted root is trusted all the same.
func (info *TLSInfo) judgeTrust(cfg *tls.Config, certs []*x509.Certificate) (*x509.Certificate, error) {
	opts := x509.VerifyOptions{
		Roots:         cfg.RootCAs,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   trustTime(certs, info.HandshakeTime),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if anchor := outOfDateAnchor(err, certs); anchor != nil {
		// The signatures lead to a trusted root that was out of its dates
		// at that moment: try a moment when it was valid too.
		with := append(certs[:len(certs):len(certs)], anchor)
		if opts.CurrentTime = trustTime(with, info.HandshakeTime); inPeriod(with, opts.CurrentTime) {
			chains, err = certs[0].Verify(opts)
		} else {
			info.Trusted = true
			return anchor, nil
		}
	}
	if err != nil {
		info.TrustError = reason(err)
		info.Problems = append(info.Problems, info.TrustError)
		return nil, err
	}
	info.Trusted = true
	info.State.VerifiedChains = chains
	chain := chains[0]
	return chain[len(chain)-1], nil
}

// outOfDateAnchor returns the certificate a failed verification blamed
// for its dates when it is not one the server presented: a root from the
// pool, whose signature on the chain crypto/x509 had already checked.
func outOfDateAnchor(err error, presented []*x509.Certificate) *x509.Certificate {
	var ie x509.CertificateInvalidError
	if !errors.As(err, &ie) || ie.Reason != x509.Expired || ie.Cert == nil {
		return nil
	}
	for _, c := range presented {
		if c.Equal(ie.Cert) {
			return nil
		}
	}
	return ie.Cert
}

// trustTime is the handshake time moved, if needed, into the period in
// which every certificate of certs is valid, if there is one.
func trustTime(certs []*x509.Certificate, at time.Time) time.Time {
	from, until := certs[0].NotBefore, certs[0].NotAfter
	for _, c := range certs[1:] {
		if c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	switch {
	case from.After(until):
		return at
	case at.Before(from):
		return from
	case at.After(until):
		return until
	}
	return at
}

// inPeriod reports whether every certificate of certs is valid at t.
func inPeriod(certs []*x509.Certificate, t time.Time) bool {
	for _, c := range certs {
		if t.Before(c.NotBefore) || t.After(c.NotAfter) {
			return false
		}
	}
	return true
}

func (info *TLSInfo) judgeHostname(leaf *x509.Certificate) error {
	var err error
	if info.VerifyName == "" {
		err = errors.New("no host name to check the certificate against")
	} else {
		err = leaf.VerifyHostname(info.VerifyName)
	}
	if err != nil {
		info.HostnameError = reason(err)
		info.Problems = append(info.Problems, info.HostnameError)
		return err
	}
	info.HostnameMatch = true
	return nil
}

// judgeValidity checks the dates of every certificate of certs (the
// presented chain, and the root if withRoot) against the handshake time
// and reports the first one out of its period.
func (info *TLSInfo) judgeValidity(certs []*x509.Certificate, withRoot bool) error {
	at := info.HandshakeTime
	for i, c := range certs {
		var detail string
		switch {
		case at.After(c.NotAfter):
			info.Expired = true
			detail = "expired " + daysAgo(at.Sub(c.NotAfter))
		case at.Before(c.NotBefore):
			info.NotYetValid = true
			detail = "is not valid until " + c.NotBefore.UTC().Format(time.RFC3339) + " (in " + days(c.NotBefore.Sub(at)) + ")"
		default:
			continue
		}
		info.ValidityError = chainPosition(i, c, withRoot && i == len(certs)-1) + " " + detail
		info.Problems = append(info.Problems, info.ValidityError)
		return x509.CertificateInvalidError{Cert: c, Reason: x509.Expired, Detail: info.ValidityError}
	}
	return nil
}

// chainPosition names certificate i of a chain.
func chainPosition(i int, c *x509.Certificate, root bool) string {
	switch {
	case i == 0:
		return "certificate"
	case root:
		return "root certificate (" + certName(c) + ")"
	}
	return "chain certificate " + strconv.Itoa(i+1) + " (" + certName(c) + ")"
}

func daysAgo(d time.Duration) string {
	if d < 24*time.Hour {
		return "less than a day ago"
	}
	return days(d) + " ago"
}

// days renders d in whole days: "1 day", "3 days", "less than a day".
func days(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	switch n {
	case 0:
		return "less than a day"
	case 1:
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

// reason is an error's text without the package prefix crypto/x509 adds.
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), "x509: ")
}

// callerChecks runs the caller's VerifyPeerCertificate and
// VerifyConnection as crypto/tls would have after its own verification:
// with the verified chains, or none when verification was skipped.
func callerChecks(cfg *tls.Config, info *TLSInfo) error {
	st := info.State
	if cfg.InsecureSkipVerify {
		st.VerifiedChains = nil
	}
	if cfg.VerifyPeerCertificate != nil {
		raw := make([][]byte, len(st.PeerCertificates))
		for i, c := range st.PeerCertificates {
			raw[i] = c.Raw
		}
		if err := cfg.VerifyPeerCertificate(raw, st.VerifiedChains); err != nil {
			return info.callerProblem("VerifyPeerCertificate", err)
		}
	}
	if cfg.VerifyConnection != nil {
		if err := cfg.VerifyConnection(st); err != nil {
			return info.callerProblem("VerifyConnection", err)
		}
	}
	return nil
}

func (info *TLSInfo) callerProblem(hook string, err error) error {
	info.Verified = false
	info.Problems = append(info.Problems, hook+": "+err.Error())
	return err
}

// verifyError joins the errors behind failed verdicts; errors.As and
// errors.Is see each of them.
type verifyError struct{ errs []error }

func (e *verifyError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e *verifyError) Unwrap() []error { return e.errs }
