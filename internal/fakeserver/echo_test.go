package fakeserver_test

import (
	"encoding/base64"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func authServer(t *testing.T, h fakeserver.HandlerFunc) (*fakeserver.Server, *client) {
	t.Helper()
	srv := start(t, fakeserver.Config{AuthBeforeTLS: true, Handlers: map[string]fakeserver.HandlerFunc{"AUTH": h}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	return srv, cl
}

func decoded(t *testing.T, challenge string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(challenge)
	if err != nil {
		t.Fatalf("challenge %q: %v", challenge, err)
	}
	return string(b)
}

func TestEchoAuthLogin(t *testing.T) {
	_, cl := authServer(t, fakeserver.EchoAuth(3, fakeserver.Reply{}))
	if l := cl.cmd("AUTH LOGIN", 334); decoded(t, l[0]) != "Username:" {
		t.Fatalf("first challenge %q", l)
	}
	if l := cl.cmd(b64("alice"), 334); decoded(t, l[0]) != "alice" {
		t.Fatalf("second challenge %q", l)
	}
	if l := cl.cmd(b64("s3cret"), 334); decoded(t, l[0]) != "s3cret" {
		t.Fatalf("third challenge %q: the password is not echoed", l)
	}
	cl.cmd("", 535)
	cl.cmd("AUTH LOGIN", 334) // a second exchange works the same
	cl.cmd("*", 501)
}

func TestEchoAuthInitialResponse(t *testing.T) {
	blob := b64("\x00u\x00secret")
	srv, cl := authServer(t, fakeserver.EchoAuth(2, fakeserver.Reply{Code: 235, Lines: []string{"2.7.0 ok"}}))
	if l := cl.cmd("AUTH PLAIN "+blob, 334); l[0] != blob {
		t.Fatalf("challenge %q, want the initial response", l)
	}
	cl.cmd("", 235)
	cl.cmd("QUIT", 221)
	if rec := waitOne(t, srv); rec.AuthUser != "PLAIN" {
		t.Fatalf("auth user %q", rec.AuthUser)
	}
}

func TestQuoteAuth(t *testing.T) {
	blob := b64("\x00u\x00secret")
	pass := b64("s3cret")
	cases := []struct {
		name   string
		auth   string
		prompt []string // challenges expected before the secret line
		answer []string // the client's lines
		quoted string
	}{
		{"plain-initial", "AUTH PLAIN " + blob, nil, nil, blob},
		{"plain-challenge", "AUTH PLAIN", []string{""}, []string{blob}, blob},
		{"login", "AUTH LOGIN", []string{b64("Username:"), b64("Password:")}, []string{b64("u"), pass}, pass},
		{"login-initial", "AUTH LOGIN " + b64("u"), []string{b64("Password:")}, []string{pass}, pass},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, cl := authServer(t, fakeserver.QuoteAuth())
			cl.send(c.auth + "\r\n")
			for i, p := range c.prompt {
				if l := cl.expect(334); l[0] != p {
					t.Fatalf("challenge %q, want %q", l, p)
				}
				cl.send(c.answer[i] + "\r\n")
			}
			if l := cl.expect(535); l[0] != "5.7.8 "+c.quoted+" rejected" {
				t.Fatalf("got %q", l)
			}
		})
	}
	srv := start(t, fakeserver.Config{AuthBeforeTLS: true, Handlers: map[string]fakeserver.HandlerFunc{"AUTH": fakeserver.QuoteAuth()}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("AUTH PLAIN "+blob, 503) // refused before EHLO like the built-in AUTH
}
