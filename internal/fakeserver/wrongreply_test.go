package fakeserver_test

import (
	"bufio"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// preludes bring a session to the point where verb makes sense.
var preludes = map[string][]string{
	"EHLO": nil, "HELO": nil, "QUIT": nil, "RSET": nil, "NOOP": nil, "VRFY": nil,
	"STARTTLS": {"EHLO c"},
	"AUTH":     {"EHLO c"},
	"MAIL":     {"EHLO c"},
	"RCPT":     {"EHLO c", "MAIL FROM:<a@example.test>"},
	"DATA":     {"EHLO c", "MAIL FROM:<a@example.test>", "RCPT TO:<x@example.test>"},
	"BDAT":     {"EHLO c", "MAIL FROM:<a@example.test>", "RCPT TO:<x@example.test>"},
}

var commandLines = map[string]string{
	"EHLO": "EHLO c", "HELO": "HELO c", "QUIT": "QUIT", "RSET": "RSET", "NOOP": "NOOP",
	"VRFY": "VRFY x", "STARTTLS": "STARTTLS", "AUTH": "AUTH PLAIN " + fakeserver.B64("\x00u\x00p"),
	"MAIL": "MAIL FROM:<a@example.test>", "RCPT": "RCPT TO:<x@example.test>", "DATA": "DATA",
	"BDAT": "BDAT 0 LAST",
}

// prelude plays the commands that come before verb, answered normally.
func prelude(cl *client, verb string) {
	cl.t.Helper()
	for _, p := range preludes[verb] {
		cl.cmd(p, 250)
	}
}

func TestAnswerAnyCodeToAnyCommand(t *testing.T) {
	cases := []struct {
		verb string
		code int
	}{
		{"MAIL", 251}, {"MAIL", 354}, {"DATA", 250}, {"STARTTLS", 250}, {"EHLO", 220},
		{"QUIT", 250}, {"AUTH", 250}, {"RCPT", 354}, {"BDAT", 354}, {"RSET", 221},
		{"HELO", 354}, {"NOOP", 334}, {"VRFY", 235}, {"EHLO", 334}, {"DATA", 235},
	}
	for _, c := range cases {
		t.Run(c.verb+"-"+strings.TrimSpace(string(fakeserver.Reply{Code: c.code}.Bytes())), func(t *testing.T) {
			srv := start(t, fakeserver.Config{
				TLSCert: &testPKI.Valid, AuthBeforeTLS: true, Users: map[string]string{"u": "p"},
				Misbehave: map[string]fakeserver.Step{c.verb + "#1": fakeserver.Answer(c.code, "wrong", "answer")},
			})
			cl := dial(t, srv.Addr())
			cl.expect(220)
			prelude(cl, c.verb)
			if l := cl.cmd(commandLines[c.verb], c.code); strings.Join(l, "|") != "wrong|answer" {
				t.Fatalf("got %q", l)
			}
			cl.cmd("NOOP", 250) // no state change: the session goes on in plaintext
			cl.cmd("QUIT", 221)
			if rec := waitOne(t, srv); rec.TLS || rec.AuthUser != "" || srv.MessageCount() != 0 {
				t.Fatalf("state changed: TLS %v, auth %q, %d messages", rec.TLS, rec.AuthUser, srv.MessageCount())
			}
		})
	}
}

func TestStepCodeKeepsBehaviour(t *testing.T) {
	srv := start(t, fakeserver.Config{TLSCert: &testPKI.Valid, Misbehave: map[string]fakeserver.Step{
		"EHLO#1":   {Code: 220},
		"MAIL":     {Code: 251},
		"RCPT":     {Code: 354},
		"DATA":     {Code: 250},
		"EOD":      {Code: 221},
		"STARTTLS": {Code: 250},
	}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	if l := cl.cmd("EHLO c", 220); l[0] != "mail.example.test" || len(l) < 5 {
		t.Fatalf("EHLO as 220 %q", l)
	}
	cl.cmd("MAIL FROM:<a@example.test>", 251)
	cl.cmd("RCPT TO:<x@example.test>", 354)
	if l := cl.cmd("DATA", 250); !strings.HasPrefix(l[0], "End data") {
		t.Fatalf("DATA %q", l)
	}
	cl.send("hello\r\n.\r\n")
	if l := cl.expect(221); !strings.Contains(l[0], "queued as") {
		t.Fatalf("end of data %q", l)
	}
	if _, err := srv.WaitMessages(1, 5*time.Second); err != nil {
		t.Fatal(err) // the transaction went through despite the codes
	}
	cl.send("STARTTLS\r\n")
	cl.expect(250)
	cl.startTLSAfterReply(testPKI.ClientConfig())
	cl.cmd("EHLO c", 250)
	cl.cmd("QUIT", 221)
	if rec := waitOne(t, srv); !rec.TLS {
		t.Fatal("STARTTLS answered 250 did not start TLS")
	}
}

func TestStepEcho(t *testing.T) {
	blob := fakeserver.B64("\x00u\x00secret")
	srv := start(t, fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{"u": "p"}, Misbehave: map[string]fakeserver.Step{
		"EHLO": {Echo: true},
		"MAIL": {Echo: true},
		"AUTH": {Echo: true},
	}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	if l := cl.cmd("EHLO client.example", 250); l[0] != "mail.example.test client.example" || len(l) < 5 {
		t.Fatalf("EHLO %q", l)
	}
	if l := cl.cmd("AUTH PLAIN "+blob, 535); !strings.HasSuffix(l[0], " PLAIN "+blob) {
		t.Fatalf("AUTH %q", l)
	}
	if l := cl.cmd("MAIL FROM:<a@example.test> SIZE=10", 250); l[0] != "2.1.0 Ok FROM:<a@example.test> SIZE=10" {
		t.Fatalf("MAIL %q", l)
	}
	cl.cmd("RCPT TO:<x@example.test>", 250) // MAIL opened the transaction
}

func TestUnsolicitedReplyBufferedBeforeNextCommand(t *testing.T) {
	srv := start(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{
		"EHLO": {After: []byte("250 surprise\r\n")},
	}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	// The surprise came in the same write as the EHLO reply: it is already
	// in the client's buffer before it writes MAIL.
	if b, _ := cl.r.Peek(cl.r.Buffered()); string(b) != "250 surprise\r\n" {
		t.Fatalf("buffered after EHLO: %q", b)
	}
	if l := cl.cmd("MAIL FROM:<a@example.test>", 250); l[0] != "surprise" {
		t.Fatalf("MAIL's apparent reply %q", l)
	}
	if l := cl.expect(250); l[0] != "2.1.0 Ok" {
		t.Fatalf("MAIL's real reply %q", l)
	}
	cl.cmd("QUIT", 221)
	if rec := waitOne(t, srv); rec.Flushes != 4 { // banner, EHLO+surprise, MAIL, QUIT
		t.Fatalf("%d writes", rec.Flushes)
	}
}

func TestDoubledFinalReply(t *testing.T) {
	srv := start(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{
		"EOD": {After: []byte("250 2.0.0 Ok: queued twice\r\n")},
	}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	sendMessage(cl, "x@example.test")
	if l := cl.cmd("QUIT", 250); l[0] != "2.0.0 Ok: queued twice" {
		t.Fatalf("QUIT's apparent reply %q", l)
	}
	cl.expect(221)
	cl.expectEOF()
	waitOne(t, srv)
	if n := srv.MessageCount(); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

// startTLSAfterReply runs the client handshake once STARTTLS was answered.
func (cl *client) startTLSAfterReply(cfg *tls.Config) {
	cl.t.Helper()
	tc := tls.Client(cl.c, cfg)
	if err := tc.Handshake(); err != nil {
		cl.t.Fatalf("handshake: %v", err)
	}
	cl.c, cl.r = tc, bufio.NewReader(tc)
}
