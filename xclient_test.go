package probe

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/pires/go-proxyproto"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestXClient: XCLIENT sends the attributes xtext-encoded in the order of
// their names, reads the new 220 and forgets the capabilities; the server
// records what it was told.
func TestXClient(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{XClient: true})
	c, err := hostileDial(t, ctx, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	r, err := c.XClient(ctx, map[string]string{"ADDR": "192.0.2.7", "NAME": "client.example", "LOGIN": "joe+one=x", "PORT": "[UNAVAILABLE]",
		"REVERSE_NAME": "rev.client.example"})
	if err != nil || r.Code != 220 {
		t.Fatalf("XClient = %v, %v", r, err)
	}
	if c.Capabilities() != nil || c.Banner() != r {
		t.Error("the capabilities outlived XCLIENT, or the new greeting is not the banner")
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Transcript().String(), "C: XCLIENT ADDR=192.0.2.7 LOGIN=joe+2Bone+3Dx NAME=client.example PORT=[UNAVAILABLE] REVERSE_NAME=rev.client.example\n") {
		t.Errorf("transcript:\n%s", c.Transcript())
	}
	live := srv.LiveSessions()
	if len(live) != 1 {
		t.Fatalf("%d live sessions", len(live))
	}
	if x := live[0].XClient(); x["LOGIN"] != "joe+one=x" || x["ADDR"] != "192.0.2.7" || x["REVERSE_NAME"] != "rev.client.example" {
		t.Errorf("server recorded %v", live[0].XClient())
	}
}

// TestXForward: XFORWARD wants 250.
func TestXForward(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{XForward: true})
	c, err := hostileDial(t, ctx, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if r, err := c.XForward(ctx, map[string]string{"ADDR": "198.51.100.1", "IDENT": "queue 42"}); err != nil || r.Code != 250 {
		t.Fatalf("XForward = %v, %v", r, err)
	}
}

// TestXClientRefusedBeforeWriting: what XCLIENT cannot send is refused
// with nothing written.
func TestXClientRefusedBeforeWriting(t *testing.T) {
	ctx := testCtx(t)
	cases := []struct {
		name  string
		cfg   fakeserver.Config
		attrs map[string]string
		want  error
	}{
		{"not offered", fakeserver.Config{}, map[string]string{"ADDR": "192.0.2.7"}, ErrNotOffered},
		{"unknown name", fakeserver.Config{XClient: true}, map[string]string{"COLOR": "red"}, ErrInvalidArgument},
		{"lower case", fakeserver.Config{XClient: true}, map[string]string{"addr": "192.0.2.7"}, ErrInvalidArgument},
		{"CR LF in value", fakeserver.Config{XClient: true}, map[string]string{"NAME": "x\r\nMAIL FROM:<a@b>"}, ErrInvalidArgument},
		{"none", fakeserver.Config{XClient: true}, nil, ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.cfg)
			c, err := hostileDial(t, ctx, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Ehlo(ctx, ""); err != nil {
				t.Fatal(err)
			}
			_, err = c.XClient(ctx, tc.attrs)
			var oe *OpError
			if !errors.As(err, &oe) || !errors.Is(err, tc.want) {
				t.Fatalf("XClient = %v, want an *OpError wrapping %v", err, tc.want)
			}
			if got := string(clientBytes(t, c, srv).ClientBytes); strings.Contains(got, "XCLIENT") {
				t.Errorf("sent %q", got)
			}
		})
	}
}

// TestProxyHeader: a v1 and a v2 header reach the server before anything
// else, with the addresses they claim and the v2 TLVs.
func TestProxyHeader(t *testing.T) {
	src, dst := netip.MustParseAddrPort("192.0.2.1:5555"), netip.MustParseAddrPort("198.51.100.2:25")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::7]:5555"), netip.MustParseAddrPort("[2001:db8::1]:25")
	for _, h := range []ProxyHeader{
		{Version: 1, Source: src, Destination: dst},
		{Version: 2, Source: src, Destination: dst, TLVs: []proxyproto.TLV{{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("mx.example")}}},
		{Version: 1, Source: src6, Destination: dst6},
		{Version: 2, Source: src6, Destination: dst6},
		{Version: 1},
	} {
		srv := startServer(t, fakeserver.Config{ProxyProtocol: true})
		c, err := hostileDial(t, testCtx(t), srv, func(d *Dialer) { d.ProxyHeader = &h })
		if err != nil {
			t.Fatalf("v%d %v: %v", h.Version, h.Source, err)
		}
		rec := clientBytes(t, c, srv)
		if rec.Proxy == nil || rec.Proxy.Version != h.Version {
			t.Fatalf("v%d: server saw %+v", h.Version, rec.Proxy)
		}
		if h.Source.IsValid() && rec.Proxy.Source != h.Source.String() {
			t.Errorf("v%d: source %v, want %v", h.Version, rec.Proxy.Source, h.Source)
		}
		if !strings.Contains(c.Transcript().String(), "PROXY") {
			t.Errorf("the transcript does not note the header:\n%s", c.Transcript())
		}
	}
}

// TestProxyHeaderRefused: a header that cannot be sent is refused before
// anything is dialled.
func TestProxyHeaderRefused(t *testing.T) {
	src, dst6 := netip.MustParseAddrPort("192.0.2.1:5555"), netip.MustParseAddrPort("[2001:db8::1]:25")
	for _, h := range []ProxyHeader{
		{Version: 1, Source: src, Destination: dst6},
		{Version: 3, Source: src, Destination: src},
		{Version: 2, Source: src},
		{Version: 1, Source: src, Destination: src, TLVs: []proxyproto.TLV{{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("x")}}},
	} {
		srv := startServer(t, fakeserver.Config{ProxyProtocol: true})
		_, err := hostileDial(t, testCtx(t), srv, func(d *Dialer) { d.ProxyHeader = &h })
		var oe *OpError
		if !errors.As(err, &oe) || oe.Op != "connect" || !errors.Is(err, errProxyHeader) {
			t.Errorf("%+v: %v, want an invalid PROXY header", h, err)
		}
		srv.Close()
		if n := len(srv.Sessions()); n != 0 {
			t.Errorf("%+v: %d connections", h, n)
		}
	}
}

// TestUnixSocket: "unix:/path" dials a unix socket; a path that does not
// exist is a connect error.
func TestUnixSocket(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{Addr: "unix:", LMTP: true})
	d := Dialer{LMTP: true}
	c, err := d.Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = d.Dial(ctx, "unix:"+t.TempDir()+"/nothing.sock")
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op != "connect" {
		t.Errorf("Dial of a missing socket = %v", err)
	}
}

// TestNetworkAndLocalAddr: tcp4 reaches an IPv4 listener from the local
// address asked for; an unknown network is refused.
func TestNetworkAndLocalAddr(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	d := Dialer{Network: "tcp4", LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}}
	c, err := d.Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.NetConn().LocalAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.9" {
		t.Errorf("local address %s", got)
	}
	c.Close()
	d = Dialer{Network: "udp"}
	if _, err := d.Dial(ctx, srv.Addr()); err == nil {
		t.Error("network udp accepted")
	}
}
