package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smtpprobe/probe"
)

// The exit statuses of -i that the table of exitcodes.go lacks: the class
// of the last reply to a line of the session (QUIT's aside).
const (
	exitReply4xx = 4 // -i: the last reply was a 4xx (421 included)
	exitReply5xx = 5 // -i: the last reply was a 5xx
)

// checkInteractive refuses with -i the flags that script a whole session:
// in a shell the lines typed say what to send.
func (c *config) checkInteractive() error {
	if !c.interactive {
		return nil
	}
	for _, f := range [...]string{"targets", "json", "nagios", "checks", "smuggling-to", "mx",
		"from", "to", "body", "header", "quit-after", "no-pipelining"} {
		if c.set[f] {
			return fmt.Errorf("-%s does not go with -i: type the session's lines instead", f)
		}
	}
	return nil
}

// shell is one session of -i: the lines read are sent to the server one
// at a time, the lines beginning with a dot are built-in commands.
type shell struct {
	c      *config
	d      probe.Dialer
	target string
	in     shellInput
	tty    bool     // reading a terminal: prompts, echo, colours
	pr     *printer // the session as the transcript shows it
	errw   io.Writer

	conn   *probe.Conn
	caps   *probe.Capabilities // from the latest EHLO, LHLO or HELO; nil after STARTTLS
	shown  int                 // transcript entries shown
	status int                 // the exit status so far

	rcpts   int            // recipients accepted since MAIL or RSET, for LMTP's replies after the data
	data    bool           // a DATA typed was answered 354: lines are the message until "."
	rawAuth bool           // an AUTH typed was answered 334: the next line carries credentials
	secrets map[int]string // transcript index → stand-in, for lines typed that carried credentials
	over    bool           // the session has ended
}

// runShell is -i: it connects, shows the banner, then plays the lines of
// stdin, a terminal with line editing or a script, until QUIT, the end of
// the input, or the end of the session. It returns the exit status.
func runShell(ctx context.Context, c *config, p *plan, d *demo, sys stdio) int {
	sh := &shell{c: c, d: p.base.Dialer, target: c.target, errw: sys.err, secrets: map[int]string{}}
	screen := sys.out
	if f, ok := sys.in.(*os.File); ok && isTerminalFile(f) {
		if !isTerminal(screen) && isTerminal(sys.err) {
			screen = sys.err // stdout is redirected: the typist still sees the session
		}
		k, err := newTTYInput(ctx, f, screen)
		if err != nil {
			fmt.Fprintln(sys.err, "smtpprobe:", err)
			return exitError
		}
		k.t.AutoCompleteCallback = completeBuiltin
		sh.in, sh.tty, sh.errw = k, true, k.output()
	} else {
		sh.in = newPipeInput(ctx, sys.in, sys.out)
	}
	defer sh.in.close()
	sh.pr = newPrinter(sh.in.output(), sh.tty && useColour(screen, sys.getenv))
	if d != nil {
		sh.remark(d.shellNote())
	}
	if !sh.connect(ctx) {
		return sh.status
	}
	if sh.tty {
		sh.remark("connected to " + sh.target + "; type SMTP commands, or .help for the built-in ones")
	}
	sh.loop(ctx)
	return sh.status
}

// shellNote says what the demo shell talks to.
func (d *demo) shellNote() string {
	return "a session with the built-in test server at " + d.srv.Addr() +
		" (.auth plain logs in as its user " + demoUser + "); to talk to a real server, name it: smtpprobe -i mail.example.com:25"
}

// addr is the target with the implicit TLS port when it names none.
func (sh *shell) addr() string {
	if _, _, err := net.SplitHostPort(sh.target); err == nil || !sh.c.implicitTLS {
		return sh.target
	}
	return net.JoinHostPort(strings.Trim(sh.target, "[]"), "465")
}

