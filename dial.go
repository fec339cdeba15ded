package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"

	"golang.org/x/net/proxy"
)

// Dialer holds the options for opening a Conn; its zero value dials
// directly with the default Timeouts and Limits. A Dialer may be shared; a
// Conn keeps a copy.
type Dialer struct {
	// NetDialer (any golang.org/x/net/proxy dialer) comes first, then Proxy
	// ("socks5://user:pass@host:1080"; "socks5h://…" lets the proxy
	// resolve), then ProxyFromEnvironment (ALL_PROXY, NO_PROXY), else a
	// net.Dialer from LocalAddr.
	NetDialer            proxy.ContextDialer
	Proxy                string
	ProxyFromEnvironment bool
	LocalAddr            net.Addr
	Network              string       // "tcp" (if empty), "tcp4", "tcp6", "unix"; "unix:/path" targets are sockets
	ProxyHeader          *ProxyHeader // if set, sent first, before the banner and any TLS
	LocalName            string       // EHLO name when the call gives none (see Conn.LocalName)
	TLSConfig            *tls.Config  // for implicit TLS and StartTLS(ctx, nil); ServerName defaults to the host
	Timeouts             Timeouts
	Limits               Limits
	AllowInsecureAuth    bool         // permit AUTH with credentials without TLS
	RevealSecrets        bool         // record credentials in the transcript (redacted by default)
	RecordBody           bool         // record a message body line by line (a summary by default)
	LMTP                 bool         // speak LMTP (RFC 2033): LHLO, one final reply per recipient
	Logger               *slog.Logger // if set, gets every transcript entry live, at debug level
}

// Dial connects to addr ("host:port", or "host" for port 25) with a zero
// Dialer and reads the banner.
func Dial(ctx context.Context, addr string) (*Conn, error) {
	var d Dialer
	return d.Dial(ctx, addr)
}

// Dial connects to addr ("host:port"; port 25, or 24 for LMTP, if none)
// and reads the banner. On error the Conn is closed (Connect keeps it).
func (d *Dialer) Dial(ctx context.Context, addr string) (*Conn, error) {
	c, err := d.Connect(ctx, addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.ReadBanner(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Connect opens a Conn as Dial does but reads nothing (see ReadBanner,
// Handshake, WriteRaw); the Conn stays open until Quit or Close.
func (d *Dialer) Connect(ctx context.Context, addr string) (*Conn, error) {
	return d.open(ctx, addr, d.defaultPort())
}

// defaultPort is the port of a target that names none: 25, or 24 for LMTP.
func (d *Dialer) defaultPort() string {
	if d.LMTP {
		return "24"
	}
	return "25"
}

// open dials addr and wraps the connection, without reading anything.
func (d *Dialer) open(ctx context.Context, addr, defaultPort string) (*Conn, error) {
	var header []byte
	if d.ProxyHeader != nil {
		b, err := d.ProxyHeader.bytes()
		if err != nil {
			return nil, &OpError{Op: "connect", Err: err}
		}
		header = b
	}
	network, host, hostport := d.Network, "", ""
	if path, ok := strings.CutPrefix(addr, "unix:"); ok || network == "unix" {
		network, hostport = "unix", path
		if !ok {
			hostport = addr
		}
	} else {
		host, hostport = splitTarget(addr, defaultPort)
	}
	nc, err := d.dial(ctx, network, hostport)
	if err != nil {
		return nil, &OpError{Op: "connect", Err: err}
	}
	c := NewConn(nc, d)
	c.host = host
	if header != nil {
		if err := c.sendProxyHeader(ctx, header); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// sendProxyHeader writes the PROXY header in one write and notes it.
func (c *Conn) sendProxyHeader(ctx context.Context, header []byte) error {
	if err := c.begin(ctx, "PROXY header", c.d.Timeouts.Connect); err != nil {
		c.Close()
		return err
	}
	c.note(c.d.ProxyHeader.note(header))
	if _, err := c.nc.Write(header); err != nil {
		return c.ioFailure(ctx, "PROXY header", err)
	}
	return nil
}

// splitTarget returns the host of addr and addr with a port.
func splitTarget(addr, defaultPort string) (host, hostport string) {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h, addr
	}
	h := addr
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return h, net.JoinHostPort(h, defaultPort)
}

func (d *Dialer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	if network == "" {
		network = "tcp"
	}
	if network != "tcp" && network != "tcp4" && network != "tcp6" && network != "unix" {
		return nil, fmt.Errorf("network %q is not tcp, tcp4, tcp6 or unix", network)
	}
	nd, err := d.netDialer()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeouts.withDefaults().Connect)
	defer cancel()
	nc, err := nd.DialContext(ctx, network, address)
	if err != nil && ctx.Err() != nil {
		return nil, &ctxError{ctx: ctx.Err(), io: err}
	}
	return nc, err
}

// netDialer picks the dialer: NetDialer, Proxy, the environment, or none.
func (d *Dialer) netDialer() (proxy.ContextDialer, error) {
	direct := &net.Dialer{LocalAddr: d.LocalAddr}
	switch {
	case d.NetDialer != nil:
		return d.NetDialer, nil
	case d.Proxy != "":
		return proxyDialer(d.Proxy, direct)
	case d.ProxyFromEnvironment:
		return proxyFromEnvironment(direct)
	}
	return direct, nil
}

// proxyFromEnvironment reads ALL_PROXY and NO_PROXY at each dial (unlike
// x/net/proxy, which reads them once per process), so a long-running agent
// sees changes.
func proxyFromEnvironment(direct *net.Dialer) (proxy.ContextDialer, error) {
	raw := getenvAny("ALL_PROXY", "all_proxy")
	if raw == "" {
		return direct, nil
	}
	pd, err := proxyDialer(raw, direct)
	if err != nil {
		return nil, fmt.Errorf("ALL_PROXY: %w", err)
	}
	noProxy := getenvAny("NO_PROXY", "no_proxy")
	if noProxy == "" {
		return pd, nil
	}
	perHost := proxy.NewPerHost(pd, direct)
	perHost.AddFromString(noProxy)
	return perHost, nil
}

func getenvAny(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// proxyDialer builds a SOCKS5 dialer from a URL. With "socks5" the target
// is resolved here, as the scheme promises; with "socks5h", by the proxy.
func proxyDialer(raw string, forward *net.Dialer) (bothDialer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// A *url.Error quotes the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("proxy URL: %w", err)
	}
	if u.Scheme != "socks5" && u.Scheme != "socks5h" {
		return nil, fmt.Errorf("proxy URL: scheme %q is not socks5 or socks5h", u.Scheme)
	}
	pd, err := proxy.FromURL(u, forward)
	if err != nil {
		return nil, fmt.Errorf("proxy URL: %w", err)
	}
	cd, ok := pd.(bothDialer)
	if !ok {
		return nil, fmt.Errorf("proxy URL: %T cannot dial with a context", pd)
	}
	if u.Scheme == "socks5" {
		return resolveFirst{cd}, nil
	}
	return cd, nil
}

// bothDialer dials with and without a context, as proxy.PerHost needs.
type bothDialer interface {
	proxy.Dialer
	proxy.ContextDialer
}

// resolveFirst resolves a host name locally and dials its first address.
type resolveFirst struct{ next bothDialer }

func (r resolveFirst) Dial(network, addr string) (net.Conn, error) {
	return r.DialContext(context.Background(), network, addr)
}

func (r resolveFirst) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return r.next.DialContext(ctx, network, addr)
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("lookup %s: no addresses", host)
	}
	return r.next.DialContext(ctx, network, net.JoinHostPort(ips[0].IP.String(), port))
}
