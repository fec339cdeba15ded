package probe

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
	"github.com/xdg-go/stringprep"
)

// ErrServerSignature is wrapped by Auth's error when a SCRAM server's
// signature is wrong or missing: it did not prove it knows the password.
var ErrServerSignature = errors.New("smtp: SCRAM server signature is wrong or missing")

// errSASLprep is wrapped by the error of a SCRAM client whose user name or
// password SASLprep refuses; nothing is sent then.
var errSASLprep = errors.New("not valid under SASLprep (RFC 4013): a prohibited or unassigned character")

// maxSCRAMIterations bounds the PBKDF2 work a server can ask for.
const maxSCRAMIterations = 1 << 20

// scramClient is SCRAM (RFC 5802, RFC 7677) without channel binding,
// through github.com/xdg-go/scram, which does SASLprep (with NFKC) and the
// exchange; it adds what a probe needs around it: a bound on the PBKDF2
// work a server can ask for, redaction of the proof and of the server's
// signature, and a refusal of a success that came before the server proved
// it knows the password.
type scramClient struct {
	mech               string
	hash               scram.HashGeneratorFcn
	username, password string
	nonce              string // the client nonce; random unless set by a test
	cnonce             string // the nonce of the exchange in progress

	conv  *scram.ClientConversation
	state int // 0 before server-first, 1 before server-final, 2 done
}

// NewSCRAMSHA1Client returns a SCRAM-SHA-1 client (RFC 5802; SASLprep, no
// channel binding) that redacts its proof and the server's signature and
// refuses a wrong one (ErrServerSignature) or over 2^20 iterations.
func NewSCRAMSHA1Client(username, password string) sasl.Client {
	return &scramClient{mech: "SCRAM-SHA-1", hash: scram.SHA1, username: username, password: password}
}

// NewSCRAMSHA256Client returns a SCRAM-SHA-256 client (RFC 7677), like
// NewSCRAMSHA1Client with SHA-256.
func NewSCRAMSHA256Client(username, password string) sasl.Client {
	return &scramClient{mech: "SCRAM-SHA-256", hash: scram.SHA256, username: username, password: password}
}

func (s *scramClient) secret() string { return s.password }

func (s *scramClient) Start() (string, []byte, error) {
	// SCRAM prepares both as stored strings (RFC 5802 §2.2): unassigned
	// code points are refused. The library's own error quotes the
	// password, so it is checked here first, and the error names neither.
	if _, err := stringprep.SASLprep.Prepare(s.username); err != nil {
		return s.mech, nil, fmt.Errorf("SCRAM: the user name is %w", errSASLprep)
	}
	if _, err := stringprep.SASLprep.Prepare(s.password); err != nil {
		return s.mech, nil, fmt.Errorf("SCRAM: the password is %w", errSASLprep)
	}
	client, err := s.hash.NewClient(s.username, s.password, "")
	if err != nil {
		return s.mech, nil, fmt.Errorf("SCRAM: the credentials are %w", errSASLprep)
	}
	s.cnonce = s.nonce
	if s.cnonce == "" {
		s.cnonce = rand.Text()
	}
	client = client.WithMinIterations(1).WithNonceGenerator(func() string { return s.cnonce })
	s.conv, s.state = client.NewConversation(), 0
	first, err := s.conv.Step("")
	if err != nil {
		return s.mech, nil, fmt.Errorf("SCRAM: %w", err)
	}
	return s.mech, []byte(first), nil
}

func (s *scramClient) Next(challenge []byte) ([]byte, error) {
	switch s.state {
	case 0:
		s.state = 1
		if err := s.checkServerFirst(string(challenge)); err != nil {
			return nil, err
		}
		final, err := s.conv.Step(string(challenge))
		if err != nil {
			return nil, fmt.Errorf("SCRAM: %w", err)
		}
		return []byte(final), nil
	case 1:
		s.state = 2
		if _, err := s.conv.Step(string(challenge)); err != nil || !s.conv.Valid() {
			return []byte{}, fmt.Errorf("SCRAM: %v: %w", err, ErrServerSignature)
		}
		return []byte{}, nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// checkServerFirst refuses server-first before any PBKDF2 work when its
// nonce does not extend the client's (a server that only echoes it gives
// no freshness of its own, RFC 5802 §5.1) or its iteration count is
// missing, malformed or above maxSCRAMIterations.
func (s *scramClient) checkServerFirst(serverFirst string) error {
	var nonce, iter string
	for _, f := range strings.Split(serverFirst, ",") {
		if v, ok := strings.CutPrefix(f, "r="); ok && nonce == "" {
			nonce = v
		}
		if v, ok := strings.CutPrefix(f, "i="); ok && iter == "" {
			iter = v
		}
	}
	if len(nonce) <= len(s.cnonce) || !strings.HasPrefix(nonce, s.cnonce) {
		return errors.New("SCRAM: server nonce is missing or does not extend the client nonce")
	}
	if n, err := strconv.Atoi(iter); err != nil || n < 1 || n > maxSCRAMIterations {
		return fmt.Errorf("SCRAM: iteration count %q is not between 1 and %d", truncate(iter, 20), maxSCRAMIterations)
	}
	return nil
}

// finish refuses a success reply that came before the server proved it
// knows the password.
func (s *scramClient) finish() error {
	if s.state != 2 || s.conv == nil || !s.conv.Valid() {
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
