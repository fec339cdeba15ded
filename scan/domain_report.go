package scan

import (
	"time"

	"github.com/smtpprobe/probe/policy"
)

// DomainSchemaVersion is the version of the DomainReport's JSON form, in
// its "schema_version" field. It changes when a field is removed or
// changes meaning; fields may be added without a change.
const DomainSchemaVersion = 1

// Verdict sums up a part of a domain scan: an address, an MX host, the
// domain. It follows from the findings of that part and of the parts
// below it: the worst severity decides.
type Verdict string

// The verdicts, from best to worst (Untested aside).
const (
	// VerdictOK: nothing above low severity. A sender gets authenticated
	// TLS where the domain asks for it, and TLS at least elsewhere.
	VerdictOK Verdict = "ok"
	// VerdictWarning: a finding of medium severity: mail flows, but
	// unprotected against an active attacker, or at risk (a key rollover
	// that will break DANE, a policy in testing mode that fails).
	VerdictWarning Verdict = "warning"
	// VerdictFail: a finding of high or critical severity: a sender that
	// follows the domain's policy will not deliver to this part, or the
	// part does not work at all.
	VerdictFail Verdict = "fail"
	// VerdictUntested: nothing could be tested: an IPv6 address this host
	// cannot reach, or an MX host or domain whose every address is such.
	VerdictUntested Verdict = "untested"
	// VerdictError: the scan could not run (an invalid domain, no
	// resolver); DomainReport.Error says why.
	VerdictError Verdict = "error"
)

// rank orders verdicts for worst-of: untested ranks below ok, so that one
// untested address does not change the verdict of its MX host.
func (v Verdict) rank() int {
	switch v {
	case VerdictUntested:
		return 0
	case VerdictOK:
		return 1
	case VerdictWarning:
		return 2
	case VerdictFail:
		return 3
	case VerdictError:
		return 4
	}
	return -1
}

// worse returns the worse of v and w; "" counts as nothing.
func worse(v, w Verdict) Verdict {
	if v == "" || w.rank() > v.rank() {
		return w
	}
	return v
}

// verdictOf is the verdict findings give by their worst severity.
func verdictOf(fs []Finding) Verdict {
	v := VerdictOK
	for _, f := range fs {
		switch f.Severity {
		case SeverityMedium:
			v = worse(v, VerdictWarning)
		case SeverityHigh, SeverityCritical:
			v = worse(v, VerdictFail)
		}
	}
	return v
}

// Protection names what authenticates the MX hosts of a domain for a
// sender: DANE, MTA-STS, or neither.
type Protection string

// The protections.
const (
	// ProtectionDANE: every MX host has DNSSEC-validated TLSA records
	// (RFC 7672); a DANE sender authenticates by them.
	ProtectionDANE Protection = "dane"
	// ProtectionMTASTS: the domain publishes an MTA-STS policy in enforce
	// mode (RFC 8461); a sender authenticates by WebPKI.
	ProtectionMTASTS Protection = "mta-sts"
	// ProtectionNone: neither: a sender uses TLS when offered, without
	// authenticating the server, and an active attacker can strip it.
	ProtectionNone Protection = "none"
)

