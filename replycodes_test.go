package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// codeCommand drives one command of a session: the steps before it
// answered normally, then the command, whose reply the server replaces.
type codeCommand struct {
	name string // the step the error names
	key  string // the fakeserver Misbehave key of its reply
	ok   []int  // the replies it accepts as success (or to go on)
	lmtp bool
	run  func(ctx context.Context, c *Conn) (*Reply, error)
}

func codeCommands() []codeCommand {
	mail := func(ctx context.Context, c *Conn) error {
		if _, err := c.Ehlo(ctx, ""); err != nil {
			return err
		}
		_, err := c.Mail(ctx, "a@example.test", nil)
		return err
	}
	rcpt := func(ctx context.Context, c *Conn) error {
		if err := mail(ctx, c); err != nil {
			return err
		}
		_, err := c.Rcpt(ctx, "b@example.test", nil)
		return err
	}
	then := func(before func(context.Context, *Conn) error, cmd func(context.Context, *Conn) (*Reply, error)) func(context.Context, *Conn) (*Reply, error) {
		return func(ctx context.Context, c *Conn) (*Reply, error) {
			if before != nil {
				if err := before(ctx, c); err != nil {
					return nil, err
				}
			}
			return cmd(ctx, c)
		}
	}
	ehlo := func(ctx context.Context, c *Conn) error { _, err := c.Ehlo(ctx, ""); return err }
	caps := func(f func(context.Context, *Conn) (*Capabilities, error)) func(context.Context, *Conn) (*Reply, error) {
		return func(ctx context.Context, c *Conn) (*Reply, error) {
			_, err := f(ctx, c)
			var re *ReplyError
			var pe *ProtocolError
			switch {
			case errors.As(err, &re):
				return re.Reply, err
			case errors.As(err, &pe):
				return pe.Reply, err
			}
			return &Reply{Code: 250}, err
		}
	}
	msg := func() *strings.Reader { return strings.NewReader("Subject: x\r\n\r\nhi\r\n") }
	return []codeCommand{
		{name: "EHLO", key: "EHLO#1", ok: []int{250}, run: caps(func(ctx context.Context, c *Conn) (*Capabilities, error) { return c.Ehlo(ctx, "") })},
		{name: "LHLO", key: "LHLO#1", ok: []int{250}, lmtp: true, run: caps(func(ctx context.Context, c *Conn) (*Capabilities, error) { return c.Ehlo(ctx, "") })},
		{name: "HELO", key: "HELO#1", ok: []int{250}, run: func(ctx context.Context, c *Conn) (*Reply, error) { return c.Helo(ctx, "") }},
		{name: "MAIL", key: "MAIL#1", ok: []int{250}, run: then(ehlo, func(ctx context.Context, c *Conn) (*Reply, error) {
			return c.Mail(ctx, "a@example.test", nil)
		})},
		{name: "RCPT", key: "RCPT#1", ok: []int{250, 251}, run: then(mail, func(ctx context.Context, c *Conn) (*Reply, error) {
			return c.Rcpt(ctx, "b@example.test", nil)
		})},
		{name: "DATA", key: "DATA#1", ok: []int{354}, run: then(rcpt, func(ctx context.Context, c *Conn) (*Reply, error) {
			return c.Data(ctx, msg())
		})},
		{name: "DATA end", key: fakeserver.StepEOD, ok: []int{250}, run: then(rcpt, func(ctx context.Context, c *Conn) (*Reply, error) {
			return c.Data(ctx, msg())
		})},
		{name: "DATA end", key: fakeserver.StepEOD, ok: []int{250}, lmtp: true, run: then(rcpt, func(ctx context.Context, c *Conn) (*Reply, error) {
			return c.Data(ctx, msg())
		})},
		{name: "BDAT", key: "BDAT#1", ok: []int{250}, run: then(rcpt, func(ctx context.Context, c *Conn) (*Reply, error) {
			return c.Bdat(ctx, msg(), 4) // BDAT#1 is a chunk before the LAST
		})},
		{name: "RSET", key: "RSET#1", ok: []int{250}, run: func(ctx context.Context, c *Conn) (*Reply, error) { return c.Rset(ctx) }},
		{name: "VRFY", key: "VRFY#1", ok: []int{250, 251, 252}, run: func(ctx context.Context, c *Conn) (*Reply, error) { return c.Vrfy(ctx, "postmaster") }},
		{name: "NOOP", key: "NOOP#1", ok: []int{250}, run: func(ctx context.Context, c *Conn) (*Reply, error) { return c.Noop(ctx) }},
		{name: "QUIT", key: "QUIT#1", ok: []int{221}, run: func(ctx context.Context, c *Conn) (*Reply, error) { return c.Quit(ctx) }},
		{name: "STARTTLS", key: "STARTTLS#1", ok: []int{220}, run: then(ehlo, func(ctx context.Context, c *Conn) (*Reply, error) {
			_, err := c.StartTLS(ctx, &tls.Config{InsecureSkipVerify: true})
			return replyOfErr(err), err
		})},
		{name: "AUTH PLAIN", key: "AUTH#1", ok: []int{235}, run: then(ehlo, func(ctx context.Context, c *Conn) (*Reply, error) {
			return c.AuthPlain(ctx, "", "alice", "secret")
		})},
	}
}

