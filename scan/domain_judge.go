package scan

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/policy"
)

// judge turns what a domain scan gathered into findings and verdicts. It
// reads the report and the parsed policy, and sends nothing.
type judge struct {
	rep *DomainReport
	sts *policy.Policy // nil without a policy
}

// judgeDomain fills in the findings, verdicts, protection and REQUIRETLS
// summary of a scan that ran.
func judgeDomain(rep *DomainReport, s *domainScan) {
	j := &judge{rep: rep, sts: s.sts}
	j.mxLookup()
	for i := range rep.MX {
		j.host(&rep.MX[i])
	}
	j.protection()
	if len(rep.MX) > 0 { // the policies protect mail to MX hosts: without any, nothing to judge
		j.mtaSTS()
		j.tlsRPT()
	}
	j.requireTLS()
	v := verdictOf(rep.Findings)
	for _, mx := range rep.MX {
		v = worse(v, mx.Verdict)
	}
	if allUntested(rep) && v == VerdictOK {
		v = VerdictUntested
	}
	rep.Verdict = v
}

// allUntested reports MX hosts whose every address went untested.
func allUntested(rep *DomainReport) bool {
	for _, mx := range rep.MX {
		if mx.Verdict != VerdictUntested {
			return false
		}
	}
	return len(rep.MX) > 0
}

// finding makes a Finding.
func finding(id FindingID, sev Severity, summary, ref string, ev []probe.Entry) Finding {
	return Finding{ID: id, Severity: sev, Summary: summary, Reference: ref, Evidence: ev}
}

// dnsEvidence shows DNS answers as notes, one line each.
func dnsEvidence(answers ...*DNSAnswer) []probe.Entry {
	var out []probe.Entry
	for _, a := range answers {
		if a != nil {
			out = append(out, probe.Entry{Kind: probe.Note, Text: "DNS " + a.summary(), Time: time.Now().UTC()})
		}
	}
	return out
}

// note is one line of evidence that is no transcript line.
func note(text string) []probe.Entry {
	return []probe.Entry{{Kind: probe.Note, Text: text, Time: time.Now().UTC()}}
}

func (j *judge) add(f Finding) { j.rep.Findings = append(j.rep.Findings, f) }

// mxLookup judges the MX question.
func (j *judge) mxLookup() {
	a := j.rep.MXLookup
	ev := dnsEvidence(a)
	switch {
	case a.DNSSEC == DNSSECBogus:
		j.add(finding(FindingDNSSECBogus, SeverityHigh, "the MX answer for "+j.rep.Domain+" fails DNSSEC validation: a sender with a validating resolver cannot find the MX hosts",
			"RFC 4035 §5.5; RFC 7672 §2.1.1", ev))
		return
	case a.Rcode == "NXDOMAIN":
		j.add(finding(FindingDomainNotFound, SeverityHigh, j.rep.Domain+" does not exist (NXDOMAIN): mail to it bounces", "RFC 5321 §5.1", ev))
		return
	case a.DNSSEC == DNSSECError:
		j.add(finding(FindingMXLookupFailed, SeverityHigh, "the MX question for "+j.rep.Domain+" got no answer: "+a.Error, "RFC 5321 §5.1", ev))
		return
	case j.rep.NullMX:
		j.add(finding(FindingNullMX, SeverityInfo, j.rep.Domain+" publishes a null MX: it accepts no mail", "RFC 7505", ev))
	case j.rep.ImplicitMX:
		j.add(finding(FindingMXImplicit, SeverityLow, j.rep.Domain+" has no MX records: senders use its own addresses", "RFC 5321 §5.1", ev))
	case j.rep.nullMXMixed:
		j.add(finding(FindingNullMXMixed, SeverityMedium, j.rep.Domain+" publishes a null MX among other MX records, which RFC 7505 forbids:"+
			" a sender may take the domain for one that accepts no mail, or use the others (the scan does)", "RFC 7505 §3", ev))
	}
	if a.DNSSEC == DNSSECInsecure && !j.rep.NullMX {
		j.add(finding(FindingDNSSECInsecure, SeverityInfo, "the MX answer is not DNSSEC-validated: DANE cannot apply to "+j.rep.Domain, "RFC 7672 §2.2.1", ev))
	}
}

