package probe

import "time"

// Timeouts bounds each step of a session. A zero field takes its default,
// from RFC 5321 §4.5.3.2 where the RFC gives one. The deadline of every read
// and write is the earlier of the step's timeout and the context's deadline,
// so a whole probe is bounded by its context.
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

// Limits caps what a server can make the client read. A zero field takes
// its default. Past a limit the step fails with a *ProtocolError and the
// Conn is closed, since the rest of the reply is unread.
type Limits struct {
	// MaxLineLength is the longest reply line accepted, in bytes without
	// the line ending: 16384 by default. RFC 5321 allows 512 with the CRLF;
	// longer lines that fit are read and noted in the transcript.
	MaxLineLength int
	// MaxReplyLines is the most lines one reply may have: 1000 by default.
	MaxReplyLines int
	// MaxReplyBytes is the most bytes the lines of one reply may add up
	// to, line endings excluded: 1 MiB by default. A reply is kept twice
	// (in the Reply and in the transcript), so this bounds the memory a
	// server can make one reply take.
	MaxReplyBytes int
	// MaxAuthRounds is the most 334 challenges one AUTH may answer: 16 by
	// default.
	MaxAuthRounds int
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
