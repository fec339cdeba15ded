package fakeserver

import (
	"strconv"
	"strings"
)

// greet sends the greeting (or runs OnConnect / the CONNECT step).
func (s *Session) greet() {
	s.lastCode = 0
	s.runStep(StepConnect, func() {
		if s.cfg.OnConnect != nil && s.cfg.OnConnect(s) {
			return
		}
		s.defaultGreeting()
	})
	switch {
	case s.lastCode == 0 || s.lastCode == 220:
	case s.lastCode == 554:
		s.noSvc = true
	default:
		s.Close()
	}
}

func (s *Session) defaultGreeting() {
	code, lines := s.cfg.BannerCode, s.cfg.Banner
	if s.cfg.BannerDelay <= 0 {
		s.Reply(code, lines...)
		return
	}
	s.lastCode = code
	for i, l := range lines {
		_ = s.Flush()
		if !s.Sleep(s.cfg.BannerDelay) {
			return
		}
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		s.emit([]byte(strconv.Itoa(code) + sep + l + s.eol()))
	}
	s.replied()
}

// dispatch runs one command through the Misbehave step, the handler and
// the built-in behaviour.
func (s *Session) dispatch(cmd Command) {
	s.cur = cmd
	s.runStep(cmd.Verb, func() {
		if h := s.cfg.Handlers[cmd.Verb]; h != nil && h(s, cmd) {
			return
		}
		s.Default(cmd)
	})
}

// Default runs the built-in behaviour for cmd; handlers may call it to
// wrap the normal answer.
func (s *Session) Default(cmd Command) {
	if s.noSvc && cmd.Verb != "QUIT" {
		s.Reply(503, "5.5.1 Error: no SMTP service here")
		return
	}
	if f := builtin(cmd.Verb); f != nil {
		f(s, cmd)
		return
	}
	if cmd.Verb == "" {
		s.Reply(500, "5.5.2 Error: bad syntax")
		return
	}
	s.Reply(502, "5.5.2 Error: command not recognized")
}

func builtin(verb string) func(*Session, Command) {
	switch verb {
	case "EHLO", "HELO", "LHLO":
		return (*Session).cmdHello
	case "STARTTLS":
		return (*Session).cmdStartTLS
	case "AUTH":
		return (*Session).cmdAuth
	case "MAIL":
		return (*Session).cmdMail
	case "RCPT":
		return (*Session).cmdRcpt
	case "DATA":
		return (*Session).cmdData
	case "BDAT":
		return (*Session).cmdBdat
	case "RSET":
		return (*Session).cmdRset
	case "NOOP":
		return func(s *Session, _ Command) { s.Reply(250, "2.0.0 Ok") }
	case "VRFY":
		return (*Session).cmdVrfy
	case "EXPN":
		return func(s *Session, _ Command) { s.Reply(502, "5.5.1 Error: command not implemented") }
	case "HELP":
		return func(s *Session, _ Command) { s.Reply(214, "2.0.0 Commands: "+helpList) }
	case "QUIT":
		return (*Session).cmdQuit
	case "XCLIENT":
		return (*Session).cmdXClient
	case "XFORWARD":
		return (*Session).cmdXForward
	}
	return nil
}

const helpList = "EHLO HELO LHLO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP VRFY EXPN HELP QUIT"

func (s *Session) cmdHello(cmd Command) {
	if s.cfg.LMTP != (cmd.Verb == "LHLO") {
		s.Reply(502, "5.5.2 Error: command not recognized")
		return
	}
	if cmd.Verb == "EHLO" && s.cfg.RefuseEHLO != 0 {
		s.Reply(s.cfg.RefuseEHLO, "5.5.2 Error: command not recognized")
		return
	}
	arg := strings.TrimSpace(cmd.Arg)
	if arg == "" {
		s.Reply(501, "Syntax: "+cmd.Verb+" hostname")
		return
	}
	s.helo, s.esmtp, s.tx = arg, cmd.Verb != "HELO", nil
	if cmd.Verb == "HELO" {
		s.Reply(250, s.cfg.Hostname)
		return
	}
	first := s.cfg.Hostname
	if s.cfg.Greeting != "" {
		first += " " + s.cfg.Greeting
	}
	lines := []string{first}
	for _, l := range s.ehloLines() {
		if s.offersX(l) {
			lines = append(lines, l)
		}
	}
	s.Reply(250, lines...)
}

// ehloLines are the extension lines for the current TLS state.
func (s *Session) ehloLines() []string {
	if s.TLS() {
		return s.cfg.EhloLinesTLS
	}
	return s.cfg.EhloLines
}

// advertised reports whether the extension keyword is currently offered.
func (s *Session) advertised(keyword string) bool {
	for _, l := range s.ehloLines() {
		k, _, _ := strings.Cut(l, " ")
		if strings.EqualFold(k, keyword) {
			return true
		}
	}
	return false
}

func (s *Session) cmdRset(_ Command) {
	s.tx = nil
	s.resetXForward()
	s.Reply(250, "2.0.0 Ok")
}

func (s *Session) cmdVrfy(cmd Command) {
	arg := strings.TrimSpace(cmd.Arg)
	if arg == "" {
		s.Reply(501, "5.5.4 Syntax: VRFY address")
		return
	}
	if s.cfg.VRFY != nil {
		r := s.cfg.VRFY(s, arg)
		s.Reply(r.Code, r.Lines...)
		return
	}
	s.Reply(252, "2.0.0 "+arg)
}

func (s *Session) cmdQuit(_ Command) {
	s.Reply(221, "2.0.0 Bye")
	s.Close()
}
