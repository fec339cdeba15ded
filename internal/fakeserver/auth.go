package fakeserver

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// maxAuthRounds bounds the challenge/response rounds of one AUTH exchange.
const maxAuthRounds = 64

var errAuthFailed = errors.New("fakeserver: authentication failed")

// CheckPassword reports whether pass is user's password in Config.Users.
func (s *Session) CheckPassword(user, pass string) bool {
	want, ok := s.cfg.Users[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

// SetAuthUser names the authenticated identity. Called by a SASL server
// during AUTH, it takes effect only if the exchange succeeds; called
// elsewhere (e.g. from a handler), it authenticates the session at once.
func (s *Session) SetAuthUser(user string) {
	if s.inAuth {
		s.pendUser = user
		return
	}
	s.setAuth(user)
}

func (s *Session) setAuth(user string) {
	s.authUser, s.authed = user, true
	s.mu.Lock()
	s.rec.AuthUser = user
	s.mu.Unlock()
}

// authRefusal returns the reply refusing AUTH in the current state, or nil.
func (s *Session) authRefusal() *Reply {
	switch {
	case s.helo == "" || !s.esmtp:
		return &Reply{503, []string{"5.5.1 Error: send EHLO first"}}
	case s.cfg.RequireTLS && !s.TLS():
		return &Reply{530, []string{"5.7.0 Must issue a STARTTLS command first"}}
	case !s.TLS() && !s.cfg.AuthBeforeTLS:
		return &Reply{538, []string{"5.7.11 Encryption required for requested authentication mechanism"}}
	case s.authed:
		return &Reply{503, []string{"5.5.1 Error: already authenticated"}}
	case s.tx != nil:
		return &Reply{503, []string{"5.5.1 Error: MAIL transaction in progress"}}
	}
	return nil
}

func (s *Session) cmdAuth(cmd Command) {
	if r := s.authRefusal(); r != nil {
		s.Reply(r.Code, r.Lines...)
		return
	}
	f := strings.Fields(cmd.Arg)
	if len(f) == 0 || len(f) > 2 {
		s.Reply(501, "5.5.4 Syntax: AUTH mechanism")
		return
	}
	mech := s.mechanism(strings.ToUpper(f[0]))
	if mech == nil {
		s.Reply(504, "5.5.4 Unsupported authentication mechanism")
		return
	}
	var ir []byte
	if len(f) == 2 {
		var ok bool
		if ir, ok = decodeResponse(f[1]); !ok {
			s.Reply(501, "5.5.2 Cannot decode response")
			return
		}
	}
	s.inAuth, s.pendUser = true, ""
	defer func() { s.inAuth = false }()
	s.authExchange(mech(s), ir, strings.ToUpper(f[0]))
}

// decodeResponse decodes a base64 client response; "=" is the empty one.
func decodeResponse(r string) ([]byte, bool) {
	if r == "=" {
		return []byte{}, true
	}
	b, err := base64.StdEncoding.DecodeString(r)
	if err != nil {
		return nil, false
	}
	if b == nil {
		b = []byte{}
	}
	return b, true
}

// authExchange runs the challenge/response rounds.
func (s *Session) authExchange(srv sasl.Server, resp []byte, mech string) {
	for range maxAuthRounds {
		chal, done, err := srv.Next(resp)
		if err != nil {
			s.Reply(535, "5.7.8 Error: authentication failed: authentication failure")
			return
		}
		if done {
			if !s.extraRound() {
				return
			}
			user := s.pendUser
			if user == "" {
				user = mech
			}
			s.setAuth(user)
			s.Reply(235, "2.7.0 Authentication successful")
			return
		}
		s.Reply(334, base64.StdEncoding.EncodeToString(chal))
		line, err := s.ReadLine()
		if err != nil {
			s.setErr(err)
			s.closeConn()
			return
		}
		if line == "*" {
			s.Reply(501, "5.7.0 Authentication aborted")
			return
		}
		var ok bool
		if resp, ok = decodeResponse(line); !ok {
			s.Reply(501, "5.5.2 Cannot decode response")
			return
		}
	}
	s.Reply(535, "5.7.8 Error: authentication failed: too many rounds")
}

// mechanism returns the server factory for mech, plugged-in ones first.
func (s *Session) mechanism(mech string) func(*Session) sasl.Server {
	for name, f := range s.cfg.SASL {
		if strings.EqualFold(name, mech) {
			return f
		}
	}
	switch mech {
	case "PLAIN":
		return newPlainServer
	case "LOGIN":
		return func(s *Session) sasl.Server { return &loginServer{s: s} }
	case "CRAM-MD5":
		return func(s *Session) sasl.Server { return &cramServer{s: s} }
	}
	return nil
}

func newPlainServer(s *Session) sasl.Server {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if identity != "" && identity != user {
			return errAuthFailed
		}
		if !s.CheckPassword(user, pass) {
			return errAuthFailed
		}
		s.SetAuthUser(user)
		return nil
	})
}

// loginServer implements the LOGIN mechanism (draft-murchison-sasl-login).
type loginServer struct {
	s     *Session
	state int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.state {
	case 0:
		if resp == nil {
			l.state = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.state = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.state = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		if !l.s.CheckPassword(l.user, string(resp)) {
			return nil, true, errAuthFailed
		}
		l.s.SetAuthUser(l.user)
		return nil, true, nil
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

// cramServer implements CRAM-MD5 (RFC 2195).
type cramServer struct {
	s         *Session
	challenge string
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		if len(resp) > 0 {
			return nil, true, sasl.ErrUnexpectedClientResponse
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.challenge = fmt.Sprintf("<%d.%d@%s>", binary.BigEndian.Uint64(b[:])>>1, time.Now().Unix(), c.s.cfg.Hostname)
		return []byte(c.challenge), false, nil
	}
	i := strings.LastIndexByte(string(resp), ' ')
	if i < 0 {
		return nil, true, errAuthFailed
	}
	user, digest := string(resp[:i]), string(resp[i+1:])
	pass, ok := c.s.cfg.Users[user]
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	if !ok || !hmac.Equal([]byte(want), []byte(strings.ToLower(digest))) {
		return nil, true, errAuthFailed
	}
	c.s.SetAuthUser(user)
	return nil, true, nil
}
