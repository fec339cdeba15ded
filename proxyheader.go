package probe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pires/go-proxyproto"
)

// ProxyHeader is a PROXY protocol header (HAProxy's), sent in one write
// before anything else, as a load balancer does: a server set up for it
// (Postfix smtpd_upstream_proxy_protocol …) takes Source for the client's.
type ProxyHeader struct {
	Version             int              // 1 (text) or 2 (binary)
	Source, Destination netip.AddrPort   // both IPv4 or both IPv6; both zero: UNKNOWN (v1), LOCAL (v2)
	TLVs                []proxyproto.TLV // v2 type-length-value fields, in order
}

// errProxyHeader is wrapped by the error of a ProxyHeader that cannot be
// sent; nothing is dialled then.
var errProxyHeader = errors.New("invalid PROXY header")

// bytes returns the header as it goes on the wire.
func (h *ProxyHeader) bytes() ([]byte, error) {
	if h.Version != 1 && h.Version != 2 {
		return nil, fmt.Errorf("%w: version %d is not 1 or 2", errProxyHeader, h.Version)
	}
	if len(h.TLVs) > 0 && h.Version == 1 {
		return nil, fmt.Errorf("%w: TLVs need version 2", errProxyHeader)
	}
	hdr := &proxyproto.Header{Version: byte(h.Version), Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
	src, dst := h.Source, h.Destination
	switch {
	case !src.IsValid() && !dst.IsValid():
	case !src.IsValid() || !dst.IsValid():
		return nil, fmt.Errorf("%w: give both addresses or neither", errProxyHeader)
	case src.Addr().Unmap().Is4() != dst.Addr().Unmap().Is4():
		return nil, fmt.Errorf("%w: source %s and destination %s are of different families", errProxyHeader, src, dst)
	default:
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
		hdr = proxyproto.HeaderProxyFromAddrs(byte(h.Version), net.TCPAddrFromAddrPort(src), net.TCPAddrFromAddrPort(dst))
	}
	if len(h.TLVs) > 0 {
		if err := hdr.SetTLVs(h.TLVs); err != nil {
			return nil, fmt.Errorf("%w: %w", errProxyHeader, err)
		}
	}
	b, err := hdr.Format()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errProxyHeader, err)
	}
	return b, nil
}

// note is the transcript's account of the header.
func (h *ProxyHeader) note(wire []byte) string {
	if h.Version == 1 {
		return "PROXY header sent: " + strings.TrimSuffix(string(wire), "\r\n")
	}
	s := "PROXY v2 header sent (" + strconv.Itoa(len(wire)) + " bytes): "
	if h.Source.IsValid() {
		s += "PROXY " + h.Source.String() + " -> " + h.Destination.String()
	} else {
		s += "LOCAL"
	}
	if n := len(h.TLVs); n > 0 {
		types := make([]string, n)
		for i, t := range h.TLVs {
			types[i] = "0x" + strconv.FormatUint(uint64(t.Type), 16)
		}
		s += ", TLVs " + strings.Join(slices.Compact(types), " ")
	}
	return s
}