// connect opens the session: TCP (through -proxy), implicit TLS with
// -tls, the banner; with -starttls or -starttls-optional, EHLO, STARTTLS
// and EHLO again. It reports whether the session can go on.
func (sh *shell) connect(ctx context.Context) bool {
	var info *probe.TLSInfo
	err := sh.step(ctx, func(ctx context.Context) error {
		conn, err := sh.d.Connect(ctx, sh.addr())
		if err != nil {
			sh.status = exitConnect
			return err
		}
		sh.conn = conn
		if sh.c.implicitTLS {
			if info, err = conn.Handshake(ctx, nil); err != nil {
				sh.status = exitTLS
				return err
			}
		}
		if _, err = conn.ReadBanner(ctx); err != nil {
			sh.status = exitBanner
		}
		return err
	})
	if sh.conn != nil {
		sh.show(false)
	}
	sh.tlsOutcome(info, err, "no session with "+sh.target+": ")
	if err != nil {
		if sh.conn != nil {
			sh.conn.Close()
		}
		return false
	}
	if sh.c.implicitTLS || !(sh.c.starttls || sh.c.starttlsOptional) {
		return true
	}
	switch {
	case !sh.ehlo(ctx, ""):
	case sh.caps.StartTLS:
		if sh.startTLS(ctx) {
			sh.ehlo(ctx, "")
		}
	case sh.c.starttls:
		sh.remark("the server does not offer STARTTLS, which -starttls requires")
	}
	if sh.c.starttls && !sh.over && sh.conn.TLS() == nil {
		sh.status = exitTLS
		sh.quit(ctx)
	}
	return !sh.over
}

// step runs one network step, bounded by -timeout and interrupted by
// Ctrl-C.
func (sh *shell) step(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, sh.c.timeout)
	defer cancel()
	return sh.in.run(ctx, f)
}

// loop reads and plays lines until the session ends.
func (sh *shell) loop(ctx context.Context) {
	for !sh.over {
		line, err := sh.in.line(sh.prompt())
		switch {
		case errors.Is(err, errInterrupted):
			if sh.data {
				sh.remark("^C: the message has begun; end it with a lone \".\"")
			}
			continue
		case errors.Is(err, io.EOF) && sh.data:
			// QUIT would be taken as a line of the message.
			sh.remark("the input ended inside the message: the connection is closed without the final \".\", so the server drops it")
			sh.status, sh.over = exitError, true
			sh.conn.Close()
			return
		case errors.Is(err, io.EOF):
			sh.quit(ctx)
			return
		case err != nil:
			sh.remark("reading the input: " + err.Error())
			sh.status = exitError
			sh.quit(ctx)
			return
		}
		sh.play(ctx, line)
	}
}

// prompt is what a terminal shows before a line: the transcript's mark and
// "C: ", so that the line typed reads as the transcript will show it.
func (sh *shell) prompt() string {
	if !sh.tty {
		return ""
	}
	return sh.pr.mark(sh.conn.TLS() != nil) + sh.pr.style(styleCyan, "C: ")
}

// play plays one line: message data after a DATA typed, a built-in when
// it begins with a dot, nothing when blank or a comment, else a command.
func (sh *shell) play(ctx context.Context, line string) {
	switch {
	case sh.data:
		sh.dataLine(ctx, line)
	case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
	case !sh.unasked(ctx):
	case strings.HasPrefix(line, "."):
		sh.builtin(ctx, line)
	default:
		sh.command(ctx, line)
	}
}

// unaskedWait is how long the shell listens, before a line, for what the
// server sent while the session waited for the typist.
const unaskedWait = time.Millisecond