// daneNames are the reference identifiers a DANE-TA(2) certificate of mx
// may carry (RFC 7672 §3.2.2): the TLSA base domain, the MX host name when
// the base is its CNAME expansion, and, when the MX answer is secure, the
// mail domain and the name its CNAMEs led to: a domain may field one
// certificate naming itself on all its MX hosts. Without MX records the
// host is the mail domain itself, and the base its CNAME expansion.
func (j *judge) daneNames(mx *MXReport) []string {
	names := []string{strings.TrimSuffix(mx.DANE.Base, ".")}
	add := func(n string) {
		n = strings.TrimSuffix(n, ".")
		if n != "" && !slices.ContainsFunc(names, func(m string) bool { return strings.EqualFold(m, n) }) {
			names = append(names, n)
		}
	}
	add(mx.Host)
	if a := j.rep.MXLookup; a != nil && a.DNSSEC == DNSSECSecure && !mx.Implicit {
		add(j.rep.Domain)
		add(a.Canonical())
	}
	return names
}

// host judges one MX host, its addresses, and sets its verdict.
func (j *judge) host(mx *MXReport) {
	add := func(f Finding) { mx.Findings = append(mx.Findings, f) }
	found := false
	for _, a := range mx.AddressLookups {
		found = found || a.found()
		if a.DNSSEC == DNSSECBogus {
			add(finding(FindingDNSSECBogus, SeverityHigh, "the "+a.Type+" answer for "+mx.Host+" fails DNSSEC validation",
				"RFC 4035 §5.5; RFC 7672 §2.1.1", dnsEvidence(a)))
		}
		if len(a.CNAMEs) > 0 && a.found() {
			add(finding(FindingMXCNAME, SeverityLow, "the MX host "+mx.Host+" is an alias of "+a.Canonical(),
				"RFC 5321 §5.1; RFC 2181 §10.3", dnsEvidence(a)))
		}
	}
	switch {
	case isIPAddress(mx.Host):
		add(finding(FindingMXIPAddress, SeverityHigh, "the MX record names the IP address "+mx.Host+", not a host: RFC 5321 §5.1 wants a domain name,"+
			" and senders look it up as one and find no address", "RFC 5321 §5.1", dnsEvidence(j.rep.MXLookup)))
	case !found:
		add(finding(FindingMXNoAddress, SeverityHigh, "the MX host "+mx.Host+" has no address", "RFC 5321 §5.1", dnsEvidence(mx.AddressLookups...)))
	}
	j.dane(mx, add)
	if j.stsInForce() {
		ok := j.sts.MatchMX(mx.Host)
		mx.MTASTSMatch = &ok
		if !ok {
			add(finding(FindingSTSMXMismatch, j.stsSeverity(), "the MTA-STS policy ("+string(j.sts.Mode)+") does not permit the MX host "+mx.Host+
				": mx "+strings.Join(j.sts.MX, ", "), "RFC 8461 §4.1", note("MTA-STS "+j.rep.MTASTS.URL+": mx "+strings.Join(j.sts.MX, ", "))))
		}
	}
	for i := range mx.Addresses {
		j.address(mx, &mx.Addresses[i])
	}
	mx.Verdict = hostVerdict(mx)
}

// hostVerdict is the worst of the host's findings and its addresses'
// verdicts, untested when nothing was tested and nothing is wrong.
func hostVerdict(mx *MXReport) Verdict {
	v := verdictOf(mx.Findings)
	tested := false
	for _, a := range mx.Addresses {
		v = worse(v, a.Verdict)
		tested = tested || a.Verdict != VerdictUntested
	}
	if !tested && len(mx.Addresses) > 0 && v == VerdictOK {
		return VerdictUntested
	}
	return v
}