// replyOfErr is the reply behind a *ReplyError or *ProtocolError.
func replyOfErr(err error) *Reply {
	var re *ReplyError
	var pe *ProtocolError
	switch {
	case errors.As(err, &re):
		return re.Reply
	case errors.As(err, &pe):
		return pe.Reply
	}
	return nil
}

// TestReplyCodesPerCommand answers every command with codes of every
// class, among them positive codes the command can never get: the right
// code succeeds, a 4xx or 5xx is a *ReplyError that leaves the session
// usable (but 421), and any other code is a *ProtocolError naming the
// command and the code, which ends the session; each within its deadline.
func TestReplyCodesPerCommand(t *testing.T) {
	codes := []int{220, 221, 235, 250, 251, 252, 334, 354, 421, 450, 500, 535, 550}
	p := newPKI(t)
	for _, cmd := range codeCommands() {
		for _, code := range codes {
			proto := "SMTP "
			if cmd.lmtp {
				proto = "LMTP "
			}
			t.Run(proto+cmd.name+"/"+strconv.Itoa(code), func(t *testing.T) {
				ctx := testCtx(t)
				srv := startServer(t, fakeserver.Config{
					LMTP: cmd.lmtp, AuthBeforeTLS: true, TLSCert: &p.Valid, Users: map[string]string{"alice": "secret"},
					Misbehave: map[string]fakeserver.Step{cmd.key: {Code: code}},
				})
				c, err := hostileDial(t, ctx, srv, func(d *Dialer) {
					d.LMTP, d.AllowInsecureAuth = cmd.lmtp, true
					d.Timeouts.Handshake = 10 * time.Second // a handshake under -race on a busy machine
				})
				if err != nil {
					t.Fatal(err)
				}
				bound := hostileBound
				if containsCode(cmd.ok, code) {
					bound = 10 * time.Second // success is not what is bounded here
				}
				var r *Reply
				timed(t, bound, func() { r, err = cmd.run(ctx, c) })
				judgeCode(t, cmd, code, c, r, err)
			})
		}
	}
}

func judgeCode(t *testing.T, cmd codeCommand, code int, c *Conn, r *Reply, err error) {
	t.Helper()
	var re *ReplyError
	var pe *ProtocolError
	switch {
	case containsCode(cmd.ok, code):
		if err != nil {
			t.Fatalf("%d to %s: %v, want success", code, cmd.name, err)
		}
	case code >= 400:
		if !errors.As(err, &re) || re.Reply.Code != code {
			t.Fatalf("%d to %s: %v (%T), want a *ReplyError", code, cmd.name, err, err)
		}
		if (c.Err() != nil) != (code == 421 || cmd.name == "QUIT") {
			t.Errorf("%d to %s: Conn.Err() = %v", code, cmd.name, c.Err())
		}
	default:
		if !errors.As(err, &pe) || !strings.Contains(pe.Reason, strconv.Itoa(code)) || !strings.Contains(pe.Error(), cmd.name) {
			t.Fatalf("%d to %s: %v (%T), want a *ProtocolError naming the command and the code", code, cmd.name, err, err)
		}
		// A 334 after PLAIN's initial response is a challenge the mechanism
		// refuses: its "*" and the server's 501 put the session back in step.
		if inStep := cmd.name == "AUTH PLAIN" && code == 334; c.Err() == nil && !inStep {
			t.Errorf("%d to %s: the session goes on out of step", code, cmd.name)
		}
		if r != nil && r.Code == code && err == nil {
			t.Errorf("%d to %s: taken as a success", code, cmd.name)
		}
	}
}

func containsCode(codes []int, code int) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

// TestReplyCodeBanner: the greeting accepts 220; 421 and 554 are
// refusals that end the session; any other code is out of step.
func TestReplyCodeBanner(t *testing.T) {
	for _, code := range []int{220, 250, 354, 421, 554} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			srv := startServer(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{
				fakeserver.StepConnect: fakeserver.Answer(code, "greeting")}})
			var err error
			timed(t, hostileBound, func() { _, err = hostileDial(t, testCtx(t), srv, nil) })
			var re *ReplyError
			var pe *ProtocolError
			switch {
			case code == 220 && err != nil:
				t.Fatal(err)
			case code >= 400 && !(errors.As(err, &re) && re.Command == "banner" && re.Reply.Code == code):
				t.Fatalf("banner %d: %v, want a *ReplyError", code, err)
			case code != 220 && code < 400 && !(errors.As(err, &pe) && pe.Step == "banner"):
				t.Fatalf("banner %d: %v, want a *ProtocolError", code, err)
			}
		})
	}
}
