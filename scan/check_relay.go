package scan

import (
	"context"
	"errors"
	"strconv"

	"github.com/smtpprobe/probe"
)

// relayVariant is one way of writing a foreign recipient.
type relayVariant struct {
	name, addr string
	local      bool // needs LOCAL
}

// relayVariants lists the classic relay tricks for relay and local
// domains (see the package doc).
func relayVariants(relay, local string) []relayVariant {
	return []relayVariant{
		{name: "plain", addr: "user@" + relay},
		{name: "percent hack", addr: "user%" + relay + "@" + local, local: true},
		{name: "bang path", addr: relay + "!user@" + local, local: true},
		{name: "source route", addr: "@" + local + ":user@" + relay, local: true},
		{name: "quoted local part", addr: `"user@` + relay + `"@` + local, local: true},
		{name: "IP literal", addr: "user@[192.0.2.1]"},
	}
}

// openRelay tries every relay variant without AUTH, one transaction each:
// MAIL, RCPT, RSET. It never sends DATA.
func (k *checker) openRelay(ctx context.Context) error {
	c, err := k.session(ctx, true, false)
	if err != nil {
		return err
	}
	relay := k.o.CheckOptions.RelayDomain
	if relay == "" {
		relay = defaultRelayDomain
	}
	local := k.localDomain()
	for _, v := range relayVariants(relay, local) {
		if v.local && local == "" {
			k.note("no local domain known (set CheckOptions.LocalDomain or ExpectName): " + v.name + " not tried")
			continue
		}
		mark := c.Transcript().Len()
		if _, err := c.Mail(ctx, k.o.From, nil); err != nil {
			if errors.As(err, new(*probe.ReplyError)) && c.Err() == nil {
				k.note("MAIL FROM refused without AUTH: nothing can be relayed")
				return nil
			}
			return err
		}
		reply, err := c.Rcpt(ctx, v.addr, nil)
		if reply.Positive() {
			k.find(FindingOpenRelay, SeverityHigh,
				"the server accepts mail for "+strconv.Quote(v.addr)+" ("+v.name+") without authentication: it relays",
				"RFC 5321 §3.6, §7.9; RFC 2505 §2", since(c, mark))
		}
		if err != nil && !errors.As(err, new(*probe.ReplyError)) {
			return err
		}
		if _, err := c.Rset(ctx); err != nil {
			return err
		}
	}
	return nil
}

// userEnumeration compares the answers to VRFY, EXPN and RCPT for a user
// that should exist and one that should not.
func (k *checker) userEnumeration(ctx context.Context) error {
	c, err := k.session(ctx, true, false)
	if err != nil {
		return err
	}
	known, unknown := k.o.CheckOptions.KnownUser, k.o.CheckOptions.UnknownUser
	if known == "" {
		known = "postmaster"
	}
	if unknown == "" {
		unknown = randomLocalPart()
	}
	local := k.localDomain()
	if local != "" {
		known, unknown = known+"@"+local, unknown+"@"+local
	}
	for _, verb := range [...]string{"VRFY", "EXPN"} {
		mark := c.Transcript().Len()
		a, err := c.SendRaw(ctx, verb+" "+known)
		if err != nil {
			return err
		}
		b, err := c.SendRaw(ctx, verb+" "+unknown)
		if err != nil {
			return err
		}
		k.compareUsers(verb, known, unknown, a, b, since(c, mark))
	}
	if local == "" {
		k.note("no local domain known (set CheckOptions.LocalDomain or ExpectName): RCPT not compared")
		return nil
	}
	return k.compareRcpt(ctx, c, known, unknown)
}

// compareRcpt sends MAIL, RCPT for both users, and RSET.
func (k *checker) compareRcpt(ctx context.Context, c *probe.Conn, known, unknown string) error {
	mark := c.Transcript().Len()
	if _, err := c.Mail(ctx, k.o.From, nil); err != nil {
		if errors.As(err, new(*probe.ReplyError)) && c.Err() == nil {
			k.note("MAIL FROM refused without AUTH: RCPT not compared")
			return nil
		}
		return err
	}
	a, err := c.Rcpt(ctx, known, nil)
	if a == nil {
		return err
	}
	b, err := c.Rcpt(ctx, unknown, nil)
	if b == nil {
		return err
	}
	k.compareUsers("RCPT", known, unknown, a, b, since(c, mark))
	_, err = c.Rset(ctx)
	return err
}

func (k *checker) compareUsers(verb, known, unknown string, a, b *probe.Reply, ev []probe.Entry) {
	if a.Code/100 == b.Code/100 {
		return
	}
	k.find(FindingUserEnumeration, SeverityMedium,
		verb+" tells users apart: "+strconv.Itoa(a.Code)+" for "+strconv.Quote(known)+", "+
			strconv.Itoa(b.Code)+" for "+strconv.Quote(unknown),
		"RFC 5321 §3.5.3, §7.3", ev)
}
