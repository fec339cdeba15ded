package fakeserver

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
)

// SCRAMOptions tunes the SCRAM server of SCRAM, including ways for it to
// misbehave.
type SCRAMOptions struct {
	// Iterations is the PBKDF2 iteration count; default 4096.
	Iterations int
	// Salt is the salt; default 16 random bytes.
	Salt []byte
	// ServerNonce is appended to the client's nonce; default random.
	ServerNonce string
	// BadSignature sends a server signature that does not match.
	BadSignature bool
	// SkipFinal accepts the client's proof with 235 at once, without the
	// server-final message that proves the server knows the password.
	SkipFinal bool
}

// SCRAM returns a factory for Config.SASL that runs the server side of
// SCRAM (RFC 5802, RFC 7677) without channel binding, with newHash
// (sha1.New for SCRAM-SHA-1, sha256.New for SCRAM-SHA-256) and the
// passwords of Config.Users.
func SCRAM(newHash func() hash.Hash, opt SCRAMOptions) func(*Session) sasl.Server {
	if opt.Iterations <= 0 {
		opt.Iterations = 4096
	}
	return func(s *Session) sasl.Server {
		return &scramServer{s: s, newHash: newHash, opt: opt}
	}
}

type scramServer struct {
	s       *Session
	newHash func() hash.Hash
	opt     SCRAMOptions

	state                      int
	user, gs2, clientFirstBare string
	serverFirst, nonce         string
	salt                       []byte
	serverSignature            []byte
}

var errSCRAMSyntax = errors.New("fakeserver: malformed SCRAM message")

func (m *scramServer) Next(resp []byte) ([]byte, bool, error) {
	switch m.state {
	case 0:
		if resp == nil {
			return []byte{}, false, nil
		}
		m.state = 1
		return m.first(string(resp))
	case 1:
		m.state = 2
		return m.final(string(resp))
	case 2:
		m.state = 3
		if len(resp) != 0 {
			return nil, true, sasl.ErrUnexpectedClientResponse
		}
		m.s.SetAuthUser(m.user)
		return nil, true, nil
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

// first answers client-first with server-first.
func (m *scramServer) first(msg string) ([]byte, bool, error) {
	parts := strings.SplitN(msg, ",", 3)
	if len(parts) != 3 || parts[0] != "n" {
		return nil, true, errSCRAMSyntax
	}
	m.gs2 = parts[0] + "," + parts[1] + ","
	m.clientFirstBare = parts[2]
	attrs := scramFields(m.clientFirstBare)
	user, cnonce := attrs["n"], attrs["r"]
	if user == "" || cnonce == "" {
		return nil, true, errSCRAMSyntax
	}
	m.user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(user)
	m.salt = m.opt.Salt
	if m.salt == nil {
		m.salt = make([]byte, 16)
		_, _ = rand.Read(m.salt)
	}
	snonce := m.opt.ServerNonce
	if snonce == "" {
		snonce = rand.Text()
	}
	m.nonce = cnonce + snonce
	m.serverFirst = "r=" + m.nonce + ",s=" + base64.StdEncoding.EncodeToString(m.salt) + ",i=" + strconv.Itoa(m.opt.Iterations)
	return []byte(m.serverFirst), false, nil
}

// final checks client-final and answers with server-final.
func (m *scramServer) final(msg string) ([]byte, bool, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, true, errSCRAMSyntax
	}
	attrs := scramFields(msg[:i])
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || attrs["r"] != m.nonce || attrs["c"] != base64.StdEncoding.EncodeToString([]byte(m.gs2)) {
		return nil, true, errSCRAMSyntax
	}
	pass, ok := m.s.cfg.Users[m.user]
	salted, err := pbkdf2.Key(m.newHash, pass, m.salt, m.opt.Iterations, m.newHash().Size())
	if err != nil {
		return nil, true, err
	}
	authMessage := []byte(m.clientFirstBare + "," + m.serverFirst + "," + msg[:i])
	h := m.newHash()
	h.Write(m.mac(salted, []byte("Client Key")))
	storedKey := h.Sum(nil)
	sig := m.mac(storedKey, authMessage)
	if len(proof) != len(sig) {
		return nil, true, errAuthFailed
	}
	for j := range sig {
		sig[j] ^= proof[j] // now the client key the proof claims
	}
	h.Reset()
	h.Write(sig)
	if !ok || !hmac.Equal(h.Sum(nil), storedKey) {
		return nil, true, errAuthFailed
	}
	if m.opt.SkipFinal {
		m.s.SetAuthUser(m.user)
		return nil, true, nil
	}
	serverSig := m.mac(m.mac(salted, []byte("Server Key")), authMessage)
	if m.opt.BadSignature {
		serverSig[0] ^= 0xff
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), false, nil
}

func (m *scramServer) mac(key, msg []byte) []byte {
	h := hmac.New(m.newHash, key)
	h.Write(msg)
	return h.Sum(nil)
}

// scramFields parses "k=v,k=v".
func scramFields(msg string) map[string]string {
	out := make(map[string]string)
	for _, f := range strings.Split(msg, ",") {
		if len(f) >= 2 && f[1] == '=' {
			out[f[:1]] = f[2:]
		}
	}
	return out
}

// XOAuth2 returns a factory for Config.SASL that runs the server side of
// Google's XOAUTH2: the token must equal the user's entry in Config.Users.
// On failure it sends the JSON error status as a 334 challenge, waits for
// the client's empty response, and fails the exchange (535).
func XOAuth2() func(*Session) sasl.Server {
	return func(s *Session) sasl.Server { return &xoauth2Server{s: s} }
}

type xoauth2Server struct {
	s      *Session
	failed bool
}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if x.failed {
		return nil, true, errAuthFailed
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	var user, token string
	for _, f := range strings.Split(string(resp), "\x01") {
		if v, ok := strings.CutPrefix(f, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(f, "auth=Bearer "); ok {
			token = v
		}
	}
	if user != "" && token != "" && x.s.CheckPassword(user, token) {
		x.s.SetAuthUser(user)
		return nil, true, nil
	}
	x.failed = true
	return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`), false, nil
}
