package scan

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
)

// SmugglingSequences returns the non-standard end-of-data sequences the
// check smtp-smuggling tries, in order (CVE-2023-51764, -51765, -51766).
// Only "\r\n.\r\n" ends the data (RFC 5321 §4.1.1.4).
func smugglingSequences() []string {
	return []string{
		"\n.\n", "\r.\r", "\r.\n", "\n.\r", "\n.\r\n", "\r\n.\n",
		"\r.\r\n", "\r\n.\r", "\r\n\x00.\r\n", "\r\n.\x00\r\n",
	}
}

// seqName renders a sequence the way Go writes it: \r\n.\n.
func seqName(seq string) string {
	q := strconv.Quote(seq)
	return q[1 : len(q)-1]
}

// maxSmugglingReplies bounds the replies read after the real end of data.
const maxSmugglingReplies = 5

// smuggling sends one message per sequence, each on its own connection.
func (k *checker) smuggling(ctx context.Context) error {
	for _, seq := range smugglingSequences() {
		if err := k.smuggle(ctx, seq); err != nil {
			return err
		}
	}
	return nil
}

// smuggle sends a message whose body holds seq followed by a smuggled
// transaction, and judges the replies: one reported as a finding when the
// server replied 2xx before the real end of data, or answered a smuggled
// command with 2xx or 354 after its first final reply.
func (k *checker) smuggle(ctx context.Context, seq string) error {
	c, err := k.session(ctx, true, true)
	if err != nil {
		return err
	}
	defer hangUp(ctx, c) // now, not at the end of the check
	rcpt, from := k.o.CheckOptions.SmugglingRecipient, k.o.From
	if _, err := c.Mail(ctx, from, nil); err != nil {
		return err
	}
	if _, err := c.Rcpt(ctx, rcpt, nil); err != nil {
		return err
	}
	if err := startData(ctx, c); err != nil {
		return err
	}
	mark := c.Transcript().Len()
	name := seqName(seq)
	if err := c.WriteRaw(ctx, []byte(k.smugglingHead(c, name)+seq)); err != nil {
		return err
	}
	early, err := awaitReply(ctx, c, k.wait())
	switch {
	case err != nil:
		return err
	case early.Positive():
		k.smuggled(name, "accepted the message at "+name+" ("+strconv.Itoa(early.Code)+") before the real end of data", since(c, mark))
		return nil
	case early != nil && c.Err() != nil:
		k.note(name + " refused with " + strconv.Itoa(early.Code))
		return nil
	}
	if err := c.WriteRaw(ctx, []byte(smugglingTail(from, rcpt, name))); err != nil {
		return err
	}
	replies, err := k.finalReplies(ctx, c, early)
	if err != nil {
		return err
	}
	for _, r := range replies[1:] {
		if r.Positive() || r.Code == 354 {
			k.smuggled(name, "answered the smuggled commands after "+name+" ("+replyCodes(replies)+")", since(c, mark))
			return nil
		}
	}
	return nil
}

// startData sends DATA and wants 354.
func startData(ctx context.Context, c *probe.Conn) error {
	r, err := c.SendRaw(ctx, "DATA")
	if err == nil && r.Code != 354 {
		err = &probe.ReplyError{Command: "DATA", Reply: r}
	}
	return err
}

// finalReplies reads the reply to the real end of data and whatever
// follows within the wait; early is a reply already read, or nil.
func (k *checker) finalReplies(ctx context.Context, c *probe.Conn, early *probe.Reply) ([]*probe.Reply, error) {
	var replies []*probe.Reply
	if early != nil {
		replies = append(replies, early)
	}
	first, err := c.ReadReply(ctx)
	if err != nil {
		if early != nil {
			return replies, nil // refused, then closed
		}
		return nil, err
	}
	replies = append(replies, first)
	for len(replies) < maxSmugglingReplies {
		r, err := awaitReply(ctx, c, k.wait())
		if r == nil || err != nil {
			break
		}
		replies = append(replies, r)
	}
	return replies, nil
}

func (k *checker) smuggled(name, how string, ev []probe.Entry) {
	k.find(FindingSMTPSmuggling, SeverityCritical,
		"the server "+how+": SMTP smuggling with the sequence "+name+" is possible",
		"CVE-2023-51764, CVE-2023-51765, CVE-2023-51766; RFC 5321 §4.1.1.4", ev)
}

// smugglingHead is the message up to the sequence (see testHeader).
func (k *checker) smugglingHead(c *probe.Conn, name string) string {
	return testHeader(c, k.o.From, []string{k.o.CheckOptions.SmugglingRecipient},
		"SMTP smuggling probe, sequence "+name, "probe.smuggling", time.Now()) +
		"\r\n" +
		"This message tests how the server ends message data. The line below\r\n" +
		"ends with the sequence " + name + "; only CRLF.CRLF may end the data."
}

// smugglingTail is the smuggled transaction and the real end of data.
func smugglingTail(from, rcpt, name string) string {
	return "MAIL FROM:<" + from + ">\r\n" +
		"RCPT TO:<" + rcpt + ">\r\n" +
		"DATA\r\n" +
		"Subject: SMUGGLED message after " + name + "\r\n" +
		"\r\n" +
		"If this arrives as a message of its own, the server is vulnerable to SMTP smuggling.\r\n" +
		".\r\n"
}

func replyCodes(rs []*probe.Reply) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strconv.Itoa(r.Code)
	}
	return strings.Join(s, ", ")
}
