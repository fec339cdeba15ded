package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"time"
)

// dataBlockSize is the size of the buffers a message streams through and
// the most bytes written under one DataBlock deadline.
const dataBlockSize = 32 << 10

// The steps of a DATA transaction, as errors and ReplyError.Command name
// them.
const (
	stepData    = "DATA"      // DATA until its 354
	stepBody    = "DATA body" // the message data
	stepDataEnd = "DATA end"  // the reply (LMTP: replies) to the final "."
)

// errDotWriterClosed is returned by a dot writer's Write after Close.
var errDotWriterClosed = errors.New("smtp: write to a closed dot writer")

// dotWriter normalises line endings and dot-stuffs on the way to w.
type dotWriter struct {
	w         *bufio.Writer
	lineStart bool // the next byte begins a line
	cr        bool // a CR was read; an LF right after it belongs to it
	closed    bool
	trailer   string // written after the final ".": a pipelined QUIT
}

// newDotWriter returns a writer that turns what it is given into SMTP
// message data (RFC 5321 §4.5.2) on w: every line ending (CRLF, bare LF,
// bare CR) becomes CRLF, a '.' that begins a line is doubled, and Close
// ends the data with a CRLF when the text did not end with a line ending,
// then ".\r\n". Close does not close w. Output is buffered (32 KiB);
// memory does not grow with the amount written.
func newDotWriter(w io.Writer) *dotWriter { return newDotWriterSize(w, dataBlockSize) }

// newDotWriterSize buffers at most size bytes before writing to w.
func newDotWriterSize(w io.Writer, size int) *dotWriter {
	return &dotWriter{w: bufio.NewWriterSize(w, size), lineStart: true}
}

// bodyBufferSize is the dot writer's buffer for msg: dataBlockSize, or
// less when msg says how much is left to read (bytes.Reader,
// strings.Reader, bytes.Buffer) or is nil: room for all of it and the final
// ".\r\n", so a small message costs a small buffer. Dot-stuffing may
// still make it one more write.
func bodyBufferSize(msg io.Reader) int {
	if msg == nil {
		return 512
	}
	if l, ok := msg.(interface{ Len() int }); ok {
		return min(max(l.Len()+5, 512), dataBlockSize)
	}
	return dataBlockSize
}

// Write transforms p. Line state carries across calls, so any split of
// the input gives the same output.
func (d *dotWriter) Write(p []byte) (int, error) {
	if d.closed {
		return 0, errDotWriterClosed
	}
	n := len(p)
	for len(p) > 0 {
		if d.cr {
			d.cr = false
			d.newline()
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		if d.lineStart && p[0] == '.' {
			d.w.WriteByte('.')
		}
		i := indexLineBreak(p)
		if i < 0 {
			d.w.Write(p)
			d.lineStart = false
			break
		}
		if i > 0 {
			d.w.Write(p[:i])
			d.lineStart = false
		}
		if p[i] == '\n' {
			d.newline()
		} else {
			d.cr = true
		}
		p = p[i+1:]
	}
	// bufio.Writer keeps its first error and returns it from every later
	// call: a zero-length write reports it.
	if _, err := d.w.Write(nil); err != nil {
		return 0, err
	}
	return n, nil
}

func (d *dotWriter) newline() {
	d.w.WriteString("\r\n")
	d.lineStart = true
}

// endBody completes the last line: a pending CR, or text without a line
// ending, gets its CRLF.
func (d *dotWriter) endBody() {
	if d.cr {
		d.cr = false
		d.newline()
	}
	if !d.lineStart {
		d.newline()
	}
}

// Close ends the data with ".\r\n" and flushes. Closing twice is a no-op.
func (d *dotWriter) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	d.endBody()
	d.w.WriteString(".\r\n" + d.trailer)
	return d.w.Flush()
}

// indexLineBreak returns the index of the first CR or LF in p, or -1.
func indexLineBreak(p []byte) int {
	lf := bytes.IndexByte(p, '\n')
	search := p
	if lf >= 0 {
		search = p[:lf]
	}
	if cr := bytes.IndexByte(search, '\r'); cr >= 0 {
		return cr
	}
	return lf
}

