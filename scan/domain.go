package scan

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/policy"
)

// DomainOptions describes one domain scan for Domain.
type DomainOptions struct {
	// Domain is the mail domain: "example.com". A final dot is ignored;
	// an internationalised name must be given in its A-label form.
	Domain string
	// Resolver is the address of the validating resolver to ask, "ip" or
	// "ip:port"; empty means the first nameserver of /etc/resolv.conf.
	// Every DNS question of the scan goes to it, with the DO bit, and its
	// AD bit decides what counts as validated: it must be a resolver the
	// scan can trust, on a trusted path (RFC 7672 §2.1.1).
	Resolver string
	// DNSTimeout bounds each DNS question: 0 means 5 seconds.
	DNSTimeout time.Duration
	// Port is the SMTP port to connect to, and the one the TLSA records
	// are looked up for ("_25._tcp"): 0 means 25.
	Port int
	// Dialer opens the SMTP sessions: EHLO name, timeouts, limits, a
	// proxy, a NetDialer. Its TLSConfig, when set, is the base of each
	// session's: the scan sets ServerName to the MX host name and
	// InsecureSkipVerify, so that every certificate is judged, not refused.
	Dialer probe.Dialer
	// RootCAs are the WebPKI roots the MX certificates (under MTA-STS)
	// and the MTA-STS policy server are verified against; nil means the
	// system's (or Dialer.TLSConfig's RootCAs for the MX hosts).
	RootCAs *x509.CertPool
	// Concurrency bounds the SMTP sessions at a time: 0 means 4.
	Concurrency int
	// Admit, when set, is called before each SMTP session, outside its
	// timeouts, with the MX host and the address it is to connect to: a
	// limiter of connections per host or per network waits there, so that
	// time spent queueing does not count against the session. The session
	// runs under the context it returns; release is called when the
	// session is over. An error leaves the session to run as it is (and
	// report the context's end, if that was the cause).
	Admit func(ctx context.Context, host string, addr netip.Addr) (admitted context.Context, release func(), err error)

	// HTTPClient fetches the MTA-STS policy. Nil means a client that
	// resolves through Resolver, verifies with RootCAs, follows no
	// redirect (RFC 8461 §3.3), uses no proxy and gives up after
	// HTTPTimeout. A caller's client should refuse redirects too.
	HTTPClient *http.Client
	// HTTPSPort is the port the default client connects to for
	// https://mta-sts.<domain>/: 0 means 443. Tests point it at a local
	// server; the URL and the TLS server name stay as the RFC says.
	HTTPSPort int
	// HTTPTimeout bounds the policy fetch of the default client: 0 means
	// a minute, the timeout RFC 8461 §3.3 suggests to senders.
	HTTPTimeout time.Duration
}

// The limits of one domain scan, whatever DNS answers.
const (
	maxDomainMX      = 16 // MX hosts scanned
	maxHostAddresses = 8  // addresses of each family per host
	defaultPortSMTP  = 25
	defaultSessions  = 4
)

// Domain scans a mail domain the way a sending MTA sees it: the MX
// records (a null MX, no MX, aliases and failed lookups included), the
// A and AAAA records of every MX host, one STARTTLS session per address
// (banner, EHLO, STARTTLS, EHLO, QUIT: no mail is sent), the TLSA records
// of each host through a validating resolver (DANE, RFC 7672), the
// MTA-STS record and policy (RFC 8461), the TLS-RPT record (RFC 8460) and
// REQUIRETLS readiness (RFC 8689). It judges each address, each host and
// the domain (see Verdict) and lists findings for each: the FindingIDs
// from FindingDomainNotFound to FindingRequireTLSUnprotected, whose table
// says when each is made.
//
// Domain never panics and always returns a complete report; a domain
// that cannot be scanned (an invalid name, no resolver) gives
// VerdictError with DomainReport.Error set. An IPv6 address this host has no
// route to is VerdictUntested, not a failure. The whole scan is bounded
// by ctx; each DNS question by DNSTimeout, each session by the Dialer's
// timeouts, the policy fetch by HTTPTimeout.
func Domain(ctx context.Context, o DomainOptions) *DomainReport {
	start := time.Now()
	rep := &DomainReport{SchemaVersion: DomainSchemaVersion, Domain: o.Domain, Port: o.port(),
		Start: start.Round(0).UTC(), MX: []MXReport{}, Findings: []Finding{}}
	s, err := newDomainScan(&o, rep)
	if err != nil {
		rep.Error = newRunError("", err)
		rep.Verdict = VerdictError
	} else {
		s.run(ctx)
		judgeDomain(rep, s)
	}
	rep.Duration = time.Since(start)
	return rep
}

