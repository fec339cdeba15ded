package fakeserver

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// transaction is the state of one mail transaction.
type transaction struct {
	from       string
	mailParams []string
	rcpts      []string
	rcptParams [][]string
	bdat       bool
	data       bytes.Buffer
	tooBig     bool
}

func (s *Session) cmdMail(cmd Command) {
	switch {
	case s.helo == "":
		s.Reply(503, "5.5.1 Error: send HELO/EHLO first")
		return
	case s.cfg.RequireTLS && !s.TLS():
		s.Reply(530, "5.7.0 Must issue a STARTTLS command first")
		return
	case s.tx != nil:
		s.Reply(503, "5.5.1 Error: nested MAIL command")
		return
	}
	addr, params, ok := parsePath(cmd.Arg, "FROM:")
	if !ok {
		s.Reply(501, "5.5.4 Syntax: MAIL FROM:<address>")
		return
	}
	if r := s.checkSize(params); r != nil {
		s.Reply(r.Code, r.Lines...)
		return
	}
	if s.cfg.CheckSender != nil {
		if r := s.cfg.CheckSender(s, addr, params); r != nil {
			s.Reply(r.Code, r.Lines...)
			return
		}
	}
	s.tx = &transaction{from: addr, mailParams: params}
	s.Reply(250, "2.1.0 Ok")
}

// checkSize validates a SIZE= parameter against MaxMessageSize.
func (s *Session) checkSize(params []string) *Reply {
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(k, "SIZE") {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return &Reply{501, []string{"5.5.4 Bad message size syntax"}}
		}
		if n > s.cfg.MaxMessageSize {
			return &Reply{552, []string{"5.3.4 Message size exceeds fixed limit"}}
		}
	}
	return nil
}

// parsePath parses "FROM:<addr> params" (prefix "FROM:" or "TO:").
func parsePath(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if strings.HasPrefix(rest, "<") {
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return "", nil, false
		}
		addr, rest = rest[1:end], rest[end+1:]
		if rest != "" && rest[0] != ' ' {
			return "", nil, false
		}
	} else {
		addr, rest, _ = strings.Cut(rest, " ")
		if addr == "" {
			return "", nil, false
		}
	}
	if strings.HasPrefix(addr, "@") {
		if i := strings.IndexByte(addr, ':'); i >= 0 {
			addr = addr[i+1:]
		}
	}
	return addr, strings.Fields(rest), true
}

func (s *Session) cmdRcpt(cmd Command) {
	switch {
	case s.tx == nil:
		s.Reply(503, "5.5.1 Error: need MAIL command")
		return
	case s.tx.bdat:
		s.Reply(503, "5.5.1 Error: BDAT in progress")
		return
	}
	addr, params, ok := parsePath(cmd.Arg, "TO:")
	if !ok {
		s.Reply(501, "5.5.4 Syntax: RCPT TO:<address>")
		return
	}
	if r := s.checkRcpt(addr, params); r != nil {
		s.Reply(r.Code, r.Lines...)
		return
	}
	s.tx.rcpts = append(s.tx.rcpts, addr)
	s.tx.rcptParams = append(s.tx.rcptParams, params)
	s.Reply(250, "2.1.5 Ok")
}

// checkRcpt returns the rejection for a recipient, or nil.
func (s *Session) checkRcpt(addr string, params []string) *Reply {
	if addr == "" {
		return &Reply{501, []string{"5.1.3 Bad recipient address syntax"}}
	}
	if s.cfg.MaxRecipients > 0 && len(s.tx.rcpts) >= s.cfg.MaxRecipients {
		return &Reply{452, []string{"4.5.3 Error: too many recipients"}}
	}
	if r, ok := s.cfg.RejectRecipients[strings.ToLower(addr)]; ok {
		return &r
	}
	if s.cfg.CheckRecipient != nil {
		if r := s.cfg.CheckRecipient(s, addr, params); r != nil {
			return r
		}
	}
	if !s.authed && !s.isLocal(addr) {
		return &Reply{554, []string{"5.7.1 <" + addr + ">: Relay access denied"}}
	}
	return nil
}

func (s *Session) isLocal(addr string) bool {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return true
	}
	dom := strings.TrimSuffix(addr[i+1:], ".")
	for _, d := range s.cfg.LocalDomains {
		if strings.EqualFold(d, dom) {
			return true
		}
	}
	return false
}

// needRcpt answers 503 if no transaction with recipients is open.
func (s *Session) needRcpt() bool {
	switch {
	case s.tx == nil:
		s.Reply(503, "5.5.1 Error: need MAIL command")
	case len(s.tx.rcpts) == 0:
		s.Reply(503, "5.5.1 Error: need RCPT command")
	default:
		return false
	}
	return true
}

