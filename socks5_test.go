package probe

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// socks5Server is a minimal SOCKS5 proxy (RFC 1928, with RFC 1929
// username/password when user is set) that records the targets it was
// asked for and relays bytes.
type socks5Server struct {
	ln         net.Listener
	user, pass string
	wg         sync.WaitGroup

	mu      sync.Mutex
	targets []string
	authOK  int
}

func startSOCKS5(t *testing.T, user, pass string) *socks5Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socks5Server{ln: ln, user: user, pass: pass}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *socks5Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.handle(c)
		}()
	}
}

func (s *socks5Server) seen() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...), s.authOK
}

func (s *socks5Server) handle(c net.Conn) {
	if err := s.negotiate(c); err != nil {
		return
	}
	target, err := readSOCKSRequest(c)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	host, port, _ := net.SplitHostPort(target)
	if host == "localhost" {
		target = net.JoinHostPort("127.0.0.1", port)
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
	done := make(chan struct{})
	go func() { io.Copy(up, c); up.Close(); close(done) }()
	io.Copy(c, up)
	c.Close()
	<-done
}

func (s *socks5Server) negotiate(c net.Conn) error {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return errors.New("not socks5")
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return err
	}
	if s.user == "" {
		_, err := c.Write([]byte{5, 0})
		return err
	}
	c.Write([]byte{5, 2})
	var ver [2]byte
	if _, err := io.ReadFull(c, ver[:]); err != nil {
		return err
	}
	user := make([]byte, ver[1])
	io.ReadFull(c, user)
	var plen [1]byte
	io.ReadFull(c, plen[:])
	pass := make([]byte, plen[0])
	io.ReadFull(c, pass)
	if string(user) != s.user || string(pass) != s.pass {
		c.Write([]byte{1, 1})
		return errors.New("bad credentials")
	}
	s.mu.Lock()
	s.authOK++
	s.mu.Unlock()
	_, err := c.Write([]byte{1, 0})
	return err
}

func readSOCKSRequest(c net.Conn) (string, error) {
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[1] != 1 {
		return "", errors.New("not a CONNECT")
	}
	var host string
	switch req[3] {
	case 1:
		ip := make([]byte, 4)
		io.ReadFull(c, ip)
		host = net.IP(ip).String()
	case 4:
		ip := make([]byte, 16)
		io.ReadFull(c, ip)
		host = net.IP(ip).String()
	case 3:
		var n [1]byte
		io.ReadFull(c, n[:])
		name := make([]byte, n[0])
		io.ReadFull(c, name)
		host = string(name)
	default:
		return "", errors.New("bad address type")
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:])))), nil
}
