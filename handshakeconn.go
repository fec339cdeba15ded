package probe

import "net"

// sniffLimit is how many of the first bytes a handshake reads are kept.
const sniffLimit = 512

// handshakeConn is the connection a TLS client runs on. It does two things
// for the handshake:
//
//   - it keeps the first bytes read, so that a failed handshake can tell
//     plaintext from a broken TLS record;
//   - while hold is set, it keeps what crypto/tls writes until the next
//     read, so each flight leaves in one write. The client's last flight
//     (its Finished) has no read after it: it stays held after the
//     handshake and leaves with the first command, in the same write and
//     TCP segment. That saves a write and a segment, and changes no round
//     trip: the server needs the Finished only to read that command.
//
// Anything held is written before any read and before Close, so nothing
// can wait on bytes that were never sent.
type handshakeConn struct {
	net.Conn
	seen    []byte
	hold    bool   // keep writes in pending instead of writing them
	pending []byte // written by crypto/tls, not yet sent
}

func (h *handshakeConn) Read(p []byte) (int, error) {
	if err := h.release(); err != nil {
		return 0, err
	}
	n, err := h.Conn.Read(p)
	if room := sniffLimit - len(h.seen); room > 0 && n > 0 {
		h.seen = append(h.seen, p[:min(n, room)]...)
	}
	return n, err
}

func (h *handshakeConn) Write(p []byte) (int, error) {
	if h.hold {
		if h.pending == nil {
			h.pending = make([]byte, 0, max(len(p), 2048))
		}
		h.pending = append(h.pending, p...)
		return len(p), nil
	}
	if len(h.pending) == 0 {
		return h.Conn.Write(p)
	}
	h.pending = append(h.pending, p...)
	if err := h.release(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *handshakeConn) Close() error {
	h.release()
	return h.Conn.Close()
}

// release writes what is held, in one write. The buffer is kept for the
// next flight while the handshake runs, and dropped after it.
func (h *handshakeConn) release() error {
	if len(h.pending) == 0 {
		return nil
	}
	_, err := h.Conn.Write(h.pending)
	if h.hold {
		h.pending = h.pending[:0]
	} else {
		h.pending = nil
	}
	return err
}
