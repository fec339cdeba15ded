package fakeserver

import "bytes"

// EarlyEnd says what a server does after an early reply to DATA.
type EarlyEnd int

const (
	// EarlyDrain reads the rest of the data up to the final "." without a
	// second reply, then reads commands again.
	EarlyDrain EarlyEnd = iota
	// EarlyClose closes the connection right after the reply (the client,
	// still writing, may then see a reset).
	EarlyClose
	// EarlyHang swallows all further input without answering, until the
	// client or the server closes.
	EarlyHang
)

// EarlyDataReply returns a handler for "DATA" that answers 354, reads the
// first n bytes of the message data (or less, if the data ends sooner),
// then sends r at once, while the client is still sending the body, and
// goes on as then says. No message is recorded. Without a transaction
// with recipients it falls back to the built-in DATA.
func EarlyDataReply(n int64, r Reply, then EarlyEnd) HandlerFunc {
	return func(s *Session, cmd Command) bool {
		if cmd.Arg != "" || s.noSvc || s.tx == nil || len(s.tx.rcpts) == 0 || s.tx.bdat {
			return false
		}
		s.tx = nil
		s.Reply(354, "End data with <CR><LF>.<CR><LF>")
		ended, err := s.skipData(n)
		if err != nil {
			s.setErr(err)
			s.closeConn()
			return true
		}
		s.Reply(r.Code, r.Lines...)
		if err := s.Flush(); err != nil {
			s.setErr(err)
			s.closeConn()
			return true
		}
		switch then {
		case EarlyClose:
			s.Close()
		case EarlyHang:
			s.Discard()
			s.closeConn()
		default:
			if !ended {
				if _, err := s.skipData(-1); err != nil {
					s.setErr(err)
					s.closeConn()
				}
			}
		}
		return true
	}
}

// skipData reads message data without keeping it: n bytes (all of it if
// n < 0), or less if the final "." line comes first; ended reports that
// it did.
func (s *Session) skipData(n int64) (ended bool, err error) {
	tail := []byte("\n") // the data starts at the beginning of a line
	for i := int64(0); n < 0 || i < n; i++ {
		b, err := s.br.ReadByte()
		if err != nil {
			return false, err
		}
		tail = append(tail, b)
		if len(tail) > 4 {
			tail = tail[len(tail)-4:]
		}
		if bytes.HasSuffix(tail, []byte("\n.\r\n")) || bytes.HasSuffix(tail, []byte("\n.\n")) {
			return true, nil
		}
	}
	return false, nil
}

// ExtraChallenge returns a handler for "AUTH" that runs the exchange as
// usual but, where it would answer 235, first sends "334 " and challenge
// exactly as given (so it need not be base64): a challenge after the
// mechanism has finished. Any answer but "*" (501) then gets the 235.
func ExtraChallenge(challenge string) HandlerFunc {
	return func(s *Session, cmd Command) bool {
		s.extraChallenge = &challenge
		defer func() { s.extraChallenge = nil }()
		s.Default(cmd)
		return true
	}
}

// extraRound sends the ExtraChallenge, if any, and reports whether the
// exchange may still succeed.
func (s *Session) extraRound() bool {
	c := s.extraChallenge
	if c == nil {
		return true
	}
	s.extraChallenge = nil
	s.WriteRaw([]byte("334 " + *c + "\r\n"))
	line, err := s.ReadLine()
	if err != nil {
		s.setErr(err)
		s.closeConn()
		return false
	}
	if line == "*" {
		s.Reply(501, "5.7.0 Authentication aborted")
		return false
	}
	return true
}

// AnswerClientHello returns a handler for "STARTTLS" that answers 220,
// reads the client's first TLS record (its ClientHello) and answers it
// with r in plaintext, e.g. {421, "4.7.0 bye"}, then closes the
// connection.
func AnswerClientHello(r Reply) HandlerFunc {
	return func(s *Session, cmd Command) bool {
		if !s.cfg.tlsEnabled() || s.TLS() || cmd.Arg != "" {
			return false
		}
		s.Reply(220, "2.0.0 Ready to start TLS")
		hdr, err := s.ReadFull(5)
		if err == nil {
			_, err = s.ReadFull(int(hdr[3])<<8 | int(hdr[4]))
		}
		if err != nil {
			s.setErr(err)
			s.closeConn()
			return true
		}
		s.Reply(r.Code, r.Lines...)
		s.Close()
		return true
	}
}
