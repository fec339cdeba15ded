package bench

import (
	"encoding/binary"
	"io"
	"net"
	"syscall"
	"time"
)

// stampedReader reads a TCP connection with the time the kernel received
// the data (SO_TIMESTAMPNS), so that a delay proxy counts a chunk's delay
// from when it reached this host, as a link would, and not from when the
// proxy's goroutine got to read it: on a busy machine that can be a
// millisecond later, and the link would be slower than its nominal RTT.
type stampedReader struct {
	rc  syscall.RawConn
	oob []byte
}

// newStampedReader returns a stampedReader for c, or nil when c is no TCP
// connection or the kernel does not stamp its data.
func newStampedReader(c net.Conn) *stampedReader {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	return &stampedReader{rc: rc, oob: make([]byte, syscall.CmsgSpace(16))}
}

// Read reads into p and returns when the kernel received the last of the
// bytes read (now, if it did not say), on the monotonic clock: the
// kernel's stamp is wall time, so it gives only how long ago that was.
func (r *stampedReader) Read(p []byte) (int, time.Time, error) {
	var n, oobn int
	var rerr error
	err := r.rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = syscall.Recvmsg(int(fd), p, r.oob, 0)
		return rerr != syscall.EAGAIN && rerr != syscall.EINTR
	})
	switch {
	case err != nil:
		return 0, time.Time{}, err
	case rerr != nil:
		return 0, time.Time{}, rerr
	case n == 0:
		return 0, time.Time{}, io.EOF
	}
	now := time.Now()
	if stamp, ok := receivedAt(r.oob[:oobn]); ok {
		return n, now.Add(-max(now.Sub(stamp), 0)), nil
	}
	return n, now, nil
}

// receivedAt is the SCM_TIMESTAMPNS time in oob, if there is one.
func receivedAt(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) == 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}
