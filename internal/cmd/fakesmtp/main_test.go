package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
)

func TestRunRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-listen", "0.0.0.0:0"}, "loopback"},
		{[]string{"-listen", "192.0.2.1:25"}, "loopback"},
		{[]string{"-cert", "rotten"}, "-cert"},
		{[]string{"extra"}, "no arguments"},
	} {
		if err := run(context.Background(), tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// TestRunServesExpiredCertificate starts the server the way .ci/prom-up
// does and checks that a STARTTLS session sees an expired certificate
// from the CA written to -ca-out.
func TestRunServesExpiredCertificate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-listen", addr, "-cert", "expired", "-ca-out", ca}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var c *probe.Conn
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err = probe.Dial(context.Background(), addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Ehlo(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in -ca-out")
	}
	_, err = c.StartTLS(context.Background(), &tls.Config{ServerName: "mail.example.test", RootCAs: roots, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if info := c.TLS(); info == nil || !info.Expired || !info.Trusted || !info.HostnameMatch {
		t.Errorf("TLS %+v: want a trusted certificate for the name, expired", info)
	}
}
