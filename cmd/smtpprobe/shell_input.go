package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// errInterrupted is Ctrl-C: at a prompt it abandons the line, during a
// command it cancels the command's context.
var errInterrupted = errors.New("interrupted")

// maxInputLine bounds one line read from a pipe.
const maxInputLine = 1 << 20

// shellInput is where the lines of a session come from: a terminal with
// line editing, or a pipe read line by line.
type shellInput interface {
	// line reads the next line after prompt. io.EOF is the end of the
	// input (Ctrl-D on a terminal); errInterrupted is Ctrl-C.
	line(prompt string) (string, error)
	// bodyLine reads a line of a message: as line, but kept out of the
	// history.
	bodyLine(prompt string) (string, error)
	// secret reads a line without echo and keeps it out of the history.
	secret(prompt string) (string, error)
	// run runs one network step under ctx; on a terminal Ctrl-C cancels
	// it, and the error then wraps errInterrupted.
	run(ctx context.Context, step func(context.Context) error) error
	// output is where the session is shown.
	output() io.Writer
	// close gives the terminal back as it was.
	close()
}

// pipeInput reads a script: one line a command, no prompts, no echo. A
// goroutine reads the lines, so that the end of the session's context
// (an interrupt signal) ends a wait for the next one; it ends with the
// input.
type pipeInput struct {
	ctx  context.Context
	ch   chan keys // one line each, without its line ending
	done chan struct{}
	out  io.Writer
	err  error // the end of the input, once read
}

func newPipeInput(ctx context.Context, in io.Reader, out io.Writer) *pipeInput {
	p := &pipeInput{ctx: ctx, ch: make(chan keys), done: make(chan struct{}), out: out}
	go p.pump(bufio.NewReaderSize(in, 64<<10))
	return p
}

func (p *pipeInput) pump(r *bufio.Reader) {
	for {
		line, err := readInputLine(r)
		if err == nil || len(line) > 0 {
			select {
			case p.ch <- keys{b: line}:
			case <-p.done:
				return
			}
		}
		if err != nil {
			select {
			case p.ch <- keys{err: err}:
			case <-p.done:
			}
			return
		}
	}
}

// readInputLine reads one line without its LF or CRLF; the last line may
// lack its LF.
func readInputLine(r *bufio.Reader) ([]byte, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxInputLine {
			return nil, fmt.Errorf("an input line is longer than %d bytes", maxInputLine)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		return bytes.TrimSuffix(b, []byte("\r")), err
	}
}

func (p *pipeInput) line(string) (string, error) {
	if p.err != nil {
		return "", p.err
	}
	select {
	case k := <-p.ch:
		if k.err != nil {
			p.err = k.err
			return "", k.err
		}
		return string(k.b), nil
	case <-p.ctx.Done():
		return "", context.Cause(p.ctx)
	}
}

func (p *pipeInput) bodyLine(prompt string) (string, error) { return p.line(prompt) }

// secret is the next line: in a script the secret is a line of its own.
func (p *pipeInput) secret(prompt string) (string, error) { return p.line(prompt) }

// run runs step as it is: an interrupt signal ends the whole command
// through the context given to runContext.
func (p *pipeInput) run(ctx context.Context, step func(context.Context) error) error {
	return step(ctx)
}

func (p *pipeInput) output() io.Writer { return p.out }

func (p *pipeInput) close() { close(p.done) }

// keys is one read from the terminal, or the error that ended it.
type keys struct {
	b   []byte
	err error
}

// ttyInput reads from a terminal in raw mode through term.Terminal (line
// editing, history, no-echo prompts). One goroutine reads the terminal
// and hands what it reads over, so that keys typed while a command runs
// are seen: Ctrl-C cancels the command, anything else waits for the next
// prompt. That goroutine ends when the terminal's input does (at the
// latest when the process exits): a read from a terminal cannot be
// abandoned.
type ttyInput struct {
	ctx   context.Context // its end ends a wait for keys
	t     *term.Terminal
	fd    int
	state *term.State
	ch    chan keys
	done  chan struct{}

	h       *history
	pending []byte // keys read but not yet given to t
	readErr error  // the error that ended the terminal's input
	key     byte   // Ctrl-C or Ctrl-D, when it ends the line being read
}

// newTTYInput puts the terminal in into raw mode and reads lines from it;
// everything the session shows is written to out, normally the same
// terminal. The end of ctx ends a wait for keys.
func newTTYInput(ctx context.Context, in *os.File, out io.Writer) (*ttyInput, error) {
	fd, _ := fdOf(in)
	state, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	k := &ttyInput{ctx: ctx, fd: fd, state: state, ch: make(chan keys), done: make(chan struct{})}
	k.t = term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{k, out}, "")
	k.h = &history{k: k}
	k.t.History = k.h
	if f, ok := out.(*os.File); ok {
		k.followSize(f)
	}
	go k.pump(in)
	return k, nil
}

