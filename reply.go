package probe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Reply is one SMTP reply: a three-digit code and one or more lines of text.
type Reply struct {
	Code int `json:"code"` // 220, 250, 334, 535 …
	// Enhanced is the RFC 3463 code opening the first line ("2.7.0"), or
	// qmail's "(#5.7.0)" closing the last; zero (left out of JSON) if none.
	Enhanced EnhancedCode `json:"enhanced,omitzero"`
	Lines    []string     `json:"lines"` // each line's text, without code and separator
}

// EnhancedCode is an RFC 3463 enhanced status code, class.subject.detail.
type EnhancedCode struct {
	Class, Subject, Detail int
}

// IsZero reports whether no enhanced code was sent.
func (e EnhancedCode) IsZero() bool { return e == EnhancedCode{} }

// String returns the code as "5.7.8", or "" when it is zero.
func (e EnhancedCode) String() string {
	if e.IsZero() {
		return ""
	}
	return strconv.Itoa(e.Class) + "." + strconv.Itoa(e.Subject) + "." + strconv.Itoa(e.Detail)
}

// MarshalText encodes the code as "5.7.8", or "" when it is zero.
func (e EnhancedCode) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText decodes what MarshalText encodes.
func (e *EnhancedCode) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*e = EnhancedCode{}
		return nil
	}
	code, ok := parseEnhancedToken(string(b))
	if !ok {
		return fmt.Errorf("probe: %q is not an enhanced status code", b)
	}
	*e = code
	return nil
}

// String renders the reply as sent, its lines joined by "\n".
func (r *Reply) String() string {
	if r == nil {
		return ""
	}
	code := strconv.Itoa(r.Code)
	if len(r.Lines) == 0 {
		return code
	}
	var b strings.Builder
	for i, l := range r.Lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(code)
		if i < len(r.Lines)-1 {
			b.WriteByte('-')
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(l)
	}
	return b.String()
}

// Text returns the reply's lines joined by "\n".
func (r *Reply) Text() string {
	if r == nil {
		return ""
	}
	return strings.Join(r.Lines, "\n")
}

// Positive reports whether the reply is a 2xx completion.
func (r *Reply) Positive() bool { return r != nil && r.Code/100 == 2 }

// Intermediate reports whether the reply is a 3xx, such as 334 or 354.
func (r *Reply) Intermediate() bool { return r != nil && r.Code/100 == 3 }

// Temporary reports whether the reply is a 4xx transient failure.
func (r *Reply) Temporary() bool { return r != nil && r.Code/100 == 4 }

// Permanent reports whether the reply is a 5xx permanent failure.
func (r *Reply) Permanent() bool { return r != nil && r.Code/100 == 5 }

// parseEnhanced finds an enhanced status code in a reply: at the start of
// the first line (RFC 2034) or as qmail's "(#x.y.z)" at the end of the last.
func parseEnhanced(code int, lines []string) EnhancedCode {
	if len(lines) == 0 {
		return EnhancedCode{}
	}
	first := lines[0]
	if sp := strings.IndexByte(first, ' '); sp >= 0 {
		first = first[:sp]
	}
	if e, ok := parseEnhancedToken(first); ok && e.Class == code/100 {
		return e
	}
	last := strings.TrimRight(lines[len(lines)-1], " ")
	if strings.HasSuffix(last, ")") {
		if i := strings.LastIndex(last, "(#"); i >= 0 {
			if e, ok := parseEnhancedToken(last[i+2 : len(last)-1]); ok && e.Class == code/100 {
				return e
			}
		}
	}
	return EnhancedCode{}
}

// parseEnhancedToken parses "class.subject.detail" with the digit counts of
// RFC 3463: class one of 2, 4, 5; subject and detail one to three digits.
func parseEnhancedToken(s string) (EnhancedCode, bool) {
	var n [3]int
	for i := range n {
		p := s
		if i < 2 {
			dot := strings.IndexByte(s, '.')
			if dot < 0 {
				return EnhancedCode{}, false
			}
			p, s = s[:dot], s[dot+1:]
		}
		if len(p) == 0 || len(p) > 3 || (i == 0 && len(p) != 1) {
			return EnhancedCode{}, false
		}
		for j := 0; j < len(p); j++ {
			if p[j] < '0' || p[j] > '9' {
				return EnhancedCode{}, false
			}
			n[i] = n[i]*10 + int(p[j]-'0')
		}
	}
	switch n[0] {
	case 2, 4, 5:
		return EnhancedCode{Class: n[0], Subject: n[1], Detail: n[2]}, true
	}
	return EnhancedCode{}, false
}

// replyLine is one parsed line of a reply.
type replyLine struct {
	code  int
	more  bool // "-" separator: more lines follow
	text  string
	notes []string
}

