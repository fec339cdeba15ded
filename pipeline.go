package probe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"
)

// ErrNoRecipients is matched by Send's error when no recipient was
// accepted; errors.As finds the *ReplyError of the first refusal in it.
var ErrNoRecipients = errors.New("smtp: no recipient was accepted")

// Envelope is one message for Send: who from, who to, and the content.
type Envelope struct {
	From         string         // the reverse-path; "" is the null sender <>
	To           []string       // the recipients, in order; at least one
	Body         io.Reader      // headers and body; nil sends an empty message
	MailOptions  *MailOptions   // or nil
	RcptOptions  []*RcptOptions // none, one for all, or one per recipient (nil: none)
	UseBDAT      bool           // send with BDAT (CHUNKING) instead of DATA
	ChunkSize    int            // BDAT chunk size; DefaultChunkSize when 0
	NoPipelining bool           // one command at a time even if PIPELINING is offered
	// NoData stops after the RCPTs, before DATA (a relay test, a
	// recipient check): the transaction stays open for Data, Bdat or
	// Rset; Body, UseBDAT and Quit are ignored.
	NoData bool
	// Quit ends the session with the message: QUIT leaves in the write of
	// the final "." when the server pipelines (RFC 2920 §3.1; a round trip
	// saved), after the final reply otherwise; its reply is
	// SendResult.Quit, and the Conn is closed.
	Quit bool
}

// SendResult is what happened to one Envelope.
type SendResult struct {
	Mail       *Reply            `json:"mail,omitempty"`       // the reply to MAIL FROM
	Recipients []RecipientResult `json:"recipients,omitempty"` // one per recipient, in the order of To
	Data       *Reply            `json:"data,omitempty"`       // the reply to DATA; nil with BDAT or when not sent
	// Final answers the end of the data ("." or BDAT LAST); on LMTP the
	// first that failed, else the first. Nil if nothing was sent.
	Final         *Reply `json:"final,omitempty"`
	Pipelined     bool   `json:"pipelined,omitempty"`       // MAIL, RCPT and DATA went in one write
	EmptyDataSent bool   `json:"empty_data_sent,omitempty"` // 354 with no one accepted: "." sent at once (RFC 2920 §3.1)
	Quit          *Reply `json:"quit,omitempty"`            // the reply to QUIT, with Envelope.Quit
}

// QueueID returns the queue identifier of the final reply, or "".
func (s *SendResult) QueueID() string { return s.Final.QueueID() }

// RecipientResult is what happened to one recipient. Its JSON form is
// {"address", "accepted", "reply", "final"}, "accepted" being Accepted.
type RecipientResult struct {
	Address string `json:"address"`         // as given
	Rcpt    *Reply `json:"reply,omitempty"` // the reply to its RCPT TO; nil if not sent
	Final   *Reply `json:"final,omitempty"` // its own on LMTP, else SendResult.Final; nil if none
}

// MarshalJSON adds "accepted" to the fields of r.
func (r RecipientResult) MarshalJSON() ([]byte, error) {
	type plain RecipientResult
	return json.Marshal(struct {
		Address  string `json:"address"`
		Accepted bool   `json:"accepted"`
		plain
	}{r.Address, r.Accepted(), plain(r)})
}

// Accepted reports whether the server accepted the recipient at RCPT.
func (r RecipientResult) Accepted() bool { return r.Rcpt.Positive() }

// Delivered reports whether the final reply for this recipient was 2xx.
func (r RecipientResult) Delivered() bool { return r.Final.Positive() }

// noRecipientsError is ErrNoRecipients together with the first refusal.
type noRecipientsError struct{ first *ReplyError }

func (e *noRecipientsError) Error() string {
	return "smtp RCPT: no recipient was accepted; first refusal: " + e.first.Reply.String()
}

func (e *noRecipientsError) Unwrap() []error { return []error{ErrNoRecipients, e.first} }

