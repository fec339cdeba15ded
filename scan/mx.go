package scan

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
)

// Resolver looks up the names Run needs with Options.MX. *net.Resolver
// (and so net.DefaultResolver) satisfies it as it is; tests and agents with
// their own DNS client supply another.
type Resolver interface {
	// LookupMX returns the MX records of name. A not-found error (a
	// *net.DNSError with IsNotFound) or no records means the domain has
	// none.
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	// LookupHost returns the addresses (A and AAAA) of host.
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// NullMXError reports that a domain publishes a null MX (RFC 7505): a
// single MX record whose exchange is ".". It accepts no mail, and no
// connection is attempted.
type NullMXError struct {
	Domain string
}

func (e *NullMXError) Error() string {
	return "smtp MX: " + e.Domain + " accepts no mail (null MX, RFC 7505)"
}

// maxMXAttempts bounds the attempts of one run, whatever the DNS answers
// hold: connections, and address lookups that fail, alike.
const maxMXAttempts = 16

// ResolveMX returns the mail exchangers of domain in the order to try
// them: by preference, and records of equal preference in the order the
// Resolver returned them (net.Resolver already shuffles those, as RFC 5321
// §5.1 asks). A domain without MX records stands for itself, with
// Implicit set (RFC 5321 §5.1). A null MX is a *NullMXError; "." among
// other records is skipped. r nil means net.DefaultResolver.
//
// A not-found answer to the MX query is taken as "no MX records": the Go
// resolver cannot tell NXDOMAIN from an empty answer, and the address
// lookup of the implicit MX then fails for a domain that does not exist.
func ResolveMX(ctx context.Context, r Resolver, domain string) ([]MXHost, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	domain = strings.TrimSuffix(domain, ".")
	records, err := r.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return nil, &probe.OpError{Op: "MX lookup", Err: err}
	}
	if len(records) == 1 && records[0] != nil && isNullMX(records[0].Host) {
		return nil, &NullMXError{Domain: domain}
	}
	hosts := make([]MXHost, 0, len(records))
	for _, rec := range records {
		if rec == nil || isNullMX(rec.Host) {
			continue
		}
		hosts = append(hosts, MXHost{Host: strings.TrimSuffix(rec.Host, "."), Preference: rec.Pref})
	}
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].Preference < hosts[j].Preference })
	if len(hosts) == 0 {
		hosts = append(hosts, MXHost{Host: domain, Implicit: true})
	}
	return hosts, nil
}

func isNullMX(host string) bool { return host == "." || host == "" }

// lookupAddrs returns the addresses of an exchanger; none is a not-found
// error.
func lookupAddrs(ctx context.Context, r Resolver, host string) ([]string, error) {
	addrs, err := r.LookupHost(ctx, host)
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if err != nil {
		return nil, &probe.OpError{Op: "address lookup", Err: err}
	}
	return addrs, nil
}

// resolver is Options.Resolver or the system's.
func (o *Options) resolver() Resolver {
	if o.Resolver == nil {
		return net.DefaultResolver
	}
	return o.Resolver
}

// runDirect connects to Target and reads the banner.
func (r *runner) runDirect(ctx context.Context) {
	if stage, err := r.attempt(ctx, r.o.direct()); err != nil {
		r.fail(stage, err)
	}
}

// candidate is one address to try.
type candidate struct {
	host string // the name certificates are checked against
	addr string // what to dial: "host", "host:port" or "ip:port"
}

// direct is Target as the one address to try.
func (o *Options) direct() candidate {
	if strings.HasPrefix(o.Target, "unix:") {
		return candidate{addr: o.Target} // a socket path: no host name
	}
	host, _, err := net.SplitHostPort(o.Target)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(o.Target, "["), "]")
	}
	return candidate{host: host, addr: o.Target}
}

// connect opens a connection to cand with the Dialer of o, on the port o
// implies when cand.addr names none. The server's certificate is checked
// against cand.host (the MX host name, when cand.addr is one of its
// addresses), which becomes the TLS ServerName unless the Dialer's
// TLSConfig names one or cand.host is an IP address.
func (o *Options) connect(ctx context.Context, cand candidate) (*probe.Conn, error) {
	d := o.Dialer
	if net.ParseIP(cand.host) == nil && (d.TLSConfig == nil || d.TLSConfig.ServerName == "") {
		cfg := &tls.Config{}
		if d.TLSConfig != nil {
			cfg = d.TLSConfig.Clone()
		}
		cfg.ServerName = cand.host
		d.TLSConfig = cfg
	}
	addr := cand.addr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(cand.host, o.port())
	}
	return d.Connect(ctx, addr)
}

