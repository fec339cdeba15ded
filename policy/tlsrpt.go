package policy

import (
	"fmt"
	"net/url"
	"strings"
)

// TLSRPTRecord is a domain's TLS reporting record, found at
// _smtp._tls.<domain> (RFC 8460 §3): where senders send their daily
// reports of TLS successes and failures.
type TLSRPTRecord struct {
	// RUA are the report URIs, in order: "mailto:" an address, or
	// "https:" an endpoint to POST to.
	RUA []string
	// Unsupported are the URIs of rua with another scheme, which no
	// sender reports to: RFC 8460 §3 supports mailto and https.
	Unsupported []string
	// Extensions are the other fields, in order, each name once.
	Extensions []Field
}

// ParseTLSRPTRecord picks the TLS-RPT record out of the TXT strings found at
// _smtp._tls.<domain>, each TXT record's strings already concatenated, and
// parses it. The strings that do not start with "v=TLSRPTv1" are ignored;
// exactly one must, or the domain has no TLS reporting (RFC 8460 §3): the
// error then wraps ErrNoRecord or ErrMultipleRecords.
//
// The record must follow the grammar of RFC 8460 §3, hold nothing but
// printable ASCII, and hold a "rua" field of one or more comma-separated
// URIs: "mailto:" must have an address with an "@", "https:" a host; a
// comma, "!" or ";" inside a URI must be percent-encoded. The grammar
// allows several "rua" fields: their URIs are taken together. A URI of
// another scheme is kept apart (Unsupported); at least one must be mailto
// or https. Other fields are extensions; when one repeats, the first
// counts.
func ParseTLSRPTRecord(txts []string) (*TLSRPTRecord, error) {
	const version = "v=TLSRPTv1"
	rec, err := pickRecord(txts, version, FormatTLSRPTRecord)
	if err != nil {
		return nil, err
	}
	fields, err := splitFields(rec, version, FormatTLSRPTRecord)
	if err != nil {
		return nil, err
	}
	r := &TLSRPTRecord{}
	seen := map[string]bool{}
	for _, fd := range fields {
		if fd.Name == "rua" {
			seen["rua"] = true
			if err := r.addRUA(fd.Value); err != nil {
				return nil, &ParseError{Format: FormatTLSRPTRecord, Field: "rua", Err: err}
			}
			continue
		}
		if seen[fd.Name] {
			continue
		}
		seen[fd.Name] = true
		if err := checkExtValue(fd, FormatTLSRPTRecord); err != nil {
			return nil, err
		}
		r.Extensions = append(r.Extensions, fd)
	}
	switch {
	case !seen["rua"]:
		return nil, &ParseError{Format: FormatTLSRPTRecord, Field: "rua", Err: fmt.Errorf("%w: the record has no rua", ErrMissingField)}
	case len(r.RUA) == 0:
		return nil, &ParseError{Format: FormatTLSRPTRecord, Field: "rua", Err: fmt.Errorf("%w: no URI of rua is mailto: or https:, the schemes reports go to (RFC 8460 §3); it holds %s",
			ErrSyntax, quoteList(r.Unsupported))}
	}
	return r, nil
}

// addRUA splits a value of rua, tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri),
// checks each URI and adds it to RUA or Unsupported.
func (r *TLSRPTRecord) addRUA(v string) error {
	for _, u := range strings.Split(v, ",") {
		u = trimWSP(u)
		supported, err := checkReportURI(u)
		switch {
		case err != nil:
			return err
		case supported:
			r.RUA = append(r.RUA, u)
		default:
			r.Unsupported = append(r.Unsupported, u)
		}
	}
	return nil
}

// checkReportURI checks one URI of rua, with no "!" and no white space,
// and reports whether reports can go there: mailto with an address, or
// https with a host. Another scheme is no error, but unsupported.
func checkReportURI(u string) (supported bool, err error) {
	if u == "" {
		return false, fmt.Errorf("%w: an empty URI (a stray comma?)", ErrSyntax)
	}
	if i := strings.IndexAny(u, " \t!"); i >= 0 {
		return false, fmt.Errorf("%w: URI %s holds %q, which must be percent-encoded", ErrSyntax, quote(u), u[i])
	}
	scheme, rest, ok := strings.Cut(u, ":")
	switch {
	case !ok || !validScheme(scheme):
		return false, fmt.Errorf("%w: %s is not a URI: it has no scheme", ErrSyntax, quote(u))
	case strings.EqualFold(scheme, "mailto"):
		addr, _, _ := strings.Cut(rest, "?")
		if local, domain, ok := strings.Cut(addr, "@"); !ok || local == "" || domain == "" {
			return false, fmt.Errorf("%w: %s has no address of the form local@domain", ErrSyntax, quote(u))
		}
	case strings.EqualFold(scheme, "https"):
		p, err := url.Parse(u)
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // without the URL, which is quoted here
		}
		if err != nil {
			return false, fmt.Errorf("%w: %s: %w", ErrSyntax, quote(u), err)
		}
		if p.Host == "" {
			return false, fmt.Errorf("%w: %s has no host", ErrSyntax, quote(u))
		}
	default:
		return false, nil
	}
	return true, nil
}

// validScheme reports an RFC 3986 scheme: a letter, then letters, digits,
// "+", "-" and ".".
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// quoteList quotes each of list and joins them with commas.
func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}