// Send delivers one message: MAIL, a RCPT per recipient, DATA and the body
// (or BDAT chunks), all checked before anything is written. With PIPELINING
// (unless NoPipelining) MAIL, the RCPTs and DATA go in one write (RFC 2920),
// and a reply that cannot answer its command, or a byte after the last, is
// a *ProtocolError. The body goes once MAIL and a RCPT were accepted; a 354
// regardless gets "." at once (EmptyDataSent).
//
// The result holds every reply read, also on error. Refused recipients are
// no error; none accepted matches ErrNoRecipients; a refused MAIL, DATA or
// end of data is a *ReplyError.
func (c *Conn) Send(ctx context.Context, env Envelope) (*SendResult, error) {
	plan, err := planEnvelope(env)
	if err != nil {
		return nil, err
	}
	res := &SendResult{Recipients: make([]RecipientResult, len(env.To))}
	for i, to := range env.To {
		res.Recipients[i].Address = to
	}
	quit := env.Quit && !env.NoData
	// QUIT may leave with the "." only when the server pipelines.
	env.Quit = quit && c.caps != nil && c.caps.Pipelining
	if c.caps != nil && c.caps.Pipelining && !env.NoPipelining {
		res.Pipelined = true
		err = c.sendPipelined(ctx, env, plan, res)
	} else {
		err = c.sendLockStep(ctx, env, plan, res)
	}
	if quit {
		c.endWithQuit(ctx, res)
	}
	return res, err
}

// endWithQuit reads the reply to a QUIT sent with the final "." (or sends
// QUIT now, when it was not) and closes the Conn. The message's outcome
// stands whatever QUIT gets.
func (c *Conn) endWithQuit(ctx context.Context, res *SendResult) {
	defer c.Close()
	if c.broken != nil {
		return
	}
	if c.quitSent {
		r, err := c.readReply(ctx, "QUIT")
		res.Quit = r
		if err == nil {
			c.check("QUIT", r, 221)
		}
		return
	}
	res.Quit, _ = c.command(ctx, "QUIT", c.d.Timeouts.Command, "QUIT", 221)
}

// envelopePlan holds the checked command lines of an Envelope.
type envelopePlan struct {
	mail  string
	rcpts []string
}

func planEnvelope(env Envelope) (envelopePlan, error) {
	var p envelopePlan
	if len(env.To) == 0 {
		return p, &OpError{Op: "RCPT", Err: argError("to", "", "no recipients")}
	}
	if n := len(env.RcptOptions); n > 1 && n != len(env.To) {
		return p, &OpError{Op: "RCPT", Err: argError("RcptOptions", strconv.Itoa(n),
			"need none, one, or one per recipient ("+strconv.Itoa(len(env.To))+")")}
	}
	var err error
	if p.mail, err = mailLine(env.From, env.MailOptions); err != nil {
		return p, &OpError{Op: "MAIL", Err: err}
	}
	for i, to := range env.To {
		line, err := rcptLine(to, env.rcptOptions(i))
		if err != nil {
			return p, &OpError{Op: "RCPT", Err: err}
		}
		p.rcpts = append(p.rcpts, line)
	}
	return p, nil
}

func (env Envelope) rcptOptions(i int) *RcptOptions {
	switch len(env.RcptOptions) {
	case 0:
		return nil
	case 1:
		return env.RcptOptions[0]
	}
	return env.RcptOptions[i]
}

// sendLockStep sends each command after the reply to the one before.
func (c *Conn) sendLockStep(ctx context.Context, env Envelope, plan envelopePlan, res *SendResult) error {
	c.txn = mailTxn{}
	r, err := c.command(ctx, "MAIL", c.d.Timeouts.Mail, plan.mail, 250)
	res.Mail = r
	if err != nil {
		return err
	}
	var firstRefusal *ReplyError
	for i, line := range plan.rcpts {
		r, err := c.command(ctx, "RCPT", c.d.Timeouts.Rcpt, line, 250, 251)
		res.Recipients[i].Rcpt = r
		var re *ReplyError
		if err != nil && (c.broken != nil || !asReplyError(err, &re)) {
			// A 421 also ends the session: the RCPTs left are not
			// refused, they cannot be sent.
			return err
		}
		if firstRefusal == nil {
			firstRefusal = re
		}
	}
	if err := res.requireRecipient(firstRefusal); err != nil {
		return err
	}
	c.txn.accepted = res.accepted()
	switch {
	case env.NoData:
		return nil
	case env.UseBDAT:
		return c.sendChunks(ctx, env, res)
	}
	r, err = c.startData(ctx)
	res.Data = r
	if err != nil {
		return err
	}
	return c.sendMessage(ctx, env.Body, res, env.Quit && !env.UseBDAT)
}

