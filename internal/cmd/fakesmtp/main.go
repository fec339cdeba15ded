// Command fakesmtp runs internal/fakeserver as a process, for scripts that
// need an SMTP server with a given certificate on loopback: .ci/prom-up
// starts one whose certificate has expired.
//
//	fakesmtp -listen 127.0.0.1:10027 -cert expired -ca-out run/fakesmtp-ca.pem
//
// It serves until SIGINT or SIGTERM. The certificates come from a
// throw-away CA made at start (fakeserver.NewPKI), written to -ca-out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakesmtp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fakesmtp", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "the loopback `address` to listen on")
	cert := fs.String("cert", "valid", "the certificate for STARTTLS: valid, expired, self-signed, wrong-name or none")
	host := fs.String("hostname", fakeserver.DefaultHostname, "the server's `name`, in its banner and certificates")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) to this `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("no arguments expected, got %q", fs.Args())
	}
	if h, _, err := net.SplitHostPort(*listen); err != nil || !isLoopback(h) {
		return fmt.Errorf("-listen %q: want a loopback address such as 127.0.0.1:10027", *listen)
	}
	pki, err := fakeserver.NewPKI(*host)
	if err != nil {
		return err
	}
	cfg := fakeserver.Config{Addr: *listen, Hostname: *host, NoRecord: true}
	switch *cert {
	case "valid":
		cfg.TLSCert = &pki.Valid
	case "expired":
		cfg.TLSCert = &pki.Expired
	case "self-signed":
		cfg.TLSCert = &pki.SelfSigned
	case "wrong-name":
		cfg.TLSCert = &pki.WrongName
	case "none":
	default:
		return errors.New("-cert: want valid, expired, self-signed, wrong-name or none")
	}
	if *caOut != "" {
		if err := pki.WriteCAFile(*caOut); err != nil {
			return err
		}
	}
	srv, err := fakeserver.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("fakesmtp: listening on %s (certificate %s)\n", srv.Addr(), *cert)
	<-ctx.Done()
	return srv.Close()
}

func isLoopback(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
