package probe_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// What openssl s_client -starttls smtp shows, as data: EHLO, STARTTLS, the
// handshake summary in the transcript, and EHLO again inside TLS.
func ExampleConn_StartTLS() {
	pki, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		log.Fatal(err)
	}
	srv := startExampleServer(fakeserver.Config{TLSCert: &pki.Valid, EhloLines: []string{"PIPELINING", "STARTTLS"}})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := probe.Dial(ctx, srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Ehlo(ctx, "probe.example"); err != nil {
		log.Fatal(err)
	}
	info, err := c.StartTLS(ctx, &tls.Config{
		RootCAs:    pki.CAPool(),
		ServerName: "mail.example.test", // we dialled 127.0.0.1
		// Pinned so that the output is the same on every machine: TLS 1.3
		// picks AES-GCM or ChaCha20 by the hardware.
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("capabilities forgotten:", c.Capabilities() == nil)
	if _, err := c.Ehlo(ctx, "probe.example"); err != nil {
		log.Fatal(err)
	}
	c.Quit(ctx)

	fmt.Print(c.Transcript())
	fmt.Println("verified:", info.Verified, "trusted:", info.Trusted, "hostname match:", info.HostnameMatch)
	fmt.Println("leaf:", info.Chain[0].Subject, "issuer:", info.Chain[0].Issuer, "key:", info.Chain[0].KeyType, info.Chain[0].KeyBits)
	// Output:
	// capabilities forgotten: true
	// S: 220 mail.example.test ESMTP fakeserver
	// C: EHLO probe.example
	// S: 250-mail.example.test
	// S: 250-PIPELINING
	// S: 250 STARTTLS
	// C: STARTTLS
	// S: 220 2.0.0 Ready to start TLS
	// *  TLS 1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, certificate mail.example.test verified
	// C: EHLO probe.example
	// S: 250-mail.example.test
	// S: 250-PIPELINING
	// S: 250-SIZE 36360000
	// S: 250-AUTH PLAIN LOGIN CRAM-MD5
	// S: 250-ENHANCEDSTATUSCODES
	// S: 250-8BITMIME
	// S: 250-DSN
	// S: 250-SMTPUTF8
	// S: 250 CHUNKING
	// C: QUIT
	// S: 221 2.0.0 Bye
	// verified: true trusted: true hostname match: true
	// leaf: CN=mail.example.test issuer: CN=fakeserver test CA,O=fakeserver key: ECDSA 256
}

// A probe of a server with a self-signed certificate: with verification
// on, StartTLS fails with a *TLSError whose Info says exactly why; with
// InsecureSkipVerify the session goes on and the report says the same.
func ExampleTLSInfo() {
	pki, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		log.Fatal(err)
	}
	srv := startExampleServer(fakeserver.Config{TLSCert: &pki.SelfSigned})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, skip := range []bool{false, true} {
		c, err := probe.Dial(ctx, srv.Addr())
		if err != nil {
			log.Fatal(err)
		}
		info, err := c.StartTLS(ctx, &tls.Config{RootCAs: pki.CAPool(), ServerName: "mail.example.test", InsecureSkipVerify: skip})
		var te *probe.TLSError
		if errors.As(err, &te) {
			fmt.Println("error at", te.Step+":", err)
			info = te.Info
		} else if err != nil {
			log.Fatal(err)
		}
		fmt.Println("verified:", info.Verified, "problems:", info.Problems, "self-signed:", info.Chain[0].SelfSigned)
		c.Quit(ctx)
	}
	// Output:
	// error at STARTTLS verify: smtp STARTTLS verify: x509: certificate signed by unknown authority
	// verified: false problems: [certificate signed by unknown authority] self-signed: true
	// verified: false problems: [certificate signed by unknown authority] self-signed: true
}
