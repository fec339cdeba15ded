package scan

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

func TestDomainDANEMatch(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	next, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	w.tlsa(t, nil, w.pki.Valid, next.Valid)
	w.dns.add(t, nil, `_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@example.test"`)
	rep := w.scan(t, nil)
	if rep.Verdict != VerdictOK || !slices.Equal(rep.Protection, []Protection{ProtectionDANE}) {
		t.Fatalf("verdict %s, protection %v, findings %v", rep.Verdict, rep.Protection, idsOf(rep.AllFindings()))
	}
	if len(rep.AllFindings()) != 0 {
		t.Errorf("findings %v, want none", idsOf(rep.AllFindings()))
	}
	mx := rep.MX[0]
	if mx.Host != "mail.example.test" || mx.Preference != 10 || mx.DANE.Status != DANEValidated || len(mx.DANE.Records) != 2 {
		t.Fatalf("MX %+v, DANE %+v", mx, mx.DANE)
	}
	if !strings.Contains(mx.DANE.Records[0], "DANE-EE(3) SPKI(1) SHA2-256(1)") {
		t.Errorf("record %q does not name its parameters", mx.DANE.Records[0])
	}
	a := mx.Addresses[0]
	if a.Address != "127.0.0.1" || a.Family != "ipv4" || !a.StartTLS || a.DANE == nil || !a.DANE.Authenticated ||
		len(a.DANE.Matched) != 1 || len(a.DANE.Mismatched) != 1 || !a.WebPKIValid || a.Verdict != VerdictOK {
		t.Fatalf("address %+v, DANE %+v", a, a.DANE)
	}
	if a.TLS.SPKISHA256 != spkiSHA256(t, w.pki.Valid) || a.TLS.Version == "" {
		t.Errorf("TLS summary %+v", a.TLS)
	}
	if a.Session == nil || a.Session.Stage != StageTLS || a.Session.Quit == nil {
		t.Errorf("session did not stop cleanly after TLS: %+v", a.Session)
	}
	if rep.TLSRPT.RUA[0] != "mailto:tls@example.test" || rep.MTASTS.ID != "" || rep.RequireTLS.Ready {
		t.Errorf("TLS-RPT %+v, MTA-STS %+v, REQUIRETLS %+v", rep.TLSRPT, rep.MTASTS, rep.RequireTLS)
	}
	recs, err := w.smtp.WaitSessions(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range recs[0].Commands {
		if v := strings.ToUpper(c.Verb); v == "MAIL" || v == "RCPT" || v == "DATA" {
			t.Errorf("the domain scan sent %s", c.Raw)
		}
	}
	for _, q := range w.dns.questions() {
		if !strings.HasSuffix(strings.Fields(q)[0], "example.test.") {
			t.Errorf("asked %q, outside the test zone", q)
		}
	}
}

func TestDomainDANEVerdicts(t *testing.T) {
	other, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, w *domainWorld)
		status  DANEStatus
		verdict Verdict
		want    []FindingID
	}{
		{"single key", func(t *testing.T, w *domainWorld) { w.tlsa(t, nil, w.pki.Valid) },
			DANEValidated, VerdictWarning, []FindingID{FindingDANERollover}},
		{"mismatch", func(t *testing.T, w *domainWorld) { w.tlsa(t, nil, other.Valid) },
			DANEValidated, VerdictFail, []FindingID{FindingDANEMismatch}},
		{"no usable record", func(t *testing.T, w *domainWorld) {
			w.dns.add(t, nil, "_"+strconv.Itoa(w.smtp.Port())+"._tcp.mail.example.test. 300 IN TLSA 1 1 1 "+spkiSHA256(t, w.pki.Valid))
		}, DANEValidated, VerdictWarning, []FindingID{FindingDANENoUsable}},
		{"bogus", func(t *testing.T, w *domainWorld) { w.tlsa(t, bogus, w.pki.Valid) },
			DANEBogus, VerdictFail, []FindingID{FindingDANEBogus, FindingNoProtection}},
		{"lookup failed", func(t *testing.T, w *domainWorld) { w.tlsa(t, failing, w.pki.Valid) },
			DANELookupFailed, VerdictFail, []FindingID{FindingDANELookupFailed, FindingNoProtection}},
		// RFC 7672 §2.2.2: an address question that fails leaves a sender
		// unable to tell whether DANE applies: not "insecure".
		{"an address question fails", func(t *testing.T, w *domainWorld) {
			w.tlsa(t, nil, w.pki.Valid)
			w.dns.add(t, failing, "mail.example.test. 300 IN AAAA ::1")
		}, DANELookupFailed, VerdictFail, []FindingID{FindingDANELookupFailed, FindingNoProtection}},
		// RFC 7671 §9: a sender that applies digest algorithm agility
		// uses the SHA2-512 record alone, which is of another key.
		{"a matching SHA2-256 record beside a stale SHA2-512 one", func(t *testing.T, w *domainWorld) {
			w.tlsa(t, nil, w.pki.Valid)
			w.dns.add(t, nil, "_"+strconv.Itoa(w.smtp.Port())+"._tcp.mail.example.test. 300 IN TLSA 3 1 2 "+strings.Repeat("cd", 64))
		}, DANEValidated, VerdictWarning, []FindingID{FindingDANEDigestAgility}},
		{"DANE-TA, the CA itself", func(t *testing.T, w *domainWorld) {
			w.dns.add(t, nil, "_"+strconv.Itoa(w.smtp.Port())+"._tcp.mail.example.test. 300 IN TLSA 2 0 0 "+hex.EncodeToString(w.pki.CACert().Raw))
		}, DANEValidated, VerdictOK, nil},
		{"DANE-TA of another CA", func(t *testing.T, w *domainWorld) {
			w.dns.add(t, nil, "_"+strconv.Itoa(w.smtp.Port())+"._tcp.mail.example.test. 300 IN TLSA 2 0 0 "+hex.EncodeToString(other.CACert().Raw))
		}, DANEValidated, VerdictFail, []FindingID{FindingDANEMismatch}},
		{"no records", func(*testing.T, *domainWorld) {},
			DANENoRecords, VerdictWarning, []FindingID{FindingNoProtection}},
		{"unsigned zone", func(t *testing.T, w *domainWorld) {
			w.dns.zone("example.test", false)
			w.tlsa(t, nil, other.Valid)
		}, DANEInsecure, VerdictWarning, []FindingID{FindingDNSSECInsecure, FindingDANETLSAIgnored, FindingNoProtection}},
		{"unsigned MX host", func(t *testing.T, w *domainWorld) {
			w.dns.zone("mail.example.test", false)
			w.tlsa(t, nil, other.Valid)
		}, DANEInsecure, VerdictWarning, []FindingID{FindingDANETLSAIgnored, FindingNoProtection}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, fakeserver.Config{})
			w.dns.add(t, nil, `_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@example.test"`)
			tc.setup(t, w)
			rep := w.scan(t, nil)
			got := idsOf(rep.AllFindings())
			if rep.MX[0].DANE.Status != tc.status || rep.Verdict != tc.verdict || !sameIDs(got, tc.want) {
				t.Fatalf("DANE %+v, verdict %s, findings %v; want %s, %s, %v", rep.MX[0].DANE, rep.Verdict, got, tc.status, tc.verdict, tc.want)
			}
			for _, f := range rep.AllFindings() {
				if f.Summary == "" || (f.Severity != SeverityInfo && f.Reference == "") {
					t.Errorf("finding %+v lacks a summary or reference", f)
				}
			}
		})
	}
}