// DomainReport is what Domain found about a mail domain: its MX hosts,
// every address of each with its STARTTLS session, DANE, MTA-STS, TLS-RPT
// and REQUIRETLS, the findings of each part and the verdicts. It marshals
// to stable JSON with snake_case names:
//
//	{
//	  "schema_version": 1, "domain": "example.com", "resolver": "127.0.0.1:53", "port": 25,
//	  "start": "…", "duration_ns": 812345678,
//	  "verdict": "ok", "protection": ["dane", "mta-sts"],
//	  "mx_lookup": {DNSAnswer}, "null_mx": false, "implicit_mx": false,
//	  "mx": [{"host", "preference", "implicit", "verdict", "address_lookups": [DNSAnswer…],
//	          "dane": {…}, "mta_sts_match": true, "findings": […],
//	          "addresses": [{"address", "family", "verdict", "starttls", "tls", "webpki_valid",
//	                         "requiretls", "requiretls_before_tls", "dane", "findings", "session": {Report}}]}],
//	  "mta_sts": {"record_lookup", "record", "url", "status", "policy", "error"},
//	  "tls_rpt": {"lookup", "record", "error"},
//	  "requiretls": {"advertised", "before_tls", "protected", "ready"},
//	  "findings": [{"id", "severity", "summary", "evidence", "reference"}],
//	  "error": {"class", "stage", "message"}
//	}
//
// "mx" and "findings" are always arrays; other empty parts are left out.
type DomainReport struct {
	// SchemaVersion is the DomainSchemaVersion it was made with.
	SchemaVersion int `json:"schema_version"`
	// Domain is the domain scanned, in lower case without a final dot
	// (DomainOptions.Domain as given when it was refused).
	Domain string `json:"domain"`
	// Resolver is the address of the validating resolver asked.
	Resolver string `json:"resolver,omitempty"`
	// Port is the SMTP port connected to and named in the TLSA queries.
	Port int `json:"port"`
	// Start is when the scan began; Duration how long it took.
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`

	// Verdict is the worst of the domain's findings and of its MX hosts'
	// verdicts (VerdictError when the scan could not run).
	Verdict Verdict `json:"verdict"`
	// Protection lists what authenticates the domain's MX hosts for a
	// sender (ProtectionNone alone when nothing does).
	Protection []Protection `json:"protection,omitempty"`

	// MXLookup is the MX question for the domain.
	MXLookup *DNSAnswer `json:"mx_lookup,omitempty"`
	// NullMX reports a null MX (RFC 7505): the domain accepts no mail,
	// nothing is connected to, and that is no failure.
	NullMX bool `json:"null_mx,omitempty"`
	// ImplicitMX reports that the domain has no MX records and stands for
	// itself (RFC 5321 §5.1).
	ImplicitMX  bool `json:"implicit_mx,omitempty"`
	nullMXMixed bool // a null MX among other MX records, left out of MX
	// MX holds each MX host in order of preference.
	MX []MXReport `json:"mx"`

	// MTASTS is the MTA-STS record and policy (nil when the scan did not
	// get that far).
	MTASTS *MTASTSReport `json:"mta_sts,omitempty"`
	// TLSRPT is the TLS reporting record.
	TLSRPT *TLSRPTReport `json:"tls_rpt,omitempty"`
	// RequireTLS sums up REQUIRETLS readiness (RFC 8689).
	RequireTLS *RequireTLSReport `json:"requiretls,omitempty"`

	// Findings are those about the domain as a whole; each MXReport and
	// AddressReport holds its own.
	Findings []Finding `json:"findings"`
	// Error is why the scan could not run, or nil.
	Error *RunError `json:"error,omitempty"`
}

// AllFindings returns every finding of the report, the domain's first,
// then each MX host's followed by those of its addresses.
func (r *DomainReport) AllFindings() []Finding {
	out := append([]Finding(nil), r.Findings...)
	for _, mx := range r.MX {
		out = append(out, mx.Findings...)
		for _, a := range mx.Addresses {
			out = append(out, a.Findings...)
		}
	}
	return out
}

// MXReport is one MX host of the domain.
type MXReport struct {
	Host       string `json:"host"`
	Preference uint16 `json:"preference"`
	// Implicit reports the domain standing for itself (no MX records).
	Implicit bool `json:"implicit,omitempty"`
	// Verdict is the worst of the host's findings and of its addresses'
	// verdicts; VerdictUntested when no address could be tested.
	Verdict Verdict `json:"verdict"`
	// AddressLookups are the A and AAAA questions for the host.
	AddressLookups []*DNSAnswer `json:"address_lookups,omitempty"`
	// DANE is what DNS says about DANE for the host.
	DANE *DANEReport `json:"dane,omitempty"`
	// MTASTSMatch reports whether the domain's MTA-STS policy permits the
	// host (nil without a policy).
	MTASTSMatch *bool `json:"mta_sts_match,omitempty"`
	// Addresses holds one session per address, IPv4 first.
	Addresses []AddressReport `json:"addresses,omitempty"`
	// Findings are those about the host as a whole.
	Findings []Finding `json:"findings"`
}

// AddressReport is one address of an MX host and its STARTTLS session.
type AddressReport struct {
	// Address is the IP address; Family "ipv4" or "ipv6".
	Address string `json:"address"`
	Family  string `json:"family"`
	// Verdict sums up the address's findings; VerdictUntested for an IPv6
	// address this host cannot reach.
	Verdict Verdict `json:"verdict"`
	// StartTLS reports that STARTTLS was offered and TLS came up.
	StartTLS bool `json:"starttls"`
	// TLS is the TLS report of the session (also when the certificate
	// does not verify: the session goes on to judge it).
	TLS *TLSSummary `json:"tls,omitempty"`
	// WebPKIValid reports that the certificate verifies for the MX host
	// name under WebPKI (DomainOptions.RootCAs, else the system's).
	WebPKIValid bool `json:"webpki_valid"`
	// RequireTLS reports REQUIRETLS in the EHLO reply after STARTTLS;
	// RequireTLSBeforeTLS in the one before, where a sender cannot use
	// it (RFC 8689 §2: only in a session that employs TLS).
	RequireTLS          bool `json:"requiretls"`
	RequireTLSBeforeTLS bool `json:"requiretls_before_tls,omitempty"`
	// DANE is how the TLSA records of the host fared against the chain
	// this address presented (nil when DANE does not apply).
	DANE *DANEMatch `json:"dane,omitempty"`
	// Findings are those about this address.
	Findings []Finding `json:"findings"`
	// Session is the Report of the session (banner, EHLO, STARTTLS, EHLO,
	// QUIT) with its transcript. Its own findings judge the certificate
	// by WebPKI alone; the domain scan's findings above judge it by the
	// policy the domain publishes.
	Session *Report `json:"session,omitempty"`
}

// TLSSummary is the part of the TLS report a domain table shows.
type TLSSummary struct {
	Version     string `json:"version"`
	CipherSuite string `json:"cipher_suite"`
	// Subject and Issuer are those of the leaf certificate; DNSNames its
	// subject alternative names.
	Subject  string   `json:"subject,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	DNSNames []string `json:"dns_names,omitempty"`
	// KeyType, KeyBits describe the leaf's key ("ECDSA", 256).
	KeyType string `json:"key_type,omitempty"`
	KeyBits int    `json:"key_bits,omitempty"`
	// NotAfter is when the leaf expires.
	NotAfter time.Time `json:"not_after,omitzero"`
	// SPKISHA256 is the SHA-256 of the leaf's SubjectPublicKeyInfo, in
	// hex: the data of a "3 1 1" TLSA record for this key.
	SPKISHA256 string `json:"spki_sha256,omitempty"`
	// Problems are the reasons WebPKI verification failed, if it did.
	Problems []string `json:"problems,omitempty"`
}

