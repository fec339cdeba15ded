package policy

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxPolicySize is the largest MTA-STS policy file ParsePolicy reads,
// 64 KiB, a bound common among senders. A network fetch should read at
// most one byte more, so that ParsePolicy can tell a body is too large.
const MaxPolicySize = 64 << 10

// MaxMaxAge is the largest max_age a policy may give, in seconds: about a
// year (RFC 8461 §3.2).
const MaxMaxAge = 31557600

// Mode is an MTA-STS policy mode (RFC 8461 §5).
type Mode string

// The modes of RFC 8461 §5.
const (
	// ModeEnforce: senders must not deliver to an MX that does not match
	// the policy or offers no valid TLS.
	ModeEnforce Mode = "enforce"
	// ModeTesting: senders deliver anyway, and report failures (RFC 8460).
	ModeTesting Mode = "testing"
	// ModeNone: the domain withdraws its policy.
	ModeNone Mode = "none"
)

// Policy is a parsed MTA-STS policy file, the body served at
// https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2).
type Policy struct {
	// Mode is enforce, testing or none.
	Mode Mode
	// MX are the patterns of the permitted MX hosts as written, in order:
	// a host name, or "*." and a domain to permit any host one label
	// below it. At least one unless Mode is none.
	MX []string
	// MaxAge is how long senders may cache the policy, in seconds, from
	// 0 to MaxMaxAge.
	MaxAge int
	// Extensions are the keys the RFC does not define, in order, each key
	// once; senders ignore them.
	Extensions []Field
	// Notes tell what was accepted though the RFC's grammar or intent
	// frowns on it: repeated keys (the first counts), blank lines, keys
	// that differ from a defined one only in case. After 16 of them a
	// last one says how many more there were.
	Notes []string
}

// maxNotes is how many notes a Policy keeps.
const maxNotes = 16

// notes gathers the notes of one ParsePolicy, up to maxNotes.
type notes struct {
	list    []string
	dropped int
}

func (n *notes) add(format string, args ...any) {
	if len(n.list) >= maxNotes {
		n.dropped++
		return
	}
	n.list = append(n.list, fmt.Sprintf(format, args...))
}

// ParsePolicy parses an MTA-STS policy file (RFC 8461 §3.2): lines ended
// by LF or CRLF, each "key: value", with "version: STSv1", "mode",
// "max_age" and, unless the mode is none, one "mx" line or more. Keys and
// the defined values are case-sensitive. A repeated "mx" adds a pattern;
// any other repeated key counts the first time only. Unknown keys are
// kept in Extensions. A body over MaxPolicySize, a byte that is neither
// printable nor a tab, invalid UTF-8, a line not of the grammar, a value
// out of range, or a missing key is an error (*ParseError); a sender
// would then act as if the domain had no policy.
func ParsePolicy(body []byte) (*Policy, error) {
	if len(body) > MaxPolicySize {
		return nil, &ParseError{Format: FormatSTSPolicy, Err: fmt.Errorf("%w: %d bytes, at most %d are read", ErrTooLarge, len(body), MaxPolicySize)}
	}
	lines := bytes.Split(body, []byte("\n"))
	if len(lines) > 1 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the optional final line end
	}
	p := &Policy{}
	var nt notes
	seen := map[string]bool{}
	for i, raw := range lines {
		n := i + 1
		line := string(bytes.TrimSuffix(raw, []byte("\r")))
		if err := checkPolicyLine(line); err != nil {
			return nil, &ParseError{Format: FormatSTSPolicy, Line: n, Err: err}
		}
		if trimWSP(line) == "" {
			if len(body) > 0 {
				nt.add("line %d is blank; the grammar of RFC 8461 §3.2 has no blank lines and a strict sender may refuse the policy", n)
			}
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || !validName(key) {
			return nil, &ParseError{Format: FormatSTSPolicy, Line: n, Err: fmt.Errorf("%w: %s is not \"key: value\" (a key is a letter or digit, then up to 31 letters, digits, \"_\", \"-\" or \".\")",
				ErrSyntax, quote(line))}
		}
		value = trimWSP(value)
		if err := p.set(key, value, seen[key], n, &nt); err != nil {
			return nil, &ParseError{Format: FormatSTSPolicy, Line: n, Field: key, Err: err}
		}
		seen[key] = true
	}
	p.Notes = nt.list
	if nt.dropped > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("and %d more notes like these", nt.dropped))
	}
	for _, k := range [...]string{"version", "mode", "max_age"} {
		if !seen[k] {
			return nil, &ParseError{Format: FormatSTSPolicy, Field: k, Err: fmt.Errorf("%w: the policy has no %q line", ErrMissingField, k)}
		}
	}
	if len(p.MX) == 0 && p.Mode != ModeNone {
		return nil, &ParseError{Format: FormatSTSPolicy, Field: "mx", Err: fmt.Errorf("%w: mode %s needs at least one \"mx\" line", ErrMissingField, p.Mode)}
	}
	return p, nil
}