// attempt connects to cand and, unless QuitAfter stops it, reads the
// banner. On success r.c is the session.
func (r *runner) attempt(ctx context.Context, cand candidate) (Stage, error) {
	r.rep.Banner, r.rep.TLS = nil, nil
	if !r.next(StageConnect) {
		return "", nil
	}
	c, err := r.connect(ctx, cand)
	if err != nil {
		return StageConnect, err
	}
	r.c = c
	r.reached(StageConnect)
	if r.o.ImplicitTLS {
		r.current = StageTLS
		if err := r.secure(ctx, r.c.Handshake); err != nil {
			return StageTLS, err
		}
		r.reached(StageTLS)
	}
	if !r.next(StageBanner) {
		return "", nil
	}
	if err := r.banner(ctx); err != nil {
		return StageBanner, err
	}
	r.reached(StageBanner)
	return "", nil
}

func (r *runner) connect(ctx context.Context, cand candidate) (*probe.Conn, error) {
	r.tr.connectStart(cand.addr)
	p := r.begin(StageConnect)
	c, err := r.o.connect(ctx, cand)
	r.end(p, nil, err)
	r.tr.connectDone(cand.addr, err)
	if err != nil {
		return nil, err
	}
	r.rep.Host = cand.host
	r.rep.Address = c.NetConn().RemoteAddr().String()
	return c, nil
}

// runMX resolves the MX hosts of Target and tries each address of each
// host in order until one greets.
func (r *runner) runMX(ctx context.Context) {
	domain, port := r.o.Target, r.o.port()
	if h, p, err := net.SplitHostPort(domain); err == nil {
		domain, port = h, p
	}
	r.current = StageResolve
	r.tr.resolveStart(domain)
	p := r.begin(StageResolve)
	hosts, err := ResolveMX(ctx, r.o.resolver(), domain)
	r.end(p, nil, err)
	r.tr.resolveDone(hosts, err)
	if err != nil {
		r.fail(StageResolve, err)
		return
	}
	r.rep.MX = hosts
	r.reached(StageResolve)
	if !r.next(StageConnect) {
		return
	}
	stage, err := r.tryHosts(ctx, hosts, port)
	r.fail(stage, err)
}

// tryHosts tries the hosts in order and returns the failure of the last
// attempt when none greeted. Each attempt starts the phases anew.
func (r *runner) tryHosts(ctx context.Context, hosts []MXHost, port string) (Stage, error) {
	base := len(r.rep.Phases)
	var (
		stage Stage
		err   error
	)
	for _, h := range hosts {
		if len(r.rep.Attempts) >= maxMXAttempts {
			return stage, err
		}
		start := time.Now()
		addrs, lookupErr := lookupAddrs(ctx, r.o.resolver(), h.Host)
		if lookupErr != nil {
			stage, err = StageResolve, lookupErr
			r.addAttempt(h, "", start, stage, err)
		}
		for _, a := range addrs {
			if len(r.rep.Attempts) >= maxMXAttempts {
				return stage, err
			}
			r.rep.Phases = r.rep.Phases[:base]
			addr := net.JoinHostPort(a, port)
			start = time.Now()
			stage, err = r.attempt(ctx, candidate{host: h.Host, addr: addr})
			r.addAttempt(h, addr, start, stage, err)
			if err == nil {
				return "", nil
			}
			if r.c != nil {
				r.c.Close()
			}
			if ctx.Err() != nil {
				return stage, err
			}
		}
	}
	return stage, err
}

func (r *runner) addAttempt(h MXHost, addr string, start time.Time, stage Stage, err error) {
	a := Attempt{Host: h.Host, Preference: h.Preference, Address: addr,
		Start: start.Sub(r.start), Duration: time.Since(start)}
	if addr != "" {
		a.Banner = r.rep.Banner
	}
	if err != nil {
		a.Error = newRunError(stage, err)
	}
	r.rep.Attempts = append(r.rep.Attempts, a)
}
