//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package probe

import (
	"net"
	"syscall"
)

// socketPeek looks at a socket, without waiting and without consuming
// anything, for bytes from the server: one recv with MSG_PEEK on the
// socket under TLS. It is made once per Conn, so that a look allocates
// nothing.
type socketPeek struct {
	rc  syscall.RawConn
	b   [1]byte
	got bool
	fn  func(fd uintptr) bool
}

// newSocketPeek returns the peek for nc, or nil when nc is no socket
// (net.Pipe, a proxy's own type).
func newSocketPeek(nc net.Conn) *socketPeek {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &socketPeek{rc: rc}
	p.fn = p.recv
	return p
}

func (p *socketPeek) recv(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), p.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.got = n > 0 && err == nil
	return true // one attempt, never a wait
}

// arrived reports whether bytes from the server wait on the socket; false
// for a nil peek.
func (p *socketPeek) arrived() bool {
	if p == nil {
		return false
	}
	p.got = false
	p.rc.Read(p.fn)
	return p.got
}