func TestDomainBogusQueriesWithCD(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	w.tlsa(t, bogus, w.pki.Valid)
	rep := w.scan(t, nil)
	name := "_" + strconv.Itoa(w.smtp.Port()) + "._tcp.mail.example.test. TLSA"
	qs := w.dns.questions()
	if !slices.Contains(qs, name) || !slices.Contains(qs, name+" +cd") {
		t.Fatalf("questions %v lack %q with and without CD", qs, name)
	}
	l := rep.MX[0].DANE.Lookups[0]
	if l.DNSSEC != DNSSECBogus || l.AD || l.Rcode != "SERVFAIL" || len(l.Records) != 1 || l.found() {
		t.Errorf("lookup %+v", l)
	}
	if rep.MX[0].Addresses[0].DANE != nil {
		t.Error("bogus records were matched against the chain")
	}
}

func TestDomainMXLookup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, w *domainWorld) string // the domain to scan
		verdict Verdict
		want    []FindingID
		check   func(t *testing.T, rep *DomainReport)
	}{
		{"null MX", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "nullmx.example.test. 300 IN MX 0 .")
			return "nullmx.example.test."
		}, VerdictOK, []FindingID{FindingNullMX}, func(t *testing.T, rep *DomainReport) {
			if !rep.NullMX || len(rep.MX) != 0 || rep.Protection != nil {
				t.Errorf("null MX report %+v", rep)
			}
		}},
		{"null MX among others", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "mixed.example.test. 300 IN MX 0 .", "mixed.example.test. 300 IN MX 20 mail.example.test.")
			return "mixed.example.test"
		}, VerdictWarning, []FindingID{FindingNullMXMixed, FindingNoProtection, FindingTLSRPTMissing}, func(t *testing.T, rep *DomainReport) {
			if rep.NullMX || len(rep.MX) != 1 || rep.MX[0].Preference != 20 {
				t.Errorf("MX %+v", rep.MX)
			}
		}},
		{"MX naming an IP address", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "ip.example.test. 300 IN MX 10 127.0.0.1.")
			return "ip.example.test"
		}, VerdictFail, []FindingID{FindingMXIPAddress, FindingNoProtection, FindingTLSRPTMissing}, nil},
		{"implicit MX", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "bare.example.test. 300 IN A 127.0.0.1")
			return "bare.example.test"
		}, VerdictWarning, []FindingID{FindingMXImplicit, FindingNoProtection, FindingTLSRPTMissing}, func(t *testing.T, rep *DomainReport) {
			if !rep.ImplicitMX || len(rep.MX) != 1 || !rep.MX[0].Implicit || rep.MX[0].Host != "bare.example.test" || !rep.MX[0].Addresses[0].StartTLS {
				t.Errorf("implicit MX %+v", rep.MX)
			}
		}},
		{"NXDOMAIN", func(*testing.T, *domainWorld) string { return "nowhere.example.test" },
			VerdictFail, []FindingID{FindingDomainNotFound}, nil},
		{"bogus MX", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, bogus, "bad.example.test. 300 IN MX 10 mail.example.test.")
			return "bad.example.test"
		}, VerdictFail, []FindingID{FindingDNSSECBogus}, func(t *testing.T, rep *DomainReport) {
			if len(rep.MX) != 0 || rep.MXLookup.DNSSEC != DNSSECBogus {
				t.Errorf("a bogus MX answer was used: %+v", rep.MX)
			}
		}},
		{"MX lookup times out", func(t *testing.T, w *domainWorld) string {
			w.dns.set("slow.example.test", dns.TypeMX, silent)
			return "slow.example.test"
		}, VerdictFail, []FindingID{FindingMXLookupFailed}, nil},
		{"MX host without address", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "lost.example.test. 300 IN MX 10 gone.example.test.")
			return "lost.example.test"
		}, VerdictFail, []FindingID{FindingMXNoAddress, FindingNoProtection, FindingTLSRPTMissing}, nil},
		{"bogus address", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "b.example.test. 300 IN MX 10 mx.b.example.test.")
			w.dns.add(t, bogus, "mx.b.example.test. 300 IN A 127.0.0.1")
			return "b.example.test"
		}, VerdictFail, []FindingID{FindingNoProtection, FindingTLSRPTMissing, FindingDNSSECBogus, FindingMXNoAddress}, nil},
		{"MX host is an alias", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "alias.example.test. 300 IN MX 10 mx.alias.example.test.",
				"mx.alias.example.test. 300 IN CNAME mail.example.test.")
			w.tlsa(t, nil, w.pki.Valid)
			return "alias.example.test"
		}, VerdictWarning, []FindingID{FindingTLSRPTMissing, FindingMXCNAME, FindingDANERollover}, func(t *testing.T, rep *DomainReport) {
			d := rep.MX[0].DANE
			if d.Status != DANEValidated || d.Base != "mail.example.test" || !rep.MX[0].Addresses[0].DANE.Authenticated {
				t.Errorf("DANE through a CNAME: %+v", d)
			}
		}},
		// RFC 7672 §2.2.3: an insecure TLSA answer at the name the CNAME
		// leads to sends the search on to the host's own name, where a
		// secure record that does not match stops delivery.
		{"MX host is an alias, TLSA of the target unsigned", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "alias.example.test. 300 IN MX 10 mx.alias.example.test.",
				"mx.alias.example.test. 300 IN CNAME mail.example.test.")
			port := strconv.Itoa(w.smtp.Port())
			w.dns.zone("_tcp.mail.example.test", false)
			w.tlsa(t, nil, w.pki.Valid) // at the target: unsigned, ignored
			w.dns.add(t, nil, "_"+port+"._tcp.mx.alias.example.test. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 32))
			return "alias.example.test"
		}, VerdictFail, []FindingID{FindingTLSRPTMissing, FindingMXCNAME, FindingDANEMismatch}, func(t *testing.T, rep *DomainReport) {
			if d := rep.MX[0].DANE; d.Status != DANEValidated || d.Base != "mx.alias.example.test" || len(d.Lookups) != 2 {
				t.Errorf("DANE through a CNAME: %+v", d)
			}
		}},
		// RFC 7672 §2.2.2: a validated CNAME into an unsigned zone leaves
		// the host's own name as the TLSA base, where DANE still applies.
		{"MX host is a signed alias into an unsigned zone", func(t *testing.T, w *domainWorld) string {
			w.dns.zone("unsigned.example.test", false)
			w.dns.add(t, nil, "c.example.test. 300 IN MX 10 mx.c.example.test.",
				"mx.c.example.test. 300 IN CNAME host.unsigned.example.test.",
				"host.unsigned.example.test. 300 IN A 127.0.0.1",
				"_"+strconv.Itoa(w.smtp.Port())+"._tcp.mx.c.example.test. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 32))
			return "c.example.test"
		}, VerdictFail, []FindingID{FindingTLSRPTMissing, FindingMXCNAME, FindingDANEMismatch}, func(t *testing.T, rep *DomainReport) {
			if d := rep.MX[0].DANE; d.Status != DANEValidated || d.Base != "mx.c.example.test" || len(d.Lookups) != 2 || d.Lookups[0].Type != "CNAME" {
				t.Errorf("DANE through a CNAME into an unsigned zone: %+v", d)
			}
		}},
		{"hostile MX names", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, `evil.example.test. 300 IN MX 10 a\032b\000\013.example.test.`,
				"evil.example.test. 300 IN MX 20 "+strings.Repeat("x", 63)+"."+strings.Repeat("y", 63)+".example.test.")
			return "evil.example.test"
		}, VerdictFail, []FindingID{FindingMXNoAddress, FindingMXNoAddress, FindingNoProtection, FindingTLSRPTMissing}, func(t *testing.T, rep *DomainReport) {
			if len(rep.MX) != 2 || !strings.HasPrefix(rep.MX[0].Host, `a\ b\000`) {
				t.Errorf("MX %+v", rep.MX)
			}
		}},
		{"DANE on one MX of two", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "part.example.test. 300 IN MX 10 mail.example.test.", "part.example.test. 300 IN MX 20 mx2.part.example.test.",
				"mx2.part.example.test. 300 IN A 127.0.0.1")
			w.tlsa(t, nil, w.pki.Valid, w.pki.WrongName)
			return "part.example.test"
		}, VerdictWarning, []FindingID{FindingDANEPartial, FindingTLSRPTMissing}, func(t *testing.T, rep *DomainReport) {
			if !slices.Equal(rep.Protection, []Protection{ProtectionNone}) || rep.MX[1].DANE.Status != DANENoRecords {
				t.Errorf("protection %v, second MX %+v", rep.Protection, rep.MX[1].DANE)
			}
		}},
		{"duplicate MX", func(t *testing.T, w *domainWorld) string {
			w.dns.add(t, nil, "dup.example.test. 300 IN MX 20 mail.example.test.", "dup.example.test. 300 IN MX 10 MAIL.example.test.")
			return "dup.example.test"
		}, VerdictWarning, []FindingID{FindingNoProtection, FindingTLSRPTMissing}, func(t *testing.T, rep *DomainReport) {
			if len(rep.MX) != 1 || rep.MX[0].Preference != 10 {
				t.Errorf("MX %+v", rep.MX)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, fakeserver.Config{})
			domain := tc.setup(t, w)
			rep := w.scan(t, func(o *DomainOptions) { o.Domain = domain; o.DNSTimeout = 300 * time.Millisecond })
			got := idsOf(rep.AllFindings())
			if rep.Verdict != tc.verdict || !sameIDs(got, tc.want) {
				t.Fatalf("verdict %s, findings %v; want %s, %v", rep.Verdict, got, tc.verdict, tc.want)
			}
			if tc.check != nil {
				tc.check(t, rep)
			}
		})
	}
}