// stsSeverity is the severity of a failed MTA-STS check: high under
// enforce, medium under testing.
func (j *judge) stsSeverity() Severity {
	if j.sts.Mode == policy.ModeEnforce {
		return SeverityHigh
	}
	return SeverityMedium
}

// dane judges the host's TLSA side.
func (j *judge) dane(mx *MXReport, add func(Finding)) {
	d := mx.DANE
	if d == nil {
		return
	}
	ev := dnsEvidence(d.Lookups...)
	switch d.Status {
	case DANEBogus:
		add(finding(FindingDANEBogus, SeverityHigh, "the TLSA answer for "+mx.Host+" fails DNSSEC validation: a DANE sender will not deliver", "RFC 7672 §2.2", ev))
	case DANELookupFailed:
		add(finding(FindingDANELookupFailed, SeverityHigh, mx.Host+": "+d.Note+": a DANE sender defers delivery to it", "RFC 7672 §2.2", ev))
	case DANEInsecure:
		if len(d.Lookups) > 0 && (d.Lookups[len(d.Lookups)-1].found() || d.Lookups[len(d.Lookups)-1].DNSSEC == DNSSECBogus) {
			add(finding(FindingDANETLSAIgnored, SeverityInfo, "TLSA records at "+tlsaNames(d)+" are ignored: "+d.Note, "RFC 7672 §2.2", ev))
		}
	case DANEValidated:
		var leaf *tls.ConnectionState
		for _, a := range mx.Addresses {
			if a.Session != nil && a.Session.TLS != nil && len(a.Session.TLS.State.PeerCertificates) > 0 {
				leaf = &a.Session.TLS.State
				break
			}
		}
		if leaf == nil {
			return
		}
		d.Rollover = rolloverRisks(d, leaf.PeerCertificates[0])
		if len(d.Rollover) > 0 && hasUsable(d) {
			add(finding(FindingDANERollover, SeverityMedium, "the TLSA records of "+mx.Host+" are not ready for a key rollover: "+strings.Join(d.Rollover, " "),
				"RFC 7671 §8.1", ev))
		}
	}
}

// address judges one address's session.
func (j *judge) address(mx *MXReport, ar *AddressReport) {
	rep := ar.Session
	add := func(f Finding) { ar.Findings = append(ar.Findings, f) }
	where := mx.Host + " [" + ar.Address + "]"
	switch {
	case rep == nil:
		return
	case unreachable(rep) && ar.Family == "ipv6":
		add(finding(FindingAddressUntested, SeverityInfo, where+" was not tested: this host has no route to it ("+rep.Error.Message+")", "", nil))
		ar.Verdict = VerdictUntested
		return
	case rep.Error != nil && stageBefore(rep.Error.Stage, StageTLS):
		add(finding(FindingSMTPUnreachable, SeverityHigh, where+": "+rep.Error.Error(), "RFC 5321 §3.1", sessionEvidence(rep)))
		ar.Verdict = verdictOf(ar.Findings)
		return
	}
	if caps := rep.Capabilities; caps != nil && caps.RequireTLS {
		ar.RequireTLSBeforeTLS = true
		add(finding(FindingRequireTLSBeforeTLS, SeverityLow, where+" offers REQUIRETLS before STARTTLS", "RFC 8689 §2", sessionEvidence(rep)))
	}
	ar.StartTLS = rep.TLS != nil && rep.CapabilitiesTLS != nil && rep.Error == nil
	if !ar.StartTLS {
		j.noTLS(mx, ar, where, add)
		ar.Verdict = verdictOf(ar.Findings)
		return
	}
	info := rep.TLS
	ar.TLS = summarizeTLS(info)
	ar.WebPKIValid = info.Verified
	ar.RequireTLS = rep.CapabilitiesTLS.RequireTLS
	if mx.DANE != nil && mx.DANE.Status == DANEValidated {
		names, chain := j.daneNames(mx), info.State.PeerCertificates
		ar.DANE = matchDANE(mx.DANE, names, chain)
		if ar.DANE.Authenticated && !agileMatch(mx.DANE, names, chain) {
			add(finding(FindingDANEDigestAgility, SeverityMedium, where+": only a TLSA record of a weaker digest matches the chain; a sender that"+
				" applies digest algorithm agility uses the strongest of each usage and selector, and will not deliver", "RFC 7671 §8, §9; RFC 7672 §5",
				append(dnsEvidence(mx.DANE.Lookups...), note("matched: "+strings.Join(ar.DANE.Matched, "; "))...)))
		}
		if !ar.DANE.Authenticated {
			id, sev, what := FindingDANEMismatch, SeverityHigh, "no TLSA record matches the certificate chain: a DANE sender will not deliver"
			if len(ar.DANE.Mismatched) == 0 {
				id, sev, what = FindingDANENoUsable, SeverityMedium, "no TLSA record is usable for SMTP: a DANE sender delivers without authenticating"
			}
			ev := append(dnsEvidence(mx.DANE.Lookups...), note("TLS leaf SPKI SHA-256 "+ar.TLS.SPKISHA256+"; "+strings.Join(append(ar.DANE.Mismatched, ar.DANE.Unusable...), "; "))...)
			add(finding(id, sev, where+": "+what, "RFC 7672 §2.2, §3", ev))
		}
	}
	if j.stsInForce() && !info.Verified {
		add(finding(FindingSTSCertInvalid, j.stsSeverity(), where+": the certificate does not verify under WebPKI, as the MTA-STS policy ("+string(j.sts.Mode)+") requires: "+
			strings.Join(info.Problems, "; "), "RFC 8461 §4.2", sessionEvidence(rep, FindingCertUntrusted, FindingCertNameMismatch, FindingCertExpired, FindingCertNotYetValid)))
	}
	ar.Verdict = verdictOf(ar.Findings)
}

