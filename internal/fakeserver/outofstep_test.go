package fakeserver_test

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func earlyServer(t *testing.T, n int64, r fakeserver.Reply, then fakeserver.EarlyEnd) (*fakeserver.Server, *client) {
	t.Helper()
	srv := start(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
		"DATA": fakeserver.EarlyDataReply(n, r, then),
	}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<a@example.test>", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.cmd("DATA", 354)
	return srv, cl
}

var bodyLine = strings.Repeat("x", 98) + "\r\n"

func TestEarlyDataReplyDrain(t *testing.T) {
	srv, cl := earlyServer(t, 1000, fakeserver.Reply{Code: 250, Lines: []string{"2.0.0 Ok: queued early"}}, fakeserver.EarlyDrain)
	cl.send(strings.Repeat(bodyLine, 20)) // 2000 bytes, no final dot yet
	if l := cl.expect(250); l[0] != "2.0.0 Ok: queued early" {
		t.Fatalf("early reply %q", l)
	}
	cl.send(strings.Repeat(bodyLine, 20) + ".\r\n")
	if l := cl.cmd("NOOP", 250); l[0] != "2.0.0 Ok" { // no second reply to the data
		t.Fatalf("after the data %q", l)
	}
	cl.cmd("QUIT", 221)
	waitOne(t, srv)
	if n := srv.MessageCount(); n != 0 {
		t.Fatalf("%d messages recorded", n)
	}
}

func TestEarlyDataReplyWhileStreaming(t *testing.T) {
	_, cl := earlyServer(t, 64<<10, fakeserver.Reply{Code: 554, Lines: []string{"5.6.0 go away"}}, fakeserver.EarlyDrain)
	// 8 MB without the final dot, more than the socket buffers hold: the
	// reply must come while the writer is still busy or blocked.
	body := strings.Repeat(bodyLine, 80<<10)
	done := make(chan error, 1)
	go func() {
		_, err := cl.c.Write([]byte(body))
		done <- err
	}()
	if l := cl.expect(554); l[0] != "5.6.0 go away" {
		t.Fatalf("early reply %q", l)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cl.send(".\r\n")
	cl.cmd("NOOP", 250)
}

func TestEarlyDataReplyClose(t *testing.T) {
	srv, cl := earlyServer(t, 500, fakeserver.Reply{Code: 554, Lines: []string{"5.6.0 no"}}, fakeserver.EarlyClose)
	cl.send(strings.Repeat(bodyLine, 5))
	cl.expect(554)
	cl.expectEOF()
	waitOne(t, srv)
}

func TestEarlyDataReplyHang(t *testing.T) {
	srv, cl := earlyServer(t, 500, fakeserver.Reply{Code: 451, Lines: []string{"4.3.0 later"}}, fakeserver.EarlyHang)
	cl.send(strings.Repeat(bodyLine, 5))
	cl.expect(451)
	cl.send(".\r\nNOOP\r\n")
	if got, err := cl.readFor(100 * time.Millisecond); got != "" || !isTimeout(err) {
		t.Fatalf("got %q (%v)", got, err)
	}
	closeWithin(t, srv, 5*time.Second)
}

func TestEarlyDataReplyShortBody(t *testing.T) {
	srv, cl := earlyServer(t, 1<<20, fakeserver.Reply{Code: 250, Lines: []string{"2.0.0 ok"}}, fakeserver.EarlyDrain)
	cl.send("hi\r\n..dot\r\n.\r\n") // ends before n bytes: the reply comes at the dot
	cl.expect(250)
	cl.cmd("NOOP", 250)
	cl.cmd("QUIT", 221)
	waitOne(t, srv)

	// Without recipients the built-in DATA answers.
	srv2 := start(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
		"DATA": fakeserver.EarlyDataReply(10, fakeserver.Reply{Code: 250}, fakeserver.EarlyDrain),
	}})
	cl2 := dial(t, srv2.Addr())
	cl2.expect(220)
	cl2.cmd("EHLO c", 250)
	cl2.cmd("DATA", 503)
}

func TestExtraChallenge(t *testing.T) {
	srv := start(t, fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{"u": "p"},
		Handlers: map[string]fakeserver.HandlerFunc{"AUTH": fakeserver.ExtraChallenge("more")}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	good := b64("\x00u\x00p")
	cl.cmd("AUTH PLAIN "+b64("\x00u\x00wrong"), 535) // a failure stays a failure
	if l := cl.cmd("AUTH PLAIN "+good, 334); l[0] != "more" {
		t.Fatalf("challenge %q", l)
	}
	cl.cmd("*", 501)
	cl.cmd("AUTH PLAIN "+good, 334)
	cl.cmd("", 235)
	cl.cmd("QUIT", 221)
	if rec := waitOne(t, srv); rec.AuthUser != "u" {
		t.Fatalf("auth user %q", rec.AuthUser)
	}
}

func TestAnswerClientHello(t *testing.T) {
	bye := fakeserver.Reply{Code: 421, Lines: []string{"4.7.0 bye"}}
	cfg := fakeserver.Config{TLSCert: &testPKI.Valid, Handlers: map[string]fakeserver.HandlerFunc{
		"STARTTLS": fakeserver.AnswerClientHello(bye),
	}}

	t.Run("raw", func(t *testing.T) {
		srv := start(t, cfg)
		cl := dial(t, srv.Addr())
		cl.expect(220)
		cl.cmd("EHLO c", 250)
		cl.cmd("STARTTLS", 220)
		cl.send("\x16\x03\x01\x00\x05hello")
		if got := cl.readAll(); got != "421 4.7.0 bye\r\n" {
			t.Fatalf("after the record %q", got)
		}
		rec := waitOne(t, srv)
		if rec.TLS || !bytes.HasSuffix(rec.ClientBytes, []byte("STARTTLS\r\n\x16\x03\x01\x00\x05hello")) {
			t.Fatalf("TLS %v, client bytes %q", rec.TLS, rec.ClientBytes)
		}
	})
	t.Run("handshake", func(t *testing.T) {
		srv := start(t, cfg)
		cl := dial(t, srv.Addr())
		cl.expect(220)
		cl.cmd("EHLO c", 250)
		cl.cmd("STARTTLS", 220)
		if err := tls.Client(cl.c, testPKI.ClientConfig()).Handshake(); err == nil {
			t.Fatal("handshake worked")
		}
		rec := waitOne(t, srv)
		if !bytes.HasSuffix(rec.ServerBytes, []byte("220 2.0.0 Ready to start TLS\r\n421 4.7.0 bye\r\n")) {
			t.Fatalf("server sent %q", rec.ServerBytes)
		}
	})
}