func TestDomainIPv6(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dialer     v6Dialer
		v4         bool
		mx, domain Verdict
	}{
		{"unreachable beside IPv4", v6Dialer{err: syscall.ENETUNREACH}, true, VerdictOK, VerdictOK},
		{"no route to host", v6Dialer{err: syscall.EHOSTUNREACH}, true, VerdictOK, VerdictOK},
		{"address not available", v6Dialer{err: syscall.EADDRNOTAVAIL}, true, VerdictOK, VerdictOK},
		{"only IPv6, unreachable", v6Dialer{err: syscall.ENETUNREACH}, false, VerdictUntested, VerdictUntested},
		{"IPv6 reached", v6Dialer{}, true, VerdictOK, VerdictOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, fakeserver.Config{})
			w.dns.add(t, nil, "v6.example.test. 300 IN MX 10 mx.v6.example.test.",
				"mx.v6.example.test. 300 IN AAAA ::1", `_smtp._tls.v6.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:a@v6.example.test"`,
				"_"+strconv.Itoa(w.smtp.Port())+"._tcp.mx.v6.example.test. 300 IN TLSA 3 1 1 "+spkiSHA256(t, w.pki.Valid),
				"_"+strconv.Itoa(w.smtp.Port())+"._tcp.mx.v6.example.test. 300 IN TLSA 3 1 1 "+spkiSHA256(t, w.pki.WrongName))
			if tc.v4 {
				w.dns.add(t, nil, "mx.v6.example.test. 300 IN A 127.0.0.1")
			}
			d := tc.dialer
			d.to = w.smtp.Addr()
			rep := w.scan(t, func(o *DomainOptions) { o.Domain = "v6.example.test"; o.Dialer.NetDialer = d })
			mx := rep.MX[0]
			v6 := mx.Addresses[len(mx.Addresses)-1]
			if v6.Family != "ipv6" || v6.Address != "::1" {
				t.Fatalf("addresses %+v", mx.Addresses)
			}
			wantV6 := VerdictUntested
			if d.err == nil {
				wantV6 = VerdictOK
			}
			if v6.Verdict != wantV6 || mx.Verdict != tc.mx || rep.Verdict != tc.domain {
				t.Fatalf("IPv6 %s, MX %s, domain %s; want %s, %s, %s: %v", v6.Verdict, mx.Verdict, rep.Verdict, wantV6, tc.mx, tc.domain, idsOf(rep.AllFindings()))
			}
			if wantV6 == VerdictUntested && !hasFinding(v6.Findings, FindingAddressUntested) {
				t.Errorf("findings %v", idsOf(v6.Findings))
			}
		})
	}
}

func TestDomainTLSUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		dane bool
		cfg  fakeserver.Config
		sev  Severity
	}{
		{"not offered, no policy", false, fakeserver.Config{EhloLines: []string{"PIPELINING"}}, SeverityMedium},
		{"not offered under DANE", true, fakeserver.Config{EhloLines: []string{"PIPELINING"}}, SeverityHigh},
		{"refused under DANE", true, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
			"STARTTLS": func(s *fakeserver.Session, _ fakeserver.Command) bool {
				s.Reply(454, "4.7.0 TLS not available")
				return true
			}}}, SeverityHigh},
		{"handshake fails", false, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
			"STARTTLS": func(s *fakeserver.Session, _ fakeserver.Command) bool {
				s.Reply(220, "2.0.0 go ahead")
				s.WriteRaw([]byte("not a TLS record\r\n"))
				s.Flush()
				return true
			}}}, SeverityMedium},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.cfg)
			if tc.dane {
				w.tlsa(t, nil, w.pki.Valid)
			}
			rep := w.scan(t, nil)
			a := rep.MX[0].Addresses[0]
			if a.StartTLS || len(a.Findings) != 1 || a.Findings[0].ID != FindingTLSUnavailable || a.Findings[0].Severity != tc.sev {
				t.Fatalf("address %+v", a)
			}
			if len(a.Findings[0].Evidence) == 0 {
				t.Error("no evidence")
			}
		})
	}
}

