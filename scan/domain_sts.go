package scan

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/smtpprobe/probe/policy"
)

// stsState is how far the MTA-STS lookup got.
type stsState int

const (
	stsNoRecord      stsState = iota // no v=STSv1 record: no policy
	stsLookupFailed                  // the TXT question got no answer
	stsRecordInvalid                 // a record, but not a valid one (or several)
	stsFetchFailed                   // the policy could not be fetched
	stsPolicyInvalid                 // the policy was fetched but does not parse
	stsPolicy                        // a policy, parsed
)

// defaultHTTPTimeout bounds the policy fetch of the default client: a
// minute, as RFC 8461 §3.3 suggests to senders, so that a policy they
// fetch is not reported unfetchable.
const defaultHTTPTimeout = time.Minute

// errRedirect refuses the redirects of the policy fetch (RFC 8461 §3.3).
var errRedirect = errors.New("the policy server redirects; RFC 8461 §3.3 forbids following redirects")

// lookupPolicies gathers the MTA-STS record and policy and the TLS-RPT
// record, the two at the same time.
func (s *domainScan) lookupPolicies(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.rep.MTASTS = s.lookupSTS(ctx) })
	wg.Go(func() { s.rep.TLSRPT = s.lookupTLSRPT(ctx) })
	wg.Wait()
}

// txtStrings returns each TXT record of the answer with its strings
// concatenated (RFC 8461 §3.1, RFC 8460 §3).
func txtStrings(a *DNSAnswer) []string {
	var out []string
	for _, rr := range a.rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

// lookupSTS finds the MTA-STS record, fetches the policy it announces and
// parses it. The policy is fetched only when the record is valid, as a
// sender does.
func (s *domainScan) lookupSTS(ctx context.Context) *MTASTSReport {
	r := &MTASTSReport{}
	a := s.dns.query(ctx, "_mta-sts."+s.rep.Domain, dns.TypeTXT)
	r.RecordLookup = a
	if !a.found() && !a.noData() {
		r.state, r.Error = stsLookupFailed, "the TXT question got no usable answer: "+a.Error
		return r
	}
	rec, err := policy.ParseSTSRecord(txtStrings(a))
	switch {
	case errors.Is(err, policy.ErrNoRecord):
		r.state = stsNoRecord
		return r
	case err != nil:
		r.state, r.Error = stsRecordInvalid, err.Error()
		return r
	}
	r.ID = rec.ID
	r.URL = "https://mta-sts." + s.rep.Domain + "/.well-known/mta-sts.txt"
	body, err := s.fetchPolicy(ctx, r)
	if err != nil {
		r.state, r.Error = stsFetchFailed, err.Error()
		return r
	}
	p, err := policy.ParsePolicy(body)
	if err != nil {
		r.state, r.Error = stsPolicyInvalid, err.Error()
		return r
	}
	r.state, r.Mode, r.MX, r.MaxAge = stsPolicy, string(p.Mode), p.MX, p.MaxAge
	s.sts = p
	return r
}

// fetchPolicy gets the body of the policy at r.URL: status 200 and a
// text/plain media type (RFC 8461 §3.2, §3.3), at most MaxPolicySize+1
// bytes read, so that ParsePolicy can tell a body is too large.
func (s *domainScan) fetchPolicy(ctx context.Context, r *MTASTSReport) ([]byte, error) {
	client := s.o.HTTPClient
	if client == nil {
		client = s.defaultHTTPClient()
		defer client.CloseIdleConnections()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("policy request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("policy fetch: %w", err)
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("policy fetch: HTTP status %d %s; RFC 8461 §3.3 accepts 200 only", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("policy fetch: media type %q; RFC 8461 §3.2 wants text/plain", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, policy.MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("policy fetch: reading the body: %w", err)
	}
	return body, nil
}

// defaultHTTPClient is the policy client DomainOptions.HTTPClient
// describes: names resolved through the scan's resolver, connections to
// HTTPSPort, WebPKI with RootCAs, no proxy, no redirect, no keep-alive, a
// timeout.
func (s *domainScan) defaultHTTPClient() *http.Client {
	timeout := s.o.HTTPTimeout
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}
	port := "443"
	if s.o.HTTPSPort > 0 {
		port = strconv.Itoa(s.o.HTTPSPort)
	}
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return s.dialHost(ctx, dialer, host, port)
		},
		TLSClientConfig:        &tls.Config{RootCAs: s.o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableKeepAlives:      true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
	}
}

// dialHost resolves host through the scan's resolver and connects to its
// addresses in turn, IPv4 first.
func (s *domainScan) dialHost(ctx context.Context, d *net.Dialer, host, port string) (net.Conn, error) {
	var errs []error
	for _, qt := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
		a := s.dns.query(ctx, host, qt)
		if a.Error != "" {
			errs = append(errs, errors.New(a.summary()))
		}
		for _, rr := range a.rrs {
			ip, ok := rrAddr(rr)
			if !ok {
				continue
			}
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	return nil, errors.Join(errs...)
}

// lookupTLSRPT finds and parses the TLS reporting record.
func (s *domainScan) lookupTLSRPT(ctx context.Context) *TLSRPTReport {
	r := &TLSRPTReport{}
	a := s.dns.query(ctx, "_smtp._tls."+s.rep.Domain, dns.TypeTXT)
	r.Lookup = a
	if !a.found() && !a.noData() {
		r.Error = "the TXT question got no usable answer: " + a.Error
		return r
	}
	rec, err := policy.ParseTLSRPTRecord(txtStrings(a))
	switch {
	case errors.Is(err, policy.ErrNoRecord):
		r.Error, r.missing = "no TLS-RPT record", true
		return r
	case err != nil:
		r.Error = err.Error()
		return r
	}
	r.RUA, r.Unsupported = rec.RUA, rec.Unsupported
	return r
}
