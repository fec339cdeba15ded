package fakeserver

import "strings"

// EchoAuth returns a handler for "AUTH" that echoes the client: its first
// challenge is the mechanism's usual prompt ("Username:" for LOGIN, empty
// for others) unless the client sent an initial response, and each
// following challenge is the client's previous line exactly as sent (the
// base64 of what the client meant, so a LOGIN client is shown its own
// user name, then its password). After rounds client lines, the initial
// response included, it answers final (535 5.7.8 when final.Code is 0; a
// 235 authenticates the session as the mechanism's name).
func EchoAuth(rounds int, final Reply) HandlerFunc {
	return func(s *Session, cmd Command) bool {
		mech, last, ok := s.authStart(cmd)
		if !ok {
			return true
		}
		n := 1
		if last == "" {
			if last, ok = s.authRound(firstPrompt(mech)); !ok {
				return true
			}
		}
		for ; n < rounds; n++ {
			if last, ok = s.authRound(last); !ok {
				return true
			}
		}
		if final.Code == 0 {
			final = Reply{535, []string{"5.7.8 Error: authentication failed: authentication failure"}}
		}
		if final.Code == 235 {
			s.setAuth(mech)
		}
		s.Reply(final.Code, final.Lines...)
		return true
	}
}

// QuoteAuth returns a handler for "AUTH" that prompts as PLAIN (one empty
// challenge) or LOGIN ("Username:", "Password:") would, unless an
// initial response came, and then refuses with 535 5.7.8 quoting the
// client's last line, the secret one: "535 5.7.8 <line> rejected".
func QuoteAuth() HandlerFunc {
	return func(s *Session, cmd Command) bool {
		mech, last, ok := s.authStart(cmd)
		if !ok {
			return true
		}
		prompts := []string{""}
		if mech == "LOGIN" {
			prompts = []string{B64("Username:"), B64("Password:")}
		}
		if last != "" {
			prompts = prompts[1:]
		}
		for _, p := range prompts {
			if last, ok = s.authRound(p); !ok {
				return true
			}
		}
		s.Reply(535, "5.7.8 "+last+" rejected")
		return true
	}
}

// authStart checks AUTH as the built-in command does and returns the
// mechanism and the initial response ("" if none).
func (s *Session) authStart(cmd Command) (mech, ir string, ok bool) {
	if r := s.authRefusal(); r != nil {
		s.Reply(r.Code, r.Lines...)
		return "", "", false
	}
	f := strings.Fields(cmd.Arg)
	if len(f) == 0 || len(f) > 2 {
		s.Reply(501, "5.5.4 Syntax: AUTH mechanism")
		return "", "", false
	}
	if len(f) == 2 {
		ir = f[1]
	}
	return strings.ToUpper(f[0]), ir, true
}

// authRound sends a 334 challenge (as given) and reads the answer; "*"
// and errors end the exchange.
func (s *Session) authRound(challenge string) (string, bool) {
	s.Reply(334, challenge)
	line, err := s.ReadLine()
	if err != nil {
		s.setErr(err)
		s.closeConn()
		return "", false
	}
	if line == "*" {
		s.Reply(501, "5.7.0 Authentication aborted")
		return "", false
	}
	return line, true
}

func firstPrompt(mech string) string {
	if mech == "LOGIN" {
		return B64("Username:")
	}
	return ""
}