// Data sends DATA, expects 354, streams msg (CRLF line endings, leading
// dots doubled; Timeouts.DataBlock per block) and returns the reply to the
// final "." (Timeouts.DataEnd); error steps are "DATA", "DATA body" and
// "DATA end". The transcript notes "message body: N
// bytes, L lines (not recorded)" unless RecordBody. Bytes that came with
// the 354 are a *ProtocolError; a failed read of msg closes the Conn
// without the ".", so that the server drops the message.
//
// On LMTP the "." gets a reply per recipient accepted since MAIL or RSET
// (counted by Rcpt, Send and Pipeline; RFC 2033 §4.2): Data reads them all,
// returns the first failure or else the first, and takes bytes beyond them
// for a *ProtocolError.
func (c *Conn) Data(ctx context.Context, msg io.Reader) (*Reply, error) {
	r, replies, err := c.data(ctx, msg, c.finalReplyCount(0))
	if replies == nil {
		return r, err
	}
	return pickReply(replies, err)
}

// DataLMTP is Data returning the n final replies in recipient order (n <= 0:
// those Data counts), the error being the first failure's.
func (c *Conn) DataLMTP(ctx context.Context, msg io.Reader, n int) ([]*Reply, error) {
	_, replies, err := c.data(ctx, msg, c.finalReplyCount(n))
	return replies, err
}

// data runs DATA, the body and the n final replies. It returns the reply
// to DATA and the final replies (nil when the body was not sent).
func (c *Conn) data(ctx context.Context, msg io.Reader, n int) (*Reply, []*Reply, error) {
	r, err := c.startData(ctx)
	if err != nil {
		return r, nil, err
	}
	if err := c.sendBody(ctx, msg, false); err != nil {
		return r, nil, err
	}
	replies, err := c.readFinal(ctx, stepDataEnd, n)
	c.txn = mailTxn{}
	return r, replies, err
}

// startData sends DATA and expects a 3xx. Bytes that arrived after the 354
// are a reply nobody asked for (the server must wait for the data): a
// *ProtocolError, and the session ends.
func (c *Conn) startData(ctx context.Context) (*Reply, error) {
	r, err := c.command(ctx, stepData, c.d.Timeouts.DataInit, "DATA", 354)
	if err != nil {
		return r, err
	}
	return r, c.checkNothingMore(stepData)
}

// finalReplyCount is how many replies follow the end of the data: one for
// SMTP; for LMTP n, or else the recipients accepted since Mail.
func (c *Conn) finalReplyCount(n int) int {
	switch {
	case n > 0:
		return n
	case c.d.LMTP && c.txn.accepted > 0:
		return c.txn.accepted
	}
	return 1
}

// pickReply returns the reply the error is about, or else the first.
func pickReply(replies []*Reply, err error) (*Reply, error) {
	var re *ReplyError
	if asReplyError(err, &re) {
		return re.Reply, err
	}
	if len(replies) == 0 {
		return nil, err
	}
	return replies[0], err
}

// readFinal reads n replies to the end of the data. A reply that is not
// 2xx gives a *ReplyError (the first such); reading goes on so that the
// session stays in step. A transport error stops it. On LMTP, bytes that
// already arrived after the n replies end the session (see checkFinalDone).
func (c *Conn) readFinal(ctx context.Context, step string, n int) ([]*Reply, error) {
	replies, err := c.readReplies(ctx, step, n)
	if c.broken != nil {
		return replies, err
	}
	if done := c.checkFinalDone(step, len(replies)); done != nil {
		return replies, done
	}
	return replies, err
}

// checkFinalDone fails on LMTP when bytes arrived after the n final
// replies: more recipients were accepted than the Conn counted (RCPTs sent
// with SendRaw or WriteRaw), and the replies left would answer the next
// commands. Reading them as further replies could assign them to the
// wrong recipients, and some may still be on their way, so the session
// ends with a *ProtocolError instead.
func (c *Conn) checkFinalDone(step string, n int) error {
	extra := c.lr.buffered()
	if !c.d.LMTP || len(extra) == 0 {
		return nil
	}
	return c.protocolFailure(step, &ProtocolError{
		Reason: strconv.Itoa(len(extra)) + " bytes arrived after the " + strconv.Itoa(n) +
			" final replies expected: more recipients were accepted than counted " +
			"(RCPTs sent with SendRaw?); pass their number to DataLMTP or BdatLMTP",
		Line: firstLine(extra),
	})
}

