package probe

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestAuthSeedSessions replays the AUTH exchanges of the seed tutorials:
// the exact bytes the client writes and the replies the servers gave.
func TestAuthSeedSessions(t *testing.T) {
	cases := []struct {
		name        string
		run         func(c *Conn) (*Reply, error)
		script      []string // nil: fakeserver's own AUTH with Users
		wire        string
		code        int
		enhanced    EnhancedCode
		lines       []string
		wantFailure bool
	}{
		{"003 PLAIN qmail ok", func(c *Conn) (*Reply, error) { return c.AuthPlain(authCtx(t), "", "user@domain.com", "password") },
			[]string{"235 ok, go ahead (#2.0.0)"},
			"AUTH PLAIN AHVzZXJAZG9tYWluLmNvbQBwYXNzd29yZA==\r\n", 235, EnhancedCode{2, 0, 0}, []string{"ok, go ahead (#2.0.0)"}, false},
		{"002 PLAIN jms1 ok", func(c *Conn) (*Reply, error) {
			return c.AuthPlain(authCtx(t), "", "jms1@jms1.net", "not.my.real.password")
		}, []string{"235 ok, go ahead (#2.0.0)"},
			"AUTH PLAIN AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ=\r\n", 235, EnhancedCode{2, 0, 0}, []string{"ok, go ahead (#2.0.0)"}, false},
		{"002 PLAIN jms1 refused", func(c *Conn) (*Reply, error) {
			return c.AuthPlain(authCtx(t), "", "jms1@jms1.net", "not.my.real.password")
		}, []string{"535 authorization failed (#5.7.0)"},
			"AUTH PLAIN AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ=\r\n", 535, EnhancedCode{5, 7, 0}, []string{"authorization failed (#5.7.0)"}, true},
		{"000 PLAIN postfix ok", func(c *Conn) (*Reply, error) { return c.AuthPlain(authCtx(t), "", "your_username", "your_password") },
			nil, "AUTH PLAIN AHlvdXJfdXNlcm5hbWUAeW91cl9wYXNzd29yZA==\r\n", 235, EnhancedCode{2, 7, 0}, []string{"2.7.0 Authentication successful"}, false},
		{"000 PLAIN postfix refused", func(c *Conn) (*Reply, error) { return c.AuthPlain(authCtx(t), "", "your_username", "wrong") },
			nil, "AUTH PLAIN AHlvdXJfdXNlcm5hbWUAd3Jvbmc=\r\n", 535, EnhancedCode{5, 7, 8}, []string{"5.7.8 Error: authentication failed: authentication failure"}, true},
		{"003 LOGIN", func(c *Conn) (*Reply, error) { return c.AuthLogin(authCtx(t), "user@domain.com", "password") },
			[]string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.0.0 Authentication successful"},
			"AUTH LOGIN\r\ndXNlckBkb21haW4uY29t\r\ncGFzc3dvcmQ=\r\n", 235, EnhancedCode{2, 0, 0}, []string{"2.0.0 Authentication successful"}, false},
		{"001 LOGIN", func(c *Conn) (*Reply, error) { return c.AuthLogin(authCtx(t), "user@example.com", "mypass") },
			nil, "AUTH LOGIN\r\ndXNlckBleGFtcGxlLmNvbQ==\r\nbXlwYXNz\r\n", 235, EnhancedCode{2, 7, 0}, []string{"2.7.0 Authentication successful"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{
				"your_username": "your_password", "user@example.com": "mypass"}}
			if tc.script != nil {
				cfg.Handlers = map[string]fakeserver.HandlerFunc{"AUTH": scriptHandler(tc.script...)}
			}
			env := newAuthEnv(t, false, cfg)
			env.d.AllowInsecureAuth = true
			c := env.dial(t, authCtx(t))
			r, err := tc.run(c)
			if got := env.authBytes(t); got != tc.wire {
				t.Errorf("wire = %q, want %q", got, tc.wire)
			}
			if r == nil {
				t.Fatalf("no reply: %v", err)
			}
			if r.Code != tc.code || r.Enhanced != tc.enhanced || strings.Join(r.Lines, "|") != strings.Join(tc.lines, "|") {
				t.Errorf("reply = %d %v %q, want %d %v %q", r.Code, r.Enhanced, r.Lines, tc.code, tc.enhanced, tc.lines)
			}
			var re *ReplyError
			switch {
			case tc.wantFailure && (!errors.As(err, &re) || re.Command != "AUTH PLAIN" || re.Reply != r):
				t.Errorf("err = %v, want *ReplyError for AUTH PLAIN with the reply", err)
			case !tc.wantFailure && err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}
