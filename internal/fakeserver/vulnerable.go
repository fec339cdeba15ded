package fakeserver

import (
	"bytes"
	"maps"
	"strings"
	"time"
)

// Behaviour changes a Config to make the server weak, or safe, in one
// respect that the probe's checks test. Each weakness comes with its safe
// counterpart:
//
//	weak                      safe                   check
//	OpenRelay                 ClosedRelay            open-relay
//	PlaintextAuth             TLSOnlyAuth            auth-plaintext
//	InjectableStartTLS        SafeStartTLS           starttls-injection
//	SmugglingDATA             StrictDATA             smtp-smuggling
//	AcceptEarlyTalkers        SyncGuard              pipelining-guard
//	UserEnumeration           NoUserEnumeration      user-enumeration
//
// Apply them with With.
type Behaviour func(*Config)

// With returns cfg changed by each behaviour in turn. The maps of cfg are
// copied, never changed.
func With(cfg Config, bs ...Behaviour) Config {
	cfg.Handlers = maps.Clone(cfg.Handlers)
	if cfg.Handlers == nil {
		cfg.Handlers = map[string]HandlerFunc{}
	}
	for _, b := range bs {
		b(&cfg)
	}
	return cfg
}

// OpenRelay accepts, without authentication, every recipient for which
// match returns true; match gets the path as written between the angle
// brackets of RCPT TO (source route and quotes included). Other
// recipients are treated as ClosedRelay treats them.
func OpenRelay(match func(path string) bool) Behaviour {
	return func(c *Config) {
		c.Handlers["RCPT"] = func(s *Session, cmd Command) bool {
			path, ok := anglePath(cmd.Arg, "TO:")
			if !ok || s.tx == nil || s.tx.bdat || !match(path) {
				return closedRelay(s, cmd)
			}
			addr, params, _ := parsePath(cmd.Arg, "TO:")
			s.tx.rcpts = append(s.tx.rcpts, addr)
			s.tx.rcptParams = append(s.tx.rcptParams, params)
			s.Reply(250, "2.1.5 Ok")
			return true
		}
	}
}

// ClosedRelay refuses what relay tricks hide in a local address, as
// Exim's default ACL does: source routes, and %, !, @ or quotes in the
// local part (550 5.7.1). Foreign domains get the built-in 554 Relay
// access denied.
func ClosedRelay() Behaviour {
	return func(c *Config) { c.Handlers["RCPT"] = closedRelay }
}

func closedRelay(s *Session, cmd Command) bool {
	path, ok := anglePath(cmd.Arg, "TO:")
	if !ok {
		return false
	}
	local := path
	if i := strings.LastIndexByte(path, '@'); i >= 0 {
		local = path[:i]
	}
	if strings.HasPrefix(path, "@") || strings.ContainsAny(local, "%!@\"") {
		s.Reply(550, "5.7.1 <"+path+">: Restricted characters in address")
		return true
	}
	return false
}

