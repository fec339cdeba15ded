package policy

// DigestAgility returns the records of records a client that applies
// digest algorithm agility processes (RFC 7671 §9, which RFC 7672 §5
// asks of SMTP clients): the unusable ones are discarded, and for each
// usage and selector only the Full(0) records and those of the strongest
// digest present are kept, SHA2-512 over SHA2-256. Their order is kept.
//
// A domain whose chain matches its records but not DigestAgility's is one
// such a client will not deliver to: RFC 7671 §8 wants every combination
// of usage, selector and matching type published to match.
func DigestAgility(records []TLSA) []TLSA {
	type usageSelector struct{ usage, selector uint8 }
	strongest := map[usageSelector]uint8{}
	for _, t := range records {
		k := usageSelector{t.Usage, t.Selector}
		if t.Check() == nil && t.MatchingType > strongest[k] {
			strongest[k] = t.MatchingType
		}
	}
	var out []TLSA
	for _, t := range records {
		if t.Check() != nil {
			continue
		}
		if t.MatchingType == MatchingFull || t.MatchingType == strongest[usageSelector{t.Usage, t.Selector}] {
			out = append(out, t)
		}
	}
	return out
}
