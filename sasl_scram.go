package probe

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// ErrServerSignature is wrapped by the error Auth returns when a SCRAM
// server's signature is wrong or missing: the server did not prove that it
// knows the password.
var ErrServerSignature = errors.New("smtp: SCRAM server signature is wrong or missing")

// maxSCRAMIterations bounds the PBKDF2 work a server can ask for.
const maxSCRAMIterations = 1 << 20

// scramClient implements SCRAM (RFC 5802) without channel binding.
type scramClient struct {
	mech               string
	newHash            func() hash.Hash
	username, password string
	nonce              string // the client nonce; random unless set by a test
	cnonce             string // the nonce of the exchange in progress

	state           int // 0 before server-first, 1 before server-final, 2 done
	gs2             string
	clientFirstBare string
	serverSignature []byte
	prepared        string // the password after SASLprep
}

// NewSCRAMSHA1Client returns a SCRAM-SHA-1 client (RFC 5802). The password
// goes through SASLprep; the client nonce comes from crypto/rand; the
// server's signature is verified, and a wrong or missing one is an error
// wrapping ErrServerSignature. An iteration count above 2^20 is refused, to
// bound the work a server can ask for. The proof and the server's
// signature are redacted in the transcript. Channel binding is not offered.
func NewSCRAMSHA1Client(username, password string) sasl.Client {
	return &scramClient{mech: "SCRAM-SHA-1", newHash: sha1.New, username: username, password: password}
}

// NewSCRAMSHA256Client returns a SCRAM-SHA-256 client (RFC 7677), like
// NewSCRAMSHA1Client with SHA-256.
func NewSCRAMSHA256Client(username, password string) sasl.Client {
	return &scramClient{mech: "SCRAM-SHA-256", newHash: sha256.New, username: username, password: password}
}

func (s *scramClient) Start() (string, []byte, error) {
	user, err := saslPrep(s.username)
	if err != nil {
		return s.mech, nil, fmt.Errorf("username: %w", err)
	}
	if s.prepared, err = saslPrep(s.password); err != nil {
		return s.mech, nil, fmt.Errorf("password: %w", err)
	}
	s.cnonce = s.nonce
	if s.cnonce == "" {
		s.cnonce = rand.Text()
	}
	s.state, s.serverSignature = 0, nil
	s.gs2 = "n,,"
	s.clientFirstBare = "n=" + scramName(user) + ",r=" + s.cnonce
	return s.mech, []byte(s.gs2 + s.clientFirstBare), nil
}

