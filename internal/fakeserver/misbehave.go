package fakeserver

import (
	"strconv"
	"time"
)

// Step names besides command verbs, for Config.Misbehave.
const (
	// StepConnect is the greeting.
	StepConnect = "CONNECT"
	// StepEOD is the reply after the message data (DATA's final reply and
	// BDAT LAST's reply).
	StepEOD = "EOD"
	// StepAny applies to every step that has no entry of its own.
	StepAny = "*"
)

// Step is a ready-made misbehaviour for one step of the dialogue. Keys of
// Config.Misbehave are step names: StepConnect, a verb such as "EHLO" or
// "STARTTLS", StepEOD, or StepAny; a "#n" suffix ("RCPT#3", "EHLO#2")
// restricts the entry to the n-th occurrence in the session, and wins over
// the plain name. Fields apply in this order: Delay, Drop, then the
// answer (Raw, Reply, Endless, or else the handler/built-in behaviour,
// whose first reply Code and Echo change), with After and Close applied
// right after the first reply of the step.
// At StepConnect, a Reply code other than 220 has the effect described
// for Config.BannerCode.
type Step struct {
	// Delay is slept (after flushing earlier replies) before anything else.
	Delay time.Duration
	// Drop closes the connection without answering.
	Drop bool
	// Raw, if non-nil, is written instead of the normal answer, which is not
	// run at all (no state change). An empty non-nil Raw answers nothing.
	Raw []byte
	// Reply, if set, is sent instead of the normal answer (no state change).
	Reply *Reply
	// Code, if non-zero, replaces the code of the step's first reply but
	// keeps the normal behaviour: {Code: 250} on DATA answers "250 End
	// data with ..." and still reads the data; on STARTTLS it answers 250
	// and still starts TLS.
	Code int
	// Echo appends the command's argument, as received, to the first line
	// of the step's first reply ("250-mail.example.test c" for "EHLO c",
	// "250 2.1.0 Ok FROM:<a@b> SIZE=10" for MAIL): a server that echoes
	// what it was sent.
	Echo bool
	// StartTLS performs the TLS handshake after Raw or Reply (for STARTTLS
	// steps whose 220 is replaced).
	StartTLS bool
	// Endless is written over and over (each time flushed) instead of the
	// answer, until the client goes away or the server closes.
	Endless []byte
	// ByteByByte writes each byte of the step's output in its own write
	// (one TCP segment each, TCP_NODELAY being set), pausing ByteDelay
	// between bytes. ByteDelay alone implies ByteByByte.
	ByteByByte bool
	ByteDelay  time.Duration
	// LineEnding replaces CRLF in the replies of this step ("\n" for bare
	// LF, "\r" for bare CR, or anything else).
	LineEnding string
	// After is written right after the first reply of the step, in the same
	// write, or, with AfterDelay, in a separate write after that delay.
	// Combined with STARTTLS this is the response-injection attack.
	After      []byte
	AfterDelay time.Duration
	// Close closes the connection right after the first reply (and After).
	Close bool
	// Hang makes the server go silent after the step: it swallows all
	// input until the client or the server closes the connection.
	Hang bool
}

// Shutdown421 is the Step answering 421 4.3.2 Service shutting down and
// closing the connection.
func Shutdown421() Step {
	return Step{Reply: &Reply{Code: 421, Lines: []string{"4.3.2 Service shutting down"}}, Close: true}
}

// activeStep is the Step in effect while a step runs.
type activeStep struct {
	Step
	fired bool
}

// lookupStep finds the Step for the n-th occurrence of name.
func (s *Session) lookupStep(name string) (Step, bool) {
	m := s.cfg.Misbehave
	if len(m) == 0 {
		return Step{}, false
	}
	s.counts[name]++
	if st, ok := m[name+"#"+strconv.Itoa(s.counts[name])]; ok {
		return st, true
	}
	if st, ok := m[name]; ok {
		return st, true
	}
	st, ok := m[StepAny]
	return st, ok
}

// runStep runs def (the normal answer) under the misbehaviour configured
// for the step name, if any.
func (s *Session) runStep(name string, def func()) {
	st, ok := s.lookupStep(name)
	if !ok {
		prev := s.step
		s.step = nil
		def()
		s.step = prev
		return
	}
	if st.Delay > 0 {
		_ = s.Flush()
		if !s.Sleep(st.Delay) {
			return
		}
	}
	if st.Drop {
		s.closeConn()
		return
	}
	prev := s.step
	s.step = &activeStep{Step: st}
	s.answer(st, def)
	s.replied() // After/Close even if nothing was replied
	s.step = prev
	if st.Hang && !s.isClosed() {
		s.Discard()
		s.closeConn()
	}
}

func (s *Session) answer(st Step, def func()) {
	switch {
	case st.Raw != nil:
		s.emit(st.Raw)
		s.replied()
	case st.Reply != nil:
		s.Reply(st.Reply.Code, st.Reply.Lines...)
	case st.Endless != nil:
		s.endless(st.Endless)
		return
	default:
		def()
		return
	}
	if st.StartTLS && !s.isClosed() {
		if err := s.StartTLS(); err != nil {
			s.setErr(err)
			s.closeConn()
		}
	}
}

// endless writes b until writing fails or the session is closed.
func (s *Session) endless(b []byte) {
	if len(b) == 0 {
		s.Discard()
		return
	}
	for !s.isClosed() {
		s.emit(b)
		if s.Flush() != nil {
			return
		}
	}
}

// emit writes reply bytes, one byte per write if the step says so.
func (s *Session) emit(b []byte) {
	st := s.step
	if st == nil || (!st.ByteByByte && st.ByteDelay <= 0) {
		_, _ = s.bw.Write(b)
		return
	}
	for _, c := range b {
		_ = s.bw.WriteByte(c)
		if s.Flush() != nil || !s.Sleep(st.ByteDelay) {
			return
		}
	}
}

// replied runs the After/Close part of the step after its first reply.
func (s *Session) replied() {
	st := s.step
	if st == nil || st.fired {
		return
	}
	st.fired = true
	if st.After != nil {
		if st.AfterDelay > 0 {
			_ = s.Flush()
			if !s.Sleep(st.AfterDelay) {
				return
			}
		}
		s.emit(st.After)
	}
	if st.Close {
		s.Close()
	}
}

// rewrite applies the step's Code and Echo to its first reply.
func (s *Session) rewrite(code int, lines []string) (int, []string) {
	st := s.step
	if st == nil || st.fired {
		return code, lines
	}
	if st.Code != 0 {
		code = st.Code
	}
	if st.Echo {
		lines = append([]string(nil), lines...)
		if len(lines) == 0 {
			lines = []string{s.cur.Arg}
		} else {
			lines[0] += " " + s.cur.Arg
		}
	}
	return code, lines
}

// eol is the line ending for replies in the current step.
func (s *Session) eol() string {
	if s.step != nil && s.step.LineEnding != "" {
		return s.step.LineEnding
	}
	return "\r\n"
}
