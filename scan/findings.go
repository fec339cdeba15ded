package scan

import (
	"crypto/tls"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
)

// FindingID names a kind of Finding. The package doc's table lists those
// Run makes from its session and those of the checks; the findings of
// Domain are tabulated beside their constants. Each Finding's Evidence
// holds the transcript entries that show it.
type FindingID string

// The findings Run makes from its session alone; see the package doc's
// table.
const (
	FindingStartTLSMissing  FindingID = "starttls-missing"
	FindingStartTLSFailed   FindingID = "starttls-failed"
	FindingAuthBeforeTLS    FindingID = "auth-before-tls"
	FindingCertUntrusted    FindingID = "cert-untrusted"
	FindingCertNameMismatch FindingID = "cert-name-mismatch"
	FindingCertExpired      FindingID = "cert-expired"
	FindingCertNotYetValid  FindingID = "cert-not-yet-valid"
	FindingCertExpiring     FindingID = "cert-expiring"
	FindingTLSOld           FindingID = "tls-old"
	FindingNameMismatch     FindingID = "name-mismatch"
)

const (
	defaultCertWarnDays      = 14
	referenceCertificateName = "RFC 6125 §6; RFC 7817 §3"
)

// findings makes the findings the session shows, in the order of the
// package doc's table.
func (r *runner) findings() []Finding {
	var out []Finding
	add := func(f *Finding) {
		if f != nil {
			out = append(out, *f)
		}
	}
	add(r.startTLSMissing())
	add(r.startTLSFailed())
	add(r.authBeforeTLS())
	for _, f := range r.certFindings() {
		add(f)
	}
	add(r.tlsOld())
	add(r.nameMismatch())
	out = append(out, r.checkFindings()...)
	if out == nil {
		out = []Finding{}
	}
	return out
}

// plainCaps is what the plaintext EHLO announced, or nil when the session
// began with TLS or never said EHLO.
func (r *runner) plainCaps() *probe.Capabilities {
	if r.o.ImplicitTLS {
		return nil
	}
	return r.rep.Capabilities
}

func (r *runner) startTLSMissing() *Finding {
	caps := r.plainCaps()
	if caps == nil || caps.StartTLS {
		return nil
	}
	summary := "the server does not offer STARTTLS: mail to it travels in cleartext"
	if caps.FromHELO {
		summary = "the server refused EHLO, so it cannot offer STARTTLS: mail to it travels in cleartext"
	}
	return &Finding{
		ID: FindingStartTLSMissing, Severity: SeverityMedium, Summary: summary,
		Evidence:  r.evidence(StageEhlo, received),
		Reference: "RFC 3207; RFC 7672",
	}
}

func (r *runner) startTLSFailed() *Finding {
	ph := r.rep.Phase(StageTLS)
	if ph == nil || ph.Reply == nil || ph.Reply.Code/100 < 4 {
		return nil
	}
	return &Finding{
		ID: FindingStartTLSFailed, Severity: SeverityMedium,
		Summary:   "the server offers STARTTLS but refused it with " + strconv.Itoa(ph.Reply.Code),
		Evidence:  r.evidence(StageTLS, nil),
		Reference: "RFC 3207 §4",
	}
}

func (r *runner) authBeforeTLS() *Finding {
	caps := r.plainCaps()
	if caps == nil || len(caps.Auth) == 0 {
		return nil
	}
	f := &Finding{
		ID: FindingAuthBeforeTLS, Severity: SeverityMedium,
		Summary:   "AUTH is offered before TLS: " + strings.Join(caps.Auth, " "),
		Evidence:  r.evidence(StageEhlo, authLine),
		Reference: "RFC 4954 §4; RFC 8314 §4.1",
	}
	if caps.SupportsAuth("PLAIN") || caps.SupportsAuth("LOGIN") {
		f.Severity = SeverityHigh
		f.Summary += " (a cleartext password mechanism)"
	}
	return f
}

// certFindings judges the certificate the server presented.
func (r *runner) certFindings() []*Finding {
	info := r.rep.TLS
	if info == nil || len(info.Chain) == 0 {
		return nil
	}
	var ev []probe.Entry // the evidence, copied only when a finding is made
	cert := func(id FindingID, sev Severity, summary, ref string) *Finding {
		if ev == nil {
			ev = r.evidence(StageTLS, isNote)
		}
		return &Finding{ID: id, Severity: sev, Summary: summary, Evidence: ev, Reference: ref}
	}
	var out []*Finding
	if !info.Trusted {
		out = append(out, cert(FindingCertUntrusted, SeverityHigh,
			"the certificate is not trusted: "+info.TrustError, "RFC 5280 §6; RFC 8314 §4.4"))
	}
	if !info.HostnameMatch {
		out = append(out, cert(FindingCertNameMismatch, SeverityHigh,
			"the certificate does not match "+strconv.Quote(info.VerifyName)+": "+info.HostnameError, referenceCertificateName))
	}
	if info.Expired {
		out = append(out, cert(FindingCertExpired, SeverityHigh, "the "+info.ValidityError, "RFC 5280 §4.1.2.5"))
	}
	if info.NotYetValid {
		out = append(out, cert(FindingCertNotYetValid, SeverityHigh, "the "+info.ValidityError, "RFC 5280 §4.1.2.5"))
	}
	if summary := r.certExpiring(info); summary != "" {
		out = append(out, cert(FindingCertExpiring, SeverityMedium, summary, "RFC 5280 §4.1.2.5"))
	}
	return out
}