func (s *scramClient) Next(challenge []byte) ([]byte, error) {
	switch s.state {
	case 0:
		s.state = 1
		return s.clientFinal(string(challenge))
	case 1:
		s.state = 2
		return []byte{}, s.verify(string(challenge))
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// clientFinal answers server-first with the client proof.
func (s *scramClient) clientFinal(serverFirst string) ([]byte, error) {
	attrs, err := scramAttrs(serverFirst)
	if err != nil {
		return nil, err
	}
	nonce := attrs["r"]
	if len(nonce) <= len(s.cnonce) || !strings.HasPrefix(nonce, s.cnonce) {
		return nil, errors.New("SCRAM: server nonce does not extend the client nonce")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil || len(salt) == 0 {
		return nil, errors.New("SCRAM: salt is missing or not base64")
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil || iter < 1 || iter > maxSCRAMIterations {
		return nil, fmt.Errorf("SCRAM: iteration count %q is not between 1 and %d", truncate(attrs["i"], 20), maxSCRAMIterations)
	}
	salted, err := pbkdf2.Key(s.newHash, s.prepared, salt, iter, s.newHash().Size())
	if err != nil {
		return nil, fmt.Errorf("SCRAM: %w", err)
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(s.gs2)) + ",r=" + nonce
	authMessage := []byte(s.clientFirstBare + "," + serverFirst + "," + withoutProof)
	clientKey := s.hmac(salted, []byte("Client Key"))
	h := s.newHash()
	h.Write(clientKey)
	proof := s.hmac(h.Sum(nil), authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	s.serverSignature = s.hmac(s.hmac(salted, []byte("Server Key")), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks server-final against the expected server signature.
func (s *scramClient) verify(serverFinal string) error {
	attrs, err := scramAttrs(serverFinal)
	if err != nil {
		return err
	}
	if e, ok := attrs["e"]; ok {
		return fmt.Errorf("SCRAM: server reported %q: %w", truncate(e, 80), ErrServerSignature)
	}
	got, err := base64.StdEncoding.DecodeString(attrs["v"])
	if err != nil || !hmac.Equal(got, s.serverSignature) {
		return ErrServerSignature
	}
	s.serverSignature = nil
	return nil
}

// finish refuses a success reply that came before the server proved it
// knows the password.
func (s *scramClient) finish() error {
	if s.state != 2 || s.serverSignature != nil {
		return fmt.Errorf("%w: server accepted without a verified signature", ErrServerSignature)
	}
	return nil
}

// Redaction hides the client proof.
func (s *scramClient) Redaction() string {
	if s.state == 1 {
		return "[proof redacted]"
	}
	return ""
}

// challengeRedaction hides server-final: with the salt, the iteration
// count and the nonces, which the transcript shows, the server signature
// allows the same offline dictionary attack on the password as the proof.
func (s *scramClient) challengeRedaction() string {
	if s.state >= 1 {
		return "[server signature redacted]"
	}
	return ""
}

func (s *scramClient) hmac(key, msg []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(msg)
	return m.Sum(nil)
}

// scramAttrs parses "k=v,k=v" and refuses a mandatory extension.
func scramAttrs(msg string) (map[string]string, error) {
	attrs := make(map[string]string)
	for _, f := range strings.Split(msg, ",") {
		if len(f) < 2 || f[1] != '=' {
			return nil, fmt.Errorf("SCRAM: malformed attribute %q", truncate(f, 40))
		}
		if f[0] == 'm' {
			return nil, errors.New("SCRAM: server requires an unsupported extension")
		}
		if _, dup := attrs[f[:1]]; !dup {
			attrs[f[:1]] = f[2:]
		}
	}
	return attrs, nil
}

// scramName escapes ',' and '=' in a SCRAM user name (RFC 5802 §5.1).
func scramName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// saslPrep prepares a string with the SASLprep profile (RFC 4013) as far
// as it can without Unicode normalisation tables: non-ASCII spaces become
// SPACE, characters "commonly mapped to nothing" are removed, and control,
// private-use, non-character and invalid code points are refused. ASCII
// strings are handled exactly; other strings are not NFKC-normalised.
func saslPrep(s string) (string, error) {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return "", errors.New("SASLprep: not valid UTF-8")
		case mappedToNothing(r):
		case nonASCIISpace(r):
			b.WriteByte(' ')
		case prohibited(r):
			return "", fmt.Errorf("SASLprep: prohibited character U+%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// mappedToNothing is RFC 3454 table B.1.
func mappedToNothing(r rune) bool {
	switch {
	case r == 0x00AD, r == 0x034F, r == 0x1806, r >= 0x180B && r <= 0x180D,
		r >= 0x200B && r <= 0x200D, r == 0x2060, r >= 0xFE00 && r <= 0xFE0F, r == 0xFEFF:
		return true
	}
	return false
}

// nonASCIISpace is RFC 3454 table C.1.2.
func nonASCIISpace(r rune) bool {
	switch {
	case r == 0x00A0, r == 0x1680, r >= 0x2000 && r <= 0x200B, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

// prohibited covers RFC 3454 tables C.2 to C.9 in part: control
// characters, private use, non-characters and surrogates, and the
// inappropriate and tagging characters.
func prohibited(r rune) bool {
	switch {
	case r < 0x20, r == 0x7F, r >= 0x80 && r <= 0x9F,
		r == 0x06DD, r == 0x070F, r == 0x180E, r >= 0x200E && r <= 0x200F, r >= 0x2028 && r <= 0x202E,
		r >= 0x2060 && r <= 0x206F, r == 0xFEFF, r >= 0xFFF9 && r <= 0xFFFD,
		r >= 0xE000 && r <= 0xF8FF, r >= 0xF0000,
		r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE,
		r >= 0xD800 && r <= 0xDFFF, r >= 0x2FF0 && r <= 0x2FFB,
		r == 0xE0001, r >= 0xE0020 && r <= 0xE007F, r >= 0x1D173 && r <= 0x1D17A:
		return true
	}
	return false
}