// sendPipelined writes MAIL, the RCPTs and DATA (not with BDAT) at once,
// then reads their replies in order.
func (c *Conn) sendPipelined(ctx context.Context, env Envelope, plan envelopePlan, res *SendResult) error {
	c.txn = mailTxn{}
	lines := make([]outLine, 0, len(plan.rcpts)+2)
	lines = append(lines, outLine{text: plan.mail})
	for _, l := range plan.rcpts {
		lines = append(lines, outLine{text: l})
	}
	if !env.UseBDAT && !env.NoData {
		lines = append(lines, outLine{text: "DATA"})
	}
	if err := c.writeBatch(ctx, "MAIL", c.d.Timeouts.Mail, lines); err != nil {
		return err
	}
	mailErr, firstRefusal, err := c.readEnvelopeReplies(ctx, res)
	if err != nil {
		return err
	}
	if env.UseBDAT || env.NoData {
		if err := c.checkNothingMore("RCPT"); err != nil {
			return err
		}
		if mailErr != nil {
			return mailErr
		}
		if err := res.requireRecipient(firstRefusal); err != nil {
			return err
		}
		c.txn.accepted = res.accepted()
		if env.NoData {
			return nil
		}
		return c.sendChunks(ctx, env, res)
	}
	return c.finishPipelinedData(ctx, env, res, mailErr, firstRefusal)
}

// readEnvelopeReplies reads the replies to MAIL and each RCPT of a batch.
// A refused MAIL or RCPT is returned apart from a failure of the session;
// a 421 is such a failure, named after the command it answered.
func (c *Conn) readEnvelopeReplies(ctx context.Context, res *SendResult) (mailErr error, firstRefusal *ReplyError, err error) {
	r, err := c.readBatchReply(ctx, "MAIL", c.d.Timeouts.Mail)
	if err != nil {
		return nil, nil, err
	}
	res.Mail = r
	mailErr = c.check("MAIL", r, 250)
	if c.broken != nil { // a 421: the step that got it failed
		return mailErr, nil, mailErr
	}
	for i := range res.Recipients {
		r, err := c.readBatchReply(ctx, "RCPT", c.d.Timeouts.Rcpt)
		if err != nil {
			return mailErr, firstRefusal, err
		}
		res.Recipients[i].Rcpt = r
		rcptErr := c.check("RCPT", r, 250, 251)
		if c.broken != nil {
			return mailErr, firstRefusal, rcptErr
		}
		if firstRefusal == nil {
			asReplyError(rcptErr, &firstRefusal)
		}
	}
	return mailErr, firstRefusal, nil
}

// finishPipelinedData reads the reply to the pipelined DATA and sends the
// body, or closes a DATA that should not have been accepted.
func (c *Conn) finishPipelinedData(ctx context.Context, env Envelope, res *SendResult, mailErr error, firstRefusal *ReplyError) error {
	r, err := c.readBatchReply(ctx, stepData, c.d.Timeouts.DataInit)
	if err != nil {
		return err
	}
	res.Data = r
	if err := c.checkNothingMore(stepData); err != nil {
		return err
	}
	envErr := mailErr
	if envErr == nil {
		envErr = res.requireRecipient(firstRefusal)
	}
	switch {
	case !r.Intermediate() && envErr != nil:
		return envErr
	case !r.Intermediate():
		return &ReplyError{Command: stepData, Reply: r}
	case envErr != nil:
		return c.closeEmptyData(ctx, res, envErr)
	}
	c.txn.accepted = res.accepted()
	return c.sendMessage(ctx, env.Body, res, env.Quit && !env.UseBDAT)
}

// closeEmptyData ends a DATA the server accepted without a valid envelope
// by sending "." at once (RFC 2920 §3.1), and returns envErr.
func (c *Conn) closeEmptyData(ctx context.Context, res *SendResult, envErr error) error {
	c.tr.add(Note, "DATA got 354 although the envelope was refused; ending it with \".\" and no body",
		c.tls != nil, false)
	res.EmptyDataSent = true
	r, err := c.exchange(ctx, stepDataEnd, c.d.Timeouts.DataEnd, []outLine{{text: "."}})
	res.Final = r
	c.txn = mailTxn{}
	if err != nil {
		return err
	}
	return envErr
}

// sendMessage streams the body after a 354 and reads the final replies.
func (c *Conn) sendMessage(ctx context.Context, body io.Reader, res *SendResult, quit bool) error {
	if err := c.sendBody(ctx, body, quit); err != nil {
		return err
	}
	c.quitSent = quit
	read := c.readFinal
	if quit {
		read = c.readReplies // what follows is QUIT's reply, judged then
	}
	replies, err := read(ctx, stepDataEnd, c.finalReplyCount(0))
	c.txn = mailTxn{}
	res.setFinal(replies, err, c.d.LMTP)
	return err
}

// sendChunks sends the body with BDAT and reads the final replies.
func (c *Conn) sendChunks(ctx context.Context, env Envelope, res *SendResult) error {
	replies, err := c.bdat(ctx, env.Body, env.ChunkSize, c.finalReplyCount(0))
	res.setFinal(replies, err, c.d.LMTP)
	return err
}

