package scan

import (
	"context"
	"strconv"

	"github.com/smtpprobe/probe"
)

// pipeliningGuard checks whether the server refuses clients that talk
// before their turn: before the banner (pregreet) and, after it, with a
// command behind EHLO in the same write (EHLO must end a group, RFC 2920
// §3.1, whether or not PIPELINING is offered).
func (k *checker) pipeliningGuard(ctx context.Context) error {
	if err := k.pregreet(ctx); err != nil {
		return err
	}
	return k.unsyncPipelining(ctx)
}

// ehloLine is the EHLO c would send, with the name Ehlo gives it.
func ehloLine(c *probe.Conn) string { return "EHLO " + c.LocalName() + "\r\n" }

// pregreet writes EHLO before reading the banner.
func (k *checker) pregreet(ctx context.Context) error {
	c, err := k.open(ctx, nil)
	if err != nil {
		return err
	}
	if err := c.WriteRaw(ctx, []byte(ehloLine(c))); err != nil {
		return err
	}
	banner, err := c.ReadReply(ctx)
	if k.guarded("EHLO before the banner", banner, err) {
		return nil
	}
	reply, err := c.ReadReply(ctx)
	if k.guarded("EHLO before the banner", reply, err) {
		return nil
	}
	sev, why := k.earlyPipelining(SeverityLow)
	k.find(FindingPregreetAccepted, sev,
		"the server answered "+strconv.Itoa(reply.Code)+" to an EHLO sent before its greeting: it does not turn away early talkers"+why,
		"RFC 5321 §4.3.1", since(c, 0))
	return nil
}

// unsyncPipelining writes EHLO and NOOP in one write after the banner.
func (k *checker) unsyncPipelining(ctx context.Context) error {
	c, err := k.dial(ctx)
	if err != nil {
		return err
	}
	mark := c.Transcript().Len()
	if err := c.WriteRaw(ctx, []byte(ehloLine(c)+"NOOP\r\n")); err != nil {
		return err
	}
	ehlo, err := c.ReadReply(ctx)
	if k.guarded("NOOP behind EHLO", ehlo, err) {
		return nil
	}
	noop, err := awaitReply(ctx, c, k.wait())
	if noop == nil && err == nil {
		k.note("NOOP behind EHLO: no reply within the wait")
		return nil
	}
	if k.guarded("NOOP behind EHLO", noop, err) {
		return nil
	}
	_, why := k.earlyPipelining(SeverityInfo)
	k.find(FindingUnsyncPipelining, SeverityInfo,
		"the server answered a NOOP sent with EHLO before the EHLO reply: it does not enforce command synchronization"+why,
		"RFC 2920 §3.1; RFC 5321 §4.3.1", since(c, mark))
	return nil
}

// guarded reports whether a reply (or the lack of one) shows the server
// refusing the early command: anything but a 2xx, or a closed
// connection; it notes how.
func (k *checker) guarded(what string, r *probe.Reply, err error) bool {
	switch {
	case err != nil:
		k.note(what + ": connection ended (" + err.Error() + ")")
	case !r.Positive():
		k.note(what + ": refused with " + strconv.Itoa(r.Code) + " " + r.Text())
	default:
		return false
	}
	return true
}

// earlyPipelining lowers sev to info when the server advertises
// PIPECONNECT (Exim's early pipelining), which invites clients to send
// EHLO and more before the banner, and says so.
func (k *checker) earlyPipelining(sev Severity) (Severity, string) {
	for _, caps := range [...]*probe.Capabilities{k.rep.Capabilities, k.rep.CapabilitiesTLS} {
		if caps != nil && caps.Has("PIPECONNECT") {
			return SeverityInfo, " (it advertises PIPECONNECT, which permits early pipelining)"
		}
	}
	return sev, ""
}
