package fakeserver_test

import (
	"bufio"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// dialServer connects to srv wherever it listens (TCP or unix socket).
func dialServer(t *testing.T, srv *fakeserver.Server) *client {
	t.Helper()
	network, addr := srv.DialAddr()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func TestUnixSocketLMTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	srv, err := fakeserver.Start(fakeserver.Config{Addr: "unix:" + path, LMTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != "unix:"+path {
		t.Fatalf("Addr %q", srv.Addr())
	}
	if n, a := srv.DialAddr(); n != "unix" || a != path {
		t.Fatalf("DialAddr %q %q", n, a)
	}
	if srv.Port() != 0 {
		t.Fatalf("Port %d on a unix socket", srv.Port())
	}
	cl := dialServer(t, srv)
	if l := cl.expect(220); !strings.Contains(l[0], "LMTP") {
		t.Fatalf("banner %q", l)
	}
	cl.cmd("LHLO c", 250)
	cl.cmd("MAIL FROM:<a@example.test>", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.cmd("RCPT TO:<y@example.test>", 250)
	cl.cmd("DATA", 354)
	cl.send("hi\r\n.\r\n")
	cl.expect(250)
	cl.expect(250)
	cl.cmd("QUIT", 221)
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(msgs[0].To, ","); got != "x@example.test,y@example.test" {
		t.Fatalf("recipients %q", got)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestUnixSocketTempDir(t *testing.T) {
	srv, err := fakeserver.Start(fakeserver.Config{Addr: "unix:"})
	if err != nil {
		t.Fatal(err)
	}
	network, path := srv.DialAddr()
	if network != "unix" || !strings.HasPrefix(srv.Addr(), "unix:/") {
		t.Fatalf("DialAddr %q %q, Addr %q", network, path, srv.Addr())
	}
	cl := dialServer(t, srv)
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("QUIT", 221)
	if rec := waitOne(t, srv); len(rec.Commands) != 2 {
		t.Fatalf("commands %q", rec.Verbs())
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket directory left behind: %v", err)
	}
}

func TestUnixSocketErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "s.sock")
	if srv, err := fakeserver.Start(fakeserver.Config{Addr: "unix:" + missing}); err == nil {
		_ = srv.Close()
		t.Fatal("listening in a missing directory worked")
	}
	taken := filepath.Join(t.TempDir(), "taken.sock")
	srv := start(t, fakeserver.Config{Addr: "unix:" + taken})
	if srv.Addr() != "unix:"+taken {
		t.Fatalf("Addr %q", srv.Addr())
	}
	if srv2, err := fakeserver.Start(fakeserver.Config{Addr: "unix:" + taken}); err == nil {
		_ = srv2.Close()
		t.Fatal("two servers on one socket path")
	}
}

func TestTCPDialAddr(t *testing.T) {
	srv := start(t, fakeserver.Config{})
	n, a := srv.DialAddr()
	if n != "tcp" || a != srv.Addr() || srv.Port() == 0 {
		t.Fatalf("DialAddr %q %q, Addr %q, Port %d", n, a, srv.Addr(), srv.Port())
	}
	cl := dialServer(t, srv)
	cl.expect(220)
}