// checkPolicyLine refuses control bytes (but the tab) and invalid UTF-8.
func checkPolicyLine(line string) error {
	for i := 0; i < len(line); i++ {
		if c := line[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("%w: control byte 0x%02x at column %d", ErrSyntax, c, i+1)
		}
	}
	if !utf8.ValidString(line) {
		return fmt.Errorf("%w: invalid UTF-8 in %s", ErrSyntax, quote(line))
	}
	return nil
}

// set applies one "key: value" line; dup says the key was seen before.
func (p *Policy) set(key, value string, dup bool, line int, nt *notes) error {
	if dup && key != "mx" {
		nt.add("line %d repeats %q; only the first counts (RFC 8461 §3.2)", line, key)
		return nil
	}
	switch key {
	case "version":
		if value != "STSv1" {
			return fmt.Errorf("%w: version %s, only \"STSv1\" is defined", ErrSyntax, quote(value))
		}
	case "mode":
		switch m := Mode(value); m {
		case ModeEnforce, ModeTesting, ModeNone:
			p.Mode = m
		default:
			return fmt.Errorf("%w: mode %s, not enforce, testing or none", ErrSyntax, quote(value))
		}
	case "max_age":
		age, err := parseMaxAge(value)
		if err != nil {
			return err
		}
		p.MaxAge = age
	case "mx":
		if err := checkMXPattern(value); err != nil {
			return err
		}
		p.MX = append(p.MX, value)
	default:
		for _, k := range [...]string{"version", "mode", "max_age", "mx"} {
			if strings.EqualFold(key, k) {
				nt.add("line %d: key %q is not %q (keys are case-sensitive), so senders ignore it", line, key, k)
			}
		}
		if value == "" || strings.ContainsRune(value, '\t') {
			return fmt.Errorf("%w: extension value %s is empty or holds a tab", ErrSyntax, quote(value))
		}
		p.Extensions = append(p.Extensions, Field{Name: key, Value: value})
	}
	return nil
}

// parseMaxAge parses 1*10DIGIT and checks it is at most MaxMaxAge.
func parseMaxAge(v string) (int, error) {
	if v == "" || len(v) > 10 || strings.Trim(v, "0123456789") != "" {
		return 0, fmt.Errorf("%w: max_age %s is not 1 to 10 digits", ErrSyntax, quote(v))
	}
	n, _ := strconv.Atoi(v) // 10 digits fit in an int of 64 bits, and of 32 up to the bound checked next
	if len(v) == 10 && v > "2147483647" || n > MaxMaxAge {
		return 0, fmt.Errorf("%w: max_age %s is over %d seconds (RFC 8461 §3.2)", ErrSyntax, v, MaxMaxAge)
	}
	return n, nil
}

// checkMXPattern checks an "mx" value: ["*."] Domain, with the Domain of
// RFC 5321 §4.1.2 in A-labels, labels of at most 63 and names of at most
// 253 octets (RFC 1035 §2.3.4).
func checkMXPattern(v string) error {
	d := strings.TrimPrefix(v, "*.")
	if len(d) > 253 {
		return fmt.Errorf("%w: mx %s is longer than 253 octets", ErrSyntax, quote(v))
	}
	for _, label := range strings.Split(d, ".") {
		if err := checkLabel(label); err != nil {
			return fmt.Errorf("%w: mx %s: %s", ErrSyntax, quote(v), err)
		}
	}
	return nil
}

// checkLabel checks one label: Let-dig [Ldh-str] of RFC 5321, 1 to 63 octets.
func checkLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("an empty label (a trailing dot, or two dots)")
	case len(l) > 63:
		return fmt.Errorf("label %s is longer than 63 octets", quote(l))
	case !isAlnum(l[0]) || !isAlnum(l[len(l)-1]):
		return fmt.Errorf("label %s does not start and end with a letter or digit", quote(l))
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; c >= 0x80 {
			return fmt.Errorf("label %s is not ASCII: write it as an A-label (xn--…)", quote(l))
		} else if !isAlnum(c) && c != '-' {
			return fmt.Errorf("label %s holds %q", quote(l), c)
		}
	}
	return nil
}

// MatchMX reports whether the MX host name host is permitted by one of the
// policy's patterns (RFC 8461 §4.1): equal to a pattern, ignoring case and
// a trailing dot, or one label, of any content but a dot, below the domain
// of a "*." pattern ("*.example.com" permits "mx1.example.com", not
// "example.com" nor "a.b.example.com").
func (p *Policy) MatchMX(host string) bool {
	if p == nil {
		return false
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" {
		return false
	}
	for _, pat := range p.MX {
		pat = strings.ToLower(strings.TrimSuffix(pat, "."))
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			label, found := strings.CutSuffix(h, "."+rest)
			if found && label != "" && !strings.Contains(label, ".") {
				return true
			}
			continue
		}
		if h == pat {
			return true
		}
	}
	return false
}
