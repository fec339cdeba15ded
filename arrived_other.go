//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package probe

import "net"

// arrived reports whether bytes from the server wait on the connection.
// Without a peek at the socket on this system it cannot tell, and says
// no: a reply during the body is then found after the final ".", as the
// answer to it.
func arrived(net.Conn) bool { return false }
