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
	headers []string // -header lines, put on top of the message
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
			LMTP:              c.lmtp,
		},
		AuthMechanism: strings.ToUpper(c.auth),
		QuitAfter:     scan.Stage(strings.ToLower(c.quitAfter)),
		Checks:        c.checkIDs,
		CheckOptions:  scan.CheckOptions{SmugglingRecipient: c.smugglingTo},
		Envelope:      probe.Envelope{From: c.from, To: c.to.values, NoPipelining: c.noPipelining},
	}
	if c.user != "" || c.auth != "" {
		o.Username, o.Password = c.user, c.password
	}
	if c.nagios {
		o.CertWarnDays = max(c.certWarn, 1)
	}
	p := &plan{base: o, headers: c.headers.values}
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
	if c.caFile == "" && c.serverName == "" && !c.insecure {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.serverName, InsecureSkipVerify: c.insecure}
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

// message is the -body message, or a generated test message, with the
// -header lines on top.
func (p *plan) message(now time.Time) []byte {
	var b bytes.Buffer
	for _, h := range p.headers {
		b.WriteString(h + "\r\n")
	}
	if p.body != nil {
		b.Write(p.body)
		return b.Bytes()
	}
	local := p.base.Dialer.LocalName
	if local == "" {
		local = "localhost"
	}
	from := p.base.From
	if from == "" {
		from = "postmaster@" + local
	}
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: smtpprobe test message\r\nDate: %s\r\n",
		from, strings.Join(p.base.To, ">, <"), now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <smtpprobe.%s@%s>\r\nX-Mailer: smtpprobe\r\n\r\n",
		strconv.FormatInt(now.UnixNano(), 36), local)
	b.WriteString("This is a test message sent by smtpprobe to check delivery.\r\n")
	return b.Bytes()
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
