package scan

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// fakeDNS is an in-process validating resolver: it answers from records
// the test gives, sets AD for names in signed zones, and plays bogus
// (SERVFAIL unless CD is set), failing (SERVFAIL always), silent and
// truncated answers. It listens on 127.0.0.1 over UDP and TCP.
type fakeDNS struct {
	addr string

	mu     sync.Mutex
	sets   map[string]*rrset // "name./TYPE"
	names  map[string]bool   // names that exist
	signed map[string]bool   // zone apexes that are signed
	asked  []string
}

// rrset is the records of one name and type, and how to answer for them.
type rrset struct {
	rrs                   []dns.RR
	bogus, fail, silent   bool
	truncated, insecureAD bool
}

func rrKey(name string, qtype uint16) string {
	return strings.ToLower(dns.Fqdn(name)) + "/" + dns.TypeToString[qtype]
}

// startDNS starts the resolver; it stops when the test ends.
func startDNS(t *testing.T) *fakeDNS {
	t.Helper()
	f := &fakeDNS{sets: map[string]*rrset{}, names: map[string]bool{}, signed: map[string]bool{}}
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 10 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal("no port free for UDP and TCP:", err)
	}
	f.addr = pc.LocalAddr().String()
	var wg sync.WaitGroup
	servers := []*dns.Server{{PacketConn: pc, Handler: f}, {Listener: ln, Handler: f}}
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() { _ = srv.ActivateAndServe() })
		<-started
	}
	t.Cleanup(func() {
		for _, srv := range servers {
			_ = srv.Shutdown()
		}
		wg.Wait()
	})
	return f
}

// zone declares a zone apex, signed or not.
func (f *fakeDNS) zone(apex string, signed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signed[strings.ToLower(dns.Fqdn(apex))] = signed
}

// add adds records in zone-file form; how changes how their set is
// answered (nil: plainly).
func (f *fakeDNS) add(t *testing.T, how func(*rrset), records ...string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("record %q: %v", s, err)
		}
		k := rrKey(rr.Header().Name, rr.Header().Rrtype)
		set := f.sets[k]
		if set == nil {
			set = &rrset{}
			f.sets[k] = set
		}
		set.rrs = append(set.rrs, rr)
		if how != nil {
			how(set)
		}
		f.names[strings.ToLower(rr.Header().Name)] = true
	}
}

// set changes how the set name/type is answered, creating it empty.
func (f *fakeDNS) set(name string, qtype uint16, how func(*rrset)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := rrKey(name, qtype)
	if f.sets[k] == nil {
		f.sets[k] = &rrset{}
	}
	how(f.sets[k])
	f.names[strings.ToLower(dns.Fqdn(name))] = true
}

func bogus(s *rrset)    { s.bogus = true }
func failing(s *rrset)  { s.fail = true }
func silent(s *rrset)   { s.silent = true }
func truncate(s *rrset) { s.truncated = true }

// isSigned reports whether name is in a signed zone: the longest apex
// that is a suffix decides.
func (f *fakeDNS) isSigned(name string) bool {
	best, signed := -1, false
	for apex, s := range f.signed {
		if (name == apex || strings.HasSuffix(name, "."+apex)) && len(apex) > best {
			best, signed = len(apex), s
		}
	}
	return signed
}

// questions returns what was asked, "name. TYPE" (with " +cd").
func (f *fakeDNS) questions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

func (f *fakeDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	asked := name + " " + dns.TypeToString[q.Qtype]
	if r.CheckingDisabled {
		asked += " +cd"
	}
	f.asked = append(f.asked, asked)
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	secure := f.isSigned(name)
	for range 8 {
		if set := f.sets[rrKey(name, q.Qtype)]; set != nil {
			switch {
			case set.silent:
				return
			case set.fail, set.bogus && !r.CheckingDisabled:
				m.Rcode = dns.RcodeServerFailure
				_ = w.WriteMsg(m)
				return
			case set.truncated && udp:
				m.Truncated = true
				_ = w.WriteMsg(m)
				return
			}
			secure = secure && !set.bogus
			m.Answer = append(m.Answer, set.rrs...)
			break
		}
		if cn := f.sets[rrKey(name, dns.TypeCNAME)]; cn != nil && q.Qtype != dns.TypeCNAME && len(cn.rrs) > 0 {
			m.Answer = append(m.Answer, cn.rrs...)
			name = strings.ToLower(cn.rrs[0].(*dns.CNAME).Target)
			secure = secure && f.isSigned(name)
			continue
		}
		if !f.names[name] {
			m.Rcode = dns.RcodeNameError
		}
		break
	}
	m.AuthenticatedData = secure && !r.CheckingDisabled
	if opt := r.IsEdns0(); udp && opt != nil {
		m.Truncate(int(opt.UDPSize())) // sets TC when the answer does not fit
	}
	_ = w.WriteMsg(m)
}

