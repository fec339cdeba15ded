package probe

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// ErrInvalidArgument is matched by every *ArgError: an address or ESMTP
// parameter that would break the command's syntax.
var ErrInvalidArgument = errors.New("smtp: invalid address or parameter")

// ArgError reports an address or parameter refused before anything was
// written; Mail and Rcpt wrap it in an *OpError.
type ArgError struct {
	Name   string // which: "from", "to", "SIZE", "ENVID", "ORCPT" …
	Value  string // the refused value, shortened to 80 bytes
	Reason string // what is wrong with it

	lineBreak bool // the whole value, not only Value, held CR, LF or NUL
}

func (e *ArgError) Error() string {
	return "invalid " + e.Name + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// Is matches ErrInvalidArgument, and ErrInvalidLine for CR, LF or NUL.
func (e *ArgError) Is(target error) bool {
	return target == ErrInvalidArgument ||
		(target == ErrInvalidLine && (e.lineBreak || hasLineBreak(e.Value)))
}

func argError(name, value, reason string) *ArgError {
	return &ArgError{Name: name, Value: truncate(value, 80), Reason: reason, lineBreak: hasLineBreak(value)}
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// BodyType is the value of the BODY parameter of MAIL (RFC 6152, RFC 3030).
type BodyType string

// The body types.
const (
	Body7Bit       BodyType = "7BIT"
	Body8BitMIME   BodyType = "8BITMIME"
	BodyBinaryMIME BodyType = "BINARYMIME"
)

// DSNReturn is the RET parameter of MAIL (RFC 3461).
type DSNReturn string

// The RET values.
const (
	ReturnFull    DSNReturn = "FULL"
	ReturnHeaders DSNReturn = "HDRS"
)

// DSNNotify is one value of the NOTIFY parameter of RCPT (RFC 3461).
type DSNNotify string

// The NOTIFY values. Never stands alone; the others combine.
const (
	NotifyNever   DSNNotify = "NEVER"
	NotifySuccess DSNNotify = "SUCCESS"
	NotifyFailure DSNNotify = "FAILURE"
	NotifyDelay   DSNNotify = "DELAY"
)

// MailOptions are the ESMTP parameters of MAIL FROM, sent in field order
// whether or not the server offered them; the zero value sends none.
type MailOptions struct {
	Size       int64     // SIZE= (RFC 1870); 0 sends none
	Body       BodyType  // BODY=, when not empty
	SMTPUTF8   bool      // the SMTPUTF8 keyword (RFC 6531)
	RequireTLS bool      // the REQUIRETLS keyword (RFC 8689)
	Return     DSNReturn // RET= (RFC 3461), when not empty
	EnvelopeID string    // ENVID= (RFC 3461), xtext-encoded, when not empty
	Auth       string    // AUTH= (RFC 4954 §5), xtext-encoded, when not empty: a mailbox (no <> added) or "<>"
	Extra      []string  // last, as given: "KEYWORD" or "KEYWORD=value"
}

// RcptOptions are the ESMTP parameters of RCPT TO, sent in field order; the
// zero value sends none.
type RcptOptions struct {
	Notify                []DSNNotify // NOTIFY= (RFC 3461): NotifyNever alone, or the others
	OriginalRecipient     string      // ORCPT=<type>;<xtext>, when not empty
	OriginalRecipientType string      // ORCPT's type, an atom sent as is; "rfc822" if empty
	Extra                 []string    // last, as given: "KEYWORD" or "KEYWORD=value"
}

// mailTxn follows the transaction the Conn's Mail, Rcpt, Rset, Send and
// Pipeline calls opened, so that an LMTP Conn knows how many replies
// follow the message data.
type mailTxn struct {
	accepted int // recipients accepted since the last MAIL
}

// Mail sends MAIL FROM:<from> (from "" is <>) with o's parameters (o may
// be nil) and expects 250. A bad argument (see CheckAddress) is refused before writing:
// an *OpError wrapping an *ArgError.
func (c *Conn) Mail(ctx context.Context, from string, o *MailOptions) (*Reply, error) {
	line, err := mailLine(from, o)
	if err != nil {
		return nil, &OpError{Op: "MAIL", Err: err}
	}
	c.txn = mailTxn{}
	return c.command(ctx, "MAIL", c.d.Timeouts.Mail, line, 250)
}

// Rcpt is as Mail for RCPT TO:<to>, and expects 250 or 251.
func (c *Conn) Rcpt(ctx context.Context, to string, o *RcptOptions) (*Reply, error) {
	line, err := rcptLine(to, o)
	if err != nil {
		return nil, &OpError{Op: "RCPT", Err: err}
	}
	r, err := c.command(ctx, "RCPT", c.d.Timeouts.Rcpt, line, 250, 251)
	if err == nil {
		c.txn.accepted++
	}
	return r, err
}

// followTxn counts a raw MAIL, RSET or RCPT line and its reply in the
// transaction, as Mail, Rset and Rcpt do.
func (c *Conn) followTxn(line string, r *Reply) {
	switch verbOf(line) {
	case "MAIL", "RSET":
		c.txn = mailTxn{}
	case "RCPT":
		if r.Positive() {
			c.txn.accepted++
		}
	}
}

// mailLine builds and checks a MAIL command.
func mailLine(from string, o *MailOptions) (string, error) {
	if err := checkPath("from", from); err != nil {
		return "", err
	}
	params, err := o.params()
	if err != nil {
		return "", err
	}
	return "MAIL FROM:<" + from + ">" + params, nil
}

// rcptLine builds and checks a RCPT command.
func rcptLine(to string, o *RcptOptions) (string, error) {
	if to == "" {
		return "", argError("to", to, "empty recipient")
	}
	if err := checkPath("to", to); err != nil {
		return "", err
	}
	params, err := o.params()
	if err != nil {
		return "", err
	}
	return "RCPT TO:<" + to + ">" + params, nil
}

// CheckAddress refuses, with an *ArgError, an addr that would change the
// syntax of MAIL FROM:<addr> or RCPT TO:<addr>: control bytes, '<', '>',
// unquoted spaces.
func CheckAddress(addr string) error { return checkPath("address", addr) }

func checkPath(name, addr string) error {
	quoted, escaped := false, false
	for i := 0; i < len(addr); i++ {
		b := addr[i]
		switch {
		case b < 0x20 || b == 0x7f:
			return argError(name, addr, "control byte 0x"+hex2(b))
		case escaped:
			escaped = false
		case quoted && b == '\\':
			escaped = true
		case b == '"':
			quoted = !quoted
		case b == '<' || b == '>':
			return argError(name, addr, "angle bracket inside the address")
		case b == ' ' && !quoted:
			return argError(name, addr, "space outside a quoted local part")
		}
	}
	if quoted {
		return argError(name, addr, "unterminated quoted string")
	}
	return nil
}

// params renders the MAIL parameters, each with a leading space.
func (o *MailOptions) params() (string, error) {
	if o == nil {
		return "", nil
	}
	var p paramList
	if o.Size < 0 {
		return "", argError("SIZE", strconv.FormatInt(o.Size, 10), "negative size")
	}
	if o.Size > 0 {
		p.add("SIZE=" + strconv.FormatInt(o.Size, 10))
	}
	if o.Body != "" {
		p.addValue("BODY", string(o.Body))
	}
	if o.SMTPUTF8 {
		p.add("SMTPUTF8")
	}
	if o.RequireTLS {
		p.add("REQUIRETLS")
	}
	if o.Return != "" {
		p.addValue("RET", string(o.Return))
	}
	if o.EnvelopeID != "" {
		p.addXtext("ENVID", "", o.EnvelopeID)
	}
	if o.Auth != "" {
		p.addXtext("AUTH", "", o.Auth)
	}
	p.addExtra(o.Extra)
	return p.String(), p.err
}

// params renders the RCPT parameters, each with a leading space.
func (o *RcptOptions) params() (string, error) {
	if o == nil {
		return "", nil
	}
	var p paramList
	if len(o.Notify) > 0 {
		if err := checkNotify(o.Notify); err != nil {
			return "", err
		}
		words := make([]string, len(o.Notify))
		for i, n := range o.Notify {
			words[i] = string(n)
		}
		p.add("NOTIFY=" + strings.Join(words, ","))
	}
	if o.OriginalRecipient != "" {
		typ := o.OriginalRecipientType
		if typ == "" {
			typ = "rfc822"
		}
		if err := checkAddrType(typ); err != nil {
			return "", err
		}
		p.addXtext("ORCPT", typ+";", o.OriginalRecipient)
	}
	p.addExtra(o.Extra)
	return p.String(), p.err
}

// checkNotify enforces RFC 3461 §4.1: NEVER alone, or a set of the others.
func checkNotify(list []DSNNotify) error {
	seen := map[DSNNotify]bool{}
	for _, n := range list {
		switch n {
		case NotifyNever:
			if len(list) > 1 {
				return argError("NOTIFY", string(n), "NEVER must stand alone")
			}
		case NotifySuccess, NotifyFailure, NotifyDelay:
		default:
			return argError("NOTIFY", string(n), "not one of NEVER, SUCCESS, FAILURE, DELAY")
		}
		if seen[n] {
			return argError("NOTIFY", string(n), "listed twice")
		}
		seen[n] = true
	}
	return nil
}

// paramList collects ESMTP parameters and the first error met.
type paramList struct {
	b   strings.Builder
	err error
}

func (p *paramList) String() string { return p.b.String() }

func (p *paramList) add(param string) {
	p.b.WriteByte(' ')
	p.b.WriteString(param)
}

// addValue adds KEY=value after checking value as an esmtp-value.
func (p *paramList) addValue(key, value string) {
	if p.err != nil {
		return
	}
	if err := checkParamValue(key, value); err != nil {
		p.err = err
		return
	}
	p.add(key + "=" + value)
}

// addXtext adds KEY=prefix xtext(value); prefix is written as it is.
// Line breaks and NUL are refused even though xtext could encode them: no
// RFC value holds one, and a probe that wants them can encode by hand and
// use Extra.
func (p *paramList) addXtext(key, prefix, value string) {
	if p.err != nil {
		return
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		p.err = argError(key, value, "line break or NUL")
		return
	}
	p.add(key + "=" + prefix + xtextEncode(value))
}

func (p *paramList) addExtra(extra []string) {
	for _, e := range extra {
		if p.err != nil {
			return
		}
		key, value, hasValue := strings.Cut(e, "=")
		if !isParamKeyword(key) {
			p.err = argError("parameter", e, "keyword must be a letter or digit followed by letters, digits and '-'")
			return
		}
		if !hasValue {
			p.add(key)
			continue
		}
		p.addValue(key, value)
	}
}

// checkParamValue enforces RFC 5321's esmtp-value: one or more bytes
// other than controls, space and '=' (bytes above 0x7f are let through for
// RFC 6531).
func checkParamValue(key, value string) error {
	if value == "" {
		return argError(key, value, "empty value")
	}
	for i := 0; i < len(value); i++ {
		switch b := value[i]; {
		case b < 0x20 || b == 0x7f:
			return argError(key, value, "control byte 0x"+hex2(b))
		case b == ' ':
			return argError(key, value, "space in value")
		case b == '=':
			return argError(key, value, "'=' in value")
		}
	}
	return nil
}

// isParamKeyword reports whether s is an esmtp-keyword:
// (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
func isParamKeyword(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// checkAddrType checks the addr-type of ORCPT (RFC 3461 §4.2): an atom,
// written as it is, so without '=', which an esmtp-value cannot hold.
func checkAddrType(typ string) error {
	switch {
	case !isAtom(typ):
		return argError("ORCPT", typ, "address type is not an atom")
	case strings.Contains(typ, "="):
		return argError("ORCPT", typ, "'=' in address type")
	}
	return nil
}

// isAtom reports whether s is an RFC 5322 atom: one or more atext bytes
// (letters, digits and !#$%&'*+-/=?^_`{|}~).
func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtext(s[i]) {
			return false
		}
	}
	return true
}

func isAtext(b byte) bool {
	return isAlnum(b) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", b) >= 0
}

func isAlnum(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || isDigit(b)
}

// XtextEncode encodes s as RFC 3461 §4 xtext: the bytes from '!' to '~'
// other than '+' and '=' stand for themselves; every other byte becomes
// "+" and two upper-case hexadecimal digits.
func xtextEncode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isXchar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('+')
		b.WriteString(strings.ToUpper(hex2(c)))
	}
	return b.String()
}

// XtextDecode decodes RFC 3461 xtext. It refuses bytes that xtext does not
// allow ('=', space, controls, non-ASCII) and a '+' that is not followed
// by two upper-case hexadecimal digits; the error is an *ArgError.
func xtextDecode(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) {
				return "", argError("xtext", s, "'+' at offset "+strconv.Itoa(i)+" is not followed by two hex digits")
			}
			hi, okHi := upperHex(s[i+1])
			lo, okLo := upperHex(s[i+2])
			if !okHi || !okLo {
				return "", argError("xtext", s, "'+' at offset "+strconv.Itoa(i)+" is not followed by two upper-case hex digits")
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		case isXchar(c):
			b.WriteByte(c)
		default:
			return "", argError("xtext", s, "byte 0x"+hex2(c)+" at offset "+strconv.Itoa(i)+" is not allowed in xtext")
		}
	}
	return b.String(), nil
}

// isXchar reports whether c stands for itself in xtext.
func isXchar(c byte) bool { return c >= '!' && c <= '~' && c != '+' && c != '=' }

func upperHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
