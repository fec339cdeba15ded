package probe

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Conn is one SMTP session, recorded in its Transcript; not safe for
// concurrent use (its Transcript is). End every Conn with Quit or Close.
type Conn struct {
	d        Dialer // a copy, with defaults applied to Timeouts and Limits
	nc       net.Conn
	raw      net.Conn    // the connection under TLS, as given or dialled
	peek     *socketPeek // looks at raw for early replies (data.go); made when first needed
	lr       *lineReader
	wbuf     []byte
	tr       *Transcript
	host     string         // the dialled host, for the TLS ServerName
	literal  string         // the local address literal, the default EHLO name (ehlo.go)
	held     *handshakeConn // under the *tls.Conn: may still hold the handshake's last flight
	banner   *Reply
	caps     *Capabilities
	tls      *TLSInfo
	broken   error    // set once the session cannot go on; every later call returns it
	secrets  []string // what to scrub from received text (secrets.go)
	quitSent bool     // QUIT left with the final "." (Envelope.Quit)
	txn      mailTxn  // the open mail transaction (mail.go)

	w          ctxWatch   // the context of the steps (watch.go)
	deadlineMu sync.Mutex // held while a deadline is moved, so a cancelled context's always wins
}

// NewConn wraps nc, which the Conn then owns; d may be nil. Call
// ReadBanner next. Unless the TLS config names the server (ServerName), no
// SNI is sent and the certificate is checked against nc's remote IP.
func NewConn(nc net.Conn, d *Dialer) *Conn {
	c := &Conn{nc: nc, raw: nc}
	if d != nil {
		c.d = *d
	}
	c.d.Timeouts = c.d.Timeouts.withDefaults()
	c.d.Limits = c.d.Limits.withDefaults()
	c.tr = newTranscript(c.d.RevealSecrets, c.d.Logger)
	c.addSecret(proxyPassword(c.d.Proxy))
	if c.d.ProxyFromEnvironment {
		c.addSecret(proxyPassword(getenvAny("ALL_PROXY", "all_proxy")))
	}
	c.lr = newLineReader(nc, c.d.Limits.MaxLineLength)
	if h, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.host = h
	}
	return c
}

// ReadBanner reads the greeting, which must be 220: a 4xx or 5xx is a
// *ReplyError (a 5xx or 421 ends the session).
func (c *Conn) ReadBanner(ctx context.Context) (*Reply, error) {
	r, err := c.exchange(ctx, "banner", c.d.Timeouts.Greeting, nil)
	if err != nil {
		return r, err
	}
	c.banner = r
	err = c.check("banner", r, 220)
	if r.Permanent() {
		c.fail(err)
	}
	return r, err
}

// Banner returns the greeting, or nil before ReadBanner.
func (c *Conn) Banner() *Reply { return c.banner }

// Capabilities returns the latest EHLO's; nil before one and after STARTTLS.
func (c *Conn) Capabilities() *Capabilities { return c.caps }

// TLS returns the TLS report, or nil while the Conn is in plaintext.
func (c *Conn) TLS() *TLSInfo { return c.tls }

// Transcript returns the record of the session.
func (c *Conn) Transcript() *Transcript { return c.tr }

// NetConn returns the connection beneath (the *tls.Conn in TLS), safe for
// concurrent use; reading or writing it bypasses the transcript.
func (c *Conn) NetConn() net.Conn {
	if c.held != nil {
		c.held.release()
		c.held = nil
	}
	return c.nc
}

// Err returns the error that ended the session, or nil while it can go on.
func (c *Conn) Err() error { return c.broken }

// Noop sends NOOP and expects 250.
func (c *Conn) Noop(ctx context.Context) (*Reply, error) {
	return c.command(ctx, "NOOP", c.d.Timeouts.Command, "NOOP", 250)
}

// Rset sends RSET and expects 250; it ends the mail transaction.
func (c *Conn) Rset(ctx context.Context) (*Reply, error) {
	c.txn = mailTxn{}
	return c.command(ctx, "RSET", c.d.Timeouts.Command, "RSET", 250)
}