// parseReplyLine parses one line of a reply (terminator removed). A line
// it cannot read as a reply is a *ProtocolError; oddities it can read
// become notes. The text it returns shares line's memory.
func parseReplyLine(line string) (replyLine, error) {
	if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) {
		return replyLine{}, &ProtocolError{Reason: "reply line does not start with a three-digit code", Line: line}
	}
	if line[0] < '2' || line[0] > '5' {
		return replyLine{}, &ProtocolError{Reason: "reply code " + line[:3] + " is outside 2xx–5xx", Line: line}
	}
	rl := replyLine{code: int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')}
	switch {
	case len(line) == 3:
	case line[3] == '-':
		rl.more = true
		rl.text = line[4:]
	case line[3] == ' ':
		rl.text = line[4:]
	default:
		rl.text = line[3:]
		rl.notes = append(rl.notes, "no space after reply code "+line[:3])
	}
	if n := textOddities(line[3:]); n != "" {
		rl.notes = append(rl.notes, n)
	}
	return rl, nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// readReply reads one whole reply, recording each line and each deviation.
// A 421 marks the session closed by the server; the reply is returned.
func (c *Conn) readReply(ctx context.Context, step string) (*Reply, error) {
	return c.readReplyHiding(ctx, step, "")
}

// readReplyHiding is readReply for a reply that may carry a secret: unless
// secrets are revealed, the lines of a 334 reply are recorded with hide in
// place of their text (see hiddenLine).
func (c *Conn) readReplyHiding(ctx context.Context, step, hide string) (*Reply, error) {
	var r *Reply
	mismatch := ""
	size := 0
	for n := 0; ; n++ {
		if n == c.d.Limits.MaxReplyLines {
			return nil, c.protocolFailure(step, &ProtocolError{Reason: "reply has more than " +
				strconv.Itoa(n) + " lines (Limits.MaxReplyLines)"})
		}
		raw, ending, err := c.lr.readLine()
		if err != nil {
			var pe *ProtocolError
			if errors.As(err, &pe) {
				return nil, c.protocolFailure(step, pe)
			}
			return nil, c.ioFailure(ctx, step, err)
		}
		if size += len(raw); size > c.d.Limits.MaxReplyBytes {
			return nil, c.protocolFailure(step, &ProtocolError{Reason: "reply longer than " +
				strconv.Itoa(c.d.Limits.MaxReplyBytes) + " bytes (Limits.MaxReplyBytes)"})
		}
		line := string(raw) // one copy, shared by the transcript and the Reply
		echoed := false
		if len(c.secrets) > 0 {
			line, echoed = c.scrub(line)
		}
		if shown, ok := hiddenLine(line, hide, c.tr.Reveal()); ok {
			c.tr.add(Received, shown, c.tls != nil, true)
		} else {
			c.tr.add(Received, line, c.tls != nil, echoed)
		}
		c.noteLine(raw, ending)
		rl, err := parseReplyLine(line)
		if err != nil {
			return nil, c.protocolFailure(step, err.(*ProtocolError))
		}
		for _, note := range rl.notes {
			c.note(note)
		}
		if r == nil {
			r = &Reply{Code: rl.code}
		} else if rl.code != r.Code && mismatch == "" {
			mismatch = "continuation line has code " + strconv.Itoa(rl.code) + ", reply began with " + strconv.Itoa(r.Code)
		}
		r.Lines = append(r.Lines, rl.text)
		if !rl.more {
			break
		}
	}
	r.Enhanced = parseEnhanced(r.Code, r.Lines)
	if mismatch != "" {
		// Which reply is this? A pipelined batch could no longer tell its
		// replies apart, so the session ends here.
		return nil, c.protocolFailure(step, &ProtocolError{Reason: mismatch, Reply: r})
	}
	if r.Code == 421 {
		c.fail(&ReplyError{Command: step, Reply: r})
	}
	return r, nil
}

// noteLine records how a line broke the rules on its ending or length.
func (c *Conn) noteLine(raw []byte, ending lineEnding) {
	switch ending {
	case endLF:
		c.note("line ended with a bare LF, not CRLF")
	case endCR:
		c.note("line ended with a bare CR, not CRLF")
	}
	if len(raw)+2 > rfcLineLimit {
		c.note("line of " + strconv.Itoa(len(raw)+2) + " octets exceeds RFC 5321's 512")
	}
}

// note records a remark of the library in the transcript, scrubbed of
// the secrets a server may have echoed into it.
func (c *Conn) note(text string) {
	text, echoed := c.scrub(text)
	c.tr.add(Note, text, c.tls != nil, echoed)
}

// protocolFailure records a fault that leaves the reply stream unreadable
// and ends the session.
func (c *Conn) protocolFailure(step string, pe *ProtocolError) error {
	pe.Step = step
	pe.Line, _ = c.scrub(pe.Line)
	pe.Reason, _ = c.scrub(pe.Reason)
	c.note("protocol error: " + pe.Reason)
	c.fail(pe)
	return pe
}