func TestDomainSMTPUnreachable(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	port := w.smtp.Port()
	w.smtp.Close()
	rep := w.scan(t, func(o *DomainOptions) { o.Port = port })
	a := rep.MX[0].Addresses[0]
	if a.Verdict != VerdictFail || !hasFinding(a.Findings, FindingSMTPUnreachable) || rep.Verdict != VerdictFail {
		t.Fatalf("address %+v, domain %s", a, rep.Verdict)
	}
}

func TestDomainRequireTLS(t *testing.T) {
	base := []string{"PIPELINING", "8BITMIME"}
	dane := func(t *testing.T, w *domainWorld) { w.tlsa(t, nil, w.pki.Valid) }
	for _, tc := range []struct {
		name        string
		plain, tls  []string
		setup       func(*testing.T, *domainWorld)
		protected   bool
		ready       bool
		want        []FindingID
		advertised  bool
		beforeFound bool
		says        string // in the requiretls-unprotected finding, if any
	}{
		{"ready", append(base, "STARTTLS"), append(base, "REQUIRETLS"), dane, true, true, []FindingID{FindingTLSRPTMissing, FindingDANERollover}, true, false, ""},
		{"not advertised", append(base, "STARTTLS"), base, dane, true, false, []FindingID{FindingTLSRPTMissing, FindingDANERollover}, false, false, ""},
		{"before TLS", append(base, "STARTTLS", "REQUIRETLS"), append(base, "REQUIRETLS"), dane, true, true,
			[]FindingID{FindingTLSRPTMissing, FindingDANERollover, FindingRequireTLSBeforeTLS}, true, true, ""},
		// RFC 8689 §4.2.1: a signed MX answer and a WebPKI certificate
		// are enough; neither DANE nor MTA-STS is needed.
		{"signed MX, WebPKI certificate", append(base, "STARTTLS"), append(base, "REQUIRETLS"), nil, true, true,
			[]FindingID{FindingNoProtection, FindingTLSRPTMissing}, true, false, ""},
		{"unsigned MX, no MTA-STS", append(base, "STARTTLS"), append(base, "REQUIRETLS"),
			func(t *testing.T, w *domainWorld) { w.dns.zone("example.test", false) }, false, false,
			[]FindingID{FindingNoProtection, FindingTLSRPTMissing, FindingDNSSECInsecure, FindingRequireTLSUnprotected}, true, false,
			"is not DNSSEC-validated and no MTA-STS policy lists the host: a sender must bounce"},
		{"unsigned MX listed by an MTA-STS policy in testing mode", append(base, "STARTTLS"), append(base, "REQUIRETLS"),
			func(t *testing.T, w *domainWorld) { w.dns.zone("example.test", false); w.serveSTS(t, stsTesting, nil) }, true, true,
			[]FindingID{FindingNoProtection, FindingTLSRPTMissing, FindingDNSSECInsecure, FindingSTSTesting}, true, false, ""},
		// A second MX host on the same server: the certificate does not
		// name it, so a sender passes over it and delivers through the
		// first.
		{"one MX host of two unauthenticated", append(base, "STARTTLS"), append(base, "REQUIRETLS"),
			func(t *testing.T, w *domainWorld) {
				w.dns.add(t, nil, "example.test. 300 IN MX 20 mx2.example.test.", "mx2.example.test. 300 IN A 127.0.0.1")
			}, false, true,
			[]FindingID{FindingNoProtection, FindingTLSRPTMissing, FindingRequireTLSUnprotected}, true, false,
			"mx2.example.test (127.0.0.1): the certificate is neither WebPKI-valid for the host nor matched by DANE: a sender passes over them"},
		// DANE-EE checks no names: the match authenticates the key, but
		// REQUIRETLS wants the certificate to name the MX host as well.
		{"a DANE-EE match for a certificate that names another host", append(base, "STARTTLS"), append(base, "REQUIRETLS"),
			func(t *testing.T, w *domainWorld) {
				w.dns.add(t, nil, "example.test. 300 IN MX 20 mx2.example.test.", "mx2.example.test. 300 IN A 127.0.0.1",
					"_"+strconv.Itoa(w.smtp.Port())+"._tcp.mx2.example.test. 300 IN TLSA 3 1 1 "+spkiSHA256(t, w.pki.Valid))
			}, false, true,
			[]FindingID{FindingDANEPartial, FindingTLSRPTMissing, FindingRequireTLSUnprotected, FindingDANERollover}, true, false,
			"mx2.example.test (127.0.0.1): the certificate DANE matches does not name the host"},
		{"signed MX, certificate of an unknown CA", append(base, "STARTTLS"), append(base, "REQUIRETLS"),
			func(t *testing.T, w *domainWorld) { w.pool = x509.NewCertPool() }, false, false,
			[]FindingID{FindingNoProtection, FindingTLSRPTMissing, FindingRequireTLSUnprotected}, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, fakeserver.Config{})
			w.smtp.Close()
			w.smtp = startServer(t, fakeserver.Config{TLSCert: &w.pki.Valid, EhloLines: tc.plain, EhloLinesTLS: tc.tls})
			if tc.setup != nil {
				tc.setup(t, w)
			}
			rep := w.scan(t, nil)
			rt := rep.RequireTLS
			if rt.Ready != tc.ready || rt.Advertised != tc.advertised || rt.BeforeTLS != tc.beforeFound || rt.Protected != tc.protected {
				t.Errorf("REQUIRETLS %+v", rt)
			}
			if got := idsOf(rep.AllFindings()); !sameIDs(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
			for _, f := range rep.AllFindings() {
				if f.ID == FindingRequireTLSUnprotected && !strings.Contains(f.Summary, tc.says) {
					t.Errorf("%s says %q, want %q in it", f.ID, f.Summary, tc.says)
				}
			}
		})
	}
}

