package fakeserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a running fake SMTP server. Its methods are safe for concurrent
// use.
type Server struct {
	cfg     Config
	ln      net.Listener
	network string // "tcp" or "unix"
	tmpDir  string // made for a "unix:" socket; removed by Close
	done    chan struct{}
	wg      sync.WaitGroup

	// Clients allowed XCLIENT and XFORWARD (nil: all).
	xclientAllow  []netip.Prefix
	xforwardAllow []netip.Prefix

	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	closing  bool
	sessions []*Session
	active   map[*Session]struct{}
	finished int
	messages []Message
	msgCount int
	changed  chan struct{} // closed and replaced on every change
}

// UnixPrefix marks a Config.Addr (and a Server.Addr) that is a unix
// socket path rather than a TCP address.
const UnixPrefix = "unix:"

// Start starts a server listening on cfg.Addr (default 127.0.0.1:0).
func Start(cfg Config) (*Server, error) {
	cfg = cfg.normalize()
	if cfg.ImplicitTLS && !cfg.tlsEnabled() {
		return nil, errors.New("fakeserver: ImplicitTLS needs TLSCert or TLSConfig")
	}
	xclientAllow, err := parseHostList("XClientHosts", cfg.XClientHosts)
	if err != nil {
		return nil, err
	}
	xforwardAllow, err := parseHostList("XForwardHosts", cfg.XForwardHosts)
	if err != nil {
		return nil, err
	}
	ln, network, tmpDir, err := listen(cfg.Addr)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		cfg:     cfg,
		ln:      ln,
		network: network,
		tmpDir:  tmpDir,

		xclientAllow:  xclientAllow,
		xforwardAllow: xforwardAllow,
		done:          make(chan struct{}),
		active:        make(map[*Session]struct{}),
		changed:       make(chan struct{}),
	}
	srv.wg.Go(srv.acceptLoop)
	return srv, nil
}

// listen opens the listener for addr: a TCP address, or UnixPrefix and a
// socket path. An empty path makes a socket in a new temporary directory,
// whose name is returned for Close to remove.
func listen(addr string) (ln net.Listener, network, tmpDir string, err error) {
	path, isUnix := strings.CutPrefix(addr, UnixPrefix)
	if !isUnix {
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, "", "", fmt.Errorf("fakeserver: listen: %w", err)
		}
		return ln, "tcp", "", nil
	}
	if path == "" {
		if tmpDir, err = os.MkdirTemp("", "fakeserver"); err != nil {
			return nil, "", "", fmt.Errorf("fakeserver: socket directory: %w", err)
		}
		path = filepath.Join(tmpDir, "smtp.sock")
	}
	ln, err = net.Listen("unix", path)
	if err != nil {
		if tmpDir != "" {
			_ = os.RemoveAll(tmpDir)
		}
		return nil, "", "", fmt.Errorf("fakeserver: listen: %w", err)
	}
	return ln, "unix", tmpDir, nil
}

// Addr returns the address the server listens on: "127.0.0.1:port" for
// TCP, or UnixPrefix followed by the socket path ("unix:/tmp/x/smtp.sock").
func (srv *Server) Addr() string {
	if srv.network == "unix" {
		return UnixPrefix + srv.ln.Addr().String()
	}
	return srv.ln.Addr().String()
}

// DialAddr returns the network ("tcp" or "unix") and the address (host and
// port, or socket path) to pass to net.Dial: net.Dial(srv.DialAddr()).
func (srv *Server) DialAddr() (network, address string) {
	return srv.network, srv.ln.Addr().String()
}