// unasked shows a reply the server sent unasked while the session was
// idle, typically a 421 before it hangs up, so that it does not pass for
// the reply to the next line. It reports whether the session goes on.
func (sh *shell) unasked(ctx context.Context) bool {
	var r *probe.Reply
	err := sh.step(ctx, func(ctx context.Context) error {
		b, err := sh.conn.Pending(ctx, unaskedWait)
		if err != nil || len(b) == 0 {
			return err
		}
		r, err = sh.conn.ReadReply(ctx)
		return err
	})
	if r == nil && err == nil {
		return true
	}
	if sh.conn.Transcript().Len() > sh.shown {
		sh.remark("the server said, unasked:")
		sh.show(false)
	}
	if err != nil {
		sh.failed(err)
	} else {
		sh.replied(r)
	}
	return !sh.over
}

// command sends a line typed and shows the reply. STARTTLS, QUIT, EHLO,
// LHLO and HELO are played by the Conn's own methods (the same line on
// the wire) so that the session knows of them.
func (sh *shell) command(ctx context.Context, line string) {
	verb, arg, _ := strings.Cut(line, " ")
	switch verb = strings.ToUpper(verb); {
	case verb == "STARTTLS" && arg == "":
		sh.startTLS(ctx)
		return
	case verb == "QUIT" && arg == "":
		sh.quitWith(ctx, line)
		return
	}
	secret := sh.rawAuth || (verb == "AUTH" && strings.Contains(strings.TrimSpace(arg), " "))
	at := sh.conn.Transcript().Len()
	var r *probe.Reply
	err := sh.step(ctx, func(ctx context.Context) error {
		var err error
		r, err = sh.conn.SendRaw(ctx, line)
		return err
	})
	if secret && !sh.d.RevealSecrets && sh.conn.Transcript().Len() > at {
		sh.secrets[at] = redactedLine(verb, arg, sh.rawAuth)
	}
	sh.show(true)
	if err != nil {
		sh.failed(err)
		return
	}
	sh.replied(r)
	sh.rawAuth = r.Code == 334 && (verb == "AUTH" || sh.rawAuth)
	switch {
	case r.Code == 354 && verb == "DATA":
		sh.data = true
		if sh.tty {
			sh.remark("type the message; a line with a lone \".\" ends it")
		}
	case r.Code/100 == 2 && (verb == "EHLO" || verb == "LHLO"):
		sh.caps, _ = probe.ParseCapabilities(r.Lines)
	case r.Code/100 == 2 && verb == "HELO":
		sh.caps = &probe.Capabilities{FromHELO: true}
	case r.Code/100 == 2 && verb == "RCPT":
		sh.rcpts++
	case verb == "MAIL" || verb == "RSET":
		sh.rcpts = 0
	}
}

// redactedLine stands in for a line typed that carried credentials: an
// AUTH line with its initial response, or a response to a 334.
func redactedLine(verb, arg string, response bool) string {
	if response {
		return "[credentials redacted]"
	}
	mech, _, _ := strings.Cut(strings.TrimSpace(arg), " ")
	return verb + " " + mech + " [credentials redacted]"
}