func TestDomainConcurrencyBound(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	w.moreMX(t, "many.example.test", 6)
	rep := w.scan(t, func(o *DomainOptions) { o.Domain = "many.example.test"; o.Concurrency = 2 })
	if len(rep.MX) != 6 {
		t.Fatalf("%d MX hosts", len(rep.MX))
	}
	for i, mx := range rep.MX {
		if mx.Host != "mx"+strconv.Itoa(i)+".many.example.test" || !mx.Addresses[0].StartTLS {
			t.Errorf("MX %d: %+v", i, mx)
		}
	}
	if got := len(w.smtp.Sessions()); got != 6 {
		t.Errorf("%d sessions, want 6", got)
	}
}

func TestDomainCancelled(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := w.options()
	start := time.Now()
	rep := Domain(ctx, o)
	if time.Since(start) > 5*time.Second || rep.Verdict != VerdictFail || !hasFinding(rep.Findings, FindingMXLookupFailed) {
		t.Fatalf("verdict %s, findings %v after %v", rep.Verdict, idsOf(rep.AllFindings()), time.Since(start))
	}
}

func TestDomainReportJSON(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	w.tlsa(t, nil, w.pki.Valid)
	rep := w.scan(t, nil)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "domain", "resolver", "port", "start", "duration_ns", "verdict", "protection",
		"mx_lookup", "mx", "mta_sts", "tls_rpt", "requiretls", "findings"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b[:200])
		}
	}
	mx := m["mx"].([]any)[0].(map[string]any)
	for _, k := range []string{"host", "preference", "verdict", "address_lookups", "dane", "addresses", "findings"} {
		if _, ok := mx[k]; !ok {
			t.Errorf("no %q in the MX", k)
		}
	}
	addr := mx["addresses"].([]any)[0].(map[string]any)
	for _, k := range []string{"address", "family", "verdict", "starttls", "tls", "webpki_valid", "requiretls", "dane", "findings", "session"} {
		if _, ok := addr[k]; !ok {
			t.Errorf("no %q in the address", k)
		}
	}
	var back DomainReport
	if err := json.Unmarshal(b, &back); err != nil || back.Verdict != rep.Verdict || back.MX[0].DANE.Status != DANEValidated {
		t.Errorf("round trip: %v, %+v", err, back.MX)
	}
	ev := rep.MX[0].Findings[0].Evidence
	if len(ev) == 0 || ev[0].Kind != probe.Note || !strings.Contains(ev[0].Text, "TLSA: NOERROR ad (secure) 3 1 1 ") {
		t.Errorf("evidence %+v", ev)
	}
}

