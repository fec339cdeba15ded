package scan_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe/internal/fakedns"
	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// Scan a DANE-protected domain. A validating resolver (here an
// in-process stand-in that sets AD on every answer) says example.test has
// the MX mail.example.test at 127.0.0.1, whose TLSA records hold the key
// of the server's certificate and a next key; Domain connects, says
// STARTTLS, matches the chain and judges.
func ExampleDomain() {
	pki, _ := fakeserver.NewPKI("mail.example.test")
	srv, err := fakeserver.Start(fakeserver.Config{TLSCert: &pki.Valid})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	leaf, _ := x509.ParseCertificate(pki.Valid.Certificate[0])
	key := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	tlsa := "_" + strconv.Itoa(srv.Port()) + "._tcp.mail.example.test. 60 IN TLSA 3 1 1 "
	resolver, err := fakedns.Start(
		"example.test. 60 IN MX 10 mail.example.test.",
		"mail.example.test. 60 IN A 127.0.0.1",
		tlsa+hex.EncodeToString(key[:]),
		tlsa+strings.Repeat("5a", 32), // the next key, published ahead of a rollover
		`_smtp._tls.example.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"`,
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resolver.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep := scan.Domain(ctx, scan.DomainOptions{Domain: "example.test", Resolver: resolver.Addr(), Port: srv.Port()})

	fmt.Println(rep.Domain, rep.Verdict, rep.Protection)
	for _, mx := range rep.MX {
		fmt.Println(mx.Host, "DANE", mx.DANE.Status, len(mx.DANE.Records), "records")
		for _, a := range mx.Addresses {
			fmt.Println(" ", a.Address, a.TLS.Version, "DANE authenticated:", a.DANE.Authenticated, a.Verdict)
		}
	}
	fmt.Println("findings:", len(rep.AllFindings()))
	// Output:
	// example.test ok [dane]
	// mail.example.test DANE validated 2 records
	//   127.0.0.1 TLS 1.3 DANE authenticated: true ok
	// findings: 0
}
