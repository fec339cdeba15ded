package scan

import (
	"context"
	"errors"
	"strconv"

	"github.com/smtpprobe/probe"
)

// authPlaintext tries AUTH with the credentials of Options on a plaintext
// session: a server that accepts it lets passwords travel in cleartext.
// That AUTH is offered there is the finding auth-before-tls of Run.
func (k *checker) authPlaintext(ctx context.Context) error {
	switch {
	case k.o.ImplicitTLS:
		return skip("the session begins with TLS: there is no plaintext AUTH")
	case !k.o.Dialer.AllowInsecureAuth || k.o.Username == "":
		return skip("needs Username, Password and Dialer.AllowInsecureAuth: the credentials travel in cleartext")
	}
	c, err := k.session(ctx, false, false)
	if err != nil {
		return err
	}
	o := *k.o
	o.SASL = nil
	if o.AuthMechanism == "" {
		o.AuthMechanism = "PLAIN"
	}
	plan, err := authCall(&o, c, k.target.host)
	if err != nil {
		return err
	}
	mech := plan.mech
	mark := c.Transcript().Len()
	reply, err := plan.run(ctx)
	if reply.Positive() {
		k.find(FindingAuthPlaintextAccepted, SeverityHigh,
			"the server accepted AUTH "+mech+" without TLS: credentials travel in cleartext",
			"RFC 4954 §4; RFC 8314 §4.1", since(c, mark))
		return nil
	}
	if err != nil && !errors.As(err, new(*probe.ReplyError)) {
		return err
	}
	if reply != nil {
		k.note("AUTH " + mech + " refused on plaintext: " + strconv.Itoa(reply.Code) + " " + reply.Text())
	}
	return nil
}
