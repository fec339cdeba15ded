package policy

import (
	"crypto/x509"
	"strconv"
)

// RolloverRisk is a way a TLSA record set can break mail delivery when the
// server's key or certificate changes (RFC 7671 §8.1).
type RolloverRisk int

// The risks CheckRollover reports.
const (
	// RolloverNoUsable: no record is usable for SMTP, so there is nothing
	// to roll over; DANE does not authenticate the server at all.
	RolloverNoUsable RolloverRisk = iota + 1
	// RolloverSingleKey: every usable record is a DANE-EE(3) record for the
	// one key (or certificate) in use, and no DANE-TA(2) record is there.
	// A new key breaks delivery from DANE senders until its record is
	// published and the old record's TTL has run out. The remedy is the
	// "current + next" practice of RFC 7671 §8.1: publish a second
	// "3 1 1" record for the next key ahead of the change, or add a
	// DANE-TA record for the issuer.
	RolloverSingleKey
	// RolloverCertBound: no DANE-TA(2) record, and every DANE-EE(3) record
	// that matches the certificate in use selects the full certificate
	// (Cert(0)): even a renewal that keeps the key breaks them. DANE-EE
	// SPKI(1) records survive renewals with the same key (RFC 7671 §5.1).
	RolloverCertBound
)

// String says what the risk is, in a sentence.
func (r RolloverRisk) String() string {
	switch r {
	case RolloverNoUsable:
		return "no usable TLSA record: DANE does not authenticate this server"
	case RolloverSingleKey:
		return "the TLSA records match only the key in use: a key change breaks DANE until the new record is published and the old one's TTL expires (publish a record for the next key ahead: RFC 7671 §8.1)"
	case RolloverCertBound:
		return "the TLSA records that match pin the whole certificate: every renewal breaks them, even with the same key (prefer DANE-EE SPKI, \"3 1 1\": RFC 7671 §5.1)"
	}
	return "RolloverRisk(" + strconv.Itoa(int(r)) + ")"
}

// CheckRollover reports the risks the usable records among records run
// when the server's key changes, none when the set is ready. The rule:
//
//   - no usable record at all is RolloverNoUsable, and nothing else is
//     checked;
//   - a usable DANE-TA(2) record makes the set ready: a new leaf key from
//     the same issuer still matches it;
//   - otherwise the DANE-EE(3) records must cover at least one key besides
//     the one in use, or RolloverSingleKey is reported. With the server's
//     leaf certificate given, a second key is a usable DANE-EE record that
//     does not match the leaf (a next key published ahead). With leaf nil,
//     two DANE-EE records whose association data differ count as two keys
//     (a record for the key and one for the certificate of that key are
//     taken for two: give the leaf to tell them apart);
//   - also without DANE-TA, RolloverCertBound is reported when some
//     DANE-EE records match the leaf and all of them have the Cert(0)
//     selector (with leaf nil: when every DANE-EE record has it).
func CheckRollover(records []TLSA, leaf *x509.Certificate) []RolloverRisk {
	var ee []TLSA
	for _, t := range records {
		if t.Check() != nil {
			continue
		}
		if t.Usage == UsageDANETA {
			return nil
		}
		ee = append(ee, t)
	}
	if len(ee) == 0 {
		return []RolloverRisk{RolloverNoUsable}
	}
	var risks []RolloverRisk
	spare, certOnly := false, true
	if leaf != nil {
		matched := 0
		for _, t := range ee {
			if !matches(t, leaf) {
				spare = true
				continue
			}
			matched++
			if t.Selector == SelectorSPKI {
				certOnly = false
			}
		}
		certOnly = certOnly && matched > 0
	} else {
		distinct := map[string]bool{}
		for _, t := range ee {
			distinct[string(t.Data)] = true
			if t.Selector == SelectorSPKI {
				certOnly = false
			}
		}
		spare = len(distinct) > 1
	}
	if !spare {
		risks = append(risks, RolloverSingleKey)
	}
	if certOnly {
		risks = append(risks, RolloverCertBound)
	}
	return risks
}
