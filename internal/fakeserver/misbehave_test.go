package fakeserver_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// readN reads exactly n bytes.
func (cl *client) readN(n int) []byte {
	cl.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(cl.r, b); err != nil {
		cl.t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return b
}

// readFor reads whatever arrives within d (or until EOF).
func (cl *client) readFor(d time.Duration) (string, error) {
	_ = cl.c.SetReadDeadline(time.Now().Add(d))
	defer func() { _ = cl.c.SetReadDeadline(time.Now().Add(20 * time.Second)) }()
	var buf bytes.Buffer
	_, err := io.Copy(&buf, cl.r)
	return buf.String(), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func misbehaving(t *testing.T, steps map[string]fakeserver.Step) (*fakeserver.Server, *client) {
	t.Helper()
	srv := start(t, fakeserver.Config{TLSCert: &testPKI.Valid, Misbehave: steps, Users: map[string]string{"u": "p"}})
	return srv, dial(t, srv.Addr())
}

func TestStepRawEverywhere(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{
		"CONNECT": {Raw: []byte("220 raw banner\r\n")},
		"MAIL":    {Raw: []byte("250 raw mail\r\n")},
		"EOD":     {Raw: fakeserver.RawLines("250-x", "250 y")},
	})
	if l := cl.expect(220); l[0] != "raw banner" {
		t.Fatalf("banner %q", l)
	}
	cl.cmd("EHLO c", 250)
	if l := cl.cmd("MAIL FROM:<a@b>", 250); l[0] != "raw mail" {
		t.Fatalf("MAIL %q", l)
	}
	cl.cmd("RCPT TO:<x@example.test>", 503) // raw MAIL changed no state
}

func TestStepEOD(t *testing.T) {
	srv, cl := misbehaving(t, map[string]fakeserver.Step{
		"EOD#1": {Raw: fakeserver.RawLines("250-x", "250 y")},
		"EOD#2": {Drop: true},
	})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	for i := range 2 {
		cl.cmd("MAIL FROM:<a@b>", 250)
		cl.cmd("RCPT TO:<x@example.test>", 250)
		cl.cmd("DATA", 354)
		cl.send("x\r\n.\r\n")
		if i == 0 {
			if l := cl.expect(250); strings.Join(l, "|") != "x|y" {
				t.Fatalf("EOD %q", l)
			}
		}
	}
	cl.expectEOF()
	waitOne(t, srv)
	if n := srv.MessageCount(); n != 0 {
		t.Fatalf("%d messages recorded", n)
	}
}

func TestStepDelay(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{
		"MAIL": {Delay: 150 * time.Millisecond},
	})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	t0 := time.Now()
	cl.cmd("MAIL FROM:<a@b>", 250)
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("MAIL answered after %v", d)
	}
}

func TestStepAnyDelay(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{
		"*":    {Delay: 40 * time.Millisecond},
		"NOOP": {},
	})
	t0 := time.Now()
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	if d := time.Since(t0); d < 80*time.Millisecond {
		t.Fatalf("banner+EHLO took %v", d)
	}
	t0 = time.Now()
	cl.cmd("NOOP", 250)
	if d := time.Since(t0); d > 35*time.Millisecond {
		t.Fatalf("NOOP (own entry, no delay) took %v", d)
	}
}

func TestStepDrop(t *testing.T) {
	srv, cl := misbehaving(t, map[string]fakeserver.Step{"RCPT#2": {Drop: true}})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<a@b>", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.send("RCPT TO:<y@example.test>\r\n")
	cl.expectEOF()
	if rec := waitOne(t, srv); rec.Verbs()[3] != "RCPT" {
		t.Fatalf("verbs %q", rec.Verbs())
	}

	_, cl2 := misbehaving(t, map[string]fakeserver.Step{"CONNECT": {Drop: true}})
	cl2.expectEOF()
}

func TestStepCloseAfterReply(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{"MAIL": {Close: true}})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<a@b>", 250)
	cl.expectEOF()
}

func TestShutdown421(t *testing.T) {
	cases := []struct{ step, prelude, cmd string }{
		{"CONNECT", "", ""},
		{"EHLO", "", "EHLO c"},
		{"MAIL", "EHLO c", "MAIL FROM:<a@b>"},
	}
	for _, c := range cases {
		t.Run(c.step, func(t *testing.T) {
			_, cl := misbehaving(t, map[string]fakeserver.Step{c.step: fakeserver.Shutdown421()})
			if c.cmd != "" {
				cl.expect(220)
				if c.prelude != "" {
					cl.cmd(c.prelude, 250)
				}
				cl.send(c.cmd + "\r\n")
			}
			if l := cl.expect(421); l[0] != "4.3.2 Service shutting down" {
				t.Fatalf("421 text %q", l)
			}
			cl.expectEOF()
		})
	}
}

