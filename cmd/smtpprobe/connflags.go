package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// connFlags are the flags that shape the connection itself: where it
// goes from, which network, and what is said for the client before the
// mail (a PROXY header, XCLIENT, XFORWARD).
type connFlags struct {
	xclient, xforward           string // "NAME=value ADDR=value"
	proxyHeader                 string // "v1" or "v2"
	proxySource, proxyDest      string // ip:port
	ipv4, ipv6                  bool
	bind                        string // ip or ip:port
	xclientAttrs, xforwardAttrs map[string]string
	header                      *probe.ProxyHeader
	localAddr                   *net.TCPAddr
}

// The attributes smtpprobe sends with -xclient and -xforward (Postfix's
// XCLIENT_README and XFORWARD_README).
var (
	xclientNames  = []string{"NAME", "REVERSE_NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"}
	xforwardNames = []string{"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"}
)

func (f *connFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.xclient, "xclient", "", "send XCLIENT with these `attributes` (\"NAME=client.example ADDR=192.0.2.7\") after EHLO, then EHLO again")
	fs.StringVar(&f.xforward, "xforward", "", "send XFORWARD with these `attributes` (\"NAME=… ADDR=… PROTO=ESMTP\") before MAIL FROM")
	fs.StringVar(&f.proxyHeader, "proxy-header", "", "send a PROXY protocol header of `version` v1 or v2 before the banner (UNKNOWN/LOCAL without -proxy-source)")
	fs.StringVar(&f.proxySource, "proxy-source", "", "-proxy-header: the client `ip:port` it claims (TCP4 or TCP6, as -proxy-dest)")
	fs.StringVar(&f.proxyDest, "proxy-dest", "", "-proxy-header: the server `ip:port` it claims")
	fs.BoolVar(&f.ipv4, "4", false, "connect over IPv4 only")
	fs.BoolVar(&f.ipv6, "6", false, "connect over IPv6 only")
	fs.StringVar(&f.bind, "bind", "", "connect from this local `ip[:port]`")
}

// checkConn parses and checks the connection flags against the target.
func (c *config) checkConn() error {
	f := &c.connFlags
	var err error
	if f.xclientAttrs, err = parseAttrs("-xclient", f.xclient, xclientNames); err != nil {
		return err
	}
	if f.xforwardAttrs, err = parseAttrs("-xforward", f.xforward, xforwardNames); err != nil {
		return err
	}
	if f.header, err = f.proxyHeaderOf(); err != nil {
		return err
	}
	if f.localAddr, err = parseBind(f.bind); err != nil {
		return err
	}
	return c.checkNetwork()
}

// parseAttrs reads "NAME=value NAME=value" (names upper case, values
// without spaces) into a map; "" gives nil.
func parseAttrs(flagName, s string, known []string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, fmt.Errorf("%s %q: an attribute holds CR, LF or NUL", flagName, s)
	}
	attrs := map[string]string{}
	for _, pair := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' }) {
		name, value, ok := strings.Cut(pair, "=")
		name = strings.ToUpper(name)
		switch {
		case !ok || value == "":
			return nil, fmt.Errorf("%s %q: want NAME=value pairs separated by spaces", flagName, pair)
		case !slices.Contains(known, name):
			return nil, fmt.Errorf("%s: unknown attribute %q (known: %s)", flagName, name, strings.Join(known, " "))
		case attrs[name] != "":
			return nil, fmt.Errorf("%s: attribute %s given twice", flagName, name)
		case strings.ContainsFunc(value, isSpaceOrControl):
			return nil, fmt.Errorf("%s: the value of %s holds a control character", flagName, name)
		}
		attrs[name] = value
	}
	return attrs, nil
}

// proxyHeaderOf builds the PROXY header -proxy-header asks for.
func (f *connFlags) proxyHeaderOf() (*probe.ProxyHeader, error) {
	if f.proxyHeader == "" {
		if f.proxySource != "" || f.proxyDest != "" {
			return nil, errors.New("-proxy-source and -proxy-dest need -proxy-header v1 or v2")
		}
		return nil, nil
	}
	h := &probe.ProxyHeader{}
	switch strings.ToLower(f.proxyHeader) {
	case "v1", "1":
		h.Version = 1
	case "v2", "2":
		h.Version = 2
	default:
		return nil, fmt.Errorf("-proxy-header %q: want v1 or v2", f.proxyHeader)
	}
	if (f.proxySource == "") != (f.proxyDest == "") {
		return nil, errors.New("-proxy-header: give -proxy-source and -proxy-dest together, or neither (UNKNOWN)")
	}
	if f.proxySource == "" {
		return h, nil
	}
	var err error
	if h.Source, err = parseAddrPort("-proxy-source", f.proxySource); err != nil {
		return nil, err
	}
	if h.Destination, err = parseAddrPort("-proxy-dest", f.proxyDest); err != nil {
		return nil, err
	}
	if h.Source.Addr().Unmap().Is4() != h.Destination.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("-proxy-source %s and -proxy-dest %s are of different families: both IPv4 (TCP4) or both IPv6 (TCP6)",
			h.Source, h.Destination)
	}
	return h, nil
}

func parseAddrPort(flagName, s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("%s %q: want ip:port, such as 192.0.2.1:5555 or [2001:db8::1]:5555", flagName, s)
	}
	return ap, nil
}

// parseBind reads -bind: an IP address, with a port or not.
func parseBind(s string) (*net.TCPAddr, error) {
	if s == "" {
		return nil, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap), nil
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return nil, fmt.Errorf("-bind %q: want a local IP address, with a port or not: 127.0.0.2, 127.0.0.2:2525, [::1]:2525", s)
	}
	return &net.TCPAddr{IP: ip.AsSlice()}, nil
}

// checkNetwork refuses network flags that contradict each other or the
// target, and a unix socket that is not there.
func (c *config) checkNetwork() error {
	f := &c.connFlags
	unix := strings.HasPrefix(c.target, "unix:")
	switch {
	case f.ipv4 && f.ipv6:
		return errors.New("choose -4 or -6, not both")
	case unix && (f.ipv4 || f.ipv6 || f.bind != ""):
		return errors.New("-4, -6 and -bind are for TCP; the target is a unix socket")
	case f.localAddr != nil && (f.ipv4 && f.localAddr.IP.To4() == nil || f.ipv6 && f.localAddr.IP.To4() != nil):
		return fmt.Errorf("-bind %s is not of the family -4 or -6 asks for", f.bind)
	case f.bind != "" && c.proxy != "":
		return errors.New("-bind does nothing with -proxy: the proxy opens the connection")
	}
	return nil
}

// checkUnixTarget accepts "unix:/path" when the path is a socket.
func checkUnixTarget(t string, mx bool) error {
	path := strings.TrimPrefix(t, "unix:")
	switch {
	case mx:
		return fmt.Errorf("target %q: -mx needs a mail domain, not a unix socket", t)
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("target %q: want unix:/absolute/path", t)
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("target %q: %w", t, err)
	case fi.Mode()&os.ModeSocket == 0:
		return fmt.Errorf("target %q: %s is not a unix socket", t, path)
	}
	return nil
}

// applyConn puts the connection flags on o.
func (f *connFlags) applyConn(o *scan.Options) {
	d := &o.Dialer
	d.ProxyFromEnvironment = true
	d.ProxyHeader = f.header
	if f.localAddr != nil {
		d.LocalAddr = f.localAddr
	}
	switch {
	case f.ipv4:
		d.Network = "tcp4"
	case f.ipv6:
		d.Network = "tcp6"
	}
	o.XClient, o.XForward = f.xclientAttrs, f.xforwardAttrs
}