// anglePath returns what stands between < and > after prefix.
func anglePath(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.LastIndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

// PlaintextAuth advertises and accepts AUTH before TLS for users.
func PlaintextAuth(users map[string]string) Behaviour {
	return func(c *Config) {
		c.Users = users
		c.AuthBeforeTLS = true
	}
}

// TLSOnlyAuth accepts AUTH for users only inside TLS (538 5.7.11 before).
func TLSOnlyAuth(users map[string]string) Behaviour {
	return func(c *Config) {
		c.Users = users
		c.AuthBeforeTLS = false
	}
}

// InjectableStartTLS answers STARTTLS like the built-in command but keeps
// what the client sent after it in the plaintext input buffer, and reads
// it as commands inside TLS: CVE-2011-0411. Config.TLSCert must be set.
func InjectableStartTLS() Behaviour {
	return func(c *Config) {
		c.Handlers["STARTTLS"] = func(s *Session, cmd Command) bool {
			if !s.cfg.tlsEnabled() || s.TLS() || cmd.Arg != "" {
				return false
			}
			s.Reply(220, "2.0.0 Ready to start TLS")
			if err := s.Flush(); err != nil {
				s.setErr(err)
				s.closeConn()
				return true
			}
			if err := s.handshake(); err != nil {
				s.setErr(err)
				s.closeConn()
				return true
			}
			s.helo, s.esmtp, s.tx = "", false, nil
			s.authUser, s.authed = "", false
			return true
		}
	}
}

// SafeStartTLS is the built-in STARTTLS, which throws away whatever the
// client sent after the command before the handshake (RFC 3207 §4.2).
func SafeStartTLS() Behaviour {
	return func(c *Config) { delete(c.Handlers, "STARTTLS") }
}

// SmugglingDATA reads message data like DATA but also ends it at each of
// ends (such as "\n.\n" or "\r\n.\r"), besides "\r\n.\r\n": the bytes
// that follow are read as commands, which is what SMTP smuggling
// exploits. The data is recorded as received, without dot-unstuffing.
func SmugglingDATA(ends ...string) Behaviour {
	seqs := [][]byte{[]byte(crlfDotCRLF)}
	for _, e := range ends {
		seqs = append(seqs, []byte(e))
	}
	return func(c *Config) {
		c.Handlers["DATA"] = func(s *Session, cmd Command) bool {
			if cmd.Arg != "" || s.noSvc || s.tx == nil || len(s.tx.rcpts) == 0 || s.tx.bdat {
				return false
			}
			s.Reply(354, "End data with <CR><LF>.<CR><LF>")
			if err := s.readDataUntil(s.tx, seqs); err != nil {
				s.setErr(err)
				s.closeConn()
				return true
			}
			s.finishMessage()
			return true
		}
	}
}

const crlfDotCRLF = "\r\n.\r\n"

// StrictDATA ends message data at "\r\n.\r\n" only (RFC 5321 §4.1.1.4),
// unlike the built-in DATA, which also takes ".\n" at the start of a line.
func StrictDATA() Behaviour { return SmugglingDATA() }

// readDataUntil reads data until it ends with one of ends, counting a
// CRLF before the first byte, and keeps it without the sequence.
func (s *Session) readDataUntil(tx *transaction, ends [][]byte) error {
	tail := []byte("\r\n")
	for {
		b, err := s.br.ReadByte()
		if err != nil {
			return err
		}
		s.appendData(tx, []byte{b})
		tail = append(tail, b)
		if len(tail) > 16 {
			tail = tail[len(tail)-16:]
		}
		for _, e := range ends {
			if bytes.HasSuffix(tail, e) {
				if !tx.tooBig {
					cut := len(e)
					if string(e) == crlfDotCRLF {
						cut -= 2 // the line break belongs to the last line
					}
					tx.data.Truncate(max(0, tx.data.Len()-cut))
				}
				return nil
			}
		}
	}
}

// AcceptEarlyTalkers is the built-in behaviour, made explicit: commands
// sent before the greeting, or behind EHLO in the same write, are answered
// in turn.
func AcceptEarlyTalkers() Behaviour {
	return func(c *Config) {
		c.OnConnect = nil
		delete(c.Handlers, "EHLO")
		delete(c.Handlers, "HELO")
	}
}

// SyncGuard refuses clients that talk out of turn, as Postfix postscreen
// and Exim's smtp_enforce_sync do: input within wait of the connect,
// before the greeting, or input behind EHLO or HELO before their reply,
// gets 554 5.5.0 SMTP synchronization error and the connection is closed.
// Every session waits wait before its greeting.
func SyncGuard(wait time.Duration) Behaviour {
	return func(c *Config) {
		c.OnConnect = func(s *Session) bool {
			if !s.inputWithin(wait) {
				return false
			}
			s.Reply(554, "5.5.0 SMTP synchronization error")
			s.Close()
			return true
		}
		sync := func(s *Session, _ Command) bool {
			if s.br.Buffered() == 0 {
				return false
			}
			s.Reply(554, "5.5.0 SMTP synchronization error")
			s.Close()
			return true
		}
		c.Handlers["EHLO"], c.Handlers["HELO"] = sync, sync
	}
}

// inputWithin reports whether the client sends something within d.
func (s *Session) inputWithin(d time.Duration) bool {
	if err := s.raw.SetReadDeadline(time.Now().Add(d)); err != nil {
		return false
	}
	_, err := s.br.Peek(1)
	_ = s.raw.SetReadDeadline(time.Time{})
	return err == nil
}

// UserEnumeration tells users apart: VRFY and EXPN answer 250 for users
// (local parts, or whole addresses) and 550 5.1.1 for anyone else, and
// RCPT refuses unknown users of local domains with 550 5.1.1.
func UserEnumeration(users ...string) Behaviour {
	known := func(addr string) bool {
		addr = strings.ToLower(strings.Trim(addr, "<> "))
		local, _, _ := strings.Cut(addr, "@")
		for _, u := range users {
			if u = strings.ToLower(u); u == addr || u == local {
				return true
			}
		}
		return false
	}
	answer := func(addr string) Reply {
		if known(addr) {
			return Reply{250, []string{"2.1.5 <" + addr + ">"}}
		}
		return Reply{550, []string{"5.1.1 <" + addr + ">: Recipient address rejected: User unknown"}}
	}
	return func(c *Config) {
		c.VRFY = func(_ *Session, arg string) Reply { return answer(arg) }
		c.Handlers["EXPN"] = func(s *Session, cmd Command) bool {
			r := answer(strings.TrimSpace(cmd.Arg))
			s.Reply(r.Code, r.Lines...)
			return true
		}
		c.CheckRecipient = func(s *Session, addr string, _ []string) *Reply {
			if !s.isLocal(addr) || known(addr) {
				return nil
			}
			r := answer(addr)
			return &r
		}
	}
}

// NoUserEnumeration answers VRFY with 252 for anyone, refuses EXPN with
// 502, and accepts any user of a local domain at RCPT (the built-in
// behaviour).
func NoUserEnumeration() Behaviour {
	return func(c *Config) {
		c.VRFY = func(_ *Session, arg string) Reply {
			return Reply{252, []string{"2.0.0 Cannot VRFY user, but will accept message and attempt delivery"}}
		}
		delete(c.Handlers, "EXPN")
		c.CheckRecipient = nil
	}
}