// domainScan is one Domain in progress.
type domainScan struct {
	o   *DomainOptions
	rep *DomainReport
	dns *dnsClient
	sts *policy.Policy // the MTA-STS policy, nil without one
}

func newDomainScan(o *DomainOptions, rep *DomainReport) (*domainScan, error) {
	name, err := checkDomainName(o.Domain)
	if err != nil {
		return nil, fmt.Errorf("domain scan: %w: %w", errInvalidOptions, err)
	}
	rep.Domain = name
	if o.Port < 0 || o.Port > 65535 || o.HTTPSPort < 0 || o.HTTPSPort > 65535 || o.Concurrency < 0 {
		return nil, invalidOptions("Port %d, HTTPSPort %d or Concurrency %d out of range", o.Port, o.HTTPSPort, o.Concurrency)
	}
	addr := o.Resolver
	if addr == "" {
		addr, err = defaultResolverAddr("/etc/resolv.conf")
	} else {
		addr, err = resolverAddr(addr)
	}
	if err != nil {
		return nil, err
	}
	rep.Resolver = addr
	timeout := o.DNSTimeout
	if timeout <= 0 {
		timeout = defaultDNSTimeout
	}
	return &domainScan{o: o, rep: rep, dns: &dnsClient{server: addr, timeout: timeout}}, nil
}

func (o *DomainOptions) port() int {
	if o.Port == 0 {
		return defaultPortSMTP
	}
	return o.Port
}

// run gathers everything: MX, then in parallel the policy records and,
// for each host, its addresses, TLSA records and sessions.
func (s *domainScan) run(ctx context.Context) {
	hosts := s.lookupMX(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.lookupPolicies(ctx) })
	sem := make(chan struct{}, s.concurrency())
	s.rep.MX = make([]MXReport, len(hosts))
	for i, h := range hosts {
		mx := &s.rep.MX[i]
		*mx = MXReport{Host: h.Host, Preference: h.Preference, Implicit: h.Implicit, Findings: []Finding{}}
		wg.Go(func() { s.scanHost(ctx, mx, sem) })
	}
	wg.Wait()
}

func (s *domainScan) concurrency() int {
	if s.o.Concurrency <= 0 {
		return defaultSessions
	}
	return s.o.Concurrency
}

// lookupMX asks the domain's MX records and returns the hosts to scan.
func (s *domainScan) lookupMX(ctx context.Context) []MXHost {
	a := s.dns.query(ctx, s.rep.Domain, dns.TypeMX)
	s.rep.MXLookup = a
	if !a.found() {
		if a.Rcode != "NOERROR" || a.DNSSEC == DNSSECBogus {
			return nil // judged from MXLookup: the domain does not exist or the lookup failed
		}
		s.rep.ImplicitMX = true
		return []MXHost{{Host: s.rep.Domain, Implicit: true}}
	}
	var hosts []MXHost
	for _, rr := range a.rrs {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue // collect keeps records of the type asked; never another
		}
		if isNullMX(mx.Mx) {
			if len(a.rrs) == 1 {
				s.rep.NullMX = true
				return nil
			}
			s.rep.nullMXMixed = true
			continue
		}
		hosts = append(hosts, MXHost{Host: normalName(mx.Mx), Preference: mx.Preference})
	}
	slices.SortStableFunc(hosts, func(x, y MXHost) int { return int(x.Preference) - int(y.Preference) })
	return dedupHosts(hosts)
}

