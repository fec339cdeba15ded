package scan

import (
	"context"
	"strconv"
)

// startTLSInjection sends STARTTLS and NOOP in one plaintext write, does
// the handshake, and waits for a reply inside TLS before sending
// anything there: a server that answers has kept the plaintext NOOP in
// its input buffer across the handshake (CVE-2011-0411), so a
// man-in-the-middle could inject commands into the protected session.
//
// A server that answers the NOOP in plaintext, after its 220, has read it
// as a plaintext command, not kept it for the TLS session: before the
// handshake the check waits up to CheckOptions.Wait for such a reply
// (whether it comes with the 220 or in a packet of its own), notes it in
// the transcript and the Detail, and goes on; unless a reply then comes
// inside TLS, the check passes.
func (k *checker) startTLSInjection(ctx context.Context) error {
	if k.o.ImplicitTLS {
		return skip("the session begins with TLS: there is no STARTTLS")
	}
	c, err := k.dial(ctx)
	if err != nil {
		return err
	}
	caps, err := c.Hello(ctx, "")
	if err != nil {
		return err
	}
	if !caps.StartTLS {
		return skip("the server does not offer STARTTLS")
	}
	mark := c.Transcript().Len()
	if err := c.WriteRaw(ctx, []byte("STARTTLS\r\nNOOP\r\n")); err != nil {
		return err
	}
	r, err := c.ReadReply(ctx)
	if err != nil {
		return err
	}
	if r.Code != 220 {
		return skip("the server refused STARTTLS with " + strconv.Itoa(r.Code))
	}
	// A plaintext reply to the NOOP may come with the 220 or in a packet
	// of its own: wait for it either way, so that how TCP cut the
	// server's bytes does not change the outcome.
	extra, err := c.Pending(ctx, k.wait())
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		c.Transcript().AddNote("server sent " + strconv.Itoa(len(extra)) + " bytes after its 220, before the TLS handshake: " + clip(string(extra), 512))
		k.note("the server answered in plaintext after its STARTTLS 220")
	}
	// The handshake without StartTLS's refusal of bytes after the 220:
	// here they are expected, and what matters is what comes after.
	if _, err := c.Handshake(ctx, nil); err != nil {
		return err
	}
	reply, err := awaitReply(ctx, c, k.wait())
	if err != nil {
		return err
	}
	if reply != nil {
		k.find(FindingStartTLSInjection, SeverityHigh,
			"the server answered inside TLS ("+strconv.Itoa(reply.Code)+") a NOOP sent in plaintext with STARTTLS: "+
				"commands can be injected into the TLS session (CVE-2011-0411)",
			"CVE-2011-0411; RFC 3207 §4.2", since(c, mark))
	}
	return nil
}

// clip cuts s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
