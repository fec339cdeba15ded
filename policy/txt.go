package policy

import (
	"fmt"
	"strings"
)

// Field is a name and value this package does not interpret: an extension
// field of a TXT record or an unknown key of a policy file, kept in the
// order found.
type Field struct {
	Name, Value string
}

// pickRecord returns the one string among txts that starts with version
// followed by the end, a space, a tab or ";". The others are not records
// of this kind and are ignored (RFC 8461 §3.1, RFC 8460 §3).
func pickRecord(txts []string, version string, f Format) (string, error) {
	var found []string
	for _, t := range txts {
		if !strings.HasPrefix(t, version) {
			continue
		}
		if rest := t[len(version):]; rest == "" || strings.ContainsRune(" \t;", rune(rest[0])) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return "", &ParseError{Format: f, Err: fmt.Errorf("%w: none of the %d TXT strings starts with %q", ErrNoRecord, len(txts), version)}
	case 1:
		return found[0], nil
	}
	return "", &ParseError{Format: f, Err: fmt.Errorf("%w: %d TXT strings start with %q", ErrMultipleRecords, len(found), version)}
}

// splitFields parses a record of the shape the TXT records of RFC 8461
// §3.1 and RFC 8460 §3 share,
//
//	record = version 1*(*WSP ";" *WSP field) [*WSP ";" *WSP]
//	field  = name "=" value
//
// and returns the fields in order. It checks the names (ALPHA / DIGIT,
// then up to 31 of ALPHA / DIGIT / "_" / "-" / "."), not the values:
// those the caller checks by field.
func splitFields(rec, version string, f Format) ([]Field, error) {
	for i := 0; i < len(rec); i++ {
		if c := rec[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return nil, &ParseError{Format: f, Err: fmt.Errorf("%w: byte 0x%02x at offset %d: only printable ASCII, spaces and tabs belong in the record",
				ErrSyntax, c, i)}
		}
	}
	parts := strings.Split(rec[len(version):], ";")
	if trimWSP(parts[0]) != "" {
		return nil, &ParseError{Format: f, Err: fmt.Errorf("%w: %s after %q where \";\" belongs", ErrSyntax, quote(trimWSP(parts[0])), version)}
	}
	parts = parts[1:]
	if len(parts) > 0 && trimWSP(parts[len(parts)-1]) == "" {
		parts = parts[:len(parts)-1] // the optional final ";"
	}
	if len(parts) == 0 {
		return nil, &ParseError{Format: f, Err: fmt.Errorf("%w: no fields after %q", ErrMissingField, version)}
	}
	fields := make([]Field, 0, len(parts))
	for _, p := range parts {
		p = trimWSP(p)
		name, value, ok := strings.Cut(p, "=")
		switch {
		case p == "":
			return nil, &ParseError{Format: f, Err: fmt.Errorf("%w: empty field between two \";\"", ErrSyntax)}
		case !ok:
			return nil, &ParseError{Format: f, Err: fmt.Errorf("%w: field %s has no \"=\"", ErrSyntax, quote(p))}
		case !validName(name):
			return nil, &ParseError{Format: f, Err: fmt.Errorf("%w: bad field name %s: a letter or digit, then up to 31 letters, digits, \"_\", \"-\" or \".\"",
				ErrSyntax, quote(name))}
		}
		fields = append(fields, Field{Name: name, Value: value})
	}
	return fields, nil
}

// trimWSP removes spaces and tabs at both ends of s.
func trimWSP(s string) string { return strings.Trim(s, " \t") }

// validName reports whether s is an extension name of RFC 8461 §3.1 and
// §3.2 and RFC 8460 §3: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
func validName(s string) bool {
	if s == "" || len(s) > 32 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// checkExtValue checks the value of an extension field of a TXT record:
// 1*(%x21-3A / %x3C / %x3E-7E), printable ASCII but "=", ";" and space.
func checkExtValue(fd Field, f Format) error {
	if fd.Value == "" {
		return &ParseError{Format: f, Field: fd.Name, Err: fmt.Errorf("%w: empty value", ErrSyntax)}
	}
	if i := strings.IndexAny(fd.Value, " \t="); i >= 0 {
		return &ParseError{Format: f, Field: fd.Name, Err: fmt.Errorf("%w: value %s has %q, which no value may hold",
			ErrSyntax, quote(fd.Value), fd.Value[i])}
	}
	return nil
}
