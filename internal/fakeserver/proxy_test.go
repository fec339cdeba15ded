package fakeserver_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

var sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")

// proxyV2 builds a version 2 header by hand: cmd 0 is LOCAL, 1 PROXY;
// fam is 0x11 (TCP over IPv4) or 0x21 (TCP over IPv6).
func proxyV2(cmd, fam byte, src, dst string, sport, dport uint16, tlvs ...fakeserver.ProxyTLV) []byte {
	var body []byte
	if src != "" {
		body = append(body, netip.MustParseAddr(src).AsSlice()...)
		body = append(body, netip.MustParseAddr(dst).AsSlice()...)
		body = binary.BigEndian.AppendUint16(body, sport)
		body = binary.BigEndian.AppendUint16(body, dport)
	}
	for _, t := range tlvs {
		body = append(body, t.Type)
		body = binary.BigEndian.AppendUint16(body, uint16(len(t.Value)))
		body = append(body, t.Value...)
	}
	h := append(bytes.Clone(sigV2), 0x20|cmd, fam)
	h = binary.BigEndian.AppendUint16(h, uint16(len(body)))
	return append(h, body...)
}

func TestProxyProtocolAccepted(t *testing.T) {
	alpn := fakeserver.ProxyTLV{Type: 0x01, Value: []byte("smtp")}
	authority := fakeserver.ProxyTLV{Type: 0x02, Value: []byte("mx.example.test")}
	cases := []struct {
		name   string
		header []byte
		want   fakeserver.ProxyHeader
	}{
		{"v1-tcp4", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"),
			fakeserver.ProxyHeader{Version: 1, Command: "PROXY", Protocol: "TCP4", Source: "192.0.2.1:56324", Destination: "198.51.100.2:25"}},
		{"v1-tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 4000 587\r\n"),
			fakeserver.ProxyHeader{Version: 1, Command: "PROXY", Protocol: "TCP6", Source: "[2001:db8::1]:4000", Destination: "[2001:db8::2]:587"}},
		{"v1-unknown", []byte("PROXY UNKNOWN\r\n"),
			fakeserver.ProxyHeader{Version: 1, Command: "PROXY", Protocol: "UNKNOWN"}},
		{"v2-tcp4-tlvs", proxyV2(1, 0x11, "192.0.2.7", "198.51.100.9", 1234, 25, alpn, authority),
			fakeserver.ProxyHeader{Version: 2, Command: "PROXY", Protocol: "TCP4", Source: "192.0.2.7:1234", Destination: "198.51.100.9:25",
				TLVs: []fakeserver.ProxyTLV{alpn, authority}}},
		{"v2-tcp6", proxyV2(1, 0x21, "2001:db8::7", "2001:db8::9", 5555, 465),
			fakeserver.ProxyHeader{Version: 2, Command: "PROXY", Protocol: "TCP6", Source: "[2001:db8::7]:5555", Destination: "[2001:db8::9]:465"}},
		{"v2-local", proxyV2(0, 0x00, "", "", 0, 0),
			fakeserver.ProxyHeader{Version: 2, Command: "LOCAL", Protocol: "UNKNOWN"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := start(t, fakeserver.Config{ProxyProtocol: true})
			cl := dial(t, srv.Addr())
			// The header and the first command in one write: the command
			// must survive the header parser.
			cl.send(string(c.header) + "EHLO c\r\n")
			cl.expect(220)
			cl.expect(250)
			cl.cmd("QUIT", 221)
			rec := waitOne(t, srv)
			got := rec.Proxy
			if got == nil {
				t.Fatalf("no PROXY header recorded (err %v)", rec.Err)
			}
			if !bytes.Equal(got.Raw, c.header) {
				t.Fatalf("raw %q, want %q", got.Raw, c.header)
			}
			got.Raw = nil
			if !equalProxy(*got, c.want) {
				t.Fatalf("got %+v\nwant %+v", *got, c.want)
			}
			if !bytes.HasPrefix(rec.ClientBytes, c.header) || rec.Verbs()[0] != "EHLO" {
				t.Fatalf("client bytes %q, verbs %q", rec.ClientBytes, rec.Verbs())
			}
		})
	}
}

