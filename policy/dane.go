package policy

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The causes TLSAResult.Err wraps.
var (
	// ErrNoUsableTLSA: the TLSA records were all unusable, or there were
	// none. RFC 7672 §2.2: the client still requires TLS, but does not
	// authenticate the server.
	ErrNoUsableTLSA = errors.New("no usable TLSA record")
	// ErrTLSAMismatch: there were usable records and none authenticated
	// the chain. RFC 7672 §2.2: the client must not deliver.
	ErrTLSAMismatch = errors.New("no TLSA record matches the server's certificate chain")
)

// MatchOptions are the inputs of MatchTLSA besides the records and chain.
// The zero value is usable for DANE-EE records, which need neither.
type MatchOptions struct {
	// Names are the reference identifiers a DANE-TA(2) match requires the
	// leaf certificate to be valid for, any one of them (MatchesName):
	// the TLSA base domain first, and the others RFC 7672 §3.2.2 adds
	// depending on how the base was reached. A trailing dot is ignored.
	// With none, no DANE-TA record can match.
	Names []string
	// Now is the time a DANE-TA(2) match checks the chain's validity
	// periods at; the zero value means the current time.
	Now time.Time
}

// TLSAResult is what MatchTLSA found. Each record given appears in exactly
// one of its three lists.
type TLSAResult struct {
	// Matched holds the usable records that authenticate the chain, in the
	// order given.
	Matched []TLSAMatch
	// Mismatched holds the usable records that do not, each with the reason.
	Mismatched []*TLSAError
	// Unusable holds the records an SMTP client treats as unusable
	// (TLSA.Check), each with the reason.
	Unusable []*TLSAError
}

// TLSAMatch is a record that authenticated the chain and the certificate it
// matched.
type TLSAMatch struct {
	Record TLSA
	// Depth is the index in the chain of the certificate the record
	// matched: 0 for the leaf (always, for DANE-EE), 1 or more for the
	// trust anchor of a DANE-TA record, and -1 when a DANE-TA Cert(0)
	// Full(0) record was used as the trust anchor without the server
	// presenting that certificate.
	Depth int
}

// TLSAError is a TLSA record that does not authenticate the chain, and why.
type TLSAError struct {
	Record TLSA
	Err    error
}

func (e *TLSAError) Error() string {
	return "TLSA " + e.Record.Describe() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *TLSAError) Unwrap() error { return e.Err }

// Err is nil when a record matched. Otherwise it wraps ErrNoUsableTLSA
// when no record was usable, or ErrTLSAMismatch and the reason of each
// usable record.
func (r *TLSAResult) Err() error {
	switch {
	case len(r.Matched) > 0:
		return nil
	case len(r.Mismatched) == 0 && len(r.Unusable) == 0:
		return fmt.Errorf("%w: there are no TLSA records", ErrNoUsableTLSA)
	case len(r.Mismatched) == 0:
		errs := make([]error, len(r.Unusable))
		for i, e := range r.Unusable {
			errs[i] = e
		}
		return fmt.Errorf("%w: %w", ErrNoUsableTLSA, errors.Join(errs...))
	}
	errs := make([]error, len(r.Mismatched))
	for i, e := range r.Mismatched {
		errs[i] = e
	}
	return fmt.Errorf("%w: %w", ErrTLSAMismatch, errors.Join(errs...))
}

// MatchTLSA tells which of the records authenticate the certificate chain
// an SMTP server presented (chain[0] the leaf, then the rest in the order
// the server sent them), under the rules of RFC 7672 for SMTP. Every
// usable record is tried, so the result also shows the records that do
// not match (a stale key, a next key published ahead).
//
// A DANE-EE(3) record matches when the leaf's selected content (the whole
// certificate or its SubjectPublicKeyInfo, in DER) equals the data or
// hashes to it. Its names, validity period and issuer are ignored
// (RFC 7672 §3.1.1).
//
// A DANE-TA(2) record must match a certificate other than the leaf, which
// then is the only trust anchor (RFC 7672 §3.1.2): the leaf must chain to
// it through the certificates the server presented (crypto/x509, any
// extended key usage), no certificate on the path may be expired or not
// yet valid at opts.Now, and the leaf must be valid for one of opts.Names
// (its DNS subject alternative names, with a wildcard only as the whole
// leftmost label; its subject common name only when it has no DNS name,
// RFC 7672 §3.2.3). A DANE-TA Cert(0) Full(0) record carries the trust
// anchor itself, and is used so when the server did not present it.
//
// MatchTLSA does not check that the records were DNSSEC-validated: only
// records from a secure RRset may be given (RFC 7672 §2.2).
func MatchTLSA(records []TLSA, chain []*x509.Certificate, opts MatchOptions) *TLSAResult {
	r := &TLSAResult{}
	for _, t := range records {
		if err := t.Check(); err != nil {
			r.Unusable = append(r.Unusable, &TLSAError{Record: t, Err: err})
			continue
		}
		var depth int
		var err error
		if t.Usage == UsageDANEEE {
			depth, err = matchEE(t, chain)
		} else {
			depth, err = matchTA(t, chain, opts)
		}
		if err != nil {
			r.Mismatched = append(r.Mismatched, &TLSAError{Record: t, Err: err})
			continue
		}
		r.Matched = append(r.Matched, TLSAMatch{Record: t, Depth: depth})
	}
	return r
}

// errNoLeaf is the reason no record can match an empty chain.
var errNoLeaf = errors.New("the server presented no certificate")