// DANEStatus says whether DANE applies to an MX host (RFC 7672 §2.2).
type DANEStatus string

// The DANE statuses of an MX host.
const (
	// DANEValidated: DNSSEC-validated TLSA records exist: a DANE sender
	// authenticates the host by them.
	DANEValidated DANEStatus = "validated"
	// DANENoRecords: the validated answer says there are none: DANE does
	// not apply.
	DANENoRecords DANEStatus = "no-records"
	// DANEInsecure: the MX or address answers, or the TLSA answer, are not
	// validated: DANE does not apply; TLSA records found are ignored.
	DANEInsecure DANEStatus = "insecure"
	// DANEBogus: the TLSA answer failed validation: a DANE sender will not
	// deliver.
	DANEBogus DANEStatus = "bogus"
	// DANELookupFailed: the TLSA question got no answer: a DANE sender
	// defers delivery.
	DANELookupFailed DANEStatus = "lookup-failed"
)

// DANEReport is the TLSA side of DANE for one MX host.
type DANEReport struct {
	// Status says whether DANE applies.
	Status DANEStatus `json:"status"`
	// Base is the TLSA base domain: the MX host name, or the name its
	// validated CNAMEs lead to (RFC 7672 §2.2.2).
	Base string `json:"base,omitempty"`
	// Lookups are the TLSA questions asked ("_25._tcp.<base>."), after
	// the host's CNAME question when its aliases lead into an unsigned
	// zone (RFC 7672 §2.2.2).
	Lookups []*DNSAnswer `json:"lookups,omitempty"`
	// Records are the TLSA records that count, with their parameters
	// named: "3 1 1 2bb1… DANE-EE(3) SPKI(1) SHA2-256(1)".
	Records []string `json:"records,omitempty"`
	// Rollover lists the ways the records break at the next key change
	// (policy.CheckRollover), one sentence each.
	Rollover []string `json:"rollover,omitempty"`
	// Note says why DANE does not apply, when it does not.
	Note string `json:"note,omitempty"`

	tlsa []policy.TLSA // the validated records, parsed
}

