package probe

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// sentAndNotes returns the client lines and notes of a transcript from the
// first AUTH on, as rendered.
func sentAndNotes(c *Conn) []string {
	var out []string
	started := false
	for _, e := range c.Transcript().Entries() {
		started = started || e.Kind == Sent && strings.HasPrefix(e.Text, "AUTH")
		if started {
			out = append(out, e.String())
		}
	}
	return out
}

func TestAuthTranscript(t *testing.T) {
	// SCRAM-SHA-256 as in RFC 7677 §3: its salt, nonces and messages.
	v := scramVectors[1]
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	scram := func(c *Conn) (*Reply, error) {
		m := v.client("user", "pencil").(*scramClient)
		m.nonce = v.nonce
		return c.Auth(authCtx(t), m)
	}
	salt, err := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	if err != nil {
		t.Fatal(err)
	}
	scramServer := fakeserver.SCRAM(sha256.New, fakeserver.SCRAMOptions{Iterations: 4096, Salt: salt, ServerNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"})
	cases := []struct {
		name   string
		reveal bool
		run    func(c *Conn) (*Reply, error)
		want   []string
	}{
		{"PLAIN", false, func(c *Conn) (*Reply, error) { return c.AuthPlain(authCtx(t), "", authUser, authPass) }, []string{
			"C: AUTH PLAIN [credentials redacted]",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"PLAIN revealed", true, func(c *Conn) (*Reply, error) { return c.AuthPlain(authCtx(t), "", authUser, authPass) }, []string{
			"C: AUTH PLAIN AHVzZXJAZG9tYWluLmNvbQBUcjB1YjRkb3ImMw==",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"LOGIN", false, func(c *Conn) (*Reply, error) { return c.AuthLogin(authCtx(t), authUser, authPass) }, []string{
			"C: AUTH LOGIN",
			"S: 334 VXNlcm5hbWU6",
			"*  334 decoded: Username:",
			"C: dXNlckBkb21haW4uY29t",
			"S: 334 UGFzc3dvcmQ6",
			"*  334 decoded: Password:",
			"C: [password redacted]",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"LOGIN revealed", true, func(c *Conn) (*Reply, error) { return c.AuthLogin(authCtx(t), authUser, authPass) }, []string{
			"C: AUTH LOGIN",
			"S: 334 VXNlcm5hbWU6",
			"*  334 decoded: Username:",
			"C: dXNlckBkb21haW4uY29t",
			"S: 334 UGFzc3dvcmQ6",
			"*  334 decoded: Password:",
			"C: VHIwdWI0ZG9yJjM=",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"XOAUTH2", false, func(c *Conn) (*Reply, error) { return c.Auth(authCtx(t), NewXOAuth2Client(authUser, authPass)) }, []string{
			"C: AUTH XOAUTH2 [token redacted]",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"OAUTHBEARER", false, func(c *Conn) (*Reply, error) {
			return c.Auth(authCtx(t), sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: authUser, Token: authPass}))
		}, []string{
			"C: AUTH OAUTHBEARER [token redacted]",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"EXTERNAL", false, func(c *Conn) (*Reply, error) { return c.Auth(authCtx(t), sasl.NewExternalClient("")) }, []string{
			"C: AUTH EXTERNAL =",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"ANONYMOUS", false, func(c *Conn) (*Reply, error) { return c.Auth(authCtx(t), sasl.NewAnonymousClient("probe")) }, []string{
			"C: AUTH ANONYMOUS cHJvYmU=",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"SCRAM-SHA-256", false, scram, []string{
			"C: AUTH SCRAM-SHA-256 " + b64(v.clientFirst),
			"S: 334 " + b64(v.serverFirst),
			"*  334 decoded: " + v.serverFirst,
			"C: [proof redacted]",
			"S: 334 [server signature redacted]",
			"C: ",
			"S: 235 2.7.0 Authentication successful",
		}},
		{"SCRAM-SHA-256 revealed", true, scram, []string{
			"C: AUTH SCRAM-SHA-256 " + b64(v.clientFirst),
			"S: 334 " + b64(v.serverFirst),
			"*  334 decoded: " + v.serverFirst,
			"C: " + b64(v.clientFinal),
			"S: 334 " + b64(v.serverFinal),
			"*  334 decoded: " + v.serverFinal,
			"C: ",
			"S: 235 2.7.0 Authentication successful",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newAuthEnv(t, true, fakeserver.Config{
				Users: map[string]string{authUser: authPass, "user": "pencil"},
				SASL:  map[string]func(*fakeserver.Session) sasl.Server{"SCRAM-SHA-256": scramServer},
			})
			env.d.RevealSecrets = tc.reveal
			c := env.dial(t, authCtx(t))
			if _, err := tc.run(c); err != nil {
				t.Fatal(err)
			}
			got := sentAndNotes(c)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("transcript:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, e := range c.Transcript().Entries() {
				if e.Redacted != (strings.Contains(e.Text, "redacted]") && e.Kind != Note) {
					t.Errorf("entry %q has Redacted=%v", e.Text, e.Redacted)
				}
			}
		})
	}
}

func TestAuthPlainRefusesNUL(t *testing.T) {
	cases := []struct{ identity, user, pass, field string }{
		{"a\x00b", authUser, authPass, "identity"},
		{"", "us\x00er", authPass, "username"},
		{"", authUser, "pa\x00ss", "password"},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			ctx := authCtx(t)
			env := newAuthEnv(t, true, fakeserver.Config{})
			c := env.dial(t, ctx)
			_, err := c.AuthPlain(ctx, tc.identity, tc.user, tc.pass)
			var oe *OpError
			if !errors.Is(err, ErrInvalidLine) || !errors.As(err, &oe) || oe.Op != "AUTH PLAIN" {
				t.Fatalf("err = %v, want *OpError{AUTH PLAIN, ErrInvalidLine}", err)
			}
			if !strings.Contains(err.Error(), tc.field) || strings.Contains(err.Error(), "\x00") || strings.Contains(err.Error(), "\\x00") {
				t.Errorf("err = %q, want it to name the %s and not show it", err, tc.field)
			}
			if _, err := c.Noop(ctx); err != nil {
				t.Fatal(err)
			}
			if wire := env.authBytes(t); wire != "" {
				t.Errorf("wrote %q", wire)
			}
		})
	}
}

func TestAuthLongInitialResponse(t *testing.T) {
	ctx := authCtx(t)
	long := strings.Repeat("p", 600)
	env := newAuthEnv(t, true, fakeserver.Config{Users: map[string]string{authUser: long}})
	c := env.dial(t, ctx)
	r, err := c.AuthPlain(ctx, "", authUser, long)
	if err != nil || r.Code != 235 {
		t.Fatalf("AuthPlain = %v, %v", r, err)
	}
	wire := env.authBytes(t)
	if !strings.HasPrefix(wire, "AUTH PLAIN\r\nAHVzZXJAZG9tYWluLmNvbQBwcHBw") {
		t.Errorf("wire = %.60q…, want AUTH PLAIN alone, then the response", wire)
	}
	got := strings.Join(sentAndNotes(c), "\n")
	want := "C: AUTH PLAIN\nS: 334 \n*  334 empty challenge\nC: [credentials redacted]\nS: 235 2.7.0 Authentication successful"
	if got != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", got, want)
	}
	// Within 512 octets with CRLF the response stays on the AUTH line; one
	// more byte of password and it waits for the 334.
	for _, n := range []int{355, 356} {
		pass := strings.Repeat("p", n)
		env = newAuthEnv(t, true, fakeserver.Config{Users: map[string]string{authUser: pass}})
		c = env.dial(t, ctx)
		if _, err := c.AuthPlain(ctx, "", authUser, pass); err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(env.authBytes(t), "\r\n")
		if n == 355 && len(first)+2 != 509 || n == 356 && first != "AUTH PLAIN" {
			t.Errorf("password of %d: AUTH line of %d octets", n, len(first)+2)
		}
	}
}

func TestAuthChallengeWithoutPadding(t *testing.T) {
	ctx := authCtx(t)
	h := scriptHandler("334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ", "235 2.7.0 ok")
	env := newAuthEnv(t, true, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"AUTH": h}})
	c := env.dial(t, ctx)
	lc := NewLoginClient("u", "p", false)
	if _, err := c.Auth(ctx, lc); err != nil {
		t.Fatal(err)
	}
	if got := lc.(*loginClient).prompts; len(got) != 2 || got[1] != "Password" {
		t.Errorf("prompts = %q", got)
	}
	if !strings.Contains(c.Transcript().String(), "*  334 challenge lacks its base64 padding\n*  334 decoded: Password\n") {
		t.Errorf("transcript lacks the padding note:\n%s", c.Transcript())
	}
}

func TestLoginClientAnswersByOrder(t *testing.T) {
	cases := []struct {
		name    string
		initial bool
		script  []string
		wire    string
		prompts []string
	}{
		{"seed prompts", false, []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.0.0 ok"},
			"AUTH LOGIN\r\ndQ==\r\ncA==\r\n", []string{"Username:", "Password:"}},
		{"other words", false, []string{"334 QmVudXR6ZXJuYW1lOg==", "334 S2VubndvcnQ6", "235 2.0.0 ok"},
			"AUTH LOGIN\r\ndQ==\r\ncA==\r\n", []string{"Benutzername:", "Kennwort:"}},
		{"empty prompts", false, []string{"334 ", "334", "235 2.0.0 ok"},
			"AUTH LOGIN\r\ndQ==\r\ncA==\r\n", []string{"", ""}},
		{"initial response", true, []string{"334 UGFzc3dvcmQ6", "235 2.0.0 ok"},
			"AUTH LOGIN dQ==\r\ncA==\r\n", []string{"Password:"}},
		{"initial response asked again", true, []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.0.0 ok"},
			"AUTH LOGIN dQ==\r\ndQ==\r\ncA==\r\n", []string{"Username:", "Password:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := authCtx(t)
			env := newAuthEnv(t, true, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"AUTH": scriptHandler(tc.script...)}})
			c := env.dial(t, ctx)
			lc := NewLoginClient("u", "p", tc.initial)
			if _, err := c.Auth(ctx, lc); err != nil {
				t.Fatal(err)
			}
			if got := env.authBytes(t); got != tc.wire {
				t.Errorf("wire = %q, want %q", got, tc.wire)
			}
			if got := lc.(*loginClient).prompts; strings.Join(got, "|") != strings.Join(tc.prompts, "|") {
				t.Errorf("prompts = %q, want %q", got, tc.prompts)
			}
			if strings.Contains(c.Transcript().String(), "cA==") {
				t.Error("the password shows in the transcript")
			}
		})
	}
}

func TestAuthOddReplies(t *testing.T) {
	cases := []struct {
		name   string
		script []string
		client func() sasl.Client
		check  func(t *testing.T, c *Conn, r *Reply, err error)
	}{
		{"354 instead of 334", []string{"354 go ahead", "501 5.7.0 aborted"}, func() sasl.Client { return NewLoginClient("u", "p", false) },
			func(t *testing.T, c *Conn, r *Reply, err error) {
				var pe *ProtocolError
				if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "354 cannot answer AUTH LOGIN") || pe.Reply.Code != 354 {
					t.Errorf("err = %v", err)
				}
				if c.Err() == nil {
					t.Error("the session goes on after a reply AUTH cannot get")
				}
			}},
		{"challenge after cancel", []string{"334 %%", "334 more"}, func() sasl.Client { return NewLoginClient("u", "p", false) },
			func(t *testing.T, c *Conn, r *Reply, err error) {
				var pe *ProtocolError
				if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "after it was cancelled") {
					t.Errorf("err = %v", err)
				}
				if c.Err() == nil {
					t.Error("Conn still usable after the server lost the thread")
				}
			}},
		{"250 instead of 235", []string{"250 2.0.0 fine"}, func() sasl.Client { return sasl.NewPlainClient("", "u", "p") },
			func(t *testing.T, c *Conn, r *Reply, err error) {
				var pe *ProtocolError
				if !errors.As(err, &pe) || r.Code != 250 || c.Err() == nil {
					t.Errorf("got %v, %v; want a *ProtocolError that ends the session\n%s", r, err, c.Transcript())
				}
			}},
		{"challenge after PLAIN", []string{"334 bW9yZT8=", "501 5.7.0 aborted"}, func() sasl.Client { return sasl.NewPlainClient("", "u", "p") },
			func(t *testing.T, c *Conn, r *Reply, err error) {
				var pe *ProtocolError
				if !errors.Is(err, sasl.ErrUnexpectedServerChallenge) || !errors.As(err, &pe) || pe.Step != "AUTH PLAIN" || r.Code != 501 {
					t.Errorf("got %v, %v", r, err)
				}
			}},
		{"cancel answered oddly", []string{"334 bW9yZT8=", "500 5.5.1 what"}, func() sasl.Client { return sasl.NewPlainClient("", "u", "p") },
			func(t *testing.T, c *Conn, r *Reply, err error) {
				if !strings.Contains(c.Transcript().String(), "*  server answered the AUTH cancellation with 500, not 501") {
					t.Errorf("no note:\n%s", c.Transcript())
				}
			}},
		{"421 closes", []string{"421 4.3.2 shutting down"}, func() sasl.Client { return sasl.NewPlainClient("", "u", "p") },
			func(t *testing.T, c *Conn, r *Reply, err error) {
				if !errors.Is(err, ErrServerClosed) || c.Err() == nil {
					t.Errorf("err = %v, Conn.Err = %v", err, c.Err())
				}
			}},
		{"XOAUTH2 error status", []string{"334 eyJzdGF0dXMiOiI0MDEifQ==", "535 5.7.8 Username and Password not accepted"}, func() sasl.Client { return NewXOAuth2Client("u", "tok") },
			func(t *testing.T, c *Conn, r *Reply, err error) {
				var re *ReplyError
				if !errors.As(err, &re) || re.Command != "AUTH XOAUTH2" || !strings.Contains(c.Transcript().String(), "*  334 decoded: {\"status\":\"401\"}\nC: \nS: 535") {
					t.Errorf("err = %v\n%s", err, c.Transcript())
				}
			}},
		{"OAUTHBEARER error status", []string{"334 eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=", "535 5.7.8 bad token"}, func() sasl.Client {
			return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "u", Token: "tok"})
		}, func(t *testing.T, c *Conn, r *Reply, err error) {
			var re *ReplyError
			if !errors.As(err, &re) || re.Command != "AUTH OAUTHBEARER" || !strings.Contains(c.Transcript().String(), "\nC: AQ==\nS: 535") {
				t.Errorf("err = %v\n%s", err, c.Transcript())
			}
		}},
		{"OAUTHBEARER accepted after error", []string{"334 eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=", "235 2.7.0 ok?"}, func() sasl.Client {
			return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "u", Token: "tok"})
		}, func(t *testing.T, c *Conn, r *Reply, err error) {
			var oe *sasl.OAuthBearerError
			if !errors.As(err, &oe) || oe.Status != "invalid_token" || r.Code != 235 {
				t.Errorf("got %v, %v", r, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := authCtx(t)
			env := newAuthEnv(t, true, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"AUTH": scriptHandler(tc.script...)}})
			c := env.dial(t, ctx)
			r, err := c.Auth(ctx, tc.client())
			tc.check(t, c, r, err)
		})
	}
}