// Vrfy sends VRFY with arg and expects 250, 251 or 252.
func (c *Conn) Vrfy(ctx context.Context, arg string) (*Reply, error) {
	return c.command(ctx, "VRFY", c.d.Timeouts.Command, "VRFY "+arg, 250, 251, 252)
}

// Quit sends QUIT, expects 221, and closes the Conn; on an ended session
// it only closes and returns the error that ended it.
func (c *Conn) Quit(ctx context.Context) (*Reply, error) {
	if c.broken != nil {
		err := &OpError{Op: "QUIT", Err: c.broken}
		c.Close()
		return nil, err
	}
	r, err := c.command(ctx, "QUIT", c.d.Timeouts.Command, "QUIT", 221)
	c.Close()
	return r, err
}

// Close closes the connection without QUIT; later calls fail with an error
// wrapping net.ErrClosed. To abort a call in progress, cancel its context.
func (c *Conn) Close() error {
	if c.broken == nil {
		c.broken = net.ErrClosed
	}
	c.unwatch()
	err := c.nc.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// SendRaw writes line and CRLF and reads one reply, whatever its code. A
// line with CR, LF or NUL is refused (see WriteRaw). Bytes that arrived
// before the line are a *ProtocolError: take them first with Pending.
func (c *Conn) SendRaw(ctx context.Context, line string) (*Reply, error) {
	return c.exchange(ctx, verbOf(line), c.d.Timeouts.Command, []outLine{{text: line}})
}

// WriteRaw writes p exactly as given, any bytes at all, records it, and
// reads nothing.
func (c *Conn) WriteRaw(ctx context.Context, p []byte) error {
	if err := c.begin(ctx, "raw write", c.d.Timeouts.Command); err != nil {
		return err
	}
	for _, l := range splitRaw(p) {
		c.tr.add(Sent, l, c.tls != nil, false)
	}
	if _, err := c.nc.Write(p); err != nil {
		return c.ioFailure(ctx, "raw write", err)
	}
	return nil
}

// ReadReply reads one reply, whatever its code.
func (c *Conn) ReadReply(ctx context.Context) (*Reply, error) {
	return c.exchange(ctx, "read", c.d.Timeouts.Command, nil)
}

// Pending returns a copy of the bytes received and not yet read, waiting up
// to wait for some (nil, nil if none come; a closed connection is an
// error), and leaves them for ReadReply: how a check listens for a reply a
// correct server never sends.
func (c *Conn) Pending(ctx context.Context, wait time.Duration) ([]byte, error) {
	if b := c.lr.buffered(); len(b) > 0 {
		return bytes.Clone(b), nil
	}
	if err := c.begin(ctx, "read", wait); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	n, err := c.nc.Read(buf)
	if n > 0 {
		c.lr.push(buf[:n])
		return bytes.Clone(buf[:n]), nil
	}
	if err == nil || (errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil) {
		return nil, nil
	}
	return nil, c.ioFailure(ctx, "read", err)
}

// outLine is one command line to write. When shown is set the line carries
// credentials and the transcript records shown in its place.
type outLine struct {
	text, shown string
}

// command writes one line, reads its reply and judges it (see check).
func (c *Conn) command(ctx context.Context, step string, timeout time.Duration, line string, ok ...int) (*Reply, error) {
	r, err := c.exchange(ctx, step, timeout, []outLine{{text: line}})
	if err != nil {
		return r, err
	}
	return r, c.check(step, r, ok...)
}

// check judges a reply by the codes its command may get (RFC 5321 §4.3.2;
// RFC 3207, 4954, 3030, 2033): ok lists those of success (or of going on:
// 354, 334). A 4xx or 5xx refuses the command: a *ReplyError, and the
// session goes on (a 421 has already ended it in readReply). Any other
// code cannot answer this command, whatever its class: the replies are
// out of step with the commands, no later reply can be trusted, and the
// session ends with a *ProtocolError.
func (c *Conn) check(step string, r *Reply, ok ...int) error {
	if slices.Contains(ok, r.Code) {
		return nil
	}
	if r.Temporary() || r.Permanent() {
		return &ReplyError{Command: step, Reply: r}
	}
	return c.protocolFailure(step, &ProtocolError{
		Reason: "reply " + strconv.Itoa(r.Code) + " cannot answer " + step + " (it takes " + joinCodes(ok) + ", 4xx or 5xx)",
		Reply:  r,
	})
}

// joinCodes renders codes as "250, 251 or 252".
func joinCodes(codes []int) string {
	s := ""
	for i, code := range codes {
		switch {
		case i == 0:
		case i == len(codes)-1:
			s += " or "
		default:
			s += ", "
		}
		s += strconv.Itoa(code)
	}
	return s
}

// exchange writes lines in one write (none: only read) and reads one reply.
func (c *Conn) exchange(ctx context.Context, step string, timeout time.Duration, lines []outLine) (*Reply, error) {
	if err := validLines(step, lines); err != nil {
		return nil, err
	}
	if err := c.begin(ctx, step, timeout); err != nil {
		return nil, err
	}
	if len(lines) > 0 {
		if r, err := c.checkUnsolicited(ctx, step); err != nil {
			return r, err
		}
	}
	if err := c.write(ctx, step, lines); err != nil {
		return nil, err
	}
	return c.readReply(ctx, step)
}

// checkUnsolicited fails when bytes have already arrived before a command
// is written: a reply no command asked for (a second final reply, say).
// Read as the answer to the command, it would put every later reply one
// command behind; the session ends instead. A 421 is the exception a
// server may send at any time (RFC 5321 §3.8): it is read, and ends the
// session as the command's *ReplyError.
func (c *Conn) checkUnsolicited(ctx context.Context, step string) (*Reply, error) {
	extra := c.lr.buffered()
	if len(extra) == 0 {
		return nil, nil
	}
	if bytes.HasPrefix(extra, []byte("421")) {
		r, err := c.readReply(ctx, step)
		if err == nil {
			err = &ReplyError{Command: step, Reply: r}
		}
		return r, err
	}
	return nil, c.protocolFailure(step, &ProtocolError{
		Reason: strconv.Itoa(len(extra)) + " bytes arrived before " + step + " was sent: a reply no command asked for",
		Line:   firstLine(extra),
	})
}

// validLines refuses lines with CR, LF or NUL before anything is written.
func validLines(step string, lines []outLine) error {
	for _, l := range lines {
		if strings.ContainsAny(l.text, "\r\n\x00") {
			return &OpError{Op: step, Err: ErrInvalidLine}
		}
	}
	return nil
}

// write records lines and sends them in a single write.
func (c *Conn) write(ctx context.Context, step string, lines []outLine) error {
	if len(lines) == 0 {
		return nil
	}
	c.wbuf = c.wbuf[:0]
	for _, l := range lines {
		c.wbuf = append(c.wbuf, l.text...)
		c.wbuf = append(c.wbuf, '\r', '\n')
		if l.shown != "" {
			c.tr.secret(l.text, l.shown, c.tls != nil)
		} else {
			c.tr.add(Sent, l.text, c.tls != nil, false)
		}
	}
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return c.ioFailure(ctx, step, err)
	}
	return nil
}

// ioFailure ends the session after a transport error and says which step
// failed and, when the context caused it, why.
func (c *Conn) ioFailure(ctx context.Context, step string, err error) error {
	opErr := &OpError{Op: step, Err: withCtxCause(ctx, err)}
	c.fail(opErr)
	return opErr
}

// fail marks the session over and closes the connection. The first cause
// is kept: every later call returns it.
func (c *Conn) fail(err error) {
	if c.broken == nil {
		c.broken = err
	}
	c.unwatch()
	c.nc.Close()
}

// verbOf returns the command word of a line, for naming the step.
func verbOf(line string) string {
	verb := line
	if i := strings.IndexAny(line, " \r\n\x00"); i >= 0 {
		verb = line[:i]
	}
	if verb == "" || escape(verb) != verb {
		return "raw"
	}
	return strings.ToUpper(truncate(verb, 16))
}
