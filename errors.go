package probe

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidLine is wrapped by the error for a command or argument with CR,
// LF or NUL; nothing is written (WriteRaw sends such bytes on purpose).
var ErrInvalidLine = errors.New("smtp: line contains CR, LF or NUL")

// ErrServerClosed matches a 421 reply and every error a Conn returns after
// one: the server has closed the session.
var ErrServerClosed = errors.New("smtp: server closed the session (421)")

// ReplyError is a 4xx or 5xx reply where the step needed success.
type ReplyError struct {
	Command string // the step: "banner", "EHLO", "RCPT", "AUTH PLAIN" …; never credentials
	Reply   *Reply

	auth bool // the reply refused an AUTH exchange: it matches ErrAuthFailed
}

// ErrAuthFailed matches the *ReplyError of an AUTH the server refused with
// a 4xx or 5xx (535 bad credentials, 534, 454 …).
var ErrAuthFailed = errors.New("smtp: authentication refused")

func (e *ReplyError) Error() string {
	return "smtp " + e.Command + ": server replied " + clean(e.Reply.String())
}

// Temporary reports whether the reply was a 4xx transient failure.
func (e *ReplyError) Temporary() bool { return e.Reply.Temporary() }

// Is matches ErrServerClosed for a 421, ErrAuthFailed for a refused AUTH.
func (e *ReplyError) Is(target error) bool {
	switch target {
	case ErrServerClosed:
		return e.Reply != nil && e.Reply.Code == 421
	case ErrAuthFailed:
		return e.auth
	}
	return false
}

// ProtocolError reports that the server broke the protocol: a reply its
// command cannot get, bytes no command asked for, a reply unreadable or
// past Limits, bytes after the STARTTLS 220.
type ProtocolError struct {
	Step   string // "banner", "EHLO" …
	Reason string // what was wrong
	Line   string // the offending line as received, if any
	Reply  *Reply // the reply, if it could be read in full
	Err    error  // the SASL client's error, when it refused a challenge
}

func (e *ProtocolError) Error() string {
	s := "smtp " + e.Step + ": protocol error: " + clean(e.Reason)
	if e.Line != "" {
		s += ": " + strconv.Quote(truncate(e.Line, 80))
	}
	if e.Err != nil {
		s += ": " + clean(e.Err.Error())
	}
	return s
}

// clean escapes in an error's text what a server may have put there to
// drive a terminal or reorder the text: control bytes (a line break
// included), bidi and other format characters, invalid UTF-8, as the
// transcript does. Backslashes stay as they are, so that errors wrapping
// errors are escaped once.
func clean(s string) string {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f {
			return cleanSlow(s)
		}
	}
	return s
}

func cleanSlow(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1,
			r < 0x20 || r == 0x7f,
			r >= 0x80 && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'):
			writeEscaped(&b, s[i:i+size])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Unwrap returns Err.
func (e *ProtocolError) Unwrap() error { return e.Err }

// OpError reports that a step failed because the connection did (network,
// deadline, cancelled context), an argument was refused, or an earlier
// error had ended the session. Err is the cause: errors.Is sees through.
type OpError struct {
	Op  string // the step: "connect", "banner", "EHLO" …
	Err error
}

func (e *OpError) Error() string { return "smtp " + e.Op + ": " + clean(e.Err.Error()) }

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Timeout reports whether the step ran out of time (a cancelled context is
// no timeout).
func (e *OpError) Timeout() bool { return deadlinePassed(e.Err) }

// deadlinePassed reports whether err is a deadline that passed, the
// step's or the context's. A cancelled context interrupts a step by moving
// its deadline into the past: that is no timeout.
func deadlinePassed(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// ctxError joins a context's error to the I/O error it caused, so that the
// result matches both with errors.Is.
type ctxError struct {
	ctx, io error
}

func (e *ctxError) Error() string   { return e.ctx.Error() + " (" + e.io.Error() + ")" }
func (e *ctxError) Unwrap() []error { return []error{e.ctx, e.io} }

// truncate shortens s to at most n bytes plus an ellipsis, without
// cutting a UTF-8 sequence in two.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// asReplyError is errors.As for *ReplyError.
func asReplyError(err error, target **ReplyError) bool {
	return err != nil && errors.As(err, target)
}
