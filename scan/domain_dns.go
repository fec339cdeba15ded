package scan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSSECStatus is what a validating resolver said about an answer, in the
// terms of RFC 4035 §4.3 as RFC 7672 §2.1.1 uses them.
type DNSSECStatus string

// The DNSSEC statuses of a DNSAnswer. The rule that tells them apart:
//
//   - secure: the resolver answered NOERROR or NXDOMAIN with the AD bit
//     set: it validated the answer (or the denial) up to its trust anchor;
//   - insecure: NOERROR or NXDOMAIN without AD: the name is in an unsigned
//     zone (or the resolver does not validate; a resolver that never sets
//     AD makes every answer insecure);
//   - bogus: SERVFAIL with AD unset, and the same query with the CD bit
//     set (checking disabled) answers NOERROR or NXDOMAIN: the data is
//     there, but its signatures do not validate;
//   - error: no answer at all (a timeout, a refused query, SERVFAIL also
//     with CD, a malformed reply): nothing is known.
const (
	DNSSECSecure   DNSSECStatus = "secure"
	DNSSECInsecure DNSSECStatus = "insecure"
	DNSSECBogus    DNSSECStatus = "bogus"
	DNSSECError    DNSSECStatus = "error"
)

// DNSAnswer is one DNS question and what the resolver answered, as the
// domain scan asked it: with the DO bit, recursion desired, through the
// resolver of DomainOptions.
type DNSAnswer struct {
	// Name and Type are the question: "_25._tcp.mx.example.com.", "TLSA".
	Name string `json:"name"`
	Type string `json:"type"`
	// Rcode is the response code: "NOERROR", "NXDOMAIN", "SERVFAIL" …;
	// empty when no response came.
	Rcode string `json:"rcode,omitempty"`
	// AD reports the Authenticated Data bit of the response.
	AD bool `json:"ad"`
	// DNSSEC is the status judged from Rcode, AD and, after a SERVFAIL,
	// a second query with CD set (see DNSSECStatus).
	DNSSEC DNSSECStatus `json:"dnssec"`
	// CNAMEs lists the aliases followed from Name, in order, each the
	// target of the one before; the records are those of the last.
	CNAMEs []string `json:"cnames,omitempty"`
	// Records holds the data of the answer records of Type, in
	// presentation form without owner, TTL and class ("10 mx.example.com.",
	// "3 1 1 2bb1…").
	Records []string `json:"records,omitempty"`
	// Error says why no usable answer came, or is empty.
	Error string `json:"error,omitempty"`
	// Duration is how long the question took, the CD retry included.
	Duration time.Duration `json:"duration_ns"`

	rrs []dns.RR // the answer records of Type, for the callers in this package
}

// found reports an answer that holds usable records of the type asked
// (a bogus answer's are evidence only).
func (a *DNSAnswer) found() bool { return a != nil && len(a.rrs) > 0 }

// noData reports an answer that says the name has no records of the type
// asked: NXDOMAIN, or NOERROR without them.
func (a *DNSAnswer) noData() bool {
	return a != nil && (a.Rcode == "NXDOMAIN" || a.Rcode == "NOERROR") && len(a.rrs) == 0 && a.DNSSEC != DNSSECBogus
}

// Canonical is the name the records belong to: the last alias followed,
// or Name.
func (a *DNSAnswer) Canonical() string {
	if len(a.CNAMEs) > 0 {
		return a.CNAMEs[len(a.CNAMEs)-1]
	}
	return a.Name
}

// summary is the answer in one line, as evidence: "mx.example.com. A:
// NOERROR ad (secure) 192.0.2.1".
func (a *DNSAnswer) summary() string {
	var b strings.Builder
	b.WriteString(a.Name + " " + a.Type + ": ")
	if a.Rcode != "" {
		b.WriteString(a.Rcode + " ")
	}
	if a.AD {
		b.WriteString("ad ")
	}
	b.WriteString("(" + string(a.DNSSEC) + ")")
	for _, c := range a.CNAMEs {
		b.WriteString(" CNAME " + c)
	}
	for _, r := range a.Records {
		b.WriteString(" " + r)
	}
	if a.Error != "" {
		b.WriteString(": " + a.Error)
	}
	return b.String()
}

// maxCNAMEs bounds the aliases followed in one answer.
const maxCNAMEs = 8

// defaultDNSTimeout bounds one DNS question, retries included.
const defaultDNSTimeout = 5 * time.Second

// dnsClient asks one resolver, the way the domain scan needs: DO set, AD
// read, a SERVFAIL asked again with CD to tell bogus from broken.
type dnsClient struct {
	server  string // "host:port"
	timeout time.Duration
}

// defaultResolverAddr is the first nameserver of /etc/resolv.conf, on
// port 53 unless it names another.
func defaultResolverAddr(path string) (string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return "", fmt.Errorf("domain scan: no resolver given and %s unreadable: %w", path, err)
	}
	if len(cfg.Servers) == 0 {
		return "", fmt.Errorf("domain scan: no resolver given and no nameserver in %s", path)
	}
	return net.JoinHostPort(cfg.Servers[0], cfg.Port), nil
}

// resolverAddr gives addr a port (53) when it has none.
func resolverAddr(addr string) (string, error) {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("domain scan: resolver %q: want an IP address, with or without a port", addr)
	}
	return net.JoinHostPort(host, "53"), nil
}

