package scan

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
)

// transaction runs MAIL, RCPT and DATA (or BDAT) when there are recipients.
func (r *runner) transaction(ctx context.Context) bool {
	if len(r.o.To) == 0 && r.o.QuitAfter != StageMail {
		return true
	}
	if !r.next(StageMail) {
		return false
	}
	p := r.begin(StageTransaction)
	stage, err := StageMail, r.xforward(ctx)
	switch {
	case err != nil:
	case r.o.QuitAfter == StageMail:
		stage, err = r.mailOnly(ctx)
	default:
		stage, err = r.send(ctx)
	}
	r.end(p, r.lastTransactionReply(), err)
	if err != nil {
		r.fail(stage, err)
		return false
	}
	return true
}

// xforward sends Options.XForward, if any, for the transaction to come.
func (r *runner) xforward(ctx context.Context) error {
	if len(r.o.XForward) == 0 {
		return nil
	}
	_, err := r.c.XForward(ctx, r.o.XForward)
	return err
}

// send delivers the message with Send and returns the failed stage: the
// first of MAIL, RCPT and DATA that got no positive reply.
func (r *runner) send(ctx context.Context) (Stage, error) {
	env := r.o.envelope(r.c)
	env.NoData = r.o.QuitAfter == StageRcpt
	env.Quit = !env.NoData // the session ends with the message: QUIT rides with the "."
	res, err := r.c.Send(ctx, env)
	if res == nil { // refused before anything was sent
		return StageMail, err
	}
	r.rep.SendResult, r.rep.QueueID = *res, res.QueueID()
	if !res.Mail.Positive() {
		return StageMail, err
	}
	r.reached(StageMail)
	if accepted(res.Recipients) == 0 || unanswered(res.Recipients) {
		return StageRcpt, err
	}
	r.reached(StageRcpt)
	if err != nil {
		return StageData, err
	}
	if env.NoData {
		return "", nil
	}
	r.reached(StageData)
	return "", nil
}

// accepted counts the recipients the server accepted.
func accepted(rs []probe.RecipientResult) int {
	n := 0
	for _, rc := range rs {
		if rc.Accepted() {
			n++
		}
	}
	return n
}

// unanswered reports a recipient whose RCPT got no reply: the session
// ended during the RCPTs (a 421, a closed connection).
func unanswered(rs []probe.RecipientResult) bool {
	for _, rc := range rs {
		if rc.Rcpt == nil {
			return true
		}
	}
	return false
}

// mailOnly sends MAIL alone, for QuitAfter StageMail.
func (r *runner) mailOnly(ctx context.Context) (Stage, error) {
	reply, err := r.c.Mail(ctx, r.o.From, r.o.MailOptions)
	r.rep.Mail = orReply(reply, err)
	if err != nil {
		return StageMail, err
	}
	r.reached(StageMail)
	return "", nil
}

// lastTransactionReply is the latest reply of the transaction.
func (r *runner) lastTransactionReply() *probe.Reply {
	rep := r.rep
	if rep.Final != nil {
		return rep.Final
	}
	if rep.Data != nil {
		return rep.Data
	}
	if n := len(rep.Recipients); n > 0 && rep.Recipients[n-1].Rcpt != nil {
		return rep.Recipients[n-1].Rcpt
	}
	return rep.Mail
}

// envelope is the message of o for Send on c.
func (o *Options) envelope(c *probe.Conn) probe.Envelope {
	env := o.Envelope
	if env.Body == nil {
		env.Body = strings.NewReader(testHeader(c, o.From, o.To, "SMTP probe test message", "probe", time.Now()) +
			"\r\n" +
			"This message was sent by an SMTP probe to test delivery.\r\n")
	}
	return env
}

// testHeader is the header of a message the library makes up on c (Run's
// test message, the checks' messages), up to the empty line. Its domain
// is the name c gives in EHLO (Dialer.LocalName, else the address literal
// of the local address, see Ehlo), so that header and session agree: the
// From address is from, or postmaster at that name when from is empty,
// and the Message-ID is <tag.TIME@name>. An address literal is a valid
// domain in both (RFC 5322 §3.4.1 domain-literal, §3.6.4 no-fold-literal).
func testHeader(c *probe.Conn, from string, to []string, subject, tag string, now time.Time) string {
	local := c.LocalName()
	if from == "" {
		from = "postmaster@" + local
	}
	return "From: <" + from + ">\r\n" +
		"To: <" + strings.Join(to, ">, <") + ">\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: " + now.Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + tag + "." + strconv.FormatInt(now.UnixNano(), 36) + "@" + local + ">\r\n"
}
