//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package probe

import (
	"net"
	"syscall"
)

// arrived reports, without waiting and without consuming anything,
// whether bytes from the server wait on the connection: one recv with
// MSG_PEEK on the socket under TLS, if there is one. A connection that is
// no socket (net.Pipe, a proxy's own type) reports false.
func arrived(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	got := false
	rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		got = n > 0 && err == nil
		return true // one attempt, never a wait
	})
	return got
}
