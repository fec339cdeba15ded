package probe

import "time"

// Timeouts bounds each step (zero: the default, RFC 5321 §4.5.3.2's where
// it has one); the context's deadline applies as well.
type Timeouts struct {
	Connect   time.Duration // TCP (and proxy) connect: 30 s
	Greeting  time.Duration // the 220 banner: 5 min
	Command   time.Duration // EHLO, HELO, STARTTLS, AUTH, NOOP, RSET, VRFY, QUIT and raw lines: 5 min
	Handshake time.Duration // the TLS handshake: 1 min
	Mail      time.Duration // MAIL FROM: 5 min
	Rcpt      time.Duration // RCPT TO: 5 min
	DataInit  time.Duration // DATA until its 354: 2 min
	DataBlock time.Duration // each write of message data: 3 min
	DataEnd   time.Duration // the reply to the final "." or BDAT LAST: 10 min
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Connect, 30*time.Second)
	def(&t.Greeting, 5*time.Minute)
	def(&t.Command, 5*time.Minute)
	def(&t.Handshake, time.Minute)
	def(&t.Mail, 5*time.Minute)
	def(&t.Rcpt, 5*time.Minute)
	def(&t.DataInit, 2*time.Minute)
	def(&t.DataBlock, 3*time.Minute)
	def(&t.DataEnd, 10*time.Minute)
	return t
}

// Limits caps what a server can make the client read; a zero field takes
// its default. Past a limit the step fails with a *ProtocolError and the
// Conn is closed (past MaxAuthRounds, AUTH is cancelled).
type Limits struct {
	MaxLineLength int // bytes in a reply line, CRLF excluded: 16384 (RFC 5321 says 512: noted)
	MaxReplyLines int // lines in one reply: 1000
	MaxReplyBytes int // bytes of one reply's lines, CRLFs excluded: 1 MiB
	MaxAuthRounds int // 334 challenges one AUTH may answer: 16
}

func (l Limits) withDefaults() Limits {
	if l.MaxLineLength <= 0 {
		l.MaxLineLength = 16384
	}
	if l.MaxReplyLines <= 0 {
		l.MaxReplyLines = 1000
	}
	if l.MaxReplyBytes <= 0 {
		l.MaxReplyBytes = 1 << 20
	}
	if l.MaxAuthRounds <= 0 {
		l.MaxAuthRounds = 16
	}
	return l
}

// rfcLineLimit is RFC 5321's limit on a reply line, CRLF included.
const rfcLineLimit = 512
