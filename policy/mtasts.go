package policy

import "fmt"

// STSRecord is a domain's MTA-STS TXT record, found at _mta-sts.<domain>
// (RFC 8461 §3.1): it says the domain has a policy, and which version.
type STSRecord struct {
	// ID names the version of the policy: 1 to 32 letters and digits. A
	// sender fetches the policy again when it changes.
	ID string
	// Extensions are the other fields, in order, each name once.
	Extensions []Field
}

// ParseSTSRecord picks the MTA-STS record out of the TXT strings found at
// _mta-sts.<domain>, each TXT record's strings already concatenated, and
// parses it. The strings that do not start with "v=STSv1" are not MTA-STS
// records and are ignored; exactly one must, or the domain has no policy
// (RFC 8461 §3.1): the error then wraps ErrNoRecord or ErrMultipleRecords.
//
// The record must follow the grammar of RFC 8461 §3.1 ("v=STSv1; id=…;"
// with fields separated by ";" and optional spaces), hold an "id", and
// hold nothing but printable ASCII. Field names are case-sensitive; fields
// other than "id" are extensions. When a field repeats, the first counts
// and the others are ignored (RFC 8461 §3.2).
func ParseSTSRecord(txts []string) (*STSRecord, error) {
	const version = "v=STSv1"
	rec, err := pickRecord(txts, version, FormatSTSRecord)
	if err != nil {
		return nil, err
	}
	fields, err := splitFields(rec, version, FormatSTSRecord)
	if err != nil {
		return nil, err
	}
	r := &STSRecord{}
	seen := map[string]bool{}
	for _, fd := range fields {
		if seen[fd.Name] {
			continue
		}
		seen[fd.Name] = true
		if fd.Name != "id" {
			if err := checkExtValue(fd, FormatSTSRecord); err != nil {
				return nil, err
			}
			r.Extensions = append(r.Extensions, fd)
			continue
		}
		if err := checkID(fd.Value); err != nil {
			return nil, &ParseError{Format: FormatSTSRecord, Field: "id", Err: err}
		}
		r.ID = fd.Value
	}
	if !seen["id"] {
		return nil, &ParseError{Format: FormatSTSRecord, Field: "id", Err: fmt.Errorf("%w: the record has no id", ErrMissingField)}
	}
	return r, nil
}

// checkID checks an MTA-STS policy id: 1*32(ALPHA / DIGIT).
func checkID(id string) error {
	if id == "" || len(id) > 32 {
		return fmt.Errorf("%w: id %s has %d characters, not 1 to 32", ErrSyntax, quote(id), len(id))
	}
	for i := 0; i < len(id); i++ {
		if !isAlnum(id[i]) {
			return fmt.Errorf("%w: id %s has %q: only letters and digits belong in it", ErrSyntax, quote(id), id[i])
		}
	}
	return nil
}