func TestDomainDANEEEIgnoresNamesAndDates(t *testing.T) {
	for _, pick := range []func(*fakeserver.PKI) tls.Certificate{
		func(p *fakeserver.PKI) tls.Certificate { return p.Expired },
		func(p *fakeserver.PKI) tls.Certificate { return p.WrongName },
		func(p *fakeserver.PKI) tls.Certificate { return p.SelfSigned },
	} {
		w := newWorld(t, fakeserver.Config{})
		cert := pick(w.pki)
		w.smtp.Close()
		w.smtp = startServer(t, fakeserver.Config{TLSCert: &cert})
		w.tlsa(t, nil, cert, w.pki.Valid)
		w.dns.add(t, nil, `_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@example.test"`)
		rep := w.scan(t, nil)
		a := rep.MX[0].Addresses[0]
		if rep.Verdict != VerdictOK || a.WebPKIValid || !a.DANE.Authenticated || len(rep.AllFindings()) != 0 {
			t.Errorf("%s: verdict %s, WebPKI %v, DANE %+v, findings %v", a.TLS.Subject, rep.Verdict, a.WebPKIValid, a.DANE, idsOf(rep.AllFindings()))
		}
	}
}

// TestDomainDANETAMailDomainName: behind a secure MX answer, a DANE-TA(2)
// certificate may name the mail domain instead of the MX host, or the
// name the domain's CNAME leads to: one certificate for all of a domain's
// MX hosts (RFC 7672 §3.2.2).
func TestDomainDANETAMailDomainName(t *testing.T) {
	for _, tc := range []struct{ name, domain, certFor string }{
		{"the mail domain", "example.test", "example.test"},
		{"the name the mail domain's CNAME leads to", "shop.example.test", "example.test"},
		{"the mail domain, an alias", "shop.example.test", "shop.example.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dom, err := fakeserver.NewPKI(tc.certFor)
			if err != nil {
				t.Fatal(err)
			}
			w := newWorld(t, fakeserver.Config{TLSCert: &dom.Valid})
			w.pool = dom.CAPool()
			w.dns.add(t, nil, "shop.example.test. 300 IN CNAME example.test.",
				"_"+strconv.Itoa(w.smtp.Port())+"._tcp.mail.example.test. 300 IN TLSA 2 0 0 "+hex.EncodeToString(dom.CACert().Raw))
			rep := w.scan(t, func(o *DomainOptions) { o.Domain = tc.domain })
			d := rep.MX[0].Addresses[0].DANE
			if d == nil || !d.Authenticated {
				t.Fatalf("DANE %+v; findings %v", d, idsOf(rep.AllFindings()))
			}
			if slices.Contains(idsOf(rep.AllFindings()), FindingDANEMismatch) {
				t.Errorf("findings %v", idsOf(rep.AllFindings()))
			}
		})
	}
}