// noTLS judges an address without TLS: how bad it is depends on what the
// domain publishes.
func (j *judge) noTLS(mx *MXReport, ar *AddressReport, where string, add func(Finding)) {
	why := "STARTTLS is not offered"
	if ar.Session.Error != nil {
		why = "STARTTLS failed: " + ar.Session.Error.Message
	} else if ph := ar.Session.Phase(StageTLS); ph != nil && ph.Reply != nil {
		why = "STARTTLS was refused with " + strconv.Itoa(ph.Reply.Code)
	}
	sev, ref, what := SeverityMedium, "RFC 3207", "mail to it travels in cleartext"
	switch {
	case mx.DANE != nil && mx.DANE.Status == DANEValidated:
		sev, ref, what = SeverityHigh, "RFC 7672 §2.2", "a DANE sender will not deliver"
	case j.stsInForce():
		sev, ref, what = j.stsSeverity(), "RFC 8461 §5", "the MTA-STS policy ("+string(j.sts.Mode)+") requires TLS"
	}
	add(finding(FindingTLSUnavailable, sev, where+": "+why+": "+what, ref, sessionEvidence(ar.Session, FindingStartTLSMissing, FindingStartTLSFailed)))
}

// stageBefore reports whether s comes before t among Run's stages.
func stageBefore(s, t Stage) bool { return s.order() >= 0 && s.order() < t.order() }

// sessionEvidence is the evidence of the first of the session's own
// findings with one of ids, or else the last lines of its transcript and
// its error.
func sessionEvidence(rep *Report, ids ...FindingID) []probe.Entry {
	for _, f := range rep.Findings {
		if len(f.Evidence) > 0 && slices.Contains(ids, f.ID) {
			return f.Evidence
		}
	}
	var entries []probe.Entry
	if rep.Transcript != nil {
		entries = rep.Transcript.Entries()
	}
	if len(entries) > 6 {
		entries = entries[len(entries)-6:]
	}
	if rep.Error != nil {
		entries = append(entries, note("error: "+rep.Error.Error())...)
	}
	return entries
}