// pump reads the terminal until it fails or the session is over.
func (k *ttyInput) pump(in io.Reader) {
	buf := make([]byte, 256)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			select {
			case k.ch <- keys{b: bytes.Clone(buf[:n])}:
			case <-k.done:
				return
			}
		}
		if err != nil {
			select {
			case k.ch <- keys{err: err}:
			case <-k.done:
			}
			return
		}
	}
}

// Keys a terminal in raw mode sends.
const (
	keyCtrlC = 3
	keyCtrlD = 4
)

// Read gives term.Terminal the keys typed, but for Ctrl-C and Ctrl-D:
// term.Terminal would end its line with io.EOF for both, keep the
// partial line (a password typed halfway would show at the next prompt)
// and read the same keys again at its next call. Instead it gets Ctrl-E
// (the end of the line), "^C" for Ctrl-C, and Enter: the line ends as
// in a shell, and line turns it into errInterrupted or io.EOF.
func (k *ttyInput) Read(p []byte) (int, error) {
	for len(k.pending) == 0 {
		if k.readErr != nil {
			return 0, k.readErr
		}
		select {
		case c := <-k.ch:
			if c.err != nil {
				k.readErr = c.err
				continue
			}
			k.pending = c.b
		case <-k.ctx.Done():
			return 0, context.Cause(k.ctx)
		}
	}
	i := bytes.IndexAny(k.pending, "\x03\x04")
	switch {
	case i > 0:
		n := copy(p, k.pending[:i])
		k.pending = k.pending[n:]
		return n, nil
	case i < 0:
		n := copy(p, k.pending)
		k.pending = k.pending[n:]
		return n, nil
	}
	k.key, k.pending = k.pending[0], k.pending[1:]
	if k.key == keyCtrlC {
		return copy(p, "\x05^C\r"), nil
	}
	return copy(p, "\x05\r"), nil
}

// finish turns a line ended by Ctrl-C or Ctrl-D into its error.
func (k *ttyInput) finish(s string, err error) (string, error) {
	key := k.key
	k.key = 0
	switch {
	case err != nil:
		return "", err
	case key == keyCtrlC:
		return "", errInterrupted
	case key == keyCtrlD:
		return "", io.EOF
	}
	return s, nil
}

func (k *ttyInput) line(prompt string) (string, error) {
	k.t.SetPrompt(prompt)
	return k.finish(k.t.ReadLine())
}

func (k *ttyInput) bodyLine(prompt string) (string, error) {
	k.h.off = true
	defer func() { k.h.off = false }()
	return k.line(prompt)
}

func (k *ttyInput) secret(prompt string) (string, error) { return k.finish(k.t.ReadPassword(prompt)) }

// run runs step in a goroutine and watches the keys meanwhile: Ctrl-C
// cancels step's context; other keys are kept for the next prompt.
func (k *ttyInput) run(ctx context.Context, step func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res := make(chan error, 1)
	go func() { res <- step(ctx) }()
	ch := k.ch
	if k.readErr != nil {
		ch = nil
	}
	for {
		select {
		case err := <-res:
			if err != nil && errors.Is(context.Cause(ctx), errInterrupted) {
				return fmt.Errorf("%w: %w", errInterrupted, err)
			}
			return err
		case c := <-ch:
			if c.err != nil {
				k.readErr, ch = c.err, nil
				continue
			}
			if i := bytes.IndexByte(c.b, keyCtrlC); i >= 0 {
				k.pending = append(k.pending, c.b[:i]...)
				cancel(errInterrupted)
				continue
			}
			k.pending = append(k.pending, c.b...)
		}
	}
}

func (k *ttyInput) output() io.Writer { return k.t }

func (k *ttyInput) close() {
	close(k.done)
	_ = term.Restore(k.fd, k.state)
}

// history keeps the last commands typed for the arrow keys; not the lines
// of a message, nor empty ones, nor those ended by Ctrl-C or Ctrl-D.
type history struct {
	k     *ttyInput
	off   bool
	lines []string // the latest last
}

// historySize is how many lines the history keeps.
const historySize = 100

func (h *history) Add(s string) {
	if h.off || s == "" || h.k.key != 0 {
		return
	}
	if len(h.lines) == historySize {
		h.lines = h.lines[1:]
	}
	h.lines = append(h.lines, s)
}

func (h *history) Len() int { return len(h.lines) }

func (h *history) At(i int) string {
	if i < 0 || i >= len(h.lines) {
		return ""
	}
	return h.lines[len(h.lines)-1-i]
}

// isTerminalFile reports whether f is a terminal.
func isTerminalFile(f *os.File) bool {
	fd, ok := fdOf(f)
	return ok && term.IsTerminal(fd)
}

// fdOf returns f's descriptor. Unlike f.Fd it leaves the descriptor as
// it is rather than in blocking mode, so that closing f still ends a read
// in progress.
func fdOf(f *os.File) (int, bool) {
	sc, err := f.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	if err := sc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, false
	}
	return fd, true
}
