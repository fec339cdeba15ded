package main

import (
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// The demo's test account and mail addresses (the server's local domain
// is example.test).
const (
	demoUser      = "alice@example.test"
	demoPassword  = "demo-password"
	demoRecipient = "bob@example.test"
)

// demo is the built-in server probed when no target is given: the test
// fakeserver on loopback, with STARTTLS under its own test CA, AUTH
// PLAIN/LOGIN/CRAM-MD5 after TLS, and one user.
type demo struct {
	srv *fakeserver.Server
	pki *fakeserver.PKI
}

// startDemo starts the built-in server; -tls and -lmtp shape it.
func startDemo(c *config) (*demo, error) {
	pki, err := fakeserver.NewPKI(fakeserver.DefaultHostname)
	if err != nil {
		return nil, err
	}
	srv, err := fakeserver.Start(fakeserver.Config{
		TLSCert:     &pki.Valid,
		ImplicitTLS: c.implicitTLS,
		LMTP:        c.lmtp,
		Users:       map[string]string{demoUser: demoPassword},
	})
	if err != nil {
		return nil, err
	}
	return &demo{srv: srv, pki: pki}, nil
}

func (d *demo) close() { _ = d.srv.Close() }

// fill makes the config a full session with the built-in server: what the
// flags leave empty gets the demo's values (STARTTLS required, AUTH PLAIN
// as the test user, one message).
func (d *demo) fill(c *config) {
	c.target = d.srv.Addr()
	if !c.starttlsOptional && !c.noStartTLS && !c.implicitTLS {
		c.starttls = true
	}
	if c.auth == "" {
		c.auth = "PLAIN"
	}
	if c.user == "" && needsPassword(c.auth) {
		c.user, c.password = demoUser, demoPassword
	}
	if c.from == "" && !c.set["from"] { // -from "" or "<>": the null sender
		c.from = demoUser
	}
	if len(c.to.values) == 0 {
		c.to.values = []string{demoRecipient}
	}
	if c.serverName == "" {
		c.serverName = d.pki.Hostname
	}
}

// trust makes the plan trust the test CA, unless -cafile names another.
func (d *demo) trust(c *config, p *plan) {
	if cfg := p.base.Dialer.TLSConfig; cfg != nil && c.caFile == "" {
		cfg.RootCAs = d.pki.CAPool()
	}
}

// note says what was probed and how to probe a real server.
func (d *demo) note() string {
	return "smtpprobe: probed the built-in test server at " + d.srv.Addr() +
		"; to probe a real one, name it: smtpprobe -starttls mail.example.com:25 (-h for AUTH, mail and all flags)"
}
