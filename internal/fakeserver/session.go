package fakeserver

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// ErrClosed is returned by Session methods once the session is closed.
var ErrClosed = errors.New("fakeserver: session closed")

var errLineTooLong = errors.New("fakeserver: line too long")

// Session is one client connection. Its methods (except Record, Flushes,
// ClientReads, ID and Done) must only be called from handlers, which run in
// the session goroutine.
type Session struct {
	srv *Server
	cfg *Config
	id  int
	raw net.Conn
	tap *tap
	br  *bufio.Reader
	bw  *bufio.Writer

	closeOnce sync.Once
	closed    chan struct{}
	doneCh    chan struct{}

	mu  sync.Mutex
	rec SessionRecord

	// Protocol state, owned by the session goroutine.
	helo     string
	esmtp    bool
	tlsState *tls.ConnectionState
	authUser string
	authed   bool
	inAuth   bool
	pendUser string
	noSvc    bool
	lastCode int
	tx       *transaction
	counts   map[string]int
	step     *activeStep
	cur      Command // the command being answered
	proxy    *ProxyHeader
	xclient  map[string]string
	xforward map[string]string

	extraChallenge *string // see ExtraChallenge
}

// tap sits between the buffered reader/writer and the connection (plain or
// TLS). It records traffic and flushes pending replies before blocking on a
// read, which is how replies to pipelined commands end up in one write.
type tap struct {
	s *Session
	c net.Conn
}

func (t *tap) Read(p []byte) (int, error) {
	if err := t.s.Flush(); err != nil {
		return 0, err
	}
	n, err := t.c.Read(p)
	if n > 0 {
		t.s.recordClient(p[:n])
	}
	return n, err
}

func (t *tap) Write(p []byte) (int, error) {
	t.s.recordServer(p)
	return t.c.Write(p)
}

// addrString is a.String(), or "" for a nil address (an unnamed unix
// socket peer may have none).
func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// eofReader is an empty reader.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func newSession(srv *Server, id int, c net.Conn) *Session {
	s := &Session{
		srv:    srv,
		cfg:    &srv.cfg,
		id:     id,
		raw:    c,
		closed: make(chan struct{}),
		doneCh: make(chan struct{}),
		counts: make(map[string]int),

		xclient:  make(map[string]string),
		xforward: make(map[string]string),
	}
	s.rec = SessionRecord{ID: id, Remote: addrString(c.RemoteAddr()), ClientTLSOffset: -1, ServerTLSOffset: -1}
	s.tap = &tap{s: s, c: c}
	s.br = bufio.NewReaderSize(s.tap, MaxLineLength)
	s.bw = bufio.NewWriterSize(s.tap, 64<<10)
	return s
}

func (s *Session) run() {
	defer s.finish()
	if s.cfg.ProxyProtocol {
		if err := s.readProxyHeader(); err != nil {
			s.setErr(err)
			return
		}
	}
	if s.cfg.ImplicitTLS {
		if err := s.handshake(); err != nil {
			s.setErr(err)
			return
		}
	}
	s.greet()
	for !s.isClosed() {
		raw, err := s.readRawLine()
		if errors.Is(err, errLineTooLong) {
			s.Reply(500, "5.5.2 Error: line too long")
			continue
		}
		if err != nil {
			s.setErr(err)
			return
		}
		cmd := parseCommand(raw, s.TLS())
		s.recordCommand(cmd)
		s.dispatch(cmd)
	}
}

func (s *Session) finish() {
	if !s.isClosed() {
		_ = s.Flush()
	}
	s.closeConn()
	s.tx = nil
	// Free the large buffers (finished sessions are kept for their
	// records); late calls from handlers read EOF and write nowhere.
	s.br = bufio.NewReaderSize(eofReader{}, 16)
	s.bw = bufio.NewWriterSize(io.Discard, 16)
	s.mu.Lock()
	s.rec.Done = true
	s.mu.Unlock()
	close(s.doneCh)
	s.srv.sessionDone(s)
}

