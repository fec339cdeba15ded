//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// screen is what a program wrote to a pseudo-terminal, as a person at it
// would read it.
type screen struct {
	t       *testing.T
	master  *os.File
	mu      sync.Mutex
	raw     bytes.Buffer
	changed chan struct{} // closed and replaced at each write
	seen    int           // how far in the plain text expect has looked
	done    chan struct{} // closed when the reader ends
}

// ansi matches the escape sequences of colours and line editing.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// newPTY opens a pseudo-terminal: the program gets tty, the test reads and
// types through the returned screen.
func newPTY(t *testing.T) (*screen, *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	// pty.Open put the master in blocking mode (through Fd), where Close
	// cannot end a read; a non-blocking duplicate goes through the poller.
	fd, err := syscall.Dup(int(ptmx.Fd()))
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	ptmx.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := &screen{t: t, master: os.NewFile(uintptr(fd), "ptmx"), changed: make(chan struct{}), done: make(chan struct{})}
	go s.read()
	t.Cleanup(func() {
		tty.Close()
		s.master.Close()
		<-s.done
	})
	return s, tty
}

func (s *screen) read() {
	defer close(s.done)
	buf := make([]byte, 4096)
	for {
		n, err := s.master.Read(buf)
		s.mu.Lock()
		s.raw.Write(buf[:n])
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// plain is the screen's text without escape sequences and carriage returns.
func (s *screen) plain() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(ansi.ReplaceAllString(s.raw.String(), ""), "\r", "")
}

// rawText is the screen's bytes as written.
func (s *screen) rawText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

// expect waits until each of want has shown, in order, after what earlier
// calls found.
func (s *screen) expect(want ...string) {
	s.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for _, w := range want {
		for {
			s.mu.Lock()
			changed := s.changed
			s.mu.Unlock()
			text := s.plain()
			if i := strings.Index(text[s.seen:], w); i >= 0 {
				s.seen += i + len(w)
				break
			}
			select {
			case <-changed:
			case <-deadline.C:
				s.t.Fatalf("the screen lacks %q after:\n%s\nraw: %q", w, text[s.seen:], s.rawText())
			}
		}
	}
}

// typed sends keys as a person types them.
func (s *screen) typed(keys string) {
	s.t.Helper()
	if _, err := s.master.Write([]byte(keys)); err != nil {
		s.t.Fatal(err)
	}
}

// startShell runs smtpprobe -i with args on tty; the exit code arrives on
// the channel.
func startShell(t *testing.T, tty *os.File, args ...string) <-chan int {
	t.Helper()
	return startShellOut(t, tty, tty, args...)
}

// startShellOut is startShell with stdout going to out.
func startShellOut(t *testing.T, tty *os.File, out io.Writer, args ...string) <-chan int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	code := make(chan int, 1)
	env := map[string]string{"TERM": "xterm-256color"}
	go func() {
		defer cancel()
		code <- runContext(ctx, append([]string{"-i", "-timeout", "20s"}, args...),
			stdio{in: tty, out: out, err: tty, getenv: func(k string) string { return env[k] }})
	}()
	return code
}

// waitExit waits for the shell's exit code.
func waitExit(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("the shell did not end")
		return -1
	}
}

