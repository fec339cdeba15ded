package policy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TLSA parameters (RFC 6698 §2.1, with the names of RFC 7218).
const (
	UsagePKIXTA = 0 // PKIX-TA: CA constraint; treated as unusable for SMTP (RFC 7672 §3.1.3)
	UsagePKIXEE = 1 // PKIX-EE: service certificate constraint; treated as unusable for SMTP
	UsageDANETA = 2 // DANE-TA: trust anchor assertion
	UsageDANEEE = 3 // DANE-EE: domain-issued certificate

	SelectorCert = 0 // Cert: the full certificate, DER
	SelectorSPKI = 1 // SPKI: the SubjectPublicKeyInfo, DER

	MatchingFull   = 0 // Full: the selected content itself
	MatchingSHA256 = 1 // SHA2-256 of the selected content
	MatchingSHA512 = 2 // SHA2-512 of the selected content
)

// maxTLSAData is the most association data a TLSA record can carry: the
// RDATA of a DNS record holds at most 65535 bytes, three of them for the
// usage, selector and matching type.
const maxTLSAData = 65535 - 3

// ErrUnusable is wrapped by the error TLSA.Check returns for a record an
// SMTP client treats as unusable (RFC 7672 §2.2 and §3.1.3).
var ErrUnusable = errors.New("unusable TLSA record")

// TLSA is one TLSA record (RFC 6698 §2.1): which certificate of the chain
// it constrains (Usage), which part of it (Selector), how it is compared
// (MatchingType), and the certificate association data.
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// String returns the record in presentation form (RFC 6698 §2.2): the three
// numbers and the data in lower-case hex, "3 1 1 2bb1…".
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %x", t.Usage, t.Selector, t.MatchingType, t.Data)
}

// Describe names the record's parameters with the acronyms of RFC 7218:
// "DANE-EE(3) SPKI(1) SHA2-256(1)". Values without a name read "?".
func (t TLSA) Describe() string {
	return fmt.Sprintf("%s(%d) %s(%d) %s(%d)",
		name(t.Usage, "PKIX-TA", "PKIX-EE", "DANE-TA", "DANE-EE"), t.Usage,
		name(t.Selector, "Cert", "SPKI"), t.Selector,
		name(t.MatchingType, "Full", "SHA2-256", "SHA2-512"), t.MatchingType)
}

func name(v uint8, names ...string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return "?"
}

// ParseTLSA parses the presentation form of a TLSA record's data
// (RFC 6698 §2.2): usage, selector and matching type as decimal numbers,
// then the association data in hex, which may be split by white space, as
// in "3 1 1 0d6fce33 52c3a5d5…". As in a zone file, the record may span
// lines inside parentheses: line ends and parentheses count as spaces.
// The owner name, class and type are not part of it. The numbers must be 0–255; the data must be present, of
// even length and at most 65532 bytes. ParseTLSA does not judge whether
// the record is usable: see Check.
func ParseTLSA(s string) (TLSA, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\r\n()", r) })
	if len(fields) < 4 {
		return TLSA{}, tlsaError(fmt.Errorf("%w: want usage, selector, matching type and data, got %d fields in %s",
			ErrSyntax, len(fields), quote(s)))
	}
	var nums [3]uint8
	for i, what := range [3]string{"usage", "selector", "matching type"} {
		n, err := strconv.ParseUint(fields[i], 10, 8)
		if err != nil {
			return TLSA{}, tlsaError(fmt.Errorf("%w: %s %s is not a number from 0 to 255",
				ErrSyntax, what, quote(fields[i])))
		}
		nums[i] = uint8(n)
	}
	digits := 0
	for _, f := range fields[3:] {
		digits += len(f)
	}
	if digits > 2*maxTLSAData {
		return TLSA{}, tlsaError(fmt.Errorf("%w: %d hex digits of data, at most %d fit in a DNS record",
			ErrTooLarge, digits, 2*maxTLSAData))
	}
	data, err := hex.DecodeString(strings.Join(fields[3:], ""))
	if err != nil {
		return TLSA{}, tlsaError(fmt.Errorf("%w: association data is not hex: %w", ErrSyntax, err))
	}
	return TLSA{Usage: nums[0], Selector: nums[1], MatchingType: nums[2], Data: data}, nil
}

func tlsaError(err error) error { return &ParseError{Format: FormatTLSA, Err: err} }

// Check reports why an SMTP client treats the record as unusable,
// wrapping ErrUnusable, or nil when the record is usable: DANE-TA(2) or
// DANE-EE(3), with a known selector and matching type, and a digest of the
// length its matching type produces. PKIX-TA(0) and PKIX-EE(1) are
// treated as unusable, as RFC 7672 §3.1.3 allows: servers should not
// publish them (a sending MTA has no list of trusted CAs to check them
// against), and what a client does with them is undefined. Unknown parameters make a record unusable (RFC 6698 §4.1,
// RFC 7672 §2.2), and so does a digest of the wrong length, which can
// never match.
func (t TLSA) Check() error {
	switch {
	case t.Usage == UsagePKIXTA || t.Usage == UsagePKIXEE:
		return fmt.Errorf("%w: usage %s(%d) is not for SMTP, which has no trusted CAs to check it against (RFC 7672 §3.1.3)",
			ErrUnusable, name(t.Usage, "PKIX-TA", "PKIX-EE"), t.Usage)
	case t.Usage > UsageDANEEE:
		return fmt.Errorf("%w: unknown usage %d", ErrUnusable, t.Usage)
	case t.Selector > SelectorSPKI:
		return fmt.Errorf("%w: unknown selector %d", ErrUnusable, t.Selector)
	case t.MatchingType > MatchingSHA512:
		return fmt.Errorf("%w: unknown matching type %d", ErrUnusable, t.MatchingType)
	case len(t.Data) == 0:
		return fmt.Errorf("%w: no association data", ErrUnusable)
	case t.MatchingType == MatchingSHA256 && len(t.Data) != 32:
		return fmt.Errorf("%w: a SHA2-256 digest has 32 bytes, this one %d", ErrUnusable, len(t.Data))
	case t.MatchingType == MatchingSHA512 && len(t.Data) != 64:
		return fmt.Errorf("%w: a SHA2-512 digest has 64 bytes, this one %d", ErrUnusable, len(t.Data))
	}
	return nil
}