// setErr records why the session ended, ignoring ordinary ends.
func (s *Session) setErr(err error) {
	if err == nil || errors.Is(err, io.EOF) || s.isClosed() {
		return
	}
	s.mu.Lock()
	if s.rec.Err == nil {
		s.rec.Err = err
	}
	s.mu.Unlock()
}

func (s *Session) closeConn() {
	s.closeOnce.Do(func() {
		close(s.closed)
		_ = s.raw.Close()
	})
}

func (s *Session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// ID returns the session number (1 for the first accepted connection).
func (s *Session) ID() int { return s.id }

// Done returns a channel closed when the session goroutine has ended.
func (s *Session) Done() <-chan struct{} { return s.doneCh }

// Config returns the server's configuration, defaults filled in.
func (s *Session) Config() Config { return *s.cfg }

// Helo returns the argument of the last successful EHLO/HELO/LHLO.
func (s *Session) Helo() string { return s.helo }

// TLS reports whether TLS is active.
func (s *Session) TLS() bool { return s.tlsState != nil }

// TLSState returns the TLS connection state, or nil before TLS.
func (s *Session) TLSState() *tls.ConnectionState { return s.tlsState }

// Authenticated returns the authenticated user name, or "".
func (s *Session) Authenticated() string { return s.authUser }

// Reply buffers a reply; several lines make a multi-line reply (code-text
// on all but the last). It is sent when the server next waits for input,
// or on Flush.
func (s *Session) Reply(code int, lines ...string) {
	code, lines = s.rewrite(code, lines)
	s.lastCode = code
	s.emit(formatReply(code, lines, s.eol()))
	s.replied()
}

// WriteRaw buffers b exactly as given (no line ending added).
func (s *Session) WriteRaw(b []byte) {
	_, _ = s.bw.Write(b)
}

// Flush writes the buffered replies now.
func (s *Session) Flush() error {
	if s.bw.Buffered() == 0 {
		return nil
	}
	return s.bw.Flush()
}

// Sleep waits for d, returning false early if the session or the server is
// closed.
func (s *Session) Sleep(d time.Duration) bool {
	if d <= 0 {
		return !s.isClosed()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closed:
		return false
	case <-s.srv.done:
		return false
	}
}

// Close flushes what is buffered (best effort) and closes the connection;
// the session ends after the current handler returns.
func (s *Session) Close() {
	if !s.isClosed() {
		_ = s.Flush()
	}
	s.closeConn()
}

// Closed returns a channel that is closed when the connection is closed.
func (s *Session) Closed() <-chan struct{} { return s.closed }

// readRawLine reads one line, including its ending, bounded by MaxLineLength.
// The result aliases the reader's buffer.
func (s *Session) readRawLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = s.br.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return nil, errLineTooLong
	}
	return line, err
}

// ReadLine reads one line from the client (at most MaxLineLength bytes)
// and returns it without its line ending.
func (s *Session) ReadLine() (string, error) {
	raw, err := s.readRawLine()
	if err != nil {
		return "", err
	}
	return trimEOL(string(raw)), nil
}

func trimEOL(l string) string {
	if len(l) > 0 && l[len(l)-1] == '\n' {
		l = l[:len(l)-1]
	}
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	return l
}

// ReadCommand reads and records one command line.
func (s *Session) ReadCommand() (Command, error) {
	raw, err := s.readRawLine()
	if err != nil {
		return Command{}, err
	}
	cmd := parseCommand(raw, s.TLS())
	s.recordCommand(cmd)
	return cmd, nil
}

// ReadFull reads exactly n bytes from the client.
func (s *Session) ReadFull(n int) ([]byte, error) {
	if n < 0 || n > int(s.cfg.MaxMessageSize) {
		return nil, errors.New("fakeserver: ReadFull size out of range")
	}
	b := make([]byte, n)
	_, err := io.ReadFull(s.br, b)
	return b, err
}

// Discard reads and drops client input until the client or the server
// closes the connection; it is how a server goes silent.
func (s *Session) Discard() {
	_, _ = io.Copy(io.Discard, s.br)
}
