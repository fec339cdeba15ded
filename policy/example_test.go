package policy_test

import (
	"fmt"

	"github.com/smtpprobe/probe/policy"
)

// The records and the policy of RFC 8461 §3 and RFC 8460 §3, as the
// network part of a scan would hand them over, judged.
func ExampleParsePolicy() {
	// The TXT strings at _mta-sts.example.com: one is the MTA-STS record.
	rec, err := policy.ParseSTSRecord([]string{"v=spf1 -all", "v=STSv1; id=20160831085700Z;"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The body of https://mta-sts.example.com/.well-known/mta-sts.txt.
	p, err := policy.ParsePolicy([]byte("version: STSv1\r\n" +
		"mode: enforce\r\n" +
		"mx: mail.example.com\r\n" +
		"mx: *.example.net\r\n" +
		"mx: backupmx.example.com\r\n" +
		"max_age: 604800\r\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("policy", rec.ID, p.Mode, p.MaxAge)
	for _, mx := range []string{"mail.example.com.", "mx1.example.net", "a.b.example.net", "mail.example.org"} {
		fmt.Printf("  MX %-18s permitted: %v\n", mx, p.MatchMX(mx))
	}

	// A policy that a sender would refuse, and why.
	_, err = policy.ParsePolicy([]byte("version: STSv1\nmode: Enforce\n"))
	fmt.Println(err)

	// The TXT record at _smtp._tls.example.com.
	rpt, err := policy.ParseTLSRPTRecord([]string{"v=TLSRPTv1; rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("reports to", rpt.RUA)

	// TLSA records at _25._tcp.mail.example.com, judged for SMTP.
	for _, s := range []string{
		"3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
		"1 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
	} {
		t, err := policy.ParseTLSA(s)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(t.Describe(), "usable:", t.Check() == nil)
	}
	// Output:
	// policy 20160831085700Z enforce 604800
	//   MX mail.example.com.  permitted: true
	//   MX mx1.example.net    permitted: true
	//   MX a.b.example.net    permitted: false
	//   MX mail.example.org   permitted: false
	// policy: MTA-STS policy line 2 field "mode": syntax error: mode "Enforce", not enforce, testing or none
	// reports to [mailto:reports@example.com https://reporting.example.com/v1/tlsrpt]
	// DANE-EE(3) SPKI(1) SHA2-256(1) usable: true
	// PKIX-EE(1) SPKI(1) SHA2-256(1) usable: false
}