// dedupHosts drops a host listed twice (keeping its best preference) and
// caps the list at maxDomainMX.
func dedupHosts(hosts []MXHost) []MXHost {
	seen := map[string]bool{}
	out := hosts[:0]
	for _, h := range hosts {
		if !seen[h.Host] && len(out) < maxDomainMX {
			seen[h.Host] = true
			out = append(out, h)
		}
	}
	return out
}

// scanHost resolves one MX host, looks up its TLSA records, and runs a
// session on each address, at most Concurrency sessions at a time across
// the scan.
func (s *domainScan) scanHost(ctx context.Context, mx *MXReport, sem chan struct{}) {
	var addrs []netip.Addr
	var canonical []string
	for _, qt := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
		a := s.dns.query(ctx, mx.Host, qt)
		mx.AddressLookups = append(mx.AddressLookups, a)
		n := 0
		for _, rr := range a.rrs {
			if ip, ok := rrAddr(rr); ok && n < maxHostAddresses {
				addrs = append(addrs, ip)
				n++
			}
		}
		if a.found() && len(a.CNAMEs) > 0 && len(canonical) == 0 {
			canonical = a.CNAMEs
		}
	}
	mx.DANE = s.lookupTLSA(ctx, mx, canonical)
	mx.Addresses = make([]AddressReport, len(addrs))
	var wg sync.WaitGroup
	for i, ip := range addrs {
		ar := &mx.Addresses[i]
		*ar = AddressReport{Address: ip.String(), Family: family(ip), Findings: []Finding{}}
		wg.Go(func() {
			sem <- struct{}{} // a holder ends soon once ctx is done
			defer func() { <-sem }()
			sctx, release := s.admit(ctx, mx.Host, ip)
			defer release()
			s.session(sctx, mx.Host, ar)
		})
	}
	wg.Wait()
}

// admit asks DomainOptions.Admit, if set, for a session with addr of host.
func (s *domainScan) admit(ctx context.Context, host string, addr netip.Addr) (context.Context, func()) {
	if s.o.Admit == nil {
		return ctx, func() {}
	}
	actx, release, err := s.o.Admit(ctx, host, addr)
	if err != nil {
		return ctx, func() {}
	}
	return actx, release
}

func rrAddr(rr dns.RR) (netip.Addr, bool) {
	switch r := rr.(type) {
	case *dns.A:
		return netip.AddrFromSlice(r.A.To4())
	case *dns.AAAA:
		return netip.AddrFromSlice(r.AAAA.To16())
	}
	return netip.Addr{}, false
}

func family(ip netip.Addr) string {
	if ip.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// session plays banner, EHLO, STARTTLS, EHLO, QUIT with one address,
// checking the certificate against the MX host name without letting a
// failed verification stop the session.
func (s *domainScan) session(ctx context.Context, host string, ar *AddressReport) {
	d := s.o.Dialer
	cfg := &tls.Config{}
	if d.TLSConfig != nil {
		cfg = d.TLSConfig.Clone()
	}
	cfg.ServerName = host
	cfg.InsecureSkipVerify = true
	if s.o.RootCAs != nil {
		cfg.RootCAs = s.o.RootCAs
	}
	d.TLSConfig = cfg
	ar.Session = Run(ctx, Options{
		Target:    net.JoinHostPort(ar.Address, strconv.Itoa(s.rep.Port)),
		Dialer:    d,
		StartTLS:  StartTLSIfOffered,
		QuitAfter: StageTLS,
	})
}

// unreachable reports a session that could not start because this host
// has no route to the address: for IPv6 that is the scanner's network,
// not the domain's fault.
func unreachable(rep *Report) bool {
	err := rep.Err()
	if err == nil || rep.Error.Stage != StageConnect {
		return false
	}
	return rep.Error.Class == ClassNetworkUnreachable ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.EADDRNOTAVAIL)
}
