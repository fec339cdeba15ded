package fakeserver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pires/go-proxyproto"
)

// DefaultProxyTimeout is how long a server with Config.ProxyProtocol waits
// for the PROXY header when Config.ProxyTimeout is zero (Postfix's
// smtpd_upstream_proxy_timeout).
const DefaultProxyTimeout = 5 * time.Second

// ProxyHeader is the PROXY protocol header a client sent before the
// greeting (HAProxy's PROXY protocol, versions 1 and 2).
type ProxyHeader struct {
	// Version is 1 (the text form) or 2 (the binary form).
	Version int
	// Command is "PROXY", or "LOCAL" for a version 2 header that carries
	// no addresses (a proxy's own health check).
	Command string
	// Protocol is "TCP4", "TCP6" or "UNKNOWN", as version 1 names them;
	// version 2 may also give "UDP4", "UDP6", "UNIX" or "UNIXGRAM".
	Protocol string
	// Source and Destination are the addresses the client claimed, as
	// "ip:port" ("[ip6]:port"), a socket path for UNIX, or "" if none.
	Source      string
	Destination string
	// TLVs are version 2's type-length-value fields, in order.
	TLVs []ProxyTLV
	// Raw is the header exactly as received.
	Raw []byte
}

// ProxyTLV is one type-length-value field of a version 2 PROXY header.
type ProxyTLV struct {
	Type  byte
	Value []byte
}

func (h *ProxyHeader) clone() *ProxyHeader {
	if h == nil {
		return nil
	}
	c := *h
	c.TLVs = make([]ProxyTLV, len(h.TLVs))
	for i, t := range h.TLVs {
		c.TLVs[i] = ProxyTLV{t.Type, bytes.Clone(t.Value)}
	}
	c.Raw = bytes.Clone(h.Raw)
	return &c
}

// readProxyHeader reads the PROXY header that must open the connection.
// On error the caller closes the connection without a word, as Postfix
// does.
func (s *Session) readProxyHeader() error {
	timeout := s.cfg.ProxyTimeout
	if timeout <= 0 {
		timeout = DefaultProxyTimeout
	}
	if err := s.raw.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("fakeserver: PROXY header: %w", err)
	}
	raw, err := readProxyBytes(s.tap)
	_ = s.raw.SetReadDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("fakeserver: PROXY header: %w", err)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := proxyproto.Read(br)
	if err != nil {
		return fmt.Errorf("fakeserver: PROXY header: %w", err)
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("fakeserver: PROXY header: %d bytes after it", br.Buffered())
	}
	ph, err := convertProxyHeader(h)
	if err != nil {
		return fmt.Errorf("fakeserver: PROXY header: %w", err)
	}
	ph.Raw = raw
	s.mu.Lock()
	s.rec.Proxy = ph.clone()
	s.mu.Unlock()
	s.proxy = ph
	return nil
}

// proxyV1Max is the longest version 1 header, CRLF included.
const proxyV1Max = 107

// readProxyBytes reads what looks like a PROXY header from r without
// taking a byte past its end (with implicit TLS the handshake follows):
// a version 1 line up to its LF, or version 2's 16 fixed bytes and the
// length they give. Anything else ends after its first byte.
func readProxyBytes(r io.Reader) ([]byte, error) {
	b := make([]byte, 1, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	switch b[0] {
	case 'P':
		for b[len(b)-1] != '\n' && len(b) < proxyV1Max {
			var c [1]byte
			if _, err := io.ReadFull(r, c[:]); err != nil {
				return nil, err
			}
			b = append(b, c[0])
		}
	case '\r':
		b = b[:16]
		if _, err := io.ReadFull(r, b[1:]); err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint16(b[14:16]))
		b = append(b, make([]byte, n)...)
		if _, err := io.ReadFull(r, b[16:]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Proxy returns the PROXY header the client sent, or nil.
func (s *Session) Proxy() *ProxyHeader { return s.proxy.clone() }

// clientIP is the client's address as the server sees it: the source of
// the PROXY header if there was one, else the peer of the connection.
func (s *Session) clientIP() net.IP {
	addr := addrString(s.raw.RemoteAddr())
	if s.proxy != nil {
		addr = s.proxy.Source
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

func convertProxyHeader(h *proxyproto.Header) (*ProxyHeader, error) {
	ph := &ProxyHeader{
		Version:     int(h.Version),
		Command:     "PROXY",
		Protocol:    proxyProtocolName(h.TransportProtocol),
		Source:      addrString(h.SourceAddr),
		Destination: addrString(h.DestinationAddr),
	}
	if h.Version == 2 && h.Command.IsLocal() {
		ph.Command = "LOCAL"
	}
	tlvs, err := h.TLVs()
	if err != nil {
		return nil, err
	}
	for _, t := range tlvs {
		ph.TLVs = append(ph.TLVs, ProxyTLV{byte(t.Type), bytes.Clone(t.Value)})
	}
	return ph, nil
}

func proxyProtocolName(p proxyproto.AddressFamilyAndProtocol) string {
	switch p {
	case proxyproto.TCPv4:
		return "TCP4"
	case proxyproto.TCPv6:
		return "TCP6"
	case proxyproto.UDPv4:
		return "UDP4"
	case proxyproto.UDPv6:
		return "UDP6"
	case proxyproto.UnixStream:
		return "UNIX"
	case proxyproto.UnixDatagram:
		return "UNIXGRAM"
	}
	return "UNKNOWN"
}
