package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// maxBody bounds a message read with -body.
const maxBody = 64 << 20

// plan is what every probe of one invocation shares: the Options without
// the target, and the message.
type plan struct {
	base    scan.Options
	body    []byte   // the -body message, or nil for a generated one
	headers []string // -header lines, each replacing the field of its name
	attach  []attachment
}

// newPlan turns the config into probe Options; stdin serves -body -, and
// resolver (nil for the system's) the lookups of -mx.
func newPlan(c *config, stdin io.Reader, resolver scan.Resolver) (*plan, error) {
	tlsConfig, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	o := scan.Options{
		MX:          c.mx,
		Resolver:    resolver,
		ImplicitTLS: c.implicitTLS,
		StartTLS:    c.startTLSPolicy(),
		Dialer: probe.Dialer{
			Proxy:             c.proxy,
			LocalName:         c.ehlo,
			TLSConfig:         tlsConfig,
			AllowInsecureAuth: c.plaintextAuth,
			RevealSecrets:     c.showSecrets,
			RecordBody:        c.showBody,
			LMTP:              c.lmtp,
		},
		AuthMechanism: strings.ToUpper(c.auth),
		QuitAfter:     scan.Stage(strings.ToLower(c.quitAfter)),
		Checks:        c.checkIDs,
		CheckOptions:  scan.CheckOptions{SmugglingRecipient: c.smugglingTo},
		Envelope:      probe.Envelope{From: c.from, To: c.to.values, NoPipelining: c.noPipelining, UseBDAT: c.bdat},
	}
	c.applyConn(&o)
	if c.user != "" || c.auth != "" {
		o.Username, o.Password = c.user, c.password
	}
	if c.nagios {
		o.CertWarnDays = max(c.certWarn, 1)
	}
	p := &plan{base: o, headers: c.headers.values}
	if p.attach, err = c.readAttachments(); err != nil {
		return nil, err
	}
	if c.body != "" {
		if p.body, err = readBody(c.body, stdin); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (c *config) startTLSPolicy() scan.StartTLSPolicy {
	switch {
	case c.starttls:
		return scan.StartTLSRequired
	case c.noStartTLS:
		return scan.StartTLSNever
	}
	return scan.StartTLSIfOffered
}

// tlsConfig is the TLS configuration the flags ask for, or nil for the
// library's default (system roots, the host's name).
func (c *config) tlsConfig() (*tls.Config, error) {
	if c.caFile == "" && c.serverName == "" && !c.insecure && !c.wantsTLSConfig() {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.serverName, InsecureSkipVerify: c.insecure}
	if err := c.applyTLS(cfg); err != nil {
		return nil, err
	}
	if c.caFile != "" {
		pool, err := loadCAFile(c.caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// readBody reads the -body message from a file or, for "-", from stdin.
func readBody(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("-body: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("-body %s: %w", name, err)
	case len(b) > maxBody:
		return nil, fmt.Errorf("-body %s: larger than %d MiB", name, maxBody>>20)
	case len(b) == 0:
		return nil, errors.New("-body " + name + ": empty")
	}
	return b, nil
}

// options returns the Options of one probe of target.
func (p *plan) options(target string) scan.Options {
	o := p.base
	o.Target = target
	o.To = slices.Clone(p.base.To)
	if len(o.To) > 0 {
		o.Body = bytes.NewReader(p.message(time.Now()))
	}
	return o
}

// message is the -body message, or a generated test message (with the
// -attach files), each -header line replacing the field of its name.
func (p *plan) message(now time.Time) []byte {
	fields, rest := splitHeader(p.body)
	if p.body == nil {
		fields, rest = p.generated(now)
	}
	return joinMessage(setHeaders(fields, p.headers), rest)
}

// generated is the test message: its header fields and the rest.
func (p *plan) generated(now time.Time) ([]headerField, []byte) {
	local := p.base.Dialer.LocalName
	if local == "" {
		local = "localhost"
	}
	from := p.base.From
	if from == "" {
		from = "postmaster@" + local
	}
	field := func(name, value string) headerField {
		return headerField{name: name, text: name + ": " + value + "\r\n"}
	}
	fields := []headerField{
		field("From", "<"+from+">"),
		field("To", "<"+strings.Join(p.base.To, ">, <")+">"),
		field("Subject", "smtpprobe test message"),
		field("Date", now.Format(time.RFC1123Z)),
		field("Message-ID", "<smtpprobe."+strconv.FormatInt(now.UnixNano(), 36)+"@"+local+">"),
		field("X-Mailer", "smtpprobe"),
	}
	text := "This is a test message sent by smtpprobe to check delivery.\r\n"
	if len(p.attach) == 0 {
		return fields, []byte("\r\n" + text)
	}
	mimeFields, body := withAttachments(text, p.attach)
	return append(fields, mimeFields...), append([]byte("\r\n"), body...)
}

// loadCAFile reads the PEM certificates of -cafile into a pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-cafile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-cafile %s: no PEM certificate in it", path)
	}
	return pool, nil
}