// readReplies reads n replies to the end of the data, as readFinal does,
// without the final check.
func (c *Conn) readReplies(ctx context.Context, step string, n int) ([]*Reply, error) {
	var replies []*Reply
	var first error
	for range n {
		r, err := c.exchange(ctx, step, c.d.Timeouts.DataEnd, nil)
		if err != nil {
			return replies, err
		}
		replies = append(replies, r)
		if err := c.check(step, r, 250); err != nil && first == nil {
			first = err
		}
	}
	return replies, first
}

// sendBody streams msg as message data followed by ".\r\n".
func (c *Conn) sendBody(ctx context.Context, msg io.Reader, quit bool) error {
	if err := c.begin(ctx, stepBody, c.d.Timeouts.DataBlock); err != nil {
		return err
	}
	sink := &bodySink{c: c, ctx: ctx, record: c.d.RecordBody, quit: quit}
	size := bodyBufferSize(msg)
	if quit {
		size += len("QUIT\r\n") // it leaves in the same write as the "."
	}
	dw := newDotWriterSize(sink, size)
	if msg != nil {
		// io.Copy needs no buffer of its own when msg is an io.WriterTo.
		if _, err := io.Copy(dw, msg); err != nil {
			return c.bodyFailure(sink, err)
		}
	}
	dw.endBody()
	// The rest of the body and the final ".\r\n" leave together.
	sink.ending, sink.bodyLeft = true, dw.w.Buffered()
	if quit {
		dw.trailer = "QUIT\r\n"
	}
	if err := dw.Close(); err != nil {
		return c.bodyFailure(sink, err)
	}
	return nil
}

// bodyFailure ends the session when the body could not be sent: either
// the connection failed (the sink has the wrapped error) or msg did. The
// final "." is never sent after a failed read, so the server discards the
// partial message when the connection closes.
func (c *Conn) bodyFailure(sink *bodySink, err error) error {
	if sink.err != nil {
		return sink.err
	}
	return c.readFailure(stepBody, err)
}

// readFailure ends the session when reading the message failed midway:
// the server must not take what it got for the whole message.
func (c *Conn) readFailure(step string, err error) error {
	c.tr.add(Note, "reading the message failed; closing the connection before its end",
		c.tls != nil, false)
	opErr := &OpError{Op: step, Err: err}
	c.fail(opErr)
	return opErr
}

// bodySink writes message data to the connection in blocks of at most
// dataBlockSize, each under a fresh DataBlock deadline, and counts (or
// records) the lines it carries.
type bodySink struct {
	c       *Conn
	ctx     context.Context
	record  bool
	bytes   int64
	lines   int64
	partial []byte // with record: the line written so far
	err     error

	// ending is set once the body is complete: after bodyLeft more bytes
	// comes the final ".\r\n", which is recorded as "." and not counted.
	ending   bool
	bodyLeft int
	ended    bool  // the final "." is recorded
	quit     bool  // QUIT follows the "." in the same write
	sent     int64 // bytes written so far
}

func (s *bodySink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	written := 0
	for written < len(p) {
		// Once part of the body is out, the server may have answered it;
		// once the final "." is out, what comes is the final reply (the
		// bytes after it, a pipelined QUIT, may leave in a write of their
		// own).
		if s.sent > 0 && !s.ended {
			if s.err = s.c.earlyReply(s.ctx); s.err != nil {
				return written, s.err
			}
		}
		block := p[written:min(len(p), written+dataBlockSize)]
		if err := s.c.refreshDeadline(s.ctx, s.c.d.Timeouts.DataBlock); err != nil {
			s.err = s.c.deadlineFailure(s.ctx, stepBody, err)
			return written, s.err
		}
		s.accountBlock(block)
		n, err := s.c.nc.Write(block)
		written += n
		s.sent += int64(n)
		if err != nil {
			// A server that stopped reading, or closed, may have said why.
			if !s.ended {
				s.err = s.c.earlyReply(s.ctx)
			}
			if s.err == nil {
				s.err = s.c.ioFailure(s.ctx, stepBody, err)
			}
			return written, s.err
		}
	}
	return written, nil
}

