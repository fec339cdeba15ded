package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// ProbeTLSCheck is the monitoring probe the throughput figures count:
// banner, EHLO, STARTTLS (with the certificate verdicts), EHLO, QUIT.
func ProbeTLSCheck(ctx context.Context, d *probe.Dialer, addr string) error {
	c, err := d.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Ehlo(ctx, ""); err != nil {
		return err
	}
	if _, err := c.StartTLS(ctx, nil); err != nil {
		return err
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		return err
	}
	_, err = c.Quit(ctx)
	return err
}

// RunTLSCheck is the same probe through scan.Run (STARTTLS required, no
// mail transaction): what a monitoring agent would call. It also builds
// the Report: phases, findings, certificate verdicts.
func RunTLSCheck(ctx context.Context, d *probe.Dialer, addr string) error {
	rep := scan.Run(ctx, scan.Options{Target: addr, Dialer: *d, StartTLS: scan.StartTLSRequired})
	if err := rep.Err(); err != nil {
		return err
	}
	if rep.TLS == nil {
		return errors.New("bench: Run reported no TLS")
	}
	return nil
}

// TLSHandshake is the ceiling: connect to the implicit-TLS port, complete
// a verified TLS handshake, close. No SMTP at all.
func TLSHandshake(ctx context.Context, addr string, cfg *tls.Config) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	tc := tls.Client(nc, cfg)
	err = tc.HandshakeContext(ctx)
	nc.Close()
	return err
}

// OpenProbe returns a probe Conn after the banner and EHLO.
func OpenProbe(ctx context.Context, addr string) (*probe.Conn, error) {
	c, err := probe.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// OpenNetSMTP returns a net/smtp Client after the banner and EHLO.
func OpenNetSMTP(addr string) (*smtp.Client, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := smtp.NewClient(nc, ServerName)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// OpenGoSMTP returns a go-smtp Client after the banner and EHLO.
func OpenGoSMTP(addr string) (*gosmtp.Client, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := gosmtp.NewClient(nc)
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// NetSMTPTLSCheck is the same probe with net/smtp: banner, EHLO,
// STARTTLS (verified handshake, EHLO inside), QUIT.
func NetSMTPTLSCheck(addr string, cfg *tls.Config) error {
	c, err := OpenNetSMTP(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartTLS(cfg); err != nil {
		return err
	}
	return c.Quit()
}

// GoSMTPTLSCheck is the same probe with go-smtp's client: banner, EHLO,
// STARTTLS, then EHLO (the handshake runs on its first write), QUIT.
func GoSMTPTLSCheck(addr string, cfg *tls.Config) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	c, err := gosmtp.NewClientStartTLS(nc, cfg)
	if err != nil {
		nc.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	return c.Quit()
}
