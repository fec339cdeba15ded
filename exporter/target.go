package exporter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// AllowList limits the targets an exporter probes, so that one reachable
// by others cannot be turned into a scanner of their servers. A target is
// allowed when its host matches one of Hosts or the address it resolves
// to (the one dialled) is inside one of CIDRs, and, when Ports is set,
// its port is listed. Everything else is answered 403 before any
// connection.
type AllowList struct {
	// Hosts are names ("mail.example.com") or patterns whose "*." prefix
	// matches one or more labels ("*.example.com" matches
	// "mx1.example.com" and "a.b.example.com", not "example.com"). Case
	// does not matter; IP literals are matched by CIDRs only.
	Hosts []string `yaml:"hosts"`
	// CIDRs are networks: "192.0.2.0/24", "2001:db8::/32", "127.0.0.1/32".
	CIDRs []string `yaml:"cidrs"`
	// Ports, when not empty, are the only ports allowed.
	Ports []int `yaml:"ports"`

	prefixes []netip.Prefix
}

func (a *AllowList) prepare() error {
	if len(a.Hosts) == 0 && len(a.CIDRs) == 0 {
		return errors.New("give hosts, cidrs or both (an empty list would refuse every target)")
	}
	for i, h := range a.Hosts {
		name := strings.TrimPrefix(h, "*.")
		if err := checkHostname(name); err != nil {
			return bad("hosts", "%q: %v", h, err)
		}
		a.Hosts[i] = strings.ToLower(h)
	}
	a.prefixes = a.prefixes[:0]
	for _, c := range a.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return bad("cidrs", "%q: want an address/prefix length such as 192.0.2.0/24", c)
		}
		a.prefixes = append(a.prefixes, p.Masked())
	}
	for _, p := range a.Ports {
		if p < 1 || p > 65535 {
			return bad("ports", "%d: want 1 to 65535", p)
		}
	}
	return nil
}

// allowsName reports whether host matches a host pattern.
func (a *AllowList) allowsName(host string) bool {
	host = strings.ToLower(host)
	for _, h := range a.Hosts {
		if suffix, ok := strings.CutPrefix(h, "*"); ok {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

// allowsAddr reports whether ip is inside one of the networks.
func (a *AllowList) allowsAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (a *AllowList) allowsPort(port int) bool {
	return len(a.Ports) == 0 || slices.Contains(a.Ports, port)
}

// target is the target of one /probe request, checked.
type target struct {
	host string     // a name or an IP literal, without brackets
	port int        // from the target, or the module's default
	ip   netip.Addr // the literal, or the address the name resolved to
}

// maxTarget bounds the target parameter.
const maxTarget = 300

// parseTarget checks a target parameter: "host", "host:port",
// "[ipv6]:port" or a bare IPv6 address. port is the default.
func parseTarget(s string, port int) (target, error) {
	switch {
	case s == "":
		return target{}, errors.New("missing target parameter: want target=host:port")
	case len(s) > maxTarget:
		return target{}, fmt.Errorf("target longer than %d bytes", maxTarget)
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return target{}, fmt.Errorf("target %q holds a space, a control byte or a non-ASCII character", s)
	}
	t := target{host: s, port: port}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
		t.ip = ip
		return t, nil
	}
	if strings.HasPrefix(s, "[") || strings.Contains(s, ":") {
		host, p, err := net.SplitHostPort(s)
		if err != nil {
			return target{}, fmt.Errorf("target %q: want host:port or [ipv6]:port", s)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return target{}, fmt.Errorf("target %q: port %q is not a number from 1 to 65535", s, p)
		}
		t.host, t.port = host, n
	}
	if ip, err := netip.ParseAddr(t.host); err == nil {
		if ip.Zone() != "" || (ip.Is6() && !strings.HasPrefix(s, "[") && t.host != s) {
			return target{}, fmt.Errorf("target %q: want host:port or [ipv6]:port", s)
		}
		t.ip = ip
		return t, nil
	}
	if err := checkHostname(t.host); err != nil {
		return target{}, fmt.Errorf("target %q: %v", s, err)
	}
	return t, nil
}

// checkHostname accepts a DNS name: labels of letters, digits, '-' and
// '_', at most 253 bytes.
func checkHostname(h string) error {
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return errors.New("empty host")
	}
	if len(h) > 253 {
		return errors.New("host name longer than 253 bytes")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("bad host name label %q", label)
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("host name holds %q", r)
			}
		}
	}
	return nil
}

// addr is what is dialled: "ip:port".
func (t target) addr() string {
	return net.JoinHostPort(t.ip.Unmap().String(), strconv.Itoa(t.port))
}

// String is the target as the scrape named it, with its port.
func (t target) String() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

// resolver looks up the addresses of a name.
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// pickAddr chooses among the addresses of a name: the first of the
// preferred family, else (with fallback) the first of the other.
func pickAddr(addrs []netip.Addr, prefer6, fallback bool) (netip.Addr, bool) {
	var other netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is6() == prefer6 {
			return a, true
		}
		if !other.IsValid() {
			other = a
		}
	}
	return other, fallback && other.IsValid()
}

// guardDialer dials the one address a probe was allowed, and nothing
// else: the checks of scan.Run open connections of their own through it.
type guardDialer struct {
	addr string
	d    net.Dialer
}

func (g *guardDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr != g.addr {
		return nil, fmt.Errorf("exporter: refusing to dial %s: this probe may only dial %s", addr, g.addr)
	}
	return g.d.DialContext(ctx, network, addr)
}