// TestShellTerminal drives a whole session at a real (pseudo-)terminal:
// STARTTLS with its verdict, AUTH LOGIN with the password typed at a
// no-echo prompt, a message typed after .data, .save, Ctrl-C abandoning
// a line, the history, and Ctrl-D for QUIT. The password shows neither on
// the screen nor in the saved transcript.
func TestShellTerminal(t *testing.T) {
	const password = "Sup3r-S3cret!"
	pki := newTestPKI(t)
	srv := tlsServer(t, pki.Valid, func(c *fakeserver.Config) { c.Users = map[string]string{"alice@example.test": password} })
	scr, tty := newPTY(t)
	saved := filepath.Join(t.TempDir(), "session.txt")
	code := startShell(t, tty, "-cafile", pki.caFile, "-server-name", fakeserver.DefaultHostname, srv.Addr())

	scr.expect("      S: 220 mail.example.test ESMTP", "type SMTP commands, or .help", "      C: ")
	scr.typed("EHLO probe.example\r")
	scr.expect("EHLO probe.example\n", "      S: 250-STARTTLS", "      S: 250 CHUNKING\n", "      C: ")
	scr.typed(".starttls ehlo\r")
	scr.expect("      C: STARTTLS", "      S: 220 2.0.0 Ready to start TLS", "TLS:       TLS 1.3 ", "verified for mail.example.test",
		"[tls] C: EHLO ", "[tls] S: 250-AUTH PLAIN LOGIN CRAM-MD5", "[tls] S: 250 CHUNKING\n", "[tls] C: ")
	scr.typed(".ca\t\r") // Tab completes the built-in
	scr.expect(".caps \n", "Server:    mail.example.test\n", "AUTH:      PLAIN LOGIN CRAM-MD5\n", "[tls] C: ")
	scr.typed(".auth login alice@example.test\r")
	scr.expect("Password: ")
	scr.typed(password + "\r")
	scr.expect("[tls] C: AUTH LOGIN\n", "[tls] S: 334 VXNlcm5hbWU6  (Username:)", "[tls] C: YWxpY2VAZXhhbXBsZS50ZXN0",
		"[tls] S: 334 UGFzc3dvcmQ6  (Password:)", "[tls] C: [password redacted]", "[tls] S: 235 2.7.0", "[tls] C: ")
	scr.typed("MAIL FROM:<alice@example.test>\r")
	scr.expect("[tls] S: 250 2.1.0 Ok", "[tls] C: ")
	scr.typed("RCPT TO:<bob@example.test>\r")
	scr.expect("[tls] S: 250 2.1.5 Ok", "[tls] C: ")
	scr.typed(".data\r")
	scr.expect("a line with a lone \".\" ends it", "[tls] > ")
	scr.typed("Subject: typed at a terminal\r")
	scr.expect("[tls] > ")
	scr.typed("\r")
	scr.expect("[tls] > ")
	scr.typed("Hello from a pty.\r")
	scr.expect("[tls] > ")
	scr.typed(".\r")
	scr.expect("[tls] C: DATA", "[tls] S: 354 ", "[tls] C: .\n", "[tls] S: 250 2.0.0 Ok: queued as ", "[tls] C: ")
	scr.typed(".save " + saved + "\r")
	scr.expect("saved ", "[tls] C: ")
	scr.typed("RSET garbage\x03") // the line is forgotten, the prompt stays
	scr.typed("NOOP\r")
	scr.expect("[tls] S: 250 ", "[tls] C: ")
	scr.typed("\x1b[A\r") // the previous line again
	scr.expect("NOOP\n", "[tls] S: 250 ", "[tls] C: ")
	scr.typed("\x1b[A\x1b[A\x1b[A\x03") // NOOP, NOOP, then .save: neither the abandoned line nor the message
	scr.expect(".save "+saved+"^C\n", "[tls] C: ")
	scr.typed("\x04")
	scr.expect("[tls] C: QUIT", "[tls] S: 221 ")
	if c := waitExit(t, code); c != exitOK {
		t.Errorf("exit %d, want 0\n%s", c, scr.plain())
	}

	text := scr.plain()
	if strings.Contains(text, password) || strings.Contains(text, "U3VwM3ItUzNjcmV0IQ") {
		t.Errorf("the password shows on the screen:\n%s", text)
	}
	if n := strings.Count(text, "EHLO probe.example"); n != 1 {
		t.Errorf("the line typed shows %d times, want once (its echo)", n)
	}
	if !strings.Contains(scr.rawText(), styleGreen+tlsMark+styleReset) {
		t.Error("the [tls] mark is not coloured")
	}
	b, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	assertContains(t, string(b), "C: STARTTLS", "C: AUTH LOGIN\n", "C: [password redacted]\n", "S: 235 ", "C: .\n", "S: 250 2.0.0 Ok: queued as ")
	if strings.Contains(string(b), password) || strings.Contains(string(b), "U3VwM3ItUzNjcmV0IQ") {
		t.Errorf("the saved transcript holds the password:\n%s", b)
	}
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(msgs[0].Data); got != "Subject: typed at a terminal\r\n\r\nHello from a pty.\r\n" || msgs[0].AuthUser != "alice@example.test" {
		t.Errorf("message %q from %q", got, msgs[0].AuthUser)
	}
	if sent := clientBytes(t, srv); strings.Contains(sent, "garbage") || strings.Count(sent, "NOOP\r\n") != 2 {
		t.Errorf("the client sent:\n%s", sent)
	}
}

// TestShellTerminalInterrupt: Ctrl-C while a command waits for its reply
// cancels it, and the session, out of step, ends; Ctrl-C at the password
// prompt abandons AUTH before anything is sent.
func TestShellTerminalInterrupt(t *testing.T) {
	pki := newTestPKI(t)
	waiting := make(chan struct{}, 1)
	srv := tlsServer(t, pki.Valid, func(c *fakeserver.Config) {
		c.AuthBeforeTLS = true
		c.Handlers = map[string]fakeserver.HandlerFunc{"NOOP": func(*fakeserver.Session, fakeserver.Command) bool {
			waiting <- struct{}{} // and never answer
			return true
		}}
	})
	scr, tty := newPTY(t)
	code := startShell(t, tty, "-plaintext-auth", srv.Addr())
	scr.expect("      S: 220 ", "      C: ")
	scr.typed(".auth plain alice@example.test\r")
	scr.expect("Password: ")
	scr.typed("half-typ\x03")
	scr.expect("AUTH abandoned: nothing was sent", "      C: ")
	scr.typed("NOOP\r")
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatalf("NOOP never arrived:\n%s", scr.plain())
	}
	scr.typed("\x03")
	scr.expect("interrupted: without its reply the session cannot go on", "the session is over: ")
	if c := waitExit(t, code); c != exitError {
		t.Errorf("exit %d, want %d\n%s", c, exitError, scr.plain())
	}
	if sent := clientBytes(t, srv); strings.Contains(sent, "AUTH") || strings.Contains(sent, "half") {
		t.Errorf("the client sent:\n%s", sent)
	}
}

// TestShellTerminalStdoutRedirected: with stdin a terminal and stdout
// redirected, the session shows on stderr, where the typist sees it.
func TestShellTerminalStdoutRedirected(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	scr, tty := newPTY(t)
	var stdout lockedBuffer
	code := startShellOut(t, tty, &stdout, srv.Addr())
	scr.expect("      S: 220 ", "      C: ")
	scr.typed("NOOP\r")
	scr.expect("NOOP\n", "      S: 250 ", "      C: ")
	scr.typed("\x04")
	scr.expect("      C: QUIT", "      S: 221 ")
	if c := waitExit(t, code); c != exitOK {
		t.Errorf("exit %d", c)
	}
	if s := stdout.String(); s != "" {
		t.Errorf("stdout = %q, want nothing", s)
	}
}
