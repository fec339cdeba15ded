package probe

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"strings"
)

// Secrets a Conn was given are redacted where they are written (see
// Redactor); a server can still send them back: a LOGIN server that
// repeats the answer as its next challenge, a 535 that quotes the client's
// base64 line. So the Conn also remembers every secret it sends, in the
// forms a server may echo (as is, base64, URL-escaped, xtext), and
// replaces them in what it receives before anything is stored, noted,
// logged or put in an error. With RevealSecrets nothing is scrubbed.

// minSecretLen is the shortest secret scrubbed by value: a shorter one
// would blank out common words of every reply.
const minSecretLen = 4

// redactedEcho stands in for a secret the server sent back.
const redactedEcho = "[secret redacted]"

// secretHolder is implemented by this package's SASL clients: the secret
// they were given (a password, a token), which their responses need not
// contain as it is.
type secretHolder interface {
	secret() string
}

// addSecret remembers s and the forms a server may echo it in.
func (c *Conn) addSecret(s string) {
	if c.d.RevealSecrets || len(s) < minSecretLen {
		return
	}
	for _, form := range [...]string{s, base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)), url.QueryEscape(s), url.PathEscape(s), xtextEncode(s)} {
		if len(form) >= minSecretLen && !containsString(c.secrets, form) {
			c.secrets = append(c.secrets, form)
		}
	}
}

// addResponseSecrets remembers a SASL response that is redacted in the
// transcript, and the secret fields inside it: the password of a PLAIN
// blob, the token of an OAUTHBEARER or XOAUTH2 response.
func (c *Conn) addResponseSecrets(mech string, resp []byte) {
	c.addSecret(string(resp))
	switch mech {
	case "PLAIN":
		if i := bytes.LastIndexByte(resp, 0); i >= 0 {
			c.addSecret(string(resp[i+1:]))
		}
	case "OAUTHBEARER", "XOAUTH2":
		for _, f := range bytes.Split(resp, []byte{1}) {
			if tok, ok := bytes.CutPrefix(f, []byte("auth=")); ok {
				c.addSecret(string(tok))
				if _, t, ok := strings.Cut(string(tok), " "); ok {
					c.addSecret(t)
				}
			}
		}
	}
}

// scrub replaces every remembered secret in s.
func (c *Conn) scrub(s string) (string, bool) {
	found := false
	for _, secret := range c.secrets {
		if strings.Contains(s, secret) {
			s, found = strings.ReplaceAll(s, secret, redactedEcho), true
		}
	}
	return s, found
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// proxyPassword is the password of a proxy URL, or "".
func proxyPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}
