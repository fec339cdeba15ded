package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"strings"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// Spec is one session, run the same way by every client.
type Spec struct {
	// Secure runs STARTTLS, a second EHLO and AUTH PLAIN before the mail.
	Secure bool
	From   string
	To     []string
	Body   []byte
	// NoPipelining makes probe send MAIL, RCPT and DATA in lock-step.
	NoPipelining bool
}

// NewSpec returns a session from sender@bench.test to n recipients with a
// body of size bytes.
func NewSpec(secure bool, n, size int) Spec {
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("rcpt%d@bench.test", i+1)
	}
	return Spec{Secure: secure, From: "sender@bench.test", To: to, Body: Message(size)}
}

// Message returns a message of exactly size bytes (size ≥ 200): headers,
// a blank line and lines of 76 characters, CRLF-terminated.
func Message(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: sender@bench.test\r\nTo: rcpt1@bench.test\r\n" +
		"Subject: probe benchmark\r\nMessage-ID: <bench@bench.test>\r\n\r\n")
	line := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", 3)[:76] + "\r\n"
	for b.Len()+len(line) <= size-2 {
		b.WriteString(line)
	}
	for b.Len() < size-2 {
		b.WriteByte('x')
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// ProbeSession runs spec with probe: Dial (banner), EHLO, [STARTTLS,
// EHLO, AUTH PLAIN], Send (pipelined unless spec.NoPipelining), QUIT.
func ProbeSession(ctx context.Context, addr string, cfg *tls.Config, spec Spec) error {
	d := probe.Dialer{TLSConfig: cfg}
	c, err := d.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Ehlo(ctx, ""); err != nil {
		return err
	}
	if spec.Secure {
		if _, err := c.StartTLS(ctx, nil); err != nil {
			return err
		}
		if _, err := c.Ehlo(ctx, ""); err != nil {
			return err
		}
		if _, err := c.AuthPlain(ctx, "", User, Password); err != nil {
			return err
		}
	}
	res, err := c.Send(ctx, probe.Envelope{
		From: spec.From, To: spec.To, Body: bytes.NewReader(spec.Body),
		NoPipelining: spec.NoPipelining,
	})
	if err != nil {
		return err
	}
	if res.Pipelined == spec.NoPipelining {
		return fmt.Errorf("probe: Pipelined is %v", res.Pipelined)
	}
	_, err = c.Quit(ctx)
	return err
}

// RunSession runs spec through scan.Run, as a monitoring agent or a test
// of a mail stack would: STARTTLS required, AUTH PLAIN, the message, and
// QUIT, which leaves with the final "." (Envelope.Quit).
func RunSession(ctx context.Context, addr string, cfg *tls.Config, spec Spec) error {
	o := scan.Options{Target: addr, Dialer: probe.Dialer{TLSConfig: cfg}, StartTLS: scan.StartTLSNever,
		Envelope: probe.Envelope{From: spec.From, To: spec.To, Body: bytes.NewReader(spec.Body)}}
	if spec.Secure {
		o.StartTLS, o.Username, o.Password, o.AuthMechanism = scan.StartTLSRequired, User, Password, "PLAIN"
	}
	rep := scan.Run(ctx, o)
	if err := rep.Err(); err != nil {
		return err
	}
	if rep.Quit == nil || rep.Quit.Code != 221 {
		return fmt.Errorf("scan: QUIT got %v", rep.Quit)
	}
	return nil
}

// NetSMTPSession runs spec with net/smtp, one command at a time: the
// banner, EHLO, [STARTTLS, EHLO, AUTH PLAIN], MAIL, RCPT…, DATA, QUIT.
func NetSMTPSession(addr string, cfg *tls.Config, spec Spec) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	c, err := smtp.NewClient(nc, ServerName)
	if err != nil {
		nc.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if spec.Secure {
		if err := c.StartTLS(cfg); err != nil { // EHLO again inside
			return err
		}
		if err := c.Auth(smtp.PlainAuth("", User, Password, ServerName)); err != nil {
			return err
		}
	}
	if err := c.Mail(spec.From); err != nil {
		return err
	}
	for _, to := range spec.To {
		if err := c.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(spec.Body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// GoSMTPSession runs spec with go-smtp's client, one command at a time,
// as its API sends them.
func GoSMTPSession(addr string, cfg *tls.Config, spec Spec) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	var c *gosmtp.Client
	if spec.Secure {
		// banner, EHLO, STARTTLS; the next command sends EHLO again.
		if c, err = gosmtp.NewClientStartTLS(nc, cfg); err != nil {
			nc.Close()
			return err
		}
	} else {
		c = gosmtp.NewClient(nc)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if spec.Secure {
		if err := c.Auth(sasl.NewPlainClient("", User, Password)); err != nil {
			return err
		}
	}
	if err := c.Mail(spec.From, nil); err != nil {
		return err
	}
	for _, to := range spec.To {
		if err := c.Rcpt(to, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(spec.Body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
