package probe

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestEchoedSecretsScrubbed is a property test: servers that echo what
// the client sent — a LOGIN (or any mechanism's) server that repeats each
// answer as its next challenge, a server whose 535 quotes the client's
// base64 line — never get a password, a token or the PLAIN blob, in any
// form, into the transcript (text, JSON), the slog output, the replies or
// the error strings; with RevealSecrets they are recorded as sent.
func TestEchoedSecretsScrubbed(t *testing.T) {
	rng := rand.New(rand.NewPCG(20261205, 3))
	mechs := []struct {
		name   string
		client func(user, secret string) sasl.Client
	}{
		{"PLAIN", func(u, s string) sasl.Client { return sasl.NewPlainClient("", u, s) }},
		{"LOGIN", func(u, s string) sasl.Client { return NewLoginClient(u, s, false) }},
		{"LOGIN-ir", func(u, s string) sasl.Client { return NewLoginClient(u, s, true) }},
		{"CRAM-MD5", NewCRAMMD5Client},
		{"XOAUTH2", NewXOAuth2Client},
		{"OAUTHBEARER", func(u, s string) sasl.Client {
			return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: u, Token: s})
		}},
	}
	servers := map[string]fakeserver.HandlerFunc{
		"echo":  fakeserver.EchoAuth(3, fakeserver.Reply{}),
		"quote": fakeserver.QuoteAuth(),
	}
	for i := 0; i < 60; i++ {
		user, secret := "user"+strconv.Itoa(i), randomSecret(rng)
		for _, m := range mechs {
			for kind, handler := range servers {
				if kind == "quote" && m.name != "PLAIN" && m.name != "LOGIN" {
					continue
				}
				reveal := i%10 == 9
				name := m.name + "/" + kind + "/" + strconv.Itoa(i)
				out := echoSession(t, handler, m.client(user, secret), reveal)
				forms := map[string]string{
					"secret": secret, "base64": base64.StdEncoding.EncodeToString([]byte(secret)),
					"URL form":   url.QueryEscape(secret),
					"PLAIN blob": base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + secret)),
				}
				for where, text := range out {
					for what, form := range forms {
						if !reveal && len(form) >= minSecretLen && strings.Contains(text, form) {
							t.Fatalf("%s: the %s holds the %s %q:\n%s", name, where, what, form, text)
						}
					}
				}
			}
		}
	}
}

// echoSession runs AUTH with client against a server with handler and
// returns every rendering of the session.
func echoSession(t *testing.T, handler fakeserver.HandlerFunc, client sasl.Client, reveal bool) map[string]string {
	t.Helper()
	srv := startServer(t, fakeserver.Config{AuthBeforeTLS: true, Handlers: map[string]fakeserver.HandlerFunc{"AUTH": handler}})
	var logs bytes.Buffer
	d := Dialer{LocalName: "probe.example", AllowInsecureAuth: true, RevealSecrets: reveal,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ctx := testCtx(t)
	c, err := d.Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	r, err := c.Auth(ctx, client)
	if err == nil {
		t.Fatalf("AUTH against an echoing server succeeded: %v", r)
	}
	out := renderings(t, c, &logs, []error{err})
	out["reply"] = r.String()
	return out
}