// certExpiring says which certificate of the chain expires first, when
// that is within the warning period ("" otherwise).
func (r *runner) certExpiring(info *probe.TLSInfo) string {
	warn := r.o.CertWarnDays
	if warn == 0 {
		warn = defaultCertWarnDays
	}
	if warn < 0 || info.Expired {
		return ""
	}
	first := info.Chain[0]
	for _, c := range info.Chain[1:] {
		if c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	if first.DaysLeft >= warn {
		return ""
	}
	return "the certificate " + strconv.Quote(first.Subject) + " expires in " + strconv.Itoa(first.DaysLeft) +
		" days, on " + first.NotAfter.UTC().Format(time.DateOnly) + " (warning at " + strconv.Itoa(warn) + ")"
}

func (r *runner) tlsOld() *Finding {
	info := r.rep.TLS
	if info == nil || info.Version >= tls.VersionTLS12 {
		return nil
	}
	return &Finding{
		ID: FindingTLSOld, Severity: SeverityMedium,
		Summary:   "the server negotiated " + info.VersionName + ", older than TLS 1.2",
		Evidence:  r.evidence(StageTLS, isNote),
		Reference: "RFC 8996; RFC 8314 §4.1",
	}
}

// nameMismatch compares the names the server gives itself in its banner
// and EHLO replies with Options.ExpectName.
func (r *runner) nameMismatch() *Finding {
	want := normalName(r.o.ExpectName)
	if want == "" {
		return nil
	}
	var (
		bad []string
		ev  []probe.Entry
	)
	if b := r.rep.Banner; b != nil && len(b.Lines) > 0 {
		if got := firstWord(b.Lines[0]); normalName(got) != want {
			bad = append(bad, "banner says "+strconv.Quote(got))
			ev = append(ev, r.evidence(StageBanner, firstReceived)...)
		}
	}
	for _, ph := range [...]struct {
		name Stage
		caps *probe.Capabilities
	}{{StageEhlo, r.rep.Capabilities}, {StageEhloTLS, r.rep.CapabilitiesTLS}} {
		if ph.caps != nil && normalName(ph.caps.Domain) != want {
			bad = append(bad, string(ph.name)+" says "+strconv.Quote(ph.caps.Domain))
			ev = append(ev, r.evidence(ph.name, firstReceived)...)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &Finding{
		ID: FindingNameMismatch, Severity: SeverityLow,
		Summary:   "the server does not call itself " + strconv.Quote(r.o.ExpectName) + ": " + strings.Join(bad, ", "),
		Evidence:  ev,
		Reference: "RFC 5321 §4.1.1.1, §4.3.1",
	}
}

func normalName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// entryFilter picks the entries of a phase that make evidence; it gets
// each entry and its position among the phase's received lines.
type entryFilter func(e probe.Entry, nthReceived int) bool

func received(e probe.Entry, _ int) bool { return e.Kind == probe.Received }

func isNote(e probe.Entry, _ int) bool { return e.Kind == probe.Note }

func firstReceived(e probe.Entry, n int) bool { return e.Kind == probe.Received && n == 0 }

// authLine picks the EHLO lines that announce AUTH ("250-AUTH PLAIN",
// "250-AUTH=LOGIN").
func authLine(e probe.Entry, _ int) bool {
	if e.Kind != probe.Received || len(e.Text) < 4 {
		return false
	}
	kw := strings.ToUpper(firstWord(e.Text[4:]))
	return kw == "AUTH" || strings.HasPrefix(kw, "AUTH=")
}

// evidence returns the transcript entries of the phase that keep passes;
// nil keep takes them all.
func (r *runner) evidence(phase Stage, keep entryFilter) []probe.Entry {
	sp, ok := r.spans[phase]
	if !ok || r.c == nil {
		return nil
	}
	if r.entries == nil { // the session is over: one copy serves every finding
		r.entries = r.c.Transcript().Entries()
	}
	entries := r.entries
	if sp.last > len(entries) || sp.first > sp.last {
		return nil
	}
	var out []probe.Entry
	n := 0
	for _, e := range entries[sp.first:sp.last] {
		if keep == nil || keep(e, n) {
			out = append(out, e)
		}
		if e.Kind == probe.Received {
			n++
		}
	}
	return out
}
