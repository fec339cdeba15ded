package fakeserver_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func sendMessage(cl *client, to string) {
	cl.t.Helper()
	cl.cmd("MAIL FROM:<a@example.test>", 250)
	cl.cmd("RCPT TO:<"+to+">", 250)
	cl.cmd("DATA", 354)
	cl.send("Subject: x\r\n\r\nhi\r\n.\r\n")
	cl.expect(250)
}

func TestXClientAdvertisedAndAccepted(t *testing.T) {
	srv := start(t, fakeserver.Config{XClient: true, XForward: true})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	ehlo := cl.cmd("EHLO c", 250)
	if !slices.Contains(ehlo, fakeserver.XClientLine) || !slices.Contains(ehlo, fakeserver.XForwardLine) {
		t.Fatalf("EHLO %q", ehlo)
	}
	banner := cl.cmd("XCLIENT NAME=spike.example.org ADDR=192.0.2.10 PORT=4711 PROTO=ESMTP HELO=client+20name"+
		" LOGIN=alice DESTADDR=IPV6:2001:db8::25 DESTPORT=25", 220)
	if banner[0] != "mail.example.test ESMTP fakeserver" {
		t.Fatalf("new greeting %q", banner)
	}
	cl.cmd("MAIL FROM:<a@example.test>", 503) // EHLO is due again
	cl.cmd("EHLO c", 250)
	sendMessage(cl, "x@example.test")
	cl.cmd("QUIT", 221)
	want := map[string]string{
		"NAME": "spike.example.org", "ADDR": "192.0.2.10", "PORT": "4711", "PROTO": "ESMTP",
		"HELO": "client name", "LOGIN": "alice", "DESTADDR": "IPV6:2001:db8::25", "DESTPORT": "25",
	}
	rec := waitOne(t, srv)
	if !maps.Equal(rec.XClient, want) || rec.AuthUser != "alice" {
		t.Fatalf("record %q, auth %q", rec.XClient, rec.AuthUser)
	}
	if m := srv.Messages()[0]; !maps.Equal(m.XClient, want) || m.AuthUser != "alice" {
		t.Fatalf("message %q, auth %q", m.XClient, m.AuthUser)
	}
}

func TestXClientSpecialValuesAndMerging(t *testing.T) {
	srv := start(t, fakeserver.Config{XClient: true})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("xclient name=[UNAVAILABLE] ADDR=[TEMPUNAVAIL]", 220)
	cl.cmd("XCLIENT ADDR=192.0.2.1 LOGIN=+2Bplus+3Dequals", 220)
	cl.cmd("QUIT", 221)
	want := map[string]string{"NAME": "[UNAVAILABLE]", "ADDR": "192.0.2.1", "LOGIN": "+plus=equals"}
	if rec := waitOne(t, srv); !maps.Equal(rec.XClient, want) {
		t.Fatalf("record %q", rec.XClient)
	}
}

func TestXClientRefusals(t *testing.T) {
	cases := []struct {
		arg  string
		code int
		text string
	}{
		{"", 501, "5.5.4 Syntax: XCLIENT attribute=value..."},
		{"FOO=bar", 501, "5.5.4 Bad XCLIENT attribute name: FOO"},
		{"IDENT=x", 501, "5.5.4 Bad XCLIENT attribute name: IDENT"}, // XFORWARD's, not XCLIENT's
		{"ADDR", 501, "5.5.4 Bad XCLIENT attribute name: ADDR"},
		{"ADDR=::1", 501, "5.5.4 Bad ADDR syntax: ::1"},
		{"ADDR=IPV6:192.0.2.1", 501, "5.5.4 Bad ADDR syntax: IPV6:192.0.2.1"},
		{"ADDR=300.1.1.1", 501, "5.5.4 Bad ADDR syntax: 300.1.1.1"},
		{"PORT=65536", 501, "5.5.4 Bad PORT syntax: 65536"},
		{"DESTPORT=-1", 501, "5.5.4 Bad DESTPORT syntax: -1"},
		{"PROTO=HTTP", 501, "5.5.4 Bad PROTO syntax: HTTP"},
		{"NAME=-bad.example", 501, "5.5.4 Bad NAME syntax: -bad.example"},
		{"NAME=a..b", 501, "5.5.4 Bad NAME syntax: a..b"},
		{"HELO=a+0D+0Ab", 501, "5.5.4 Bad HELO syntax: a+0D+0Ab"}, // CR LF smuggled through xtext
		{"LOGIN=a+0db", 501, "5.5.4 Bad LOGIN syntax: a+0db"},     // lower-case hex is not xtext
		{"LOGIN=a+2", 501, "5.5.4 Bad LOGIN syntax: a+2"},
		{"HELO=a=b", 501, "5.5.4 Bad HELO syntax: a=b"},
		{"HELO=", 501, "5.5.4 Bad HELO syntax: "},
		{"ADDR=192.0.2.1 PORT=x", 501, "5.5.4 Bad PORT syntax: x"}, // nothing applied
	}
	for _, c := range cases {
		t.Run(c.arg, func(t *testing.T) {
			srv := start(t, fakeserver.Config{XClient: true})
			cl := dial(t, srv.Addr())
			cl.expect(220)
			cl.cmd("EHLO c", 250)
			if l := cl.cmd(strings.TrimSpace("XCLIENT "+c.arg), c.code); l[0] != c.text {
				t.Fatalf("got %q, want %q", l[0], c.text)
			}
			cl.cmd("MAIL FROM:<a@example.test>", 250) // the session went on
			cl.cmd("QUIT", 221)
			if rec := waitOne(t, srv); rec.XClient != nil {
				t.Fatalf("recorded %q", rec.XClient)
			}
		})
	}
}

