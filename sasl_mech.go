package probe

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"

	"github.com/emersion/go-sasl"
)

// loginClient is a tolerant client for the LOGIN mechanism
// (draft-murchison-sasl-login). It answers the server's prompts by their
// order, not by their text: the username first, then the password. It
// records the decoded prompts for tests.
type loginClient struct {
	username, password string
	initial            bool // the username goes on the AUTH line
	answered           int  // 1 after the username, 2 after the password
	reasked            bool
	prompts            []string
}

// NewLoginClient returns a LOGIN client that answers prompts by order, not
// text: username, then password (redacted). With initialResponse the
// username goes on the AUTH line too (and once more if asked).
func NewLoginClient(username, password string, initialResponse bool) sasl.Client {
	return &loginClient{username: username, password: password, initial: initialResponse}
}

// Start begins the exchange.
func (l *loginClient) Start() (string, []byte, error) {
	l.answered, l.reasked, l.prompts = 0, false, nil
	if l.initial {
		l.answered = 1
		return sasl.Login, []byte(l.username), nil
	}
	return sasl.Login, nil, nil
}

// Next answers a prompt: the username, then the password. A third prompt
// is refused with sasl.ErrUnexpectedServerChallenge.
func (l *loginClient) Next(challenge []byte) ([]byte, error) {
	l.prompts = append(l.prompts, string(challenge))
	switch {
	case l.answered == 1 && l.initial && !l.reasked && isUsernamePrompt(challenge):
		l.reasked = true
		return []byte(l.username), nil
	case l.answered < 2:
		l.answered++
		if l.answered == 1 {
			return []byte(l.username), nil
		}
		return []byte(l.password), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// Redaction hides the password and shows the username.
func (l *loginClient) Redaction() string {
	if l.answered == 2 {
		return "[password redacted]"
	}
	return ""
}

func (l *loginClient) secret() string { return l.password }

// isUsernamePrompt reports whether a prompt asks for a user name.
func isUsernamePrompt(p []byte) bool {
	p = bytes.ToLower(p)
	return bytes.Contains(p, []byte("user")) && !bytes.Contains(p, []byte("pass"))
}

// cramMD5Client implements CRAM-MD5 (RFC 2195).
type cramMD5Client struct {
	username, password string
	done               bool
}

func (c *cramMD5Client) secret() string { return c.password }

// NewCRAMMD5Client returns a CRAM-MD5 client (RFC 2195); its response is redacted.
func NewCRAMMD5Client(username, password string) sasl.Client {
	return &cramMD5Client{username: username, password: password}
}

func (c *cramMD5Client) Start() (string, []byte, error) {
	c.done = false
	return "CRAM-MD5", nil, nil
}

func (c *cramMD5Client) Next(challenge []byte) ([]byte, error) {
	if c.done {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	c.done = true
	mac := hmac.New(md5.New, []byte(c.password))
	mac.Write(challenge)
	return []byte(c.username + " " + hex.EncodeToString(mac.Sum(nil))), nil
}

func (c *cramMD5Client) Redaction() string { return "[credentials redacted]" }

// xoauth2Client implements Google's XOAUTH2.
type xoauth2Client struct {
	username, token string
	failed          bool
}

func (x *xoauth2Client) secret() string { return x.token }

// NewXOAuth2Client returns an XOAUTH2 client (Google's format) that sends
// the user and the token (redacted) at once; to an error challenge it
// sends the empty response the format asks for.
func NewXOAuth2Client(username, token string) sasl.Client {
	return &xoauth2Client{username: username, token: token}
}

func (x *xoauth2Client) Start() (string, []byte, error) {
	x.failed = false
	return "XOAUTH2", []byte("user=" + x.username + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if x.failed {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	x.failed = true
	return []byte{}, nil
}

func (x *xoauth2Client) Redaction() string {
	if x.failed {
		return ""
	}
	return "[token redacted]"
}