// dataLine sends a line of the message that follows a DATA typed, as
// typed (dots are the typist's), and after the lone "." shows the reply.
func (sh *shell) dataLine(ctx context.Context, line string) {
	if line != "." {
		err := sh.step(ctx, func(ctx context.Context) error {
			return sh.conn.WriteRaw(ctx, []byte(line+"\r\n"))
		})
		sh.show(true)
		if err != nil {
			sh.failed(err)
		}
		return
	}
	sh.data = false
	var r *probe.Reply
	err := sh.step(ctx, func(ctx context.Context) error {
		if err := sh.conn.WriteRaw(ctx, []byte(".\r\n")); err != nil {
			return err
		}
		n := 1
		if sh.c.lmtp {
			n = max(sh.rcpts, 1) // LMTP: a reply per recipient accepted
		}
		for ; n > 0; n-- {
			var err error
			if r, err = sh.conn.ReadReply(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	sh.messageDone(true, r, err)
}

// replied takes a reply's class as the exit status.
func (sh *shell) replied(r *probe.Reply) {
	switch r.Code / 100 {
	case 2, 3:
		sh.status = exitOK
	case 4:
		sh.status = exitReply4xx
	case 5:
		sh.status = exitReply5xx
	default:
		sh.status = exitError
	}
	if sh.conn.Err() != nil {
		sh.end()
	}
}

// failed accounts for the error of a step: a reply of the wrong class
// counts as the reply; an error that ended the session ends the shell.
func (sh *shell) failed(err error) {
	var re *probe.ReplyError
	var te *probe.TLSError
	switch {
	case errors.As(err, &re) && re.Reply != nil:
		sh.replied(re.Reply)
		return
	case errors.As(err, &te):
		sh.status = exitTLS
	case sh.conn.Err() != nil:
		sh.status = exitError
	default: // the session goes on: nothing was sent, or a line was refused before
		if errors.Is(err, errInterrupted) {
			err = errInterrupted
		}
		sh.remark(err.Error())
		sh.status = exitError
		return
	}
	if errors.Is(err, errInterrupted) {
		sh.remark("interrupted: without its reply the session cannot go on")
	}
	sh.end()
}

// end closes a session that cannot go on and says why. It returns false,
// for callers that report whether the session goes on.
func (sh *shell) end() bool {
	if sh.over {
		return false
	}
	sh.over = true
	err := sh.conn.Err()
	switch {
	case err == nil:
	case errors.Is(err, probe.ErrServerClosed):
		sh.remark("the server closed the session (421)")
	default:
		sh.remark("the session is over: " + err.Error())
	}
	sh.conn.Close()
	return false
}

// quit sends QUIT, shows its reply and ends the session; the reply does
// not change the exit status, which stays that of the last line played.
func (sh *shell) quit(ctx context.Context) { sh.quitWith(ctx, "") }

// quitWith is quit with the QUIT line as typed ("" for the Conn's own).
func (sh *shell) quitWith(ctx context.Context, line string) {
	if sh.over {
		return
	}
	if sh.conn.Err() != nil {
		sh.end()
		return
	}
	sh.over = true
	ctx = context.WithoutCancel(ctx) // QUIT even after an interrupt signal
	_ = sh.step(ctx, func(ctx context.Context) error {
		if line != "" {
			_, err := sh.conn.SendRaw(ctx, line)
			sh.conn.Close()
			return err
		}
		_, err := sh.conn.Quit(ctx)
		return err
	})
	sh.show(line != "")
}

// show writes the transcript entries recorded since the last call. echoed
// skips the first line sent, which the terminal already shows as typed.
// A decoded 334 challenge is shown beside it rather than on a line of its
// own.
func (sh *shell) show(echoed bool) {
	echoed = echoed && sh.tty
	es := sh.conn.Transcript().Entries()
	for i := sh.shown; i < len(es); i++ {
		e := es[i]
		if stand, ok := sh.secrets[i]; ok {
			e.Text, e.Redacted = stand, true
		}
		switch {
		case echoed && e.Kind == probe.Sent:
			echoed = false
			continue
		case e.Kind == probe.Note && strings.HasPrefix(e.Text, "334 decoded: "):
			continue
		}
		sh.pr.entry(e, sh.beside(e))
	}
	sh.shown = len(es)
}

// beside is the decoded text of a 334 challenge, to show after it.
func (sh *shell) beside(e probe.Entry) string {
	if e.Kind != probe.Received || e.Redacted {
		return ""
	}
	b64, ok := strings.CutPrefix(e.Text, "334 ")
	if !ok || b64 == "" {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return ""
	}
	return "  " + sh.pr.style(styleDim, "("+escapeControls(string(b))+")")
}

// remark writes a message of the shell's own: on the terminal, or on
// stderr when reading a script; control bytes are escaped.
func (sh *shell) remark(s string) {
	s = escapeControls(s) // errors may quote what the server sent
	if sh.tty {
		sh.pr.printf("%s\n", sh.pr.style(styleBold, s))
		return
	}
	fmt.Fprintln(sh.errw, "smtpprobe: "+s)
}