// accountBlock accounts the message data in block and, when block carries
// the start of the final ".\r\n", records the end of the data.
func (s *bodySink) accountBlock(block []byte) {
	n := len(block)
	if s.ending {
		n = min(n, s.bodyLeft)
		s.bodyLeft -= n
	}
	s.account(block[:n])
	if n < len(block) && !s.ended {
		s.recordEnd()
	}
}

// recordEnd records the end of the data: the note that sums up a body not
// recorded, and the final ".".
func (s *bodySink) recordEnd() {
	s.ended = true
	c := s.c
	if !s.record {
		c.tr.add(Note, "message body: "+strconv.FormatInt(s.bytes, 10)+" bytes, "+
			strconv.FormatInt(s.lines, 10)+" lines (not recorded)", c.tls != nil, false)
	}
	c.tr.add(Sent, ".", c.tls != nil, false)
	if s.quit {
		c.tr.add(Sent, "QUIT", c.tls != nil, false)
	}
}

// account counts bytes and lines; with record it also records each
// complete line. The data is CRLF-normalised, so every LF ends a line.
func (s *bodySink) account(p []byte) {
	s.bytes += int64(len(p))
	if !s.record {
		s.lines += int64(bytes.Count(p, []byte{'\n'}))
		return
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			return
		}
		s.partial = append(s.partial, p[:i+1]...)
		line := bytes.TrimSuffix(bytes.TrimSuffix(s.partial, []byte{'\n'}), []byte{'\r'})
		s.c.tr.add(Sent, string(line), s.c.tls != nil, false)
		s.lines++
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
}

// refreshDeadline moves the connection's deadline to now+timeout, or the
// context's deadline if earlier. It holds deadlineMu so that a context
// cancelled meanwhile still wins: its watch runs after and sets the past
// deadline.
func (c *Conn) refreshDeadline(ctx context.Context, timeout time.Duration) error {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return c.nc.SetDeadline(deadline)
}

// earlyReply looks, without waiting, for a reply that arrived while the
// body was still on its way: before each block but the first, the final
// "." included, and after a write that failed. Such a reply
// answers no command (RFC 5321 §4.1.1.4: the reply comes after the end of
// the data); it ends the transfer and the session, the "." unsent: a 4xx or
// 5xx is the *ReplyError of the body, anything else a *ProtocolError,
// never the message's success.
func (c *Conn) earlyReply(ctx context.Context) error {
	if c.peek == nil {
		c.peek = newSocketPeek(c.raw)
	}
	if len(c.lr.buffered()) == 0 && !c.peek.arrived() {
		return nil
	}
	if err := c.refreshDeadline(ctx, c.d.Timeouts.Command); err != nil {
		return c.deadlineFailure(ctx, stepBody, err)
	}
	r, err := c.readReply(ctx, stepBody)
	if err != nil {
		return err
	}
	if c.broken != nil { // a 421: readReply has ended the session
		return &ReplyError{Command: stepBody, Reply: r}
	}
	c.note("server replied before the end of the data; the transfer ends without the final \".\"")
	if r.Temporary() || r.Permanent() {
		err = &ReplyError{Command: stepBody, Reply: r}
		c.fail(err)
		return err
	}
	return c.protocolFailure(stepBody, &ProtocolError{
		Reason: "reply " + strconv.Itoa(r.Code) + " arrived before the end of the data", Reply: r})
}

// deadlineFailure ends the session when refreshDeadline failed midway
// through a step: the context ended, or the connection refused the
// deadline.
func (c *Conn) deadlineFailure(ctx context.Context, step string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		opErr := &OpError{Op: step, Err: err}
		c.fail(opErr)
		return opErr
	}
	return c.ioFailure(ctx, step, err)
}
