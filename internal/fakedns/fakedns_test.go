package fakedns

import (
	"testing"

	"github.com/miekg/dns"
)

func TestServer(t *testing.T) {
	s, err := Start("Example.Test. 60 IN MX 10 mail.example.test.", "mail.example.test. 60 IN A 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ask := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, err := dns.Exchange(m, s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask("example.test.", dns.TypeMX); len(r.Answer) != 1 || !r.AuthenticatedData {
		t.Errorf("MX: %v", r)
	}
	if r := ask("MAIL.example.test.", dns.TypeAAAA); len(r.Answer) != 0 || r.Rcode != dns.RcodeSuccess {
		t.Errorf("AAAA: %v", r)
	}
	if _, err := Start("not a record"); err == nil {
		t.Error("a bad record was taken")
	}
}
