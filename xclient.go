package probe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotOffered is wrapped by the error of a command needing an extension
// (or parameter) the latest EHLO did not offer; nothing is written.
var ErrNotOffered = errors.New("smtp: not offered by the server")

// The attributes of XCLIENT and XFORWARD (Postfix's XCLIENT_README and
// XFORWARD_README).
var (
	xclientNames  = [...]string{"NAME", "REVERSE_NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"}
	xforwardNames = [...]string{"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"}
)

// XClient sends XCLIENT (Postfix's XCLIENT_README) with attrs, such as
// {"ADDR": "192.0.2.7"}, to tell an authorised server whom it speaks for.
// Names must be among those the latest EHLO listed (ErrNotOffered); values
// are xtext-encoded but "[UNAVAILABLE]" and "[TEMPUNAVAIL]". The server's
// new 220 becomes the Banner and
// Capabilities is nil until the next EHLO. A 4xx or 5xx changes nothing.
func (c *Conn) XClient(ctx context.Context, attrs map[string]string) (*Reply, error) {
	line, err := c.attrLine("XCLIENT", xclientNames[:], attrs)
	if err != nil {
		return nil, err
	}
	r, err := c.command(ctx, "XCLIENT", c.d.Timeouts.Command, line, 220)
	if err != nil {
		return r, err
	}
	c.banner, c.caps = r, nil
	return r, nil
}

// XForward sends XFORWARD (Postfix's XFORWARD_README), checked as XClient:
// whom a content filter got the next message from. It expects 250.
func (c *Conn) XForward(ctx context.Context, attrs map[string]string) (*Reply, error) {
	line, err := c.attrLine("XFORWARD", xforwardNames[:], attrs)
	if err != nil {
		return nil, err
	}
	return c.command(ctx, "XFORWARD", c.d.Timeouts.Command, line, 250)
}

// attrLine builds "VERB NAME=value …" after checking names and values
// against what the protocol and the server allow.
func (c *Conn) attrLine(verb string, known []string, attrs map[string]string) (string, error) {
	fail := func(err error) (string, error) { return "", &OpError{Op: verb, Err: err} }
	if len(attrs) == 0 {
		return fail(argError("attrs", "", "no attributes"))
	}
	if c.caps == nil || !c.caps.Has(verb) {
		return fail(fmt.Errorf("%s: %w", verb, ErrNotOffered))
	}
	offered := c.caps.Param(verb)
	names := make([]string, 0, len(attrs))
	for name, value := range attrs {
		switch {
		case !slices.Contains(known, name):
			return fail(argError("attrs", name, "not an attribute of "+verb+" ("+strings.Join(known, " ")+")"))
		case !slices.Contains(offered, name):
			return fail(fmt.Errorf("%s attribute %s: %w", verb, name, ErrNotOffered))
		case hasLineBreak(value):
			return fail(argError(name, value, "contains CR, LF or NUL"))
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(verb)
	for _, name := range names {
		value := attrs[name]
		if value != "[UNAVAILABLE]" && value != "[TEMPUNAVAIL]" {
			value = xtextEncode(value)
		}
		b.WriteString(" " + name + "=" + value)
	}
	return b.String(), nil
}
