package probe

import (
	"context"
	"net"
	"strconv"
	"strings"
)

// Capabilities is what a server announced in its reply to EHLO (or LHLO).
type Capabilities struct {
	Domain              string      `json:"domain"`                        // first word of the first line: "mail.example.com"
	Greeting            string      `json:"greeting,omitempty"`            // rest of the first line: "Hello [10.0.0.1]"
	Extensions          []Extension `json:"extensions"`                    // every line after the first, in order
	Auth                []string    `json:"auth,omitempty"`                // SASL mechanisms, upper-case, in order, from "AUTH x" and "AUTH=x"
	Size                int64       `json:"size,omitempty"`                // SIZE limit; 0 if none, unlimited or unreadable
	FromHELO            bool        `json:"from_helo,omitempty"`           // EHLO was refused; HELO gave these: no extensions
	Pipelining          bool        `json:"pipelining,omitempty"`          // PIPELINING, RFC 2920
	StartTLS            bool        `json:"starttls,omitempty"`            // STARTTLS, RFC 3207
	EightBitMIME        bool        `json:"8bitmime,omitempty"`            // 8BITMIME, RFC 6152
	SMTPUTF8            bool        `json:"smtputf8,omitempty"`            // SMTPUTF8, RFC 6531
	Chunking            bool        `json:"chunking,omitempty"`            // CHUNKING, RFC 3030
	BinaryMIME          bool        `json:"binarymime,omitempty"`          // BINARYMIME, RFC 3030
	DSN                 bool        `json:"dsn,omitempty"`                 // DSN, RFC 3461
	EnhancedStatusCodes bool        `json:"enhancedstatuscodes,omitempty"` // ENHANCEDSTATUSCODES, RFC 2034
	VRFY                bool        `json:"vrfy,omitempty"`                // VRFY listed as an extension
	ETRN                bool        `json:"etrn,omitempty"`                // ETRN, RFC 1985
	RequireTLS          bool        `json:"requiretls,omitempty"`          // REQUIRETLS, RFC 8689
}

// Extension is one line of an EHLO reply after the first.
type Extension struct {
	Keyword string   `json:"keyword"`          // upper-case: "SIZE", "AUTH"
	Params  []string `json:"params,omitempty"` // the words after it, as sent
	Line    string   `json:"line,omitempty"`   // the line as sent, if not Keyword Params ("AUTH=PLAIN")
}

// Has reports whether keyword was advertised, ignoring case.
func (c *Capabilities) Has(keyword string) bool {
	return c.find(keyword) != nil
}

// Param returns the parameters of keyword's first line (any case), or nil.
func (c *Capabilities) Param(keyword string) []string {
	if e := c.find(keyword); e != nil {
		return e.Params
	}
	return nil
}