// summarizeTLS is the part of the TLS report a table shows.
func summarizeTLS(info *probe.TLSInfo) *TLSSummary {
	s := &TLSSummary{Version: info.VersionName, CipherSuite: info.CipherSuiteName}
	if !info.Verified {
		s.Problems = info.Problems
	}
	if len(info.Chain) > 0 {
		c := info.Chain[0]
		s.Subject, s.Issuer, s.DNSNames, s.KeyType, s.KeyBits, s.NotAfter = c.Subject, c.Issuer, c.DNSNames, c.KeyType, c.KeyBits, c.NotAfter
	}
	if certs := info.State.PeerCertificates; len(certs) > 0 {
		sum := sha256.Sum256(certs[0].RawSubjectPublicKeyInfo)
		s.SPKISHA256 = hex.EncodeToString(sum[:])
	}
	return s
}

// protection says what authenticates the MX hosts.
func (j *judge) protection() {
	rep := j.rep
	if rep.NullMX || len(rep.MX) == 0 {
		return
	}
	dane := 0
	for _, mx := range rep.MX {
		if mx.DANE != nil && mx.DANE.Status == DANEValidated {
			dane++
		}
	}
	if dane == len(rep.MX) {
		rep.Protection = append(rep.Protection, ProtectionDANE)
	}
	if j.sts != nil && j.sts.Mode == policy.ModeEnforce {
		rep.Protection = append(rep.Protection, ProtectionMTASTS)
	}
	switch {
	case len(rep.Protection) > 0:
	case dane > 0:
		rep.Protection = []Protection{ProtectionNone}
		j.add(finding(FindingDANEPartial, SeverityMedium, strconv.Itoa(dane)+" of "+strconv.Itoa(len(rep.MX))+
			" MX hosts have validated TLSA records: an attacker can steer senders to the others", "RFC 7672 §2.2.1", nil))
	default:
		rep.Protection = []Protection{ProtectionNone}
		j.add(finding(FindingNoProtection, SeverityMedium, "neither DANE nor an MTA-STS policy in enforce mode authenticates the MX hosts of "+rep.Domain+
			": an active attacker can strip STARTTLS or present any certificate", "RFC 7672 §1.3; RFC 8461 §1", nil))
	}
}

// stsInForce reports an MTA-STS policy whose mode is enforce or testing.
func (j *judge) stsInForce() bool {
	return j.sts != nil && j.sts.Mode != policy.ModeNone
}

// mtaSTS judges the record and policy.
func (j *judge) mtaSTS() {
	r := j.rep.MTASTS
	if r == nil {
		return
	}
	ev := dnsEvidence(r.RecordLookup)
	switch r.state {
	case stsLookupFailed:
		j.add(finding(FindingSTSLookupFailed, SeverityMedium, "the MTA-STS record question got no answer: "+r.Error, "RFC 8461 §3.1", ev))
	case stsRecordInvalid:
		j.add(finding(FindingSTSRecordInvalid, SeverityMedium, "the MTA-STS record is unusable, so senders see no policy: "+r.Error, "RFC 8461 §3.1", ev))
	case stsFetchFailed:
		j.add(finding(FindingSTSFetchFailed, SeverityHigh, "the MTA-STS record announces a policy that cannot be fetched from "+r.URL+": "+r.Error, "RFC 8461 §3.3", ev))
	case stsPolicyInvalid:
		j.add(finding(FindingSTSPolicyInvalid, SeverityHigh, "the MTA-STS policy at "+r.URL+" is invalid: "+r.Error, "RFC 8461 §3.2", ev))
	case stsPolicy:
		switch j.sts.Mode {
		case policy.ModeTesting:
			j.add(finding(FindingSTSTesting, SeverityLow, "the MTA-STS policy is in testing mode: senders report failures but deliver anyway", "RFC 8461 §5", ev))
		case policy.ModeNone:
			j.add(finding(FindingSTSModeNone, SeverityLow, "the MTA-STS policy is in mode none: the domain withdraws it", "RFC 8461 §5", ev))
		}
		if j.sts.MaxAge < 86400 && j.sts.Mode != policy.ModeNone {
			j.add(finding(FindingSTSMaxAgeShort, SeverityLow, "the MTA-STS policy's max_age is "+strconv.Itoa(j.sts.MaxAge)+
				" s, under a day: senders forget it quickly (weeks are recommended)", "RFC 8461 §3.2", ev))
		}
	}
}