// query asks name/qtype and judges the answer. It never returns nil.
func (c *dnsClient) query(ctx context.Context, name string, qtype uint16) *DNSAnswer {
	start := time.Now()
	a := &DNSAnswer{Name: dns.Fqdn(name), Type: dns.TypeToString[qtype]}
	defer func() { a.Duration = time.Since(start) }()
	resp, err := c.exchange(ctx, a.Name, qtype, false)
	if err != nil {
		a.DNSSEC, a.Error = DNSSECError, err.Error()
		return a
	}
	a.Rcode, a.AD = dns.RcodeToString[resp.Rcode], resp.AuthenticatedData
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		a.DNSSEC = DNSSECInsecure
		if resp.AuthenticatedData {
			a.DNSSEC = DNSSECSecure
		}
		a.collect(resp, qtype)
		return a
	case dns.RcodeServerFailure:
		a.DNSSEC, a.Error = DNSSECError, "the resolver answered SERVFAIL"
		if resp.AuthenticatedData {
			return a
		}
		cd, err := c.exchange(ctx, a.Name, qtype, true)
		if err == nil && (cd.Rcode == dns.RcodeSuccess || cd.Rcode == dns.RcodeNameError) {
			a.DNSSEC = DNSSECBogus
			a.Error = "DNSSEC validation failed: SERVFAIL, and with checking disabled " + dns.RcodeToString[cd.Rcode]
			a.collect(cd, qtype)
			a.rrs = nil // bogus data is evidence, never used
		}
		return a
	}
	a.DNSSEC, a.Error = DNSSECError, "the resolver answered "+a.Rcode
	return a
}

// collect follows the aliases from a.Name through the answer section and
// keeps the records of qtype at the end of the chain.
func (a *DNSAnswer) collect(resp *dns.Msg, qtype uint16) {
	owner := a.Name
	for range maxCNAMEs {
		next := ""
		for _, rr := range resp.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME && strings.EqualFold(rr.Header().Name, owner) {
				next = cn.Target
				break
			}
		}
		if next == "" {
			break
		}
		a.CNAMEs = append(a.CNAMEs, next)
		owner = next
	}
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, owner) {
			a.rrs = append(a.rrs, rr)
			a.Records = append(a.Records, rrData(rr))
		}
	}
}

// rrData is the data of rr in presentation form, without owner, TTL,
// class and type.
func rrData(rr dns.RR) string {
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
}

// exchange sends one query with DO (and CD when asked) over UDP, and over
// TCP when the answer was truncated.
func (c *dnsClient) exchange(ctx context.Context, name string, qtype uint16, cd bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, true)
	m.AuthenticatedData = true // RFC 6840 §5.7: ask for the AD bit
	m.CheckingDisabled = cd
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var last error
	for _, network := range [...]string{"udp", "tcp"} {
		cl := &dns.Client{Net: network, Timeout: c.timeout}
		resp, _, err := cl.ExchangeContext(ctx, m, c.server)
		if err != nil {
			return nil, fmt.Errorf("%s %s query to %s over %s: %w", name, dns.TypeToString[qtype], c.server, network, err)
		}
		if !resp.Truncated {
			return resp, checkResponse(m, resp)
		}
		last = fmt.Errorf("%s %s: the answer over TCP was truncated too", name, dns.TypeToString[qtype])
	}
	return nil, last
}

// checkResponse refuses a response to another question.
func checkResponse(q, resp *dns.Msg) error {
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, q.Question[0].Name) ||
		resp.Question[0].Qtype != q.Question[0].Qtype {
		return errors.New("the response does not answer the question asked")
	}
	return nil
}

// maxDomainLength is the longest domain name in presentation form, without
// the final dot (RFC 1035 §2.3.4: 255 octets on the wire).
const maxDomainLength = 253

// checkDomainName refuses what cannot be a mail domain, before any query:
// it returns the name in lower case without a final dot.
func checkDomainName(s string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	switch {
	case name == "":
		return "", errors.New("the domain is empty")
	case len(name) > maxDomainLength:
		return "", fmt.Errorf("the domain is %d characters long; at most %d fit in DNS (RFC 1035 §2.3.4)", len(name), maxDomainLength)
	case net.ParseIP(strings.Trim(name, "[]")) != nil:
		return "", fmt.Errorf("%q is an IP address, not a mail domain", s)
	}
	for i, label := range strings.Split(name, ".") {
		if err := checkLabel(label); err != nil {
			return "", fmt.Errorf("label %d of %s: %w", i+1, strconv.QuoteToASCII(s), err)
		}
	}
	return name, nil
}

// checkLabel accepts a label of a mail domain: letters, digits and
// hyphens (not at either end), 1 to 63 of them (RFC 1035 §2.3.1, RFC 5321
// §4.1.2), and underscores too, which neither grammar allows but DNS does
// and some internal domains use: the scan can still tell what senders
// would find there.
func checkLabel(label string) error {
	switch {
	case label == "":
		return errors.New("empty label (two dots in a row)")
	case len(label) > 63:
		return fmt.Errorf("the label is %d characters long; at most 63 (RFC 1035 §2.3.4)", len(label))
	case label[0] == '-' || label[len(label)-1] == '-':
		return errors.New("a label may not begin or end with a hyphen (RFC 5321 §4.1.2)")
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c >= 0x80:
			return errors.New("not ASCII: give an internationalised name in its A-label form (xn--…)")
		default:
			return fmt.Errorf("byte %q is not allowed in a host name", c)
		}
	}
	return nil
}
