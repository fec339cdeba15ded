package fakeserver_test

import (
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func TestHandlers(t *testing.T) {
	srv := start(t, fakeserver.Config{
		OnConnect: func(s *fakeserver.Session) bool {
			s.Reply(220, "custom", "banner")
			return true
		},
		Handlers: map[string]fakeserver.HandlerFunc{
			"EHLO": func(s *fakeserver.Session, cmd fakeserver.Command) bool {
				if cmd.Arg == "raw" {
					s.WriteRaw([]byte("250 raw\r\n"))
					return true
				}
				return false // fall through to the built-in EHLO
			},
			"XCLIENT": func(s *fakeserver.Session, cmd fakeserver.Command) bool {
				s.Reply(220, "ok "+cmd.Arg)
				return true
			},
			"NOOP": func(s *fakeserver.Session, cmd fakeserver.Command) bool {
				s.Default(cmd)
				s.Reply(250, "and one more")
				return true
			},
			"ECHO": func(s *fakeserver.Session, cmd fakeserver.Command) bool {
				s.Reply(354, "go on")
				line, err := s.ReadLine()
				if err != nil {
					return true
				}
				b, err := s.ReadFull(3)
				if err != nil {
					return true
				}
				s.Reply(250, line+"|"+string(b))
				return true
			},
			"BYE": func(s *fakeserver.Session, _ fakeserver.Command) bool {
				s.Reply(221, "bye")
				s.Close()
				return true
			},
		},
	})
	cl := dial(t, srv.Addr())
	if l := cl.expect(220); strings.Join(l, "|") != "custom|banner" {
		t.Fatalf("banner %q", l)
	}
	if l := cl.cmd("EHLO raw", 250); l[0] != "raw" {
		t.Fatalf("raw EHLO %q", l)
	}
	if l := cl.cmd("EHLO c", 250); l[0] != "mail.example.test" {
		t.Fatalf("EHLO %q", l)
	}
	cl.cmd("XCLIENT ADDR=1.2.3.4", 220)
	cl.cmd("NOOP", 250)
	cl.expect(250)
	cl.cmd("ECHO", 354)
	cl.send("hello\r\nabc")
	if l := cl.expect(250); l[0] != "hello|abc" {
		t.Fatalf("echo %q", l)
	}
	cl.cmd("BYE", 221)
	cl.expectEOF()
}

// TestCloseEndsEverything opens sessions in many states and checks that
// Close returns promptly and leaves no server goroutine behind.
func TestCloseEndsEverything(t *testing.T) {
	srv, err := fakeserver.Start(fakeserver.Config{
		TLSCert: &testPKI.Valid,
		Handlers: map[string]fakeserver.HandlerFunc{
			"SLEEP": func(s *fakeserver.Session, _ fakeserver.Command) bool {
				s.Sleep(time.Hour)
				return true
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var conns []*client
	states := []string{"", "EHLO c\r\n", "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.test>\r\nDATA\r\npartial", "STARTTLS\r\n", "SLEEP\r\n", "BDAT 100\r\n", "NOOP"}
	for _, st := range states {
		cl := dial(t, srv.Addr())
		cl.expect(220)
		cl.send(st)
		conns = append(conns, cl)
	}
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
	if s := serverStacks(); s != "" {
		t.Fatalf("goroutines left after Close:\n%s", s)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Fatal("listener still open")
	}
	for _, cl := range conns {
		cl.readAll()
	}
	recs, err := srv.WaitSessions(len(states), time.Second)
	if err != nil || len(recs) != len(states) {
		t.Fatalf("records %d %v", len(recs), err)
	}
}

// TestGarbageInput throws random bytes at the server: it must neither
// panic nor hang.
func TestGarbageInput(t *testing.T) {
	srv := start(t, fakeserver.Config{TLSCert: &testPKI.Valid, AuthBeforeTLS: true, LMTP: false})
	words := []string{"EHLO x", "HELO", "MAIL FROM:", "RCPT TO:<", "DATA", "BDAT 3", "BDAT 2 LAST", "AUTH PLAIN", "AUTH LOGIN",
		"AUTH CRAM-MD5", "*", "=", ".", "..", "\r", "\n", "\x00", "\xff\xfe", "STARTTLS x", "RSET", "<>", " ", "VRFY"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 30 {
		var b strings.Builder
		for range 40 {
			b.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(3) > 0 {
				b.WriteString("\r\n")
			}
		}
		cl := dial(t, srv.Addr())
		cl.expect(220)
		cl.send(b.String() + "\r\nQUIT\r\n")
		_ = cl.c.(*net.TCPConn).CloseWrite()
		cl.readAll()
	}
	if _, err := srv.WaitSessions(30, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