// TestDomainAdmit: a session waits for DomainOptions.Admit before its
// timeouts start, so that a wait longer than the connect timeout fails
// nothing; each admission is released once its session is over.
func TestDomainAdmit(t *testing.T) {
	w := newWorld(t, fakeserver.Config{})
	w.moreMX(t, "example.test", 3)
	var mu sync.Mutex
	var hosts []string
	admitted, released := 0, 0
	rep := w.scan(t, func(o *DomainOptions) {
		o.Dialer.Timeouts.Connect = 50 * time.Millisecond
		o.Admit = func(ctx context.Context, host string, addr netip.Addr) (context.Context, func(), error) {
			mu.Lock()
			hosts = append(hosts, host+" "+addr.String())
			admitted++
			mu.Unlock()
			time.Sleep(150 * time.Millisecond) // queueing, three times the connect timeout
			return ctx, func() { mu.Lock(); released++; mu.Unlock() }, nil
		}
	})
	slices.Sort(hosts)
	if want := []string{"mail.example.test 127.0.0.1", "mx0.example.test 127.0.0.1", "mx1.example.test 127.0.0.1", "mx2.example.test 127.0.0.1"}; !slices.Equal(hosts, want) {
		t.Errorf("admitted %v, want %v", hosts, want)
	}
	for _, mx := range rep.MX {
		for _, a := range mx.Addresses {
			if a.Session == nil || !a.Session.Success {
				t.Errorf("%s %s: %+v", mx.Host, a.Address, a.Session.Error)
			}
		}
	}
	if admitted != 4 || released != 4 {
		t.Errorf("%d admitted, %d released", admitted, released)
	}
}