func TestUnsolicited421BetweenCommands(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{
		"EHLO": {After: []byte("421 4.3.2 Service shutting down\r\n"), AfterDelay: 50 * time.Millisecond, Close: true},
	})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	got, _ := cl.readFor(5 * time.Second)
	if got != "421 4.3.2 Service shutting down\r\n" {
		t.Fatalf("after EHLO %q", got)
	}
}

func TestEndlessContinuation(t *testing.T) {
	srv, cl := misbehaving(t, map[string]fakeserver.Step{"EHLO": {Endless: []byte("250-x\r\n")}})
	cl.expect(220)
	cl.send("EHLO c\r\n")
	if got := cl.readN(7 * 10000); !bytes.Equal(got, bytes.Repeat([]byte("250-x\r\n"), 10000)) {
		t.Fatal("endless lines differ")
	}
	_ = cl.c.Close() // the server must notice and stop, not spin
	rec := waitOne(t, srv)
	if rec.Flushes < 1000 {
		t.Fatalf("flushes %d", rec.Flushes)
	}
}

func TestEndlessRespectsClose(t *testing.T) {
	srv, err := fakeserver.Start(fakeserver.Config{Misbehave: map[string]fakeserver.Step{
		"CONNECT": {Endless: []byte("220-x\r\n")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cl := dial(t, srv.Addr()) // never reads: the server blocks in write
	time.Sleep(50 * time.Millisecond)
	closeWithin(t, srv, 5*time.Second)
	_ = cl
}

func closeWithin(t *testing.T, srv *fakeserver.Server, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal("Close hung")
	}
	if s := serverStacks(); s != "" {
		t.Fatalf("goroutines left:\n%s", s)
	}
}

func TestLongLine(t *testing.T) {
	const n = 1 << 20
	_, cl := misbehaving(t, map[string]fakeserver.Step{"EHLO": {Raw: fakeserver.LongReply(250, n)}})
	cl.expect(220)
	cl.send("EHLO c\r\n")
	got := cl.readN(n)
	if !bytes.HasPrefix(got, []byte("250 xxx")) || !bytes.HasSuffix(got, []byte("x\r\n")) {
		t.Fatal("long line malformed")
	}
	if l := fakeserver.LongReply(250, 3); string(l) != "250" {
		t.Fatalf("short LongReply %q", l)
	}
}

func TestLineEndings(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{
		"EHLO": {LineEnding: "\n"},
		"NOOP": {LineEnding: "\r"},
	})
	cl.expect(220)
	cl.send("EHLO c\r\n")
	want := "250-mail.example.test\n250-PIPELINING\n250-SIZE 36360000\n250-STARTTLS\n250-ENHANCEDSTATUSCODES\n" +
		"250-8BITMIME\n250-DSN\n250-SMTPUTF8\n250 CHUNKING\n"
	if got := cl.readN(len(want)); string(got) != want {
		t.Fatalf("bare LF %q", got)
	}
	cl.send("NOOP\r\n")
	if got := cl.readN(len("250 2.0.0 Ok\r")); string(got) != "250 2.0.0 Ok\r" {
		t.Fatalf("bare CR %q", got)
	}
}

func TestByteByByte(t *testing.T) {
	srv, cl := misbehaving(t, map[string]fakeserver.Step{"NOOP": {ByteByByte: true}})
	cl.expect(220)
	live := srv.LiveSessions()[0]
	f0 := live.Flushes()
	cl.cmd("NOOP", 250)
	if f := live.Flushes() - f0; f != len("250 2.0.0 Ok\r\n") {
		t.Fatalf("%d writes for a %d-byte reply", f, len("250 2.0.0 Ok\r\n"))
	}
}

func TestSlowloris(t *testing.T) {
	srv, err := fakeserver.Start(fakeserver.Config{Misbehave: map[string]fakeserver.Step{
		"CONNECT": fakeserver.Slowloris("220-slow\r\n", 20*time.Millisecond),
	}})
	if err != nil {
		t.Fatal(err)
	}
	cl := dial(t, srv.Addr())
	t0 := time.Now()
	if got := string(cl.readN(12)); got != "220-slow\r\n22" {
		t.Fatalf("got %q", got)
	}
	if d := time.Since(t0); d < 200*time.Millisecond {
		t.Fatalf("12 bytes in %v", d)
	}
	closeWithin(t, srv, 5*time.Second)
}

func TestSilentServer(t *testing.T) {
	srv, cl := misbehaving(t, map[string]fakeserver.Step{"CONNECT": fakeserver.Silent()})
	cl.send("EHLO c\r\n")
	if got, err := cl.readFor(150 * time.Millisecond); got != "" || !isTimeout(err) {
		t.Fatalf("silent server sent %q (%v)", got, err)
	}
	_ = cl.c.Close()
	if rec := waitOne(t, srv); len(rec.ServerBytes) != 0 || string(rec.ClientBytes) != "EHLO c\r\n" {
		t.Fatalf("record %+v", rec)
	}
}

func TestHangAfterReply(t *testing.T) {
	srv, cl := misbehaving(t, map[string]fakeserver.Step{"EHLO": {Hang: true}})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.send("NOOP\r\n")
	if got, err := cl.readFor(100 * time.Millisecond); got != "" || !isTimeout(err) {
		t.Fatalf("got %q (%v)", got, err)
	}
	closeWithin(t, srv, 5*time.Second)
}

func TestGreetingCodes(t *testing.T) {
	for _, code := range []int{554, 521, 556, 421} {
		_, cl := misbehaving(t, map[string]fakeserver.Step{
			"CONNECT": {Reply: &fakeserver.Reply{Code: code, Lines: []string{"no service"}}},
		})
		cl.expect(code)
		if code == 554 {
			cl.cmd("EHLO c", 503)
			cl.cmd("MAIL FROM:<a@b>", 503)
			cl.cmd("QUIT", 221)
		}
		cl.expectEOF()
	}
}

func TestSTARTTLSCodes(t *testing.T) {
	for _, code := range []int{454, 502, 500, 501, 530, 354, 421, 221} {
		srv, cl := misbehaving(t, map[string]fakeserver.Step{
			"STARTTLS": {Reply: &fakeserver.Reply{Code: code, Lines: []string{"nope"}}, Close: code == 421 || code == 221},
		})
		cl.expect(220)
		cl.cmd("EHLO c", 250)
		cl.cmd("STARTTLS", code)
		if code == 421 || code == 221 {
			cl.expectEOF()
			continue
		}
		cl.cmd("NOOP", 250) // still plaintext
		cl.cmd("QUIT", 221)
		if rec := waitOne(t, srv); rec.TLS || rec.ClientTLSOffset != -1 {
			t.Fatalf("%d: TLS started", code)
		}
	}
}

func TestSTARTTLSReplacedReplyWithHandshake(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{
		"STARTTLS": {Reply: &fakeserver.Reply{Code: 220, Lines: []string{"go ahead", "really"}}, StartTLS: true},
	})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.startTLS(testPKI.ClientConfig())
	cl.cmd("EHLO c", 250)
}

func TestSTARTTLSInjectionSameWrite(t *testing.T) {
	injected := "250-forged\r\n250 AUTH PLAIN\r\n"
	srv, cl := misbehaving(t, map[string]fakeserver.Step{"STARTTLS": fakeserver.Inject([]byte(injected), 0)})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.send("STARTTLS\r\n")
	cl.expect(220)
	if n := cl.r.Buffered(); n != len(injected) {
		t.Fatalf("buffered after 220: %d bytes, want the %d injected", n, len(injected))
	}
	if b, _ := cl.r.Peek(len(injected)); string(b) != injected {
		t.Fatalf("injected %q", b)
	}
	// A correct client discards them and handshakes on the raw connection.
	tc := tls.Client(cl.c, testPKI.ClientConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cl.c, cl.r = tc, newReader(tc)
	cl.cmd("EHLO c", 250)
	cl.cmd("QUIT", 221)
	rec := waitOne(t, srv)
	if !bytes.HasSuffix(rec.ServerBytes[:rec.ServerTLSOffset], []byte("220 2.0.0 Ready to start TLS\r\n"+injected)) {
		t.Fatalf("server plaintext %q", rec.ServerBytes[:rec.ServerTLSOffset])
	}
	if rec.Flushes != 5 { // banner, EHLO, 220+injection in one write, EHLO, QUIT
		t.Fatalf("flushes %d", rec.Flushes)
	}
}

func TestSTARTTLSInjectionSeparateWrite(t *testing.T) {
	injected := "250-forged\r\n250 AUTH PLAIN\r\n"
	_, cl := misbehaving(t, map[string]fakeserver.Step{"STARTTLS": fakeserver.Inject([]byte(injected), 80*time.Millisecond)})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("STARTTLS", 220)
	if n := cl.r.Buffered(); n != 0 {
		t.Fatalf("%d bytes came with the 220", n)
	}
	got := cl.readN(len(injected))
	if string(got) != injected {
		t.Fatalf("late injection %q", got)
	}
}

func TestGarbageOrCloseAfterSTARTTLS(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{"STARTTLS": {After: []byte("\x16\x03\x01garbage"), Close: true}})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("STARTTLS", 220)
	if got := cl.readAll(); got != "\x16\x03\x01garbage" {
		t.Fatalf("after 220 %q", got)
	}

	_, cl2 := misbehaving(t, map[string]fakeserver.Step{"STARTTLS": {Close: true}})
	cl2.expect(220)
	cl2.cmd("EHLO c", 250)
	cl2.cmd("STARTTLS", 220)
	cl2.expectEOF()
}

func TestHostileReplies(t *testing.T) {
	for name, raw := range fakeserver.HostileReplies() {
		t.Run(name, func(t *testing.T) {
			srv, cl := misbehaving(t, map[string]fakeserver.Step{"NOOP": {Raw: raw}})
			cl.expect(220)
			cl.send("NOOP\r\nQUIT\r\n")
			want := string(raw) + "221 2.0.0 Bye\r\n"
			if got := cl.readAll(); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			waitOne(t, srv)
		})
	}
}

func TestHostileEhlo(t *testing.T) {
	for name, lines := range fakeserver.HostileEhlo() {
		t.Run(name, func(t *testing.T) {
			srv := start(t, fakeserver.Config{EhloLines: lines})
			cl := dial(t, srv.Addr())
			cl.expect(220)
			cl.send("EHLO c\r\n")
			want := string((fakeserver.Reply{Code: 250, Lines: append([]string{"mail.example.test"}, lines...)}).Bytes())
			if got := string(cl.readN(len(want))); got != want {
				t.Fatalf("got %q", got)
			}
		})
	}
	if l := fakeserver.ManyMechanisms(300); len(strings.Fields(l)) != 302 {
		t.Fatalf("mechanisms %d", len(strings.Fields(l)))
	}
}

func TestAuthLoopForever(t *testing.T) {
	srv := start(t, fakeserver.Config{AuthBeforeTLS: true, Handlers: map[string]fakeserver.HandlerFunc{
		"AUTH": fakeserver.AuthLoop(fakeserver.B64("again"), 0),
	}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("AUTH PLAIN", 334)
	for range 200 {
		if l := cl.cmd("", 334); l[0] != "YWdhaW4=" {
			t.Fatalf("challenge %q", l)
		}
	}
	cl.cmd("*", 501)
	cl.cmd("AUTH LOGIN", 334)
	_ = cl.c.Close()
	waitOne(t, srv)
}

func TestAuthLoopBadBase64(t *testing.T) {
	srv := start(t, fakeserver.Config{AuthBeforeTLS: true, Handlers: map[string]fakeserver.HandlerFunc{
		"AUTH": fakeserver.AuthLoop("%%%not base64%%%", 1),
	}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	if l := cl.cmd("AUTH LOGIN", 334); l[0] != "%%%not base64%%%" {
		t.Fatalf("challenge %q", l)
	}
	cl.cmd("*x", 535)
}

func TestUnsolicitedAndMissingReplies(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{
		"MAIL":   {After: []byte("250 2.0.0 extra\r\n")},
		"RCPT#2": {Raw: []byte{}},
	})
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.send("MAIL FROM:<a@b>\r\nRCPT TO:<x@example.test>\r\nRCPT TO:<y@example.test>\r\nRCPT TO:<z@example.test>\r\nNOOP\r\n")
	for _, want := range []string{"2.1.0 Ok", "2.0.0 extra", "2.1.5 Ok", "2.1.5 Ok", "2.0.0 Ok"} {
		if l := cl.expect(250); l[0] != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	if got, err := cl.readFor(50 * time.Millisecond); got != "" || !isTimeout(err) {
		t.Fatalf("extra %q", got)
	}
}

func TestDelayedBannerLinesAndNthEHLO(t *testing.T) {
	_, cl := misbehaving(t, map[string]fakeserver.Step{
		"EHLO#1": {Raw: []byte("250 plain only\r\n")},
	})
	cl.expect(220)
	if l := cl.cmd("EHLO c", 250); l[0] != "plain only" {
		t.Fatalf("first EHLO %q", l)
	}
	if l := cl.cmd("EHLO c", 250); len(l) < 5 {
		t.Fatalf("second EHLO %q", l)
	}
}

func TestKeysAreNormalized(t *testing.T) {
	srv := start(t, fakeserver.Config{
		Handlers: map[string]fakeserver.HandlerFunc{"noop": func(s *fakeserver.Session, _ fakeserver.Command) bool {
			s.Reply(250, "mine")
			return true
		}},
		Misbehave:        map[string]fakeserver.Step{"rset": {Reply: &fakeserver.Reply{Code: 451, Lines: []string{"no"}}}},
		RejectRecipients: map[string]fakeserver.Reply{"Bob@Example.Test": {Code: 550, Lines: []string{"5.1.1 no"}}},
	})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	if l := cl.cmd("noop", 250); l[0] != "mine" {
		t.Fatalf("NOOP %q", l)
	}
	cl.cmd("RSET", 451)
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<>", 250)
	cl.cmd("RCPT TO:<bob@example.test>", 550)
}