// setFinal hands the final replies to the accepted recipients: one each
// on LMTP, in order; the single reply to all of them on SMTP.
func (res *SendResult) setFinal(replies []*Reply, err error, lmtp bool) {
	res.Final, _ = pickReply(replies, err)
	if len(replies) == 0 {
		return
	}
	next := 0
	for i := range res.Recipients {
		if !res.Recipients[i].Accepted() {
			continue
		}
		if !lmtp {
			res.Recipients[i].Final = replies[0]
			continue
		}
		if next < len(replies) {
			res.Recipients[i].Final = replies[next]
			next++
		}
	}
}

func (res *SendResult) accepted() int {
	n := 0
	for _, r := range res.Recipients {
		if r.Accepted() {
			n++
		}
	}
	return n
}

// requireRecipient returns the ErrNoRecipients error when none was
// accepted. Every recipient then has a refusal: firstRefusal is set.
func (res *SendResult) requireRecipient(firstRefusal *ReplyError) error {
	switch {
	case res.accepted() > 0:
		return nil
	case firstRefusal == nil: // cannot happen: every unaccepted RCPT has a refusal
		return &OpError{Op: "RCPT", Err: ErrNoRecipients}
	}
	return &noRecipientsError{first: firstRefusal}
}

// writeBatch writes lines in one write under one deadline.
func (c *Conn) writeBatch(ctx context.Context, step string, timeout time.Duration, lines []outLine) error {
	if err := validLines(step, lines); err != nil {
		return err
	}
	if err := c.begin(ctx, step, timeout); err != nil {
		return err
	}
	return c.write(ctx, step, lines)
}

// readBatchReply reads the reply to a pipelined command and checks that
// its code can answer that command.
func (c *Conn) readBatchReply(ctx context.Context, step string, timeout time.Duration) (*Reply, error) {
	r, err := c.exchange(ctx, step, timeout, nil)
	if err != nil {
		return r, err
	}
	if !fitsCommand(step, r.Code) {
		return r, c.protocolFailure(step, &ProtocolError{
			Reason: "reply " + strconv.Itoa(r.Code) + " cannot answer " + step +
				": the replies are out of step with the pipelined commands",
			Reply: r,
		})
	}
	return r, nil
}

// fitsCommand reports whether a reply code could answer a command of a
// pipelined batch, to tell that the replies are in step with the
// commands: MAIL and RCPT get a 25x, DATA a 3xx, any of them a failure. A
// 220, 221 or 354 in the place of a MAIL's or RCPT's reply belongs to
// another command. Which codes each command takes is for check to judge
// (RFC 5321 §4.3.2).
func fitsCommand(step string, code int) bool {
	switch code / 100 {
	case 4, 5:
		return true
	case 2:
		return step != stepData && code/10 == 25
	case 3:
		return step == stepData
	}
	return false
}

// checkNothingMore fails when bytes arrived after the last reply of a
// batch: the server sent a reply that no command asked for.
func (c *Conn) checkNothingMore(step string) error {
	extra := c.lr.buffered()
	if len(extra) == 0 {
		return nil
	}
	return c.protocolFailure(step, &ProtocolError{
		Reason: strconv.Itoa(len(extra)) + " bytes arrived after the last reply of the batch: " +
			"a reply no command asked for",
		Line: firstLine(extra),
	})
}

func firstLine(p []byte) string {
	for i, b := range p {
		if b == '\r' || b == '\n' {
			return string(p[:i])
		}
	}
	return string(p)
}

// Pipeline writes the lines in one write and returns a reply to each,
// whatever its code, or those read before an error (too few: a timeout;
// bytes after the last: a *ProtocolError), to see how a server pipelines.
func (c *Conn) Pipeline(ctx context.Context, lines ...string) ([]*Reply, error) {
	if len(lines) == 0 {
		return nil, nil
	}
	out := make([]outLine, len(lines))
	for i, l := range lines {
		out[i] = outLine{text: l}
	}
	if err := c.writeBatch(ctx, "pipeline", c.d.Timeouts.Command, out); err != nil {
		return nil, err
	}
	replies := make([]*Reply, 0, len(lines))
	for _, l := range lines {
		r, err := c.exchange(ctx, verbOf(l), c.d.Timeouts.Command, nil)
		if err != nil {
			return replies, err
		}
		replies = append(replies, r)
		c.followTxn(l, r)
	}
	return replies, c.checkNothingMore("pipeline")
}
