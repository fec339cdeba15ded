package fakeserver

import "net"

// Reset aborts the connection with a TCP RST instead of an orderly close
// (SO_LINGER 0, then close), discarding anything still buffered, as a
// crashing server or a middlebox does. Like Close, the session ends after
// the current handler returns.
func (s *Session) Reset() {
	if tc, ok := s.raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	s.closeConn()
}
