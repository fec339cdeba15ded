package probe

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// transaction runs MAIL, RCPT and DATA (or BDAT) when there are recipients.
func (r *runner) transaction(ctx context.Context) bool {
	if len(r.o.To) == 0 && r.o.QuitAfter != StageMail {
		return true
	}
	if !r.next(StageMail) {
		return false
	}
	p := r.begin(PhaseTransaction)
	var (
		stage Stage
		err   error
	)
	if r.o.QuitAfter == StageMail || r.o.QuitAfter == StageRcpt {
		stage, err = r.mailAndRcpt(ctx)
	} else {
		stage, err = r.send(ctx)
	}
	r.end(p, r.lastTransactionReply(), err)
	if err != nil {
		r.fail(stage, err)
		return false
	}
	return true
}

// send delivers the message with Send and returns the failed stage.
func (r *runner) send(ctx context.Context) (Stage, error) {
	res, err := r.c.Send(ctx, r.o.envelope(r.c))
	if res != nil {
		r.rep.Mail, r.rep.Data, r.rep.Final = res.Mail, res.Data, res.Final
		r.rep.Pipelined, r.rep.QueueID = res.Pipelined, res.QueueID()
		for _, rc := range res.Recipients {
			r.rep.Recipients = append(r.rep.Recipients,
				RecipientReport{Address: rc.Address, Accepted: rc.Accepted(), Reply: rc.Rcpt, Final: rc.Final})
		}
	}
	var oe *OpError
	var re *ReplyError
	switch {
	case res == nil && errors.As(err, &oe) && oe.Op == "RCPT",
		r.c.Err() != nil && asReplyError(err, &re) && re.Command == "RCPT": // a 421 to RCPT
		return StageRcpt, err
	case res == nil || !res.Mail.Positive():
		return StageMail, err
	}
	r.reached(StageMail)
	if res.accepted() == 0 {
		return StageRcpt, err
	}
	r.reached(StageRcpt)
	if err != nil {
		return StageData, err
	}
	r.reached(StageData)
	return "", nil
}

// mailAndRcpt sends MAIL and, unless QuitAfter stops there, each RCPT,
// one at a time; it returns the failed stage.
func (r *runner) mailAndRcpt(ctx context.Context) (Stage, error) {
	reply, err := r.c.Mail(ctx, r.o.From, r.o.MailOptions)
	r.rep.Mail = orReply(reply, err)
	if err != nil {
		return StageMail, err
	}
	r.reached(StageMail)
	if !r.next(StageRcpt) {
		return "", nil
	}
	env := Envelope{RcptOptions: r.o.RcptOptions}
	var first *ReplyError
	for i, to := range r.o.To {
		reply, err := r.c.Rcpt(ctx, to, env.rcptOptions(i))
		reply = orReply(reply, err)
		r.rep.Recipients = append(r.rep.Recipients, RecipientReport{Address: to, Accepted: reply.Positive(), Reply: reply})
		var re *ReplyError
		switch {
		case err == nil:
		case r.c.Err() != nil || !asReplyError(err, &re):
			return StageRcpt, err
		case first == nil:
			first = re
		}
	}
	if first != nil && !r.anyAccepted() {
		return StageRcpt, &noRecipientsError{first: first}
	}
	r.reached(StageRcpt)
	return "", nil
}

func (r *runner) anyAccepted() bool {
	for _, rc := range r.rep.Recipients {
		if rc.Accepted {
			return true
		}
	}
	return false
}

// lastTransactionReply is the latest reply of the transaction.
func (r *runner) lastTransactionReply() *Reply {
	rep := r.rep
	if rep.Final != nil {
		return rep.Final
	}
	if rep.Data != nil {
		return rep.Data
	}
	if n := len(rep.Recipients); n > 0 && rep.Recipients[n-1].Reply != nil {
		return rep.Recipients[n-1].Reply
	}
	return rep.Mail
}

// envelope is the message of o for Send on c.
func (o *Options) envelope(c *Conn) Envelope {
	body := o.Body
	if body == nil {
		body = strings.NewReader(testHeader(c, o.From, o.To, "SMTP probe test message", "probe", time.Now()) +
			"\r\n" +
			"This message was sent by an SMTP probe to test delivery.\r\n")
	}
	return Envelope{
		From: o.From, To: o.To, Body: body, MailOptions: o.MailOptions, RcptOptions: o.RcptOptions,
		UseBDAT: o.UseBDAT, ChunkSize: o.ChunkSize, NoPipelining: o.NoPipelining,
	}
}

// testHeader is the header of a message the library makes up on c (Run's
// test message, the checks' messages), up to the empty line. Its domain
// is the name c gives in EHLO (Dialer.LocalName, else the address literal
// of the local address, see Ehlo), so that header and session agree: the
// From address is from, or postmaster at that name when from is empty,
// and the Message-ID is <tag.TIME@name>. An address literal is a valid
// domain in both (RFC 5322 §3.4.1 domain-literal, §3.6.4 no-fold-literal).
func testHeader(c *Conn, from string, to []string, subject, tag string, now time.Time) string {
	local := c.localName("")
	if from == "" {
		from = "postmaster@" + local
	}
	return "From: <" + from + ">\r\n" +
		"To: <" + strings.Join(to, ">, <") + ">\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: " + now.Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + tag + "." + strconv.FormatInt(now.UnixNano(), 36) + "@" + local + ">\r\n"
}