// SupportsAuth reports whether mech is advertised, ignoring case.
func (c *Capabilities) SupportsAuth(mech string) bool {
	if c == nil {
		return false
	}
	for _, m := range c.Auth {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// Limit returns a LIMITS value (RFC 9422), such as "RCPTMAX".
func (c *Capabilities) Limit(name string) (int, bool) {
	for _, p := range c.Param("LIMITS") {
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(k, name) {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

func (c *Capabilities) find(keyword string) *Extension {
	if c == nil {
		return nil
	}
	for i := range c.Extensions {
		if strings.EqualFold(c.Extensions[i].Keyword, keyword) {
			return &c.Extensions[i]
		}
	}
	return nil
}

// ParseCapabilities reads the lines of a 250 reply to EHLO; what it cannot
// use it describes in notes.
func ParseCapabilities(lines []string) (caps *Capabilities, notes []string) {
	caps = &Capabilities{}
	if len(lines) == 0 {
		return caps, nil
	}
	first := strings.TrimSpace(lines[0])
	caps.Domain = first
	if i := strings.IndexAny(first, " \t"); i >= 0 {
		caps.Domain, caps.Greeting = first[:i], first[i+1:]
	}
	caps.Greeting = strings.TrimSpace(caps.Greeting)
	mechs := map[string]bool{} // the mechanisms in caps.Auth, for linear time on absurd lists
	caps.Extensions = make([]Extension, 0, len(lines)-1)
	for _, line := range lines[1:] {
		ext, ok := parseExtension(line)
		if !ok {
			notes = append(notes, "empty EHLO line ignored")
			continue
		}
		caps.Extensions = append(caps.Extensions, ext)
		note := caps.apply(ext)
		if ext.Keyword == "AUTH" {
			note = caps.addAuth(ext.Params, mechs)
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	if len(caps.Extensions) == 0 {
		caps.Extensions = nil
	}
	return caps, notes
}

// maxAuthMechanisms caps Capabilities.Auth; real servers offer a handful.
const maxAuthMechanisms = 1000

// addAuth adds mechanisms to Auth, upper-case, once each, up to
// maxAuthMechanisms. A word that is no SASL mechanism name is left out of
// Auth (it stays in Extensions) with a note.
func (c *Capabilities) addAuth(params []string, seen map[string]bool) string {
	var notes []string
	bad, firstBad := 0, ""
	for _, m := range params {
		if !isMechanismName(m) {
			if bad++; bad == 1 {
				firstBad = m
			}
			continue
		}
		m = strings.ToUpper(m)
		if seen[m] {
			continue
		}
		if len(c.Auth) == maxAuthMechanisms {
			notes = append(notes, "more than "+strconv.Itoa(maxAuthMechanisms)+" AUTH mechanisms; the rest ignored")
			break
		}
		seen[m] = true
		c.Auth = append(c.Auth, m)
	}
	if bad > 0 {
		notes = append(notes, strconv.Itoa(bad)+" AUTH parameter(s) not SASL mechanism names, ignored, such as "+
			strconv.Quote(truncate(firstBad, 40)))
	}
	return strings.Join(notes, "; ")
}

// isMechanismName reports whether s is a SASL mechanism name (RFC 4422
// §3.1: 1 to 20 of A-Z, 0-9, "-" and "_"), ignoring ASCII case.
func isMechanismName(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// parseExtension splits an EHLO line into keyword and parameters. The
// legacy "AUTH=PLAIN LOGIN" form is read as AUTH with those parameters.
func parseExtension(line string) (Extension, bool) {
	if isKeywordOnly(line) {
		ext := Extension{Keyword: strings.ToUpper(line)}
		if ext.Keyword != line {
			ext.Line = line
		}
		return ext, true
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return Extension{}, false
	}
	ext := Extension{Keyword: strings.ToUpper(fields[0]), Params: fields[1:]}
	if k, first, ok := strings.Cut(fields[0], "="); ok && strings.EqualFold(k, "AUTH") {
		ext.Keyword = "AUTH"
		ext.Params = fields[1:]
		if first != "" {
			ext.Params = append([]string{first}, fields[1:]...)
		}
	}
	if len(ext.Params) == 0 {
		ext.Params = nil
	}
	if !isCanonical(line, ext.Keyword, ext.Params) {
		ext.Line = line
	}
	return ext, true
}

// isKeywordOnly reports whether line is a keyword without parameters, like
// most EHLO lines: only letters, digits and hyphens, so no space and no
// "=" (AUTH=PLAIN).
func isKeywordOnly(line string) bool {
	if line == "" {
		return false
	}
	for i := 0; i < len(line); i++ {
		b := line[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || isDigit(b) || b == '-') {
			return false
		}
	}
	return true
}

// isCanonical reports whether line is keyword and params joined by single
// spaces, the form Extension.Line is left empty for.
func isCanonical(line, keyword string, params []string) bool {
	rest, ok := strings.CutPrefix(line, keyword)
	for _, p := range params {
		if !ok || !strings.HasPrefix(rest, " ") {
			return false
		}
		rest, ok = strings.CutPrefix(rest[1:], p)
	}
	return ok && rest == ""
}

// apply sets the fields an extension stands for, returning a note when its
// parameters make no sense.
func (c *Capabilities) apply(ext Extension) string {
	switch ext.Keyword {
	case "SIZE":
		return c.applySize(ext.Params)
	case "PIPELINING":
		c.Pipelining = true
	case "STARTTLS":
		c.StartTLS = true
	case "8BITMIME":
		c.EightBitMIME = true
	case "SMTPUTF8":
		c.SMTPUTF8 = true
	case "CHUNKING":
		c.Chunking = true
	case "BINARYMIME":
		c.BinaryMIME = true
	case "DSN":
		c.DSN = true
	case "ENHANCEDSTATUSCODES":
		c.EnhancedStatusCodes = true
	case "VRFY":
		c.VRFY = true
	case "ETRN":
		c.ETRN = true
	case "REQUIRETLS":
		c.RequireTLS = true
	}
	return ""
}

func (c *Capabilities) applySize(params []string) string {
	if len(params) == 0 {
		return ""
	}
	n, err := strconv.ParseInt(params[0], 10, 64)
	if err != nil || n < 0 {
		return "SIZE parameter " + strconv.Quote(truncate(params[0], 40)) + " is not a size; taken as none"
	}
	if c.Size == 0 {
		c.Size = n
	}
	return ""
}

// Ehlo sends EHLO (LHLO on an LMTP Conn) with name, or LocalName when
// name is empty, and returns the capabilities announced.
func (c *Conn) Ehlo(ctx context.Context, name string) (*Capabilities, error) {
	verb := "EHLO"
	if c.d.LMTP {
		verb = "LHLO"
	}
	r, err := c.command(ctx, verb, c.d.Timeouts.Command, verb+" "+c.localName(name), 250)
	if err != nil {
		return nil, err
	}
	caps, notes := ParseCapabilities(r.Lines)
	for _, n := range notes {
		c.tr.add(Note, n, c.tls != nil, false)
	}
	c.caps = caps
	return caps, nil
}

// Helo sends HELO; Capabilities then holds the domain and nothing else.
func (c *Conn) Helo(ctx context.Context, name string) (*Reply, error) {
	r, err := c.command(ctx, "HELO", c.d.Timeouts.Command, "HELO "+c.localName(name), 250)
	if err != nil {
		return r, err
	}
	c.caps, _ = ParseCapabilities(r.Lines[:1])
	c.caps.FromHELO = true
	return r, nil
}

// LocalName returns the EHLO name when the call gives none: Dialer.LocalName,
// else the local address literal ("[192.0.2.1]"), else "localhost".
func (c *Conn) LocalName() string { return c.localName("") }

// Hello sends EHLO and falls back to HELO when, and only when, the server
// answers EHLO with 500 or 502 (RFC 5321 §3.2).
func (c *Conn) Hello(ctx context.Context, name string) (*Capabilities, error) {
	caps, err := c.Ehlo(ctx, name)
	var re *ReplyError
	if c.d.LMTP || !asReplyError(err, &re) || (re.Reply.Code != 500 && re.Reply.Code != 502) {
		return caps, err
	}
	c.tr.add(Note, "EHLO refused; falling back to HELO", c.tls != nil, false)
	if _, err := c.Helo(ctx, name); err != nil {
		return nil, err
	}
	return c.caps, nil
}

func (c *Conn) localName(name string) string {
	switch {
	case name != "":
		return name
	case c.d.LocalName != "":
		return c.d.LocalName
	case c.literal == "":
		c.literal = addressLiteral(c.nc.LocalAddr())
	}
	return c.literal
}

// addressLiteral returns the RFC 5321 §4.1.3 address literal of a local
// address, "[192.0.2.1]" or "[IPv6:2001:db8::1]": what §4.1.4 asks a
// client without a name to send. It falls back to "localhost".
func addressLiteral(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	switch {
	case !ok || tcp.IP == nil:
		return "localhost"
	case tcp.IP.To4() != nil:
		return "[" + tcp.IP.To4().String() + "]"
	}
	return "[IPv6:" + tcp.IP.String() + "]"
}