func TestXClientStateAndSwitches(t *testing.T) {
	srv := start(t, fakeserver.Config{XClient: true})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<a@example.test>", 250)
	if l := cl.cmd("XCLIENT ADDR=192.0.2.1", 503); l[0] != "5.5.1 Error: MAIL transaction in progress" {
		t.Fatalf("got %q", l)
	}

	off := start(t, fakeserver.Config{})
	cl2 := dial(t, off.Addr())
	cl2.expect(220)
	for _, l := range cl2.cmd("EHLO c", 250) {
		if strings.HasPrefix(l, "XCLIENT") || strings.HasPrefix(l, "XFORWARD") {
			t.Fatalf("advertised %q", l)
		}
	}
	cl2.cmd("XCLIENT ADDR=192.0.2.1", 502)
	cl2.cmd("XFORWARD ADDR=192.0.2.1", 502)
}

func TestXClientAuthorizedHosts(t *testing.T) {
	cases := []struct {
		name    string
		cfg     fakeserver.Config
		proxy   string
		allowed bool
	}{
		{"other-net", fakeserver.Config{XClientHosts: []string{"192.0.2.0/24"}, XForwardHosts: []string{"::1"}}, "", false},
		{"loopback", fakeserver.Config{XClientHosts: []string{"127.0.0.1"}, XForwardHosts: []string{"127.0.0.0/8"}}, "", true},
		{"empty-list", fakeserver.Config{XClientHosts: []string{}, XForwardHosts: []string{}}, "", false},
		{"proxied", fakeserver.Config{XClientHosts: []string{"192.0.2.0/24"}, XForwardHosts: []string{"192.0.2.5"}, ProxyProtocol: true},
			"PROXY TCP4 192.0.2.5 198.51.100.1 4000 25\r\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.XClient, c.cfg.XForward = true, true
			srv := start(t, c.cfg)
			cl := dial(t, srv.Addr())
			cl.send(c.proxy)
			cl.expect(220)
			ehlo := cl.cmd("EHLO c", 250)
			if slices.Contains(ehlo, fakeserver.XClientLine) != c.allowed || slices.Contains(ehlo, fakeserver.XForwardLine) != c.allowed {
				t.Fatalf("EHLO %q", ehlo)
			}
			if c.allowed {
				cl.cmd("XFORWARD ADDR=192.0.2.9", 250)
				cl.cmd("XCLIENT ADDR=192.0.2.9", 220)
				return
			}
			if l := cl.cmd("XCLIENT ADDR=192.0.2.9", 550); l[0] != "5.7.0 Error: insufficient authorization" {
				t.Fatalf("got %q", l)
			}
			cl.cmd("XFORWARD ADDR=192.0.2.9", 550)
		})
	}
	if srv, err := fakeserver.Start(fakeserver.Config{XClient: true, XClientHosts: []string{"not-an-address"}}); err == nil {
		_ = srv.Close()
		t.Fatal("a bad XClientHosts entry was accepted")
	}
}

func TestXForward(t *testing.T) {
	srv := start(t, fakeserver.Config{XForward: true})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("XFORWARD NAME=spike.example.org ADDR=IPV6:2001:db8::7 PORT=25", 250)
	cl.cmd("XFORWARD PROTO=QMQP HELO=x+20y IDENT=abc123 SOURCE=REMOTE", 250)
	sendMessage(cl, "x@example.test")
	sendMessage(cl, "y@example.test") // the attributes were for one message
	cl.cmd("XFORWARD ADDR=192.0.2.3", 250)
	cl.cmd("RSET", 250) // and RSET forgets them
	sendMessage(cl, "z@example.test")
	for _, bad := range []string{"SOURCE=ELSEWHERE", "LOGIN=x", "DESTADDR=192.0.2.1", "PORT=x"} {
		cl.cmd("XFORWARD "+bad, 501)
	}
	cl.cmd("QUIT", 221)
	want := map[string]string{
		"NAME": "spike.example.org", "ADDR": "IPV6:2001:db8::7", "PORT": "25",
		"PROTO": "QMQP", "HELO": "x y", "IDENT": "abc123", "SOURCE": "REMOTE",
	}
	msgs, err := srv.WaitMessages(3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(msgs[0].XForward, want) || len(msgs[1].XForward) != 0 || len(msgs[2].XForward) != 0 {
		t.Fatalf("messages' XFORWARD %q, %q, %q", msgs[0].XForward, msgs[1].XForward, msgs[2].XForward)
	}
	want["ADDR"] = "192.0.2.3"
	if rec := waitOne(t, srv); !maps.Equal(rec.XForward, want) || rec.XClient != nil {
		t.Fatalf("record %q", rec.XForward)
	}
}
