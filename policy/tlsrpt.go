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
// printable ASCII, and hold one "rua" field of one or more comma-separated
// URIs, each with the mailto or https scheme: "mailto:" must have an
// address with an "@", "https:" a host; a comma, "!" or ";" inside a URI
// must be percent-encoded. A second "rua" is an error, as the RFC defines
// one field for all the URIs. Other fields are extensions; when one
// repeats, the first counts.
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
			if seen["rua"] {
				return nil, &ParseError{Format: FormatTLSRPTRecord, Field: "rua", Err: fmt.Errorf("%w: a second rua field; give every URI in one, separated by commas", ErrSyntax)}
			}
			seen["rua"] = true
			uris, err := parseRUA(fd.Value)
			if err != nil {
				return nil, &ParseError{Format: FormatTLSRPTRecord, Field: "rua", Err: err}
			}
			r.RUA = uris
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
	if !seen["rua"] {
		return nil, &ParseError{Format: FormatTLSRPTRecord, Field: "rua", Err: fmt.Errorf("%w: the record has no rua", ErrMissingField)}
	}
	return r, nil
}

// parseRUA splits the value of rua, tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri),
// and checks each URI.
func parseRUA(v string) ([]string, error) {
	var uris []string
	for _, u := range strings.Split(v, ",") {
		u = trimWSP(u)
		if err := checkReportURI(u); err != nil {
			return nil, err
		}
		uris = append(uris, u)
	}
	return uris, nil
}

// checkReportURI checks one URI of rua: mailto with an address, or https
// with a host; no "!" and no white space.
func checkReportURI(u string) error {
	if u == "" {
		return fmt.Errorf("%w: an empty URI (a stray comma?)", ErrSyntax)
	}
	if i := strings.IndexAny(u, " \t!"); i >= 0 {
		return fmt.Errorf("%w: URI %s holds %q, which must be percent-encoded", ErrSyntax, quote(u), u[i])
	}
	scheme, rest, ok := strings.Cut(u, ":")
	switch {
	case !ok:
		return fmt.Errorf("%w: %s is not a URI: it has no scheme", ErrSyntax, quote(u))
	case strings.EqualFold(scheme, "mailto"):
		addr, _, _ := strings.Cut(rest, "?")
		if local, domain, ok := strings.Cut(addr, "@"); !ok || local == "" || domain == "" {
			return fmt.Errorf("%w: %s has no address of the form local@domain", ErrSyntax, quote(u))
		}
	case strings.EqualFold(scheme, "https"):
		p, err := url.Parse(u)
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // without the URL, which is quoted here
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSyntax, quote(u), err)
		}
		if p.Host == "" {
			return fmt.Errorf("%w: %s has no host", ErrSyntax, quote(u))
		}
	default:
		return fmt.Errorf("%w: URI %s has scheme %s; reports go to mailto: or https: only (RFC 8460 §3)", ErrSyntax, quote(u), quote(scheme))
	}
	return nil
}
