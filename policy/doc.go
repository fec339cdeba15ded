// Package policy holds the rules a sending MTA applies to decide whether
// mail to a domain is protected: DANE TLSA matching for SMTP, the MTA-STS
// record and policy, and the TLS-RPT record. It is pure logic: it makes no
// DNS query and no HTTP request, and reads nothing but its arguments. The
// caller (package scan) looks the records up, fetches the policy and
// connects; this package judges what came back.
//
// # A domain, step by step
//
// For the domain example.com with the MX mx1.example.com, the network part
// gathers the TXT strings at _mta-sts.example.com, each TXT record's
// strings concatenated, and hands them over:
//
//	rec, err := policy.ParseSTSRecord(txts) // "v=STSv1; id=20160831085700Z;"
//	if errors.Is(err, policy.ErrNoRecord) {
//		// the domain has no MTA-STS policy
//	}
//
// With a record found, it fetches https://mta-sts.example.com/.well-known/mta-sts.txt,
// reading at most MaxPolicySize+1 bytes, and checks every MX host against
// the policy:
//
//	p, err := policy.ParsePolicy(body) // version, mode, mx, max_age
//	if err != nil {
//		return err // *policy.ParseError: the line, the field, the reason
//	}
//	if p.Mode == policy.ModeEnforce && !p.MatchMX("mx1.example.com") {
//		// senders must not deliver to this MX
//	}
//
// For DANE it looks up the TLSA records at _25._tcp.mx1.example.com
// through a validating resolver (only a secure answer counts, RFC 7672
// §2.2), connects, says STARTTLS, and gives the records and the chain the
// server presented, with the names a DANE-TA match must cover:
//
//	r := policy.MatchTLSA(records, state.PeerCertificates, policy.MatchOptions{
//		Names: []string{"mx1.example.com"},
//	})
//	if err := r.Err(); err != nil {
//		// errors.Is(err, policy.ErrTLSAMismatch): a DANE sender will not deliver;
//		// errors.Is(err, policy.ErrNoUsableTLSA): it delivers, unauthenticated
//	}
//	for _, m := range r.Matched {
//		fmt.Println(m.Record.Describe(), "matched at depth", m.Depth)
//	}
//	for _, risk := range policy.CheckRollover(records, state.PeerCertificates[0]) {
//		fmt.Println("warning:", risk) // e.g. one "3 1 1" record and no next key
//	}
//
// And the reporting address, from the TXT strings at _smtp._tls.example.com:
//
//	rpt, err := policy.ParseTLSRPTRecord(txts) // rpt.RUA: mailto: and https: URIs
//
// # Errors
//
// Every parser returns a *ParseError naming the format, the line and the
// field, wrapping one of ErrNoRecord, ErrMultipleRecords, ErrTooLarge,
// ErrMissingField and ErrSyntax. Input of any size or content gives a
// result or an error, never a panic; offending values are quoted, with
// control bytes escaped, and cut short in messages.
//
// # Standards
//
//   - RFC 6698: DANE TLSA records, their parameters and presentation form
//   - RFC 7218: acronyms for the TLSA parameters (DANE-EE, SPKI, SHA2-256)
//   - RFC 7671: DANE operational guidance, key rollover (§8.1)
//   - RFC 7672: SMTP security via opportunistic DANE TLS
//   - RFC 8461: SMTP MTA Strict Transport Security (MTA-STS)
//   - RFC 8460: SMTP TLS Reporting (TLS-RPT)
package policy
