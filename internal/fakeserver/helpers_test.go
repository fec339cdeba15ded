package fakeserver_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestMain fails the run if any server goroutine outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if stacks := leakedStacks(2 * time.Second); stacks != "" {
			fmt.Fprintf(os.Stderr, "leaked fakeserver goroutines:\n%s\n", stacks)
			code = 1
		}
	}
	os.Exit(code)
}

// serverStacks returns the stacks of goroutines running package code
// (not test code).
func serverStacks() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/fakeserver.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// leakedStacks polls for up to wait for server goroutines to go away.
func leakedStacks(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		s := serverStacks()
		if s == "" || time.Now().After(deadline) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client is a minimal raw SMTP client for driving the server.
type client struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *client {
	t.Helper()
	cl := dial(t, addr)
	tc := tls.Client(cl.c, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	cl.c, cl.r = tc, bufio.NewReader(tc)
	return cl
}

func (cl *client) send(s string) {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, s); err != nil {
		cl.t.Fatalf("write %q: %v", s, err)
	}
}

// reply reads one (possibly multi-line) reply.
func (cl *client) reply() (int, []string) {
	cl.t.Helper()
	var lines []string
	for {
		l, err := cl.r.ReadString('\n')
		if err != nil {
			cl.t.Fatalf("read reply: %v (got %q)", err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 3 {
			cl.t.Fatalf("short reply line %q", l)
		}
		code, err := strconv.Atoi(l[:3])
		if err != nil {
			cl.t.Fatalf("bad reply line %q", l)
		}
		text := ""
		if len(l) > 4 {
			text = l[4:]
		}
		lines = append(lines, text)
		if len(l) == 3 || l[3] == ' ' {
			return code, lines
		}
	}
}

// expect reads a reply and checks its code; it returns the text lines.
func (cl *client) expect(code int) []string {
	cl.t.Helper()
	got, lines := cl.reply()
	if got != code {
		cl.t.Fatalf("got %d %q, want %d", got, lines, code)
	}
	return lines
}

// cmd sends one command and expects a reply code.
func (cl *client) cmd(line string, code int) []string {
	cl.t.Helper()
	cl.send(line + "\r\n")
	return cl.expect(code)
}

// startTLS runs STARTTLS and the client handshake.
func (cl *client) startTLS(cfg *tls.Config) {
	cl.t.Helper()
	cl.cmd("STARTTLS", 220)
	tc := tls.Client(cl.c, cfg)
	if err := tc.Handshake(); err != nil {
		cl.t.Fatalf("handshake: %v", err)
	}
	cl.c, cl.r = tc, bufio.NewReader(tc)
}

// readAll reads until EOF (or error) and returns what arrived.
func (cl *client) readAll() string {
	b, _ := io.ReadAll(cl.r)
	return string(b)
}

// expectEOF checks that the server closed the connection.
func (cl *client) expectEOF() {
	cl.t.Helper()
	if rest := cl.readAll(); rest != "" {
		cl.t.Fatalf("expected EOF, got %q", rest)
	}
}

func start(t *testing.T, cfg fakeserver.Config) *fakeserver.Server {
	t.Helper()
	return fakeserver.NewTB(t, cfg)
}

// waitOne waits for the first session to end and returns its record.
func waitOne(t *testing.T, srv *fakeserver.Server) fakeserver.SessionRecord {
	t.Helper()
	recs, err := srv.WaitSessions(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return recs[0]
}

var testPKI = func() *fakeserver.PKI {
	p, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		panic(err)
	}
	return p
}()