func equalProxy(a, b fakeserver.ProxyHeader) bool {
	if a.Version != b.Version || a.Command != b.Command || a.Protocol != b.Protocol ||
		a.Source != b.Source || a.Destination != b.Destination || len(a.TLVs) != len(b.TLVs) {
		return false
	}
	for i := range a.TLVs {
		if a.TLVs[i].Type != b.TLVs[i].Type || !bytes.Equal(a.TLVs[i].Value, b.TLVs[i].Value) {
			return false
		}
	}
	return true
}

func TestProxyProtocolRefused(t *testing.T) {
	bad := map[string][]byte{
		"missing":          []byte("EHLO c\r\n"),
		"v1-truncated":     []byte("PROXY TCP4 192.0.2.1\r\n"),
		"v1-bad-protocol":  []byte("PROXY TCP5 192.0.2.1 198.51.100.2 1 25\r\n"),
		"v1-mixed-family":  []byte("PROXY TCP4 2001:db8::1 198.51.100.2 1 25\r\n"),
		"v1-bad-port":      []byte("PROXY TCP4 192.0.2.1 198.51.100.2 99999 25\r\n"),
		"v1-no-crlf":       []byte("PROXY TCP4 192.0.2.1 198.51.100.2 1 25\n"),
		"v2-bad-version":   append(bytes.Clone(sigV2), 0x31, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2),
		"v2-short-address": append(bytes.Clone(sigV2), 0x21, 0x11, 0, 4, 1, 2, 3, 4),
	}
	for name, header := range bad {
		t.Run(name, func(t *testing.T) {
			srv := start(t, fakeserver.Config{ProxyProtocol: true})
			cl := dial(t, srv.Addr())
			cl.send(string(header))
			cl.expectEOF()
			rec := waitOne(t, srv)
			if rec.Err == nil || len(rec.ServerBytes) != 0 || rec.Proxy != nil || len(rec.Commands) != 0 {
				t.Fatalf("err %v, server sent %q, proxy %+v, commands %q", rec.Err, rec.ServerBytes, rec.Proxy, rec.Verbs())
			}
		})
	}
}

func TestProxyProtocolTimeout(t *testing.T) {
	srv := start(t, fakeserver.Config{ProxyProtocol: true, ProxyTimeout: 100 * time.Millisecond})
	cl := dial(t, srv.Addr())
	t0 := time.Now()
	cl.expectEOF() // a client that waits for the banner gets nothing
	if d := time.Since(t0); d < 100*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	if rec := waitOne(t, srv); rec.Err == nil || len(rec.ServerBytes) != 0 {
		t.Fatalf("err %v, server sent %q", rec.Err, rec.ServerBytes)
	}
}

func TestProxyProtocolOff(t *testing.T) {
	// Without the option a PROXY line is just an unknown command.
	srv := start(t, fakeserver.Config{})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25", 502)
	cl.cmd("QUIT", 221)
	if rec := waitOne(t, srv); rec.Proxy != nil {
		t.Fatalf("proxy %+v", rec.Proxy)
	}
}

func TestProxyProtocolBeforeImplicitTLS(t *testing.T) {
	srv := start(t, fakeserver.Config{ProxyProtocol: true, ImplicitTLS: true, TLSCert: &testPKI.Valid})
	cl := dial(t, srv.Addr())
	cl.send("PROXY TCP4 192.0.2.1 198.51.100.2 56324 465\r\n")
	tc := tls.Client(cl.c, testPKI.ClientConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cl.c, cl.r = tc, bufio.NewReader(tc)
	cl.expect(220)
	cl.cmd("QUIT", 221)
	live := srv.LiveSessions()[0]
	<-live.Done()
	rec := live.Record()
	if p := live.Proxy(); p == nil || p.Source != "192.0.2.1:56324" || !rec.TLS || rec.ClientTLSOffset != len(p.Raw) {
		t.Fatalf("proxy %+v, TLS %v at %d", p, rec.TLS, rec.ClientTLSOffset)
	}
}
