package bench

import (
	"net"
	"sync"
	"time"
)

// batchListener hands out connections that hold their writes until the
// server next reads, as production MTAs (Postfix, Exim) do: every reply
// to a pipelined batch, or every line of an EHLO reply, goes out in one
// write. go-smtp's server flushes each line on its own; without this the
// server would cost each client several writes and wake-ups per reply.
type batchListener struct{ net.Listener }

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &batchConn{Conn: c}, nil
}

// batchFlushSize is how much a batchConn holds before it writes anyway.
const batchFlushSize = 64 << 10

// batchConn buffers writes and sends them before a Read, before Close,
// and whenever batchFlushSize bytes are pending. The server never waits
// for the client while holding unsent replies, so no round trip changes.
type batchConn struct {
	net.Conn
	mu      sync.Mutex // Close may come from the server's Close goroutine
	pending []byte
	err     error
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.pending = append(c.pending, p...)
	if len(c.pending) >= batchFlushSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *batchConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.flushLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *batchConn) Close() error {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *batchConn) flushLocked() error {
	if c.err != nil || len(c.pending) == 0 {
		return c.err
	}
	_, c.err = c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return c.err
}

// SetWriteDeadline sends what is pending under the old deadline first:
// crypto/tls sets a past deadline right after its close_notify.
func (c *batchConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline flushes like SetWriteDeadline.
func (c *batchConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}