// Port returns the TCP port the server listens on, or 0 on a unix socket.
func (srv *Server) Port() int {
	if srv.network != "tcp" {
		return 0
	}
	_, p, _ := net.SplitHostPort(srv.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// Hostname returns the server's configured hostname.
func (srv *Server) Hostname() string { return srv.cfg.Hostname }

// Close closes the listener and every session, and waits for all the
// server's goroutines to exit. It is safe to call more than once.
func (srv *Server) Close() error {
	srv.closeOnce.Do(func() {
		close(srv.done)
		srv.closeErr = srv.ln.Close()
		if srv.tmpDir != "" {
			if err := os.RemoveAll(srv.tmpDir); err != nil && srv.closeErr == nil {
				srv.closeErr = err
			}
		}
		srv.mu.Lock()
		srv.closing = true
		for s := range srv.active {
			s.closeConn()
		}
		srv.mu.Unlock()
	})
	srv.wg.Wait()
	return srv.closeErr
}

func (srv *Server) acceptLoop() {
	for {
		c, err := srv.ln.Accept()
		if err != nil {
			select {
			case <-srv.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		srv.startSession(c)
	}
}

func (srv *Server) startSession(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closing {
		_ = c.Close()
		return
	}
	s := newSession(srv, len(srv.sessions)+1, c)
	srv.sessions = append(srv.sessions, s)
	srv.active[s] = struct{}{}
	srv.wg.Go(s.run)
}

// sessionDone is called by a session goroutine when it ends.
func (srv *Server) sessionDone(s *Session) {
	srv.mu.Lock()
	delete(srv.active, s)
	srv.finished++
	srv.notifyLocked()
	srv.mu.Unlock()
}

func (srv *Server) addMessage(m Message) {
	srv.mu.Lock()
	srv.msgCount++
	if !srv.cfg.NoRecord {
		srv.messages = append(srv.messages, m)
	}
	srv.notifyLocked()
	srv.mu.Unlock()
}

func (srv *Server) notifyLocked() {
	close(srv.changed)
	srv.changed = make(chan struct{})
}

// Messages returns copies of the messages accepted so far, in order.
func (srv *Server) Messages() []Message {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]Message, len(srv.messages))
	for i, m := range srv.messages {
		out[i] = m.clone()
	}
	return out
}

// MessageCount returns how many messages were accepted (also with NoRecord).
func (srv *Server) MessageCount() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.msgCount
}

// Sessions returns snapshots of the records of all sessions so far, in
// accept order (running ones included).
func (srv *Server) Sessions() []SessionRecord {
	srv.mu.Lock()
	list := append([]*Session(nil), srv.sessions...)
	srv.mu.Unlock()
	out := make([]SessionRecord, len(list))
	for i, s := range list {
		out[i] = s.Record()
	}
	return out
}

// LiveSessions returns the Session objects of all sessions so far, in
// accept order, for tests that want live counters (Flushes, ClientReads).
func (srv *Server) LiveSessions() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]*Session(nil), srv.sessions...)
}

// WaitSessions waits until at least n sessions have ended, then returns
// the records of all sessions. It fails after timeout.
func (srv *Server) WaitSessions(n int, timeout time.Duration) ([]SessionRecord, error) {
	err := srv.waitFor(timeout, func() bool { return srv.finished >= n })
	if err != nil {
		return srv.Sessions(), fmt.Errorf("fakeserver: %d of %d sessions ended: %w", srv.countFinished(), n, err)
	}
	return srv.Sessions(), nil
}

// WaitMessages waits until at least n messages were accepted, then returns
// them. It fails after timeout.
func (srv *Server) WaitMessages(n int, timeout time.Duration) ([]Message, error) {
	err := srv.waitFor(timeout, func() bool { return srv.msgCount >= n })
	if err != nil {
		return srv.Messages(), fmt.Errorf("fakeserver: %d of %d messages: %w", srv.MessageCount(), n, err)
	}
	return srv.Messages(), nil
}

// ErrTimeout is returned by the Wait methods when the timeout expires.
var ErrTimeout = errors.New("timed out")

func (srv *Server) countFinished() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.finished
}

// waitFor waits until cond (called with srv.mu held) is true.
func (srv *Server) waitFor(timeout time.Duration, cond func() bool) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		srv.mu.Lock()
		ok, ch := cond(), srv.changed
		srv.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			return ErrTimeout
		}
	}
}