func (s *Session) cmdData(cmd Command) {
	if cmd.Arg != "" {
		s.Reply(501, "5.5.4 Syntax: DATA")
		return
	}
	if s.needRcpt() {
		return
	}
	if s.tx.bdat {
		s.Reply(503, "5.5.1 Error: DATA after BDAT")
		return
	}
	s.Reply(354, "End data with <CR><LF>.<CR><LF>")
	if s.isClosed() {
		return
	}
	if err := s.readData(s.tx); err != nil {
		s.setErr(err)
		s.closeConn()
		return
	}
	s.finishMessage()
}

// readData reads the message up to the terminating ".", undoing
// dot-stuffing, into tx.data (bounded by MaxMessageSize).
func (s *Session) readData(tx *transaction) error {
	atStart := true
	for {
		chunk, err := s.br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
		full := err == nil
		if atStart && full && (string(chunk) == ".\r\n" || string(chunk) == ".\n") {
			return nil
		}
		if atStart && len(chunk) > 0 && chunk[0] == '.' {
			chunk = chunk[1:]
		}
		s.appendData(tx, chunk)
		atStart = full
	}
}

// appendData adds message bytes, dropping them all once over the limit.
func (s *Session) appendData(tx *transaction, p []byte) {
	if tx.tooBig {
		return
	}
	if int64(tx.data.Len())+int64(len(p)) > s.cfg.MaxMessageSize {
		tx.tooBig = true
		tx.data = bytes.Buffer{}
		return
	}
	tx.data.Write(p)
}

// dataWriter adapts appendData to io.Writer for BDAT chunks.
type dataWriter struct {
	s  *Session
	tx *transaction
}

func (w dataWriter) Write(p []byte) (int, error) {
	w.s.appendData(w.tx, p)
	return len(p), nil
}

func (s *Session) cmdBdat(cmd Command) {
	if !s.advertised("CHUNKING") {
		s.Reply(502, "5.5.2 Error: command not recognized")
		return
	}
	n, last, ok := parseBdat(cmd.Arg)
	if !ok {
		s.Reply(501, "5.5.4 Syntax: BDAT count [LAST]")
		return
	}
	var dst io.Writer = io.Discard
	if s.tx != nil && len(s.tx.rcpts) > 0 {
		dst = dataWriter{s, s.tx}
	}
	if _, err := io.CopyN(dst, s.br, n); err != nil {
		s.setErr(err)
		s.closeConn()
		return
	}
	if s.needRcpt() {
		return
	}
	s.tx.bdat = true
	if !last {
		s.Reply(250, "2.0.0 Ok: "+strconv.FormatInt(n, 10)+" bytes received")
		return
	}
	s.finishMessage()
}

func parseBdat(arg string) (n int64, last bool, ok bool) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		return 0, false, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 {
		return 0, false, false
	}
	if len(f) == 2 {
		if !strings.EqualFold(f[1], "LAST") {
			return 0, false, false
		}
		last = true
	}
	return n, last, true
}

// finishMessage answers the end of the data (the EOD step) and ends the
// transaction.
func (s *Session) finishMessage() {
	tx := s.tx
	s.tx = nil
	xforward := s.XForward()
	s.resetXForward()
	if tx.tooBig {
		s.runStep(StepEOD, func() { s.Reply(552, "5.3.4 Message size exceeds fixed limit") })
		return
	}
	m := &Message{
		Session: s.id, Helo: s.helo, From: tx.from, MailParams: tx.mailParams,
		To: tx.rcpts, RcptParams: tx.rcptParams, Data: tx.data.Bytes(),
		TLS: s.TLS(), AuthUser: s.authUser, BDAT: tx.bdat,
		QueueID: newQueueID(), Time: time.Now(),
		XClient: s.XClient(), XForward: xforward,
	}
	s.runStep(StepEOD, func() {
		if s.deliver(m) {
			s.srv.addMessage(m.clone())
		}
	})
}

// deliver sends the final reply (one per recipient for LMTP) and reports
// whether any was positive.
func (s *Session) deliver(m *Message) bool {
	rcpts := []string{""}
	if s.cfg.LMTP {
		rcpts = m.To
	}
	ok := false
	for _, rc := range rcpts {
		r := s.dataReply(m, rc)
		s.Reply(r.Code, r.Lines...)
		ok = ok || (r.Code >= 200 && r.Code < 300)
	}
	return ok
}

func (s *Session) dataReply(m *Message, rcpt string) Reply {
	if s.cfg.DataReply != nil {
		return s.cfg.DataReply(s, m, rcpt)
	}
	if rcpt != "" {
		return Reply{250, []string{"2.0.0 <" + rcpt + "> Ok: queued as " + m.QueueID}}
	}
	return Reply{250, []string{"2.0.0 Ok: queued as " + m.QueueID}}
}

// newQueueID returns 10 upper-case hex digits.
func newQueueID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