func matchEE(t TLSA, chain []*x509.Certificate) (int, error) {
	if len(chain) == 0 || chain[0] == nil {
		return 0, errNoLeaf
	}
	if !matches(t, chain[0]) {
		return 0, fmt.Errorf("the leaf certificate's %s does not match", selected(t))
	}
	return 0, nil
}

// selected names what the record's selector takes from a certificate.
func selected(t TLSA) string {
	if t.Selector == SelectorSPKI {
		return "public key (SPKI)"
	}
	return "certificate"
}

// matches reports whether the content t selects from c has t's data, or
// hashes to it. t must be usable.
func matches(t TLSA, c *x509.Certificate) bool {
	content := c.Raw
	if t.Selector == SelectorSPKI {
		content = c.RawSubjectPublicKeyInfo
	}
	switch t.MatchingType {
	case MatchingSHA256:
		sum := sha256.Sum256(content)
		return bytes.Equal(sum[:], t.Data)
	case MatchingSHA512:
		sum := sha512.Sum512(content)
		return bytes.Equal(sum[:], t.Data)
	}
	return bytes.Equal(content, t.Data)
}

// matchTA tries each certificate above the leaf that t matches as the
// trust anchor, then the certificate in a Cert(0) Full(0) record, and
// returns the depth of the first that authenticates the chain.
func matchTA(t TLSA, chain []*x509.Certificate, opts MatchOptions) (int, error) {
	if len(chain) == 0 || chain[0] == nil {
		return 0, errNoLeaf
	}
	var errs []error
	for i := 1; i < len(chain); i++ {
		if chain[i] == nil || !matches(t, chain[i]) {
			continue
		}
		err := verifyTA(chain, chain[i], opts)
		if err == nil {
			return i, nil
		}
		errs = append(errs, fmt.Errorf("matches the certificate at depth %d, but: %w", i, err))
	}
	if t.Selector == SelectorCert && t.MatchingType == MatchingFull {
		ta, err := x509.ParseCertificate(t.Data)
		if err != nil {
			errs = append(errs, fmt.Errorf("the record's certificate does not parse: %w", err))
		} else if err := verifyTA(chain, ta, opts); err != nil {
			errs = append(errs, fmt.Errorf("with the record's certificate as trust anchor: %w", err))
		} else {
			return -1, nil
		}
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	if matches(t, chain[0]) {
		return 0, errors.New("it matches the leaf certificate, not an issuer: DANE-TA names a trust anchor, DANE-EE(3) the server's own certificate (RFC 7672 §3.1)")
	}
	return 0, fmt.Errorf("no certificate in the chain of %d has a matching %s", len(chain), selected(t))
}

// verifyTA checks that chain[0] chains to ta through the rest of the chain
// at opts.Now, and is valid for one of opts.Names.
func verifyTA(chain []*x509.Certificate, ta *x509.Certificate, opts MatchOptions) error {
	roots := x509.NewCertPool()
	roots.AddCert(ta)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	leaf := chain[0]
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   opts.Now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("the leaf does not chain to it: %w", err)
	}
	return checkNames(leaf, opts.Names)
}

// checkNames reports an error unless leaf is valid for one of names
// (RFC 7672 §3.2.2, §3.2.3): its DNS-IDs, or its CN-ID when it has no
// DNS-ID.
func checkNames(leaf *x509.Certificate, names []string) error {
	if len(names) == 0 {
		return errors.New("no reference identifier to check the leaf's names against (MatchOptions.Names: the TLSA base domain, RFC 7672 §3.2.2)")
	}
	cnOnly := len(leaf.DNSNames) == 0 && leaf.Subject.CommonName != ""
	var tried []string
	for _, n := range names {
		if MatchesName(leaf, n) {
			return nil
		}
		tried = append(tried, quote(strings.TrimSuffix(n, ".")))
	}
	have := "its DNS names: none"
	switch {
	case cnOnly:
		have = "no DNS names; its common name: " + quote(leaf.Subject.CommonName)
	case len(leaf.DNSNames) > 0:
		var q []string
		for _, n := range leaf.DNSNames {
			q = append(q, quote(n))
		}
		have = "its DNS names: " + strings.Join(q, ", ")
	}
	return fmt.Errorf("the leaf is valid for none of %s (%s)", strings.Join(tried, ", "), have)
}

// MatchesName reports whether leaf is valid for the reference identifier
// name as RFC 7672 §3.2.3 matches one: by its DNS-IDs (its DNS subject
// alternative names), or by its CN-ID (subject common name) when it has
// no DNS-ID; a wildcard only as the whole first label, standing for one
// label; case and a final dot ignored. RFC 8689 §4.2.1 asks the same of a
// server's certificate for REQUIRETLS.
func MatchesName(leaf *x509.Certificate, name string) bool {
	name = strings.TrimSuffix(name, ".")
	if len(leaf.DNSNames) == 0 && leaf.Subject.CommonName != "" {
		return matchesIdentifier(leaf.Subject.CommonName, name)
	}
	return leaf.VerifyHostname(name) == nil
}

// matchesIdentifier reports whether the presented identifier id (a CN-ID)
// matches the reference identifier name, ignoring case: exactly, or as a
// wildcard that is the whole first label and stands for one label
// (RFC 7672 §3.2.3).
func matchesIdentifier(id, name string) bool {
	id, name = strings.ToLower(strings.TrimSuffix(id, ".")), strings.ToLower(name)
	if rest, ok := strings.CutPrefix(id, "*."); ok {
		_, tail, found := strings.Cut(name, ".")
		return found && rest != "" && !strings.Contains(rest, "*") && tail == rest
	}
	return id != "" && !strings.Contains(id, "*") && id == name
}
