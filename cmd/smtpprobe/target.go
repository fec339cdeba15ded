package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// checkTarget refuses a target that cannot be dialled, before anything is
// dialled or looked up: the same rules hold for the command line's target
// and for each line of a -targets list. The forms taken are host,
// host:port, an IPv4 or IPv6 address, and [address] or [address]:port.
// With mx the host is a mail domain and may not be an address.
func checkTarget(t string, mx bool) error {
	err := checkTargetText(t)
	if err == nil && strings.HasPrefix(t, "unix:") {
		return checkUnixTarget(t, mx)
	}
	if err == nil {
		var host, port string
		if host, port, err = splitTarget(t); err == nil {
			if err = checkHost(host, mx); err == nil && port != "" {
				err = checkPort(port)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("target %q: want host[:port] (%w)", t, err)
	}
	return nil
}

// checkTargetText refuses an empty target and one holding spaces or
// control bytes.
func checkTargetText(t string) error {
	switch {
	case t == "":
		return errors.New("empty target; without any argument the built-in demo runs")
	case strings.HasPrefix(t, "-"):
		return errors.New("begins with '-', as no host does")
	}
	for _, r := range t {
		switch {
		case r == ' ' || r == '\t' || r == '\u00a0':
			return errors.New("holds a space")
		case r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return fmt.Errorf("holds the control byte %s", strconv.QuoteRune(r))
		}
	}
	return nil
}

// splitTarget splits t into host and port ("" when t names none). It
// refuses brackets that do not pair, a port missing after its colon and
// an IPv6 address with a port but no brackets.
func splitTarget(t string) (host, port string, err error) {
	if strings.HasPrefix(t, "[") {
		end := strings.IndexByte(t, ']')
		if end < 0 {
			return "", "", errors.New("'[' without ']'")
		}
		host, rest := t[1:end], t[end+1:]
		if strings.ContainsAny(host, "[]") || strings.ContainsAny(rest, "[]") {
			return "", "", errors.New("brackets that do not pair")
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return "", "", fmt.Errorf("%q in brackets is no IP address", host)
		}
		switch {
		case rest == "":
			return host, "", nil
		case rest == ":":
			return "", "", errors.New("port missing after ':'")
		case rest[0] != ':':
			return "", "", fmt.Errorf("%q after ']'", rest)
		}
		return host, rest[1:], nil
	}
	if strings.ContainsAny(t, "[]") {
		return "", "", errors.New("brackets that do not pair")
	}
	switch strings.Count(t, ":") {
	case 0:
		return t, "", nil
	case 1:
		host, port, _ := strings.Cut(t, ":")
		if port == "" {
			return "", "", errors.New("port missing after ':'")
		}
		return host, port, nil
	}
	if _, err := netip.ParseAddr(t); err == nil {
		return t, "", nil // a bare IPv6 address
	}
	return "", "", errors.New("more than one ':'; an IPv6 address with a port goes in brackets, [2001:db8::1]:25")
}

// checkPort accepts a decimal port from 1 to 65535.
func checkPort(p string) error {
	if strings.Trim(p, "0123456789") != "" {
		return fmt.Errorf("port %q is not a number", p)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %s is out of range 1-65535", p)
	}
	return nil
}

// checkHost accepts an IP address or a host name: dot-separated labels of
// ASCII letters, digits, '-' and '_', with an optional final dot. A name
// outside ASCII is given in its xn-- form.
func checkHost(h string, mx bool) error {
	if h == "" {
		return errors.New("empty host")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		if mx {
			return errors.New("-mx needs a mail domain, not an IP address")
		}
		return nil
	}
	if strings.Contains(h, "@") {
		return errors.New("looks like a mail address; give the host, or its domain with -mx")
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 {
		return errors.New("host name longer than 253 bytes")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return errors.New("host name with an empty label")
		}
		if len(label) > 63 {
			return errors.New("host name label longer than 63 bytes")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%s in the host name: letters, digits, '-' and '.' only, a name outside ASCII in its xn-- form", strconv.QuoteRune(r))
			}
		}
	}
	return nil
}