// badClient is a sasl.Client that fails or names its mechanism wrongly.
type badClient struct {
	mech string
	err  error
}

func (b badClient) Start() (string, []byte, error) { return b.mech, []byte("x"), b.err }
func (b badClient) Next([]byte) ([]byte, error)    { return nil, nil }

func TestAuthRefusesBadClients(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		client badClient
		op     string
		is     error
	}{
		{badClient{"PLAIN", boom}, "AUTH PLAIN", boom},
		{badClient{"", nil}, "AUTH", errInvalidMechanism},
		{badClient{"PLAIN\r\nMAIL FROM:<>", nil}, "AUTH", errInvalidMechanism},
		{badClient{"A-MECHANISM-NAME-TOO-LONG", nil}, "AUTH", errInvalidMechanism},
	}
	for _, tc := range cases {
		ctx := authCtx(t)
		env := newAuthEnv(t, true, fakeserver.Config{})
		c := env.dial(t, ctx)
		_, err := c.Auth(ctx, tc.client)
		var oe *OpError
		if !errors.Is(err, tc.is) || !errors.As(err, &oe) || oe.Op != tc.op {
			t.Errorf("%q: err = %v, want *OpError{%s, %v}", tc.client.mech, err, tc.op, tc.is)
		}
		if _, err := c.Noop(ctx); err != nil || env.authBytes(t) != "" {
			t.Errorf("%q: wrote %q (%v)", tc.client.mech, env.authBytes(t), err)
		}
	}
	// A lower-case name from a client is sent upper-case.
	ctx := authCtx(t)
	env := newAuthEnv(t, true, fakeserver.Config{})
	c := env.dial(t, ctx)
	if _, err := c.Auth(ctx, badClient{mech: "anonymous"}); err != nil {
		t.Fatal(err)
	}
	if got := env.authBytes(t); got != "AUTH ANONYMOUS eA==\r\n" {
		t.Errorf("wire = %q", got)
	}
}

func TestAuthRoundTimeout(t *testing.T) {
	ctx := authCtx(t)
	env := newAuthEnv(t, true, fakeserver.Config{Misbehave: map[string]fakeserver.Step{"AUTH": {Raw: []byte{}, Hang: true}}})
	env.d.Timeouts.Command = 200 * time.Millisecond
	c := env.dial(t, ctx)
	start := time.Now()
	_, err := c.AuthPlain(ctx, "", authUser, authPass)
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op != "AUTH PLAIN" || !oe.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a timed-out *OpError for AUTH PLAIN", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
