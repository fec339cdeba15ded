package policy

import (
	"errors"
	"strconv"
)

// Format names the kind of input a parser was reading when it failed.
type Format string

// The formats this package parses.
const (
	FormatTLSA         Format = "TLSA record"        // RFC 6698 §2.2 presentation form
	FormatSTSRecord    Format = "MTA-STS TXT record" // RFC 8461 §3.1, at _mta-sts.<domain>
	FormatSTSPolicy    Format = "MTA-STS policy"     // RFC 8461 §3.2, the mta-sts.txt file
	FormatTLSRPTRecord Format = "TLS-RPT TXT record" // RFC 8460 §3, at _smtp._tls.<domain>
)

// The causes a ParseError wraps; tell them apart with errors.Is.
var (
	// ErrNoRecord: none of the TXT strings is a record of the kind looked
	// for. RFC 8461 §3.1 and RFC 8460 §3: the domain has no policy.
	ErrNoRecord = errors.New("no record")
	// ErrMultipleRecords: more than one TXT string is a record of the kind
	// looked for. RFC 8461 §3.1 and RFC 8460 §3 then treat the domain as
	// having none.
	ErrMultipleRecords = errors.New("more than one record")
	// ErrTooLarge: the input is over the size this package reads, for a
	// policy MaxPolicySize.
	ErrTooLarge = errors.New("input too large")
	// ErrMissingField: a field the format requires is absent.
	ErrMissingField = errors.New("missing field")
	// ErrSyntax: the input does not follow the format's grammar.
	ErrSyntax = errors.New("syntax error")
)

// ParseError reports input that one of the parsers refused: which format,
// where, and why.
type ParseError struct {
	// Format is what was being parsed.
	Format Format
	// Line is the 1-based line of a policy file the fault is on; 0 when the
	// fault is not on one line or the format has no lines.
	Line int
	// Field is the name of the field at fault ("mx", "id", "rua" …); empty
	// when the fault is not in one field.
	Field string
	// Err is the cause. It wraps one of ErrNoRecord, ErrMultipleRecords,
	// ErrTooLarge, ErrMissingField or ErrSyntax.
	Err error
}

func (e *ParseError) Error() string {
	s := "policy: " + string(e.Format)
	if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		s += " field " + strconv.Quote(e.Field)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// maxQuote is how many bytes of an offending value an error message shows.
const maxQuote = 64

// quote renders s for an error message: Go-quoted, so control bytes and
// invalid UTF-8 are escaped, and cut after maxQuote bytes.
func quote(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:maxQuote]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
