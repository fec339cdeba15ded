package main

import (
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// onlySession returns the one session srv saw.
func onlySession(t *testing.T, srv *fakeserver.Server) fakeserver.SessionRecord {
	t.Helper()
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil || len(recs) != 1 {
		t.Fatalf("sessions %d: %v", len(recs), err)
	}
	return recs[0]
}

// TestXClientFlag: -xclient goes after EHLO, the new greeting is read,
// EHLO is said again, and the summary lists what it announced.
func TestXClientFlag(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{XClient: true})
	r := runCLI(t, "-no-starttls", "-quit-after", "ehlo", "-xclient", "name=client.example ADDR=192.0.2.7 HELO=[UNAVAILABLE]", srv.Addr())
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rec := onlySession(t, srv)
	if rec.XClient["NAME"] != "client.example" || rec.XClient["ADDR"] != "192.0.2.7" || rec.XClient["HELO"] != "[UNAVAILABLE]" {
		t.Errorf("server saw XCLIENT %v", rec.XClient)
	}
	assertContains(t, r.stdout, "C: EHLO ", "C: XCLIENT ADDR=192.0.2.7 HELO=[UNAVAILABLE] NAME=client.example", "S: 220 ",
		"C: EHLO ", "EHLO:", "PIPELINING", "XCLIENT NAME ADDR")
}

// TestXForwardFlag: -xforward reaches the message.
func TestXForwardFlag(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{XForward: true})
	r := runCLI(t, "-no-starttls", "-xforward", "NAME=fwd.example ADDR=203.0.113.9 PROTO=ESMTP", "-to", "bob@example.test", srv.Addr())
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if x := onlyMessage(t, srv).XForward; x["NAME"] != "fwd.example" || x["ADDR"] != "203.0.113.9" || x["PROTO"] != "ESMTP" {
		t.Errorf("message XFORWARD %v", x)
	}
}

// TestProxyHeaderFlags: v1 and v2 headers with TCP4 and TCP6 addresses,
// and UNKNOWN/LOCAL without addresses, reach a server that wants one.
func TestProxyHeaderFlags(t *testing.T) {
	for _, tt := range []struct {
		args               []string
		version            int
		protocol, src, dst string
	}{
		{[]string{"-proxy-header", "v1", "-proxy-source", "192.0.2.1:5555", "-proxy-dest", "198.51.100.2:25"}, 1, "TCP4", "192.0.2.1:5555", "198.51.100.2:25"},
		{[]string{"-proxy-header", "v2", "-proxy-source", "[2001:db8::7]:6000", "-proxy-dest", "[2001:db8::1]:25"}, 2, "TCP6", "[2001:db8::7]:6000", "[2001:db8::1]:25"},
		{[]string{"-proxy-header", "v1"}, 1, "UNKNOWN", "", ""},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			srv := fakeserver.NewTB(t, fakeserver.Config{ProxyProtocol: true})
			r := runCLI(t, append(tt.args, "-no-starttls", "-quit-after", "ehlo", srv.Addr())...)
			if r.code != exitOK {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			h := onlySession(t, srv).Proxy
			if h == nil || h.Version != tt.version || h.Source != tt.src || h.Destination != tt.dst ||
				(tt.version == 1 && h.Protocol != tt.protocol) {
				t.Errorf("header %+v", h)
			}
			assertContains(t, r.stdout, "PROXY", "header sent", "S: 220 ")
		})
	}
}

// TestNetworkFlags: -4 and -bind shape the connection; -6 to an IPv4
// address cannot connect.
func TestNetworkFlags(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	r := runCLI(t, "-4", "-bind", "127.0.0.2", "-no-starttls", "-quit-after", "banner", srv.Addr())
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if remote := onlySession(t, srv).Remote; !strings.HasPrefix(remote, "127.0.0.2:") {
		t.Errorf("server saw the client at %s, want 127.0.0.2", remote)
	}
	if r := runCLI(t, "-6", "-no-starttls", srv.Addr()); r.code != exitConnect {
		t.Errorf("-6 to an IPv4 address: exit %d\n%s", r.code, r.stdout)
	}
}

// TestUnixTarget: LMTP over a unix socket, each recipient's final reply
// in the summary.
func TestUnixTarget(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{Addr: "unix:", LMTP: true,
		RejectRecipients: map[string]fakeserver.Reply{}, DataReply: func(_ *fakeserver.Session, _ *fakeserver.Message, rcpt string) fakeserver.Reply {
			if strings.HasPrefix(rcpt, "carol") {
				return fakeserver.Reply{Code: 452, Lines: []string{"4.2.2 <" + rcpt + "> Mailbox full"}}
			}
			return fakeserver.Reply{Code: 250, Lines: []string{"2.0.0 <" + rcpt + "> Saved"}}
		}})
	r := runCLI(t, "-lmtp", "-no-starttls", "-to", "bob@example.test,carol@example.test", srv.Addr())
	assertContains(t, r.stdout, "C: LHLO ", "Recipient: <bob@example.test> accepted 250", "final: 250 2.0.0 <bob@example.test> Saved",
		"Recipient: <carol@example.test> accepted 250", "final: 452 4.2.2 <carol@example.test> Mailbox full")
	if r := runCLI(t, "-lmtp", "-4", srv.Addr()); r.code != exitUsage || !strings.Contains(r.stderr, "-4, -6 and -bind are for TCP; the target is a unix socket") {
		t.Errorf("-4 with a unix socket: exit %d, %q", r.code, r.stderr)
	}
}

// TestAllProxyFromEnvironment: the CLI dials through ALL_PROXY unless
// NO_PROXY names the host.
func TestAllProxyFromEnvironment(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	px := newSOCKSServer(t, "", "", nil)
	t.Setenv("ALL_PROXY", "socks5h://"+px.addr())
	t.Setenv("NO_PROXY", "")
	if r := runCLI(t, "-no-starttls", "-quit-after", "banner", srv.Addr()); r.code != exitOK || len(px.seen()) != 1 || px.seen()[0].target != srv.Addr() {
		t.Fatalf("exit %d, proxy saw %+v\n%s", r.code, px.seen(), r.stdout)
	}
	t.Setenv("NO_PROXY", "127.0.0.1")
	if r := runCLI(t, "-no-starttls", "-quit-after", "banner", srv.Addr()); r.code != exitOK || len(px.seen()) != 1 {
		t.Errorf("NO_PROXY: exit %d, proxy saw %+v", r.code, px.seen())
	}
}
