package scan

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/smtpprobe/probe/policy"
)

// lookupTLSA asks the TLSA records of one MX host and says whether DANE
// applies (RFC 7672 §2.2): only when the MX answer (or, for an implicit
// MX, its secure denial) and the host's address answers were validated,
// and the TLSA answer too. The records are asked for in every case, so
// that the report shows what an unsigned zone publishes in vain.
//
// The TLSA base domain is the host name, or, when the address answers
// followed validated CNAMEs, the name they lead to, and the host name
// when that one has no records or only insecure ones (RFC 7672 §2.2.2,
// §2.2.3). A validated CNAME into an unsigned zone leaves the host name
// alone as the base.
func (s *domainScan) lookupTLSA(ctx context.Context, mx *MXReport, cnames []string) *DANEReport {
	r := &DANEReport{Base: mx.Host}
	secure, failed, alias, why := s.hostSecure(mx)
	bases := []string{mx.Host}
	switch {
	case len(cnames) > 0 && secure:
		bases = []string{normalName(cnames[len(cnames)-1]), mx.Host}
	case alias:
		// RFC 7672 §2.2.2: "If the initial CNAME response is also
		// "insecure", DANE TLS does not apply"; if it is validated, the
		// host's own name is the TLSA base.
		cn := s.dns.query(ctx, mx.Host, dns.TypeCNAME)
		r.Lookups = append(r.Lookups, cn)
		secure = cn.DNSSEC == DNSSECSecure && cn.found()
	}
	var a *DNSAnswer
	for _, base := range bases {
		a = s.dns.query(ctx, "_"+strconv.Itoa(s.rep.Port)+"._tcp."+base, dns.TypeTLSA)
		r.Lookups = append(r.Lookups, a)
		r.Base = base
		// RFC 7672 §2.2.3: an insecure answer, or a secure denial, sends
		// the search on to the next candidate.
		if a.DNSSEC != DNSSECInsecure && !(a.noData() && a.DNSSEC == DNSSECSecure) {
			break
		}
	}
	switch {
	case failed:
		r.Status, r.Note = DANELookupFailed, why
	case !secure:
		r.Status, r.Note = DANEInsecure, why
		if a.found() || a.DNSSEC == DNSSECBogus {
			r.Note += "; the TLSA records found are ignored"
		}
	case a.DNSSEC == DNSSECBogus:
		r.Status, r.Note = DANEBogus, "the TLSA answer failed DNSSEC validation: "+a.Error
	case a.DNSSEC == DNSSECError:
		r.Status, r.Note = DANELookupFailed, "the TLSA question got no answer: "+a.Error
	case a.DNSSEC == DNSSECInsecure:
		r.Status, r.Note = DANEInsecure, "the TLSA answer is not validated (an unsigned zone): DANE does not apply"
	case !a.found():
		r.Status, r.Note = DANENoRecords, "no TLSA records (validated denial): DANE does not apply"
	default:
		r.Status = DANEValidated
		for _, rr := range a.rrs {
			rec, ok := rr.(*dns.TLSA)
			if !ok {
				continue // collect keeps records of the type asked; never another
			}
			t := tlsaOf(rec)
			r.tlsa = append(r.tlsa, t)
			r.Records = append(r.Records, t.String()+" "+t.Describe())
		}
	}
	return r
}

// hostSecure reports whether DANE may apply to the host: the MX answer and
// every address answer validated, and at least one address found. failed
// reports an address question of a host behind a validated MX answer that
// got no answer: a sender cannot tell whether DANE applies, and must
// delay or abandon delivery to the host (RFC 7672 §2.2.2). alias reports
// that the only answers not validated are insecure ones that followed
// CNAMEs: DANE applies if the host's own CNAME record is validated. The
// reason comes with a false secure.
func (s *domainScan) hostSecure(mx *MXReport) (secure, failed, alias bool, why string) {
	if m := s.rep.MXLookup; m == nil || m.DNSSEC != DNSSECSecure {
		return false, false, false, "the MX answer is not validated: DANE does not apply (RFC 7672 §2.2.1)"
	}
	found := false
	for _, a := range mx.AddressLookups {
		switch {
		case a.DNSSEC == DNSSECError:
			return false, true, false, "the " + a.Type + " question for " + mx.Host + " got no answer (" + a.Error +
				"): a DANE sender cannot tell whether DANE applies (RFC 7672 §2.2.2)"
		case a.DNSSEC == DNSSECInsecure && len(a.CNAMEs) > 0 && why == "":
			alias, why = true, "the "+a.Type+" answer for "+mx.Host+" leads through a CNAME into an unsigned zone: DANE does not apply (RFC 7672 §2.2.2)"
		case a.DNSSEC != DNSSECSecure && a.DNSSEC != DNSSECInsecure || a.DNSSEC == DNSSECInsecure && len(a.CNAMEs) == 0:
			return false, false, false, "the " + a.Type + " answer for " + mx.Host + " is not validated: DANE does not apply (RFC 7672 §2.2.2)"
		}
		found = found || a.found()
	}
	if !found {
		return false, false, false, mx.Host + " has no address"
	}
	return !alias, false, alias, why
}

// tlsaOf turns a DNS TLSA record into the policy package's form. The data
// comes hex-encoded from the DNS library; what does not decode stays
// empty, and TLSA.Check calls it unusable.
func tlsaOf(rr *dns.TLSA) policy.TLSA {
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		data = nil
	}
	return policy.TLSA{Usage: rr.Usage, Selector: rr.Selector, MatchingType: rr.MatchingType, Data: data}
}

// matchDANE matches the chain an address presented against the host's
// validated records.
func matchDANE(d *DANEReport, names []string, chain []*x509.Certificate) *DANEMatch {
	res := policy.MatchTLSA(d.tlsa, chain, policy.MatchOptions{Names: names})
	m := &DANEMatch{Authenticated: len(res.Matched) > 0}
	for _, x := range res.Matched {
		m.Matched = append(m.Matched, x.Record.String()+" at depth "+strconv.Itoa(x.Depth))
	}
	for _, e := range res.Mismatched {
		m.Mismatched = append(m.Mismatched, e.Error())
	}
	for _, e := range res.Unusable {
		m.Unusable = append(m.Unusable, e.Error())
	}
	return m
}

// agileMatch reports whether the chain matches the records a sender that
// applies digest algorithm agility keeps (policy.DigestAgility).
func agileMatch(d *DANEReport, names []string, chain []*x509.Certificate) bool {
	res := policy.MatchTLSA(policy.DigestAgility(d.tlsa), chain, policy.MatchOptions{Names: names})
	return len(res.Matched) > 0
}

// rolloverRisks says, in sentences, how the records break at the next key
// change of leaf.
func rolloverRisks(d *DANEReport, leaf *x509.Certificate) []string {
	var out []string
	for _, r := range policy.CheckRollover(d.tlsa, leaf) {
		out = append(out, r.String())
	}
	return out
}

// hasUsable reports a record usable for SMTP among the validated ones.
func hasUsable(d *DANEReport) bool {
	for _, t := range d.tlsa {
		if t.Check() == nil {
			return true
		}
	}
	return false
}

// tlsaNames is the list of TLSA owner names asked, for a summary.
func tlsaNames(d *DANEReport) string {
	var names []string
	for _, a := range d.Lookups {
		if a.Type == "TLSA" {
			names = append(names, a.Name)
		}
	}
	return strings.Join(names, ", ")
}
