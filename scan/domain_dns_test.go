package scan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

func TestCheckDomainName(t *testing.T) {
	for in, want := range map[string]string{
		"Example.TEST.":                 "example.test",
		"xn--bcher-kva.example":         "xn--bcher-kva.example",
		"a-b.c_d.example":               "a-b.c_d.example",
		strings.Repeat("a", 63):         strings.Repeat("a", 63),
		strings.Repeat("a.", 126):       strings.Repeat("a.", 125) + "a",
		"mail.example.test":             "mail.example.test",
		"1.2.3.example":                 "1.2.3.example",
		"x" + strings.Repeat(".y", 126): "x" + strings.Repeat(".y", 126),
	} {
		got, err := checkDomainName(in)
		if err != nil || got != want {
			t.Errorf("checkDomainName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, reason := range map[string]string{
		"":                                "empty",
		".":                               "empty",
		"exa mple.test":                   `byte ' '`,
		"example.test\x00":                `byte '\x00'`,
		"exam\r\nple.test":                `byte '\r'`,
		"a\tb.test":                       `byte '\t'`,
		strings.Repeat("a", 64) + ".test": "63",
		strings.Repeat("ab.", 85) + "ab":  "253",
		"a..test":                         "empty label",
		"-a.test":                         "hyphen",
		"a-.test":                         "hyphen",
		"bücher.example":                  "A-label",
		"192.0.2.1":                       "IP address",
		"[::1]":                           "IP address",
		"a/b.test":                        "byte '/'",
	} {
		got, err := checkDomainName(in)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("checkDomainName(%q) = %q, %v; want an error with %q", in, got, err, reason)
		}
	}
}

func TestDomainBadInput(t *testing.T) {
	f := startDNS(t)
	for _, o := range []DomainOptions{
		{Domain: "exa mple.test", Resolver: f.addr},
		{Domain: "example.test\x00\x1b[31m", Resolver: f.addr},
		{Domain: strings.Repeat("x", 64) + ".test", Resolver: f.addr},
		{Domain: strings.Repeat("x", 300), Resolver: f.addr},
		{Domain: "example.test", Resolver: "resolver.example"},
		{Domain: "example.test", Resolver: f.addr, Port: 70000},
		{Domain: "example.test", Resolver: f.addr, HTTPSPort: -1},
		{Domain: "example.test", Resolver: f.addr, Concurrency: -1},
	} {
		rep := Domain(testCtx(t), o)
		if rep.Verdict != VerdictError || rep.Error == nil || rep.Error.Class != ClassInvalidInput && !strings.Contains(rep.Error.Message, "resolver") {
			t.Errorf("Domain(%q, %q): verdict %s, error %+v", o.Domain, o.Resolver, rep.Verdict, rep.Error)
		}
		if rep.MX == nil || rep.Findings == nil {
			t.Errorf("nil arrays in %+v", rep)
		}
	}
	if q := f.questions(); len(q) != 0 {
		t.Errorf("bad input was sent to DNS: %v", q)
	}
}

func TestResolverAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":      "127.0.0.1:53",
		"::1":            "[::1]:53",
		"[::1]":          "[::1]:53",
		"[::1]:5353":     "[::1]:5353",
		"127.0.0.1:5353": "127.0.0.1:5353",
	} {
		if got, err := resolverAddr(in); err != nil || got != want {
			t.Errorf("resolverAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := resolverAddr("dns.example"); err == nil {
		t.Errorf("resolverAddr(a name) = %q", got)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(conf, []byte("# test\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := defaultResolverAddr(conf); err != nil || got != "192.0.2.53:53" {
		t.Errorf("defaultResolverAddr = %q, %v", got, err)
	}
	if _, err := defaultResolverAddr(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing resolv.conf gave a resolver")
	}
	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, []byte("search example.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := defaultResolverAddr(empty); err == nil {
		t.Errorf("resolv.conf without nameserver gave %q", got)
	}
}

func TestDNSQuery(t *testing.T) {
	f := startDNS(t)
	f.zone("signed.test", true)
	f.zone("plain.test", false)
	f.add(t, nil, "a.signed.test. 60 IN A 192.0.2.1", "a.plain.test. 60 IN A 192.0.2.2",
		"alias.signed.test. 60 IN CNAME a.signed.test.", "loop.signed.test. 60 IN CNAME loop.signed.test.")
	f.add(t, bogus, "b.signed.test. 60 IN A 192.0.2.3")
	f.add(t, failing, "f.signed.test. 60 IN A 192.0.2.4")
	f.add(t, silent, "s.signed.test. 60 IN A 192.0.2.5")
	f.add(t, truncate, `t.signed.test. 60 IN TXT "`+strings.Repeat("x", 200)+`"`)
	c := &dnsClient{server: f.addr, timeout: 300 * time.Millisecond}
	for _, tc := range []struct {
		name   string
		qtype  uint16
		status DNSSECStatus
		rcode  string
		found  bool
		cnames int
	}{
		{"a.signed.test", dns.TypeA, DNSSECSecure, "NOERROR", true, 0},
		{"A.Signed.Test.", dns.TypeA, DNSSECSecure, "NOERROR", true, 0},
		{"a.signed.test", dns.TypeAAAA, DNSSECSecure, "NOERROR", false, 0},
		{"none.signed.test", dns.TypeA, DNSSECSecure, "NXDOMAIN", false, 0},
		{"a.plain.test", dns.TypeA, DNSSECInsecure, "NOERROR", true, 0},
		{"alias.signed.test", dns.TypeA, DNSSECSecure, "NOERROR", true, 1},
		{"loop.signed.test", dns.TypeA, DNSSECSecure, "NOERROR", false, maxCNAMEs},
		{"b.signed.test", dns.TypeA, DNSSECBogus, "SERVFAIL", false, 0},
		{"f.signed.test", dns.TypeA, DNSSECError, "SERVFAIL", false, 0},
		{"s.signed.test", dns.TypeA, DNSSECError, "", false, 0},
		{"t.signed.test", dns.TypeTXT, DNSSECSecure, "NOERROR", true, 0},
	} {
		a := c.query(testCtx(t), tc.name, tc.qtype)
		if a.DNSSEC != tc.status || a.Rcode != tc.rcode || a.found() != tc.found || len(a.CNAMEs) != tc.cnames {
			t.Errorf("%s %s: %+v", tc.name, dns.TypeToString[tc.qtype], a)
		}
		if (a.DNSSEC == DNSSECError || a.DNSSEC == DNSSECBogus) != (a.Error != "") || a.summary() == "" {
			t.Errorf("%s: error %q for status %s", tc.name, a.Error, a.DNSSEC)
		}
	}
	qs := strings.Join(f.questions(), "\n")
	if strings.Count(qs, "t.signed.test. TXT") != 2 || !strings.Contains(qs, "f.signed.test. A +cd") {
		t.Errorf("questions:\n%s", qs)
	}
}

func TestCheckResponse(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("a.test.", dns.TypeA)
	r := new(dns.Msg)
	r.SetQuestion("b.test.", dns.TypeA)
	if checkResponse(q, r) == nil {
		t.Error("an answer to another name was taken")
	}
	r.SetQuestion("A.TEST.", dns.TypeAAAA)
	if checkResponse(q, r) == nil {
		t.Error("an answer to another type was taken")
	}
	r.SetQuestion("A.TEST.", dns.TypeA)
	if err := checkResponse(q, r); err != nil {
		t.Error(err)
	}
}

func TestDomainTooManyMX(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	var recs []string
	for i := range maxDomainMX + 4 {
		recs = append(recs, "big.example.test. 300 IN MX 10 mail.example.test.", // a duplicate, dropped
			"big.example.test. 300 IN MX "+strings.Repeat("1", 1)+" m"+strings.Repeat("x", i)+".example.test.")
	}
	w.dns.add(t, nil, recs...)
	rep := w.scan(t, func(o *DomainOptions) { o.Domain = "big.example.test"; o.DNSTimeout = time.Second })
	if len(rep.MX) != maxDomainMX {
		t.Fatalf("%d MX hosts scanned, want the cap %d", len(rep.MX), maxDomainMX)
	}
}
