package main

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// socksServer is a minimal SOCKS5 proxy (RFC 1928, with RFC 1929
// user/password when user is set) for tests: it serves CONNECT only, maps
// names through hosts, records what each client asked for, and relays.
type socksServer struct {
	ln         net.Listener
	user, pass string
	hosts      map[string]string // name → IP, for socks5h targets

	mu       sync.Mutex
	requests []socksRequest
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// socksRequest is what one client did: the credentials it offered and the
// target of its CONNECT ("" when its login was refused).
type socksRequest struct {
	user, pass string
	target     string
}

// SOCKS5 protocol bytes.
const (
	socksVersion   = 5
	socksNoAuth    = 0x00
	socksUserPass  = 0x02
	socksNoMethod  = 0xff
	socksConnect   = 0x01
	socksIPv4      = 0x01
	socksName      = 0x03
	socksIPv6      = 0x04
	socksSucceeded = 0x00
	socksFailure   = 0x01
	socksNoCommand = 0x07
)

// newSOCKSServer starts a proxy on 127.0.0.1; it stops when the test ends.
// With user set, clients must log in with user and pass.
func newSOCKSServer(t *testing.T, user, pass string, hosts map[string]string) *socksServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socksServer{ln: ln, user: user, pass: pass, hosts: hosts, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *socksServer) addr() string { return s.ln.Addr().String() }

// seen returns the requests so far.
func (s *socksServer) seen() []socksRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]socksRequest(nil), s.requests...)
}

func (s *socksServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// track registers c to be closed with the server; when the server is
// already closing, it closes c at once.
func (s *socksServer) track(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return
	}
	s.conns[c] = struct{}{}
}

func (s *socksServer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *socksServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.track(c)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.serve(c)
		}()
	}
}

// serve plays the proxy's side of one connection. Each request is
// recorded before the proxy answers it, so a client that has its answer
// finds it in seen.
func (s *socksServer) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req socksRequest
	if err := s.greet(c, &req); err != nil {
		return
	}
	target, err := readConnect(c)
	if err != nil {
		return
	}
	req.target = target
	s.record(req)
	up, err := s.dial(target)
	if err != nil {
		c.Write([]byte{socksVersion, socksFailure, 0, socksIPv4, 0, 0, 0, 0, 0, 0})
		return
	}
	s.track(up)
	defer s.untrack(up)
	local := up.LocalAddr().(*net.TCPAddr)
	reply := append([]byte{socksVersion, socksSucceeded, 0, socksIPv4}, local.IP.To4()...)
	if _, err := c.Write(binary.BigEndian.AppendUint16(reply, uint16(local.Port))); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	relay(c, up)
}

func (s *socksServer) record(req socksRequest) {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
}

// greet agrees on a method and, when the server has a user, checks the
// client's credentials.
func (s *socksServer) greet(c net.Conn, req *socksRequest) error {
	head := make([]byte, 2)
	if _, err := io.ReadFull(c, head); err != nil || head[0] != socksVersion {
		return errors.New("not SOCKS5")
	}
	methods := make([]byte, head[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return err
	}
	want := byte(socksNoAuth)
	if s.user != "" {
		want = socksUserPass
	}
	if !slices.Contains(methods, want) {
		c.Write([]byte{socksVersion, socksNoMethod})
		return errors.New("no acceptable method")
	}
	if _, err := c.Write([]byte{socksVersion, want}); err != nil || want == socksNoAuth {
		return err
	}
	// RFC 1929: VER ULEN UNAME PLEN PASSWD.
	ver := make([]byte, 1)
	if _, err := io.ReadFull(c, ver); err != nil || ver[0] != 1 {
		return errors.New("bad user/password version")
	}
	var err error
	if req.user, err = readShortString(c); err != nil {
		return err
	}
	if req.pass, err = readShortString(c); err != nil {
		return err
	}
	status := byte(0)
	if req.user != s.user || req.pass != s.pass {
		status = 1
		s.record(*req) // refused: no CONNECT will follow
	}
	c.Write([]byte{1, status})
	if status != 0 {
		return errors.New("bad credentials")
	}
	return nil
}

// readConnect reads a request and returns its target as host:port; any
// command but CONNECT is refused.
func readConnect(c net.Conn) (string, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(c, head); err != nil || head[0] != socksVersion {
		return "", errors.New("bad request")
	}
	if head[1] != socksConnect {
		c.Write([]byte{socksVersion, socksNoCommand, 0, socksIPv4, 0, 0, 0, 0, 0, 0})
		return "", errors.New("not CONNECT")
	}
	var host string
	switch head[3] {
	case socksIPv4, socksIPv6:
		ip := make(net.IP, 4)
		if head[3] == socksIPv6 {
			ip = make(net.IP, 16)
		}
		if _, err := io.ReadFull(c, ip); err != nil {
			return "", err
		}
		host = ip.String()
	case socksName:
		name, err := readShortString(c)
		if err != nil {
			return "", err
		}
		host = name
	default:
		return "", errors.New("bad address type")
	}
	port := make([]byte, 2)
	if _, err := io.ReadFull(c, port); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port)))), nil
}

// dial connects to target, names mapped through hosts; only loopback.
func (s *socksServer) dial(target string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	if ip, ok := s.hosts[host]; ok {
		host = ip
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, errors.New("test proxy dials loopback only")
	}
	return net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
}

// readShortString reads a length byte and that many bytes.
func readShortString(r io.Reader) (string, error) {
	n := make([]byte, 1)
	if _, err := io.ReadFull(r, n); err != nil {
		return "", err
	}
	b := make([]byte, n[0])
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// relay copies both ways until either side ends, then closes both.
func relay(a, b net.Conn) {
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(a, b)
	go pipe(b, a)
	<-done
	<-done
}