// tlsRPT judges the reporting record.
func (j *judge) tlsRPT() {
	r := j.rep.TLSRPT
	if r == nil {
		return
	}
	ev := dnsEvidence(r.Lookup)
	switch {
	case r.Error == "":
	case r.missing:
		j.add(finding(FindingTLSRPTMissing, SeverityLow, "no TLS-RPT record at _smtp._tls."+j.rep.Domain+": senders cannot report TLS failures", "RFC 8460 §3", ev))
	default:
		j.add(finding(FindingTLSRPTInvalid, SeverityMedium, "the TLS-RPT record is unusable: "+r.Error, "RFC 8460 §3", ev))
	}
}

// requireTLS sums up REQUIRETLS readiness: what a sender does with a
// message that requires TLS (RFC 8689 §4.2.1) at each address tested.
func (j *judge) requireTLS() {
	rt := &RequireTLSReport{Protected: true, Advertised: true}
	tested := 0
	var refused []string
	for _, mx := range j.rep.MX {
		for _, a := range mx.Addresses {
			rt.BeforeTLS = rt.BeforeTLS || a.RequireTLSBeforeTLS
			if a.Verdict == VerdictUntested {
				continue
			}
			tested++
			rt.Advertised = rt.Advertised && a.RequireTLS
			why := j.requireTLSRefusal(&mx, &a)
			if why != "" {
				rt.Protected = false
				refused = append(refused, mx.Host+" ("+a.Address+"): "+why)
			}
			rt.Ready = rt.Ready || why == "" && a.RequireTLS
		}
	}
	rt.Advertised = rt.Advertised && tested > 0
	rt.Protected = rt.Protected && tested > 0
	j.rep.RequireTLS = rt
	if !rt.Advertised || rt.Protected {
		return
	}
	outcome := "a sender must bounce messages that require TLS"
	if rt.Ready {
		outcome = "a sender passes over them with messages that require TLS, and delivers through the others"
	}
	j.add(finding(FindingRequireTLSUnprotected, SeverityLow, "the MX hosts offer REQUIRETLS, but a sender cannot authenticate "+
		strings.Join(refused, "; ")+": "+outcome, "RFC 8689 §4.2.1", nil))
}

// requireTLSRefusal says why a sender of a message that requires TLS
// cannot use address a of mx (RFC 8689 §4.2.1 steps 2 and 4), or "": the
// MX host must come from a DNSSEC-validated MX answer, or else be listed
// by an MTA-STS policy in force (enforce or testing); the certificate must
// be WebPKI-valid for the host or matched by DANE, and name the host in
// either case (a DANE match alone may rest on another name, or on none).
func (j *judge) requireTLSRefusal(mx *MXReport, a *AddressReport) string {
	secureMX := mx.Implicit || j.rep.MXLookup != nil && j.rep.MXLookup.DNSSEC == DNSSECSecure
	switch {
	case !secureMX && !(j.stsInForce() && j.sts.MatchMX(mx.Host)):
		return "the MX answer is not DNSSEC-validated and no MTA-STS policy lists the host"
	case !a.StartTLS:
		return "no TLS"
	case !a.WebPKIValid && (a.DANE == nil || !a.DANE.Authenticated):
		return "the certificate is neither WebPKI-valid for the host nor matched by DANE"
	case !a.WebPKIValid && !leafNames(a, mx.Host):
		return "the certificate DANE matches does not name the host"
	}
	return ""
}

// leafNames reports whether the certificate a's session was given names
// host.
func leafNames(a *AddressReport, host string) bool {
	if a.Session == nil || a.Session.TLS == nil || len(a.Session.TLS.State.PeerCertificates) == 0 {
		return false
	}
	return policy.MatchesName(a.Session.TLS.State.PeerCertificates[0], host)
}

// isIPAddress reports an MX host name that is an IPv4 or IPv6 address.
func isIPAddress(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(strings.TrimSuffix(host, "."), "[]"))
	return err == nil
}