// spkiSHA256 is the hex SHA-256 of a certificate's public key, the data
// of its "3 1 1" TLSA record.
func spkiSHA256(t *testing.T, c tls.Certificate) string {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// domainWorld is a domain to scan: a resolver, an SMTP server and its
// PKI, and an optional MTA-STS policy server, all on loopback.
type domainWorld struct {
	dns  *fakeDNS
	pki  *fakeserver.PKI
	smtp *fakeserver.Server
	web  *httptest.Server
	pool *x509.CertPool
	sts  string // the policy body served
	mu   sync.Mutex
}

// newWorld starts a resolver with the signed zone example.test, whose MX
// mail.example.test (127.0.0.1) runs a fakeserver with STARTTLS and a
// certificate from pki.
func newWorld(t *testing.T, cfg fakeserver.Config) *domainWorld {
	t.Helper()
	pki, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSCert == nil && cfg.EhloLines == nil {
		cfg.TLSCert = &pki.Valid
	}
	w := &domainWorld{dns: startDNS(t), pki: pki, smtp: startServer(t, cfg), pool: pki.CAPool()}
	w.dns.zone("example.test", true)
	w.dns.add(t, nil,
		"example.test. 300 IN MX 10 mail.example.test.",
		"mail.example.test. 300 IN A 127.0.0.1",
	)
	return w
}

// tlsa publishes "3 1 1" records for the keys of certs at the MX.
func (w *domainWorld) tlsa(t *testing.T, how func(*rrset), certs ...tls.Certificate) {
	t.Helper()
	for _, c := range certs {
		w.dns.add(t, how, "_"+strconv.Itoa(w.smtp.Port())+"._tcp.mail.example.test. 300 IN TLSA 3 1 1 "+spkiSHA256(t, c))
	}
}

// moreMX gives domain n more MX hosts, mx0.<domain> … at preferences 0 …,
// all on 127.0.0.1 (the world's SMTP server).
func (w *domainWorld) moreMX(t *testing.T, domain string, n int) {
	t.Helper()
	var recs []string
	for i := range n {
		h := "mx" + strconv.Itoa(i) + "." + domain + "."
		recs = append(recs, domain+". 300 IN MX "+strconv.Itoa(i)+" "+h, h+" 300 IN A 127.0.0.1")
	}
	w.dns.add(t, nil, recs...)
}

// serveSTS publishes an MTA-STS record and serves body as the policy
// over HTTPS with a certificate for mta-sts.example.test; handler, when
// set, replaces the policy handler.
func (w *domainWorld) serveSTS(t *testing.T, body string, handler http.HandlerFunc) {
	t.Helper()
	web, err := fakeserver.NewPKI("mta-sts.example.test")
	if err != nil {
		t.Fatal(err)
	}
	w.pool.AddCert(web.CACert())
	w.sts = body
	if handler == nil {
		handler = func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.example.test" {
				http.NotFound(rw, r)
				return
			}
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.mu.Lock()
			defer w.mu.Unlock()
			_, _ = rw.Write([]byte(w.sts))
		}
	}
	w.web = httptest.NewUnstartedServer(handler)
	w.web.TLS = &tls.Config{Certificates: []tls.Certificate{web.Valid}}
	w.web.StartTLS()
	t.Cleanup(w.web.Close)
	w.dns.add(t, nil,
		`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=20261205T01;"`,
		"mta-sts.example.test. 300 IN A 127.0.0.1",
	)
}

// options are the DomainOptions that scan the world.
func (w *domainWorld) options() DomainOptions {
	o := DomainOptions{
		Domain:      "example.test",
		Resolver:    w.dns.addr,
		DNSTimeout:  2 * time.Second,
		Port:        w.smtp.Port(),
		RootCAs:     w.pool,
		HTTPTimeout: 3 * time.Second,
	}
	if w.web != nil {
		_, port, _ := net.SplitHostPort(w.web.Listener.Addr().String())
		o.HTTPSPort, _ = strconv.Atoi(port)
	}
	return o
}

// scan runs Domain on the world, bounded by the test's context.
func (w *domainWorld) scan(t *testing.T, edit func(*DomainOptions)) *DomainReport {
	t.Helper()
	o := w.options()
	if edit != nil {
		edit(&o)
	}
	return Domain(testCtx(t), o)
}

// v6Dialer sends IPv4 connections on as they are, and answers IPv6 ones
// with err (ENETUNREACH …) or, with err nil, by connecting to to.
type v6Dialer struct {
	err error
	to  string
}

func (d v6Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	if strings.Contains(host, ":") {
		if d.err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", d.err)}
		}
		addr = d.to
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// findingIDs lists the IDs of fs.
func idsOf(fs []Finding) []FindingID {
	var out []FindingID
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

// hasFinding reports a finding with id among fs.
func hasFinding(fs []Finding, id FindingID) bool {
	for _, f := range fs {
		if f.ID == id {
			return true
		}
	}
	return false
}

// sameIDs reports whether got and want hold the same IDs, in any order.
func sameIDs(got, want []FindingID) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}
