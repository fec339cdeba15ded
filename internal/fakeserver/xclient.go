package fakeserver

import (
	"fmt"
	"maps"
	"net/netip"
	"strconv"
	"strings"
)

// The extension lines a server with Config.XClient and Config.XForward
// advertises, as Postfix does.
const (
	XClientLine  = "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT"
	XForwardLine = "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"
)

// The special attribute values of XCLIENT and XFORWARD.
const (
	Unavailable     = "[UNAVAILABLE]"
	TempUnavailable = "[TEMPUNAVAIL]"
)

// xattr checks one attribute value (already xtext-decoded).
type xattr func(v string) bool

var xclientAttrs = map[string]xattr{
	"NAME": validHostname, "REVERSE_NAME": validHostname, "ADDR": validXAddr, "PORT": validPort, "PROTO": validProto,
	"HELO": printable, "LOGIN": printable, "DESTADDR": validXAddr, "DESTPORT": validPort,
}

var xforwardAttrs = map[string]xattr{
	"NAME": validHostname, "ADDR": validXAddr, "PORT": validPort, "PROTO": printable,
	"HELO": printable, "IDENT": printable,
	"SOURCE": func(v string) bool { return strings.EqualFold(v, "LOCAL") || strings.EqualFold(v, "REMOTE") },
}

// parseHostList parses Config.XClientHosts or XForwardHosts: addresses
// and CIDR prefixes. nil stays nil (everyone allowed).
func parseHostList(field string, hosts []string) ([]netip.Prefix, error) {
	if hosts == nil {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(hosts))
	for _, h := range hosts {
		if p, err := netip.ParsePrefix(h); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			return nil, fmt.Errorf("fakeserver: %s: %q is neither an address nor a prefix", field, h)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// authorized reports whether the client's address is in allow (nil
// allows everyone).
func (s *Session) authorized(allow []netip.Prefix) bool {
	if allow == nil {
		return true
	}
	ip, ok := netip.AddrFromSlice(s.clientIP())
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// offersX reports whether an EHLO line for XCLIENT or XFORWARD is shown
// to this client: lines of an enabled command only to authorized clients.
func (s *Session) offersX(line string) bool {
	k, _, _ := strings.Cut(line, " ")
	switch {
	case strings.EqualFold(k, "XCLIENT") && s.cfg.XClient:
		return s.authorized(s.srv.xclientAllow)
	case strings.EqualFold(k, "XFORWARD") && s.cfg.XForward:
		return s.authorized(s.srv.xforwardAllow)
	}
	return true
}

func (s *Session) cmdXClient(cmd Command) {
	attrs, ok := s.xcommand(cmd, s.cfg.XClient, s.srv.xclientAllow, xclientAttrs)
	if !ok {
		return
	}
	s.record(s.xclient, &s.rec.XClient, attrs)
	// Postfix starts the session over: a new greeting, EHLO due again.
	s.helo, s.esmtp, s.tx = "", false, nil
	if login, ok := attrs["LOGIN"]; ok {
		if login == Unavailable || login == TempUnavailable {
			s.authUser, s.authed = "", false
			s.mu.Lock()
			s.rec.AuthUser = ""
			s.mu.Unlock()
		} else {
			s.setAuth(login)
		}
	}
	s.Reply(220, s.cfg.Banner...)
}

func (s *Session) cmdXForward(cmd Command) {
	attrs, ok := s.xcommand(cmd, s.cfg.XForward, s.srv.xforwardAllow, xforwardAttrs)
	if !ok {
		return
	}
	s.record(s.xforward, &s.rec.XForward, attrs)
	s.Reply(250, "2.0.0 Ok")
}

// record adds the attributes of an XCLIENT or XFORWARD command to the
// session's own and, under the lock, to the session's record.
func (s *Session) record(own map[string]string, rec *map[string]string, attrs map[string]string) {
	maps.Copy(own, attrs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if *rec == nil {
		*rec = map[string]string{}
	}
	maps.Copy(*rec, attrs)
}

// xcommand checks an XCLIENT or XFORWARD command and returns its decoded
// attributes, or answers the error and returns false.
func (s *Session) xcommand(cmd Command, enabled bool, allow []netip.Prefix, known map[string]xattr) (map[string]string, bool) {
	switch {
	case !enabled:
		s.Reply(502, "5.5.2 Error: command not recognized")
		return nil, false
	case !s.authorized(allow):
		s.Reply(550, "5.7.0 Error: insufficient authorization")
		return nil, false
	case s.tx != nil:
		s.Reply(503, "5.5.1 Error: MAIL transaction in progress")
		return nil, false
	}
	f := strings.Fields(cmd.Arg)
	if len(f) == 0 {
		s.Reply(501, "5.5.4 Syntax: "+cmd.Verb+" attribute=value...")
		return nil, false
	}
	attrs := make(map[string]string, len(f))
	for _, kv := range f {
		name, raw, ok := strings.Cut(kv, "=")
		name = strings.ToUpper(name)
		check, known := known[name]
		if !ok || !known {
			s.Reply(501, "5.5.4 Bad "+cmd.Verb+" attribute name: "+name)
			return nil, false
		}
		v, ok := decodeXtext(raw)
		if !ok || (v != Unavailable && v != TempUnavailable && !check(v)) {
			s.Reply(501, "5.5.4 Bad "+name+" syntax: "+raw)
			return nil, false
		}
		attrs[name] = v
	}
	return attrs, true
}

// XClient returns the attributes set by XCLIENT so far in the session
// (upper-case names, xtext-decoded values).
func (s *Session) XClient() map[string]string { return maps.Clone(s.xclient) }

// XForward returns the XFORWARD attributes in effect: those sent since the
// last transaction ended (RSET, or the reply to the data).
func (s *Session) XForward() map[string]string { return maps.Clone(s.xforward) }

// resetXForward forgets the XFORWARD attributes at the end of a
// transaction, as Postfix does.
func (s *Session) resetXForward() { clear(s.xforward) }

// decodeXtext decodes RFC 3461 xtext: printable ASCII but "+" and "=",
// and "+XX" with two upper-case hex digits for any byte.
func decodeXtext(x string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(x); i++ {
		c := x[i]
		switch {
		case c == '+':
			if i+2 >= len(x) || !upperHex(x[i+1]) || !upperHex(x[i+2]) {
				return "", false
			}
			n, _ := strconv.ParseUint(x[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
		case c < '!' || c > '~' || c == '=':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func upperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// printable reports whether v is non-empty printable ASCII (spaces
// allowed once decoded).
func printable(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// validHostname checks a DNS name: labels of letters, digits and hyphens.
func validHostname(v string) bool {
	v = strings.TrimSuffix(v, ".")
	if v == "" || len(v) > 255 {
		return false
	}
	for _, l := range strings.Split(v, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validXAddr checks an IPv4 address or "IPV6:" and an IPv6 address.
func validXAddr(v string) bool {
	want6 := len(v) > 5 && strings.EqualFold(v[:5], "IPV6:")
	if want6 {
		v = v[5:]
	}
	a, err := netip.ParseAddr(v)
	return err == nil && a.Zone() == "" && a.Is6() == want6
}

func validPort(v string) bool {
	_, err := strconv.ParseUint(v, 10, 16)
	return err == nil
}

func validProto(v string) bool { return strings.EqualFold(v, "SMTP") || strings.EqualFold(v, "ESMTP") }