// DANEMatch is how one address's chain fared against the TLSA records.
type DANEMatch struct {
	// Authenticated reports that a usable record matched.
	Authenticated bool `json:"authenticated"`
	// Matched names each matching record and the depth in the chain of
	// the certificate it matched ("3 1 1 2bb1… at depth 0").
	Matched []string `json:"matched,omitempty"`
	// Mismatched and Unusable say why each other record did not count.
	Mismatched []string `json:"mismatched,omitempty"`
	Unusable   []string `json:"unusable,omitempty"`
}

// MTASTSReport is the domain's MTA-STS record and policy.
type MTASTSReport struct {
	// RecordLookup is the TXT question at _mta-sts.<domain>.
	RecordLookup *DNSAnswer `json:"record_lookup,omitempty"`
	// ID is the record's id, when a valid record was found.
	ID string `json:"id,omitempty"`
	// URL is where the policy was fetched from; Status the HTTP status.
	URL    string `json:"url,omitempty"`
	Status int    `json:"status,omitempty"`
	// Mode, MX and MaxAge are the policy's, when it was fetched and parsed.
	Mode   string   `json:"mode,omitempty"`
	MX     []string `json:"mx,omitempty"`
	MaxAge int      `json:"max_age,omitempty"`
	// Error says what went wrong with the record or the policy, or is
	// empty.
	Error string `json:"error,omitempty"`

	state stsState // how far the lookup got
}

// TLSRPTReport is the domain's TLS reporting record.
type TLSRPTReport struct {
	// Lookup is the TXT question at _smtp._tls.<domain>.
	Lookup *DNSAnswer `json:"lookup,omitempty"`
	// RUA are the report URIs of a valid record; Unsupported those with
	// a scheme no sender reports to (neither mailto nor https).
	RUA         []string `json:"rua,omitempty"`
	Unsupported []string `json:"unsupported,omitempty"`
	// Error says why the record is missing or invalid, or is empty.
	Error string `json:"error,omitempty"`

	missing bool // no record at all
}

// RequireTLSReport sums up whether senders can use REQUIRETLS (RFC 8689)
// towards the domain.
type RequireTLSReport struct {
	// Advertised: every address tested offers REQUIRETLS after STARTTLS.
	Advertised bool `json:"advertised"`
	// BeforeTLS: some address offers it already before STARTTLS.
	BeforeTLS bool `json:"before_tls,omitempty"`
	// Protected: a sender can authenticate every address tested as
	// RFC 8689 §4.2.1 requires: its MX host from a DNSSEC-validated MX
	// answer (or the domain itself, without MX records) or listed by an
	// MTA-STS policy in force, and a certificate that names the host and
	// is WebPKI-valid or matched by DANE.
	Protected bool `json:"protected"`
	// Ready: some address tested offers REQUIRETLS after STARTTLS and can
	// be authenticated so: a message sent with REQUIRETLS reaches the
	// domain (a sender passes over the addresses that fail).
	Ready bool `json:"ready"`
}
