package probe

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

const (
	authUser = "user@domain.com"
	authPass = "Tr0ub4dor&3"
)

// authCtx bounds one AUTH test.
func authCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// authMechs are the server mechanisms beyond fakeserver's built-in PLAIN,
// LOGIN and CRAM-MD5.
func authMechs() map[string]func(*fakeserver.Session) sasl.Server {
	return map[string]func(*fakeserver.Session) sasl.Server{
		"SCRAM-SHA-1":   fakeserver.SCRAM(sha1.New, fakeserver.SCRAMOptions{}),
		"SCRAM-SHA-256": fakeserver.SCRAM(sha256.New, fakeserver.SCRAMOptions{}),
		"XOAUTH2":       fakeserver.XOAuth2(),
		"OAUTHBEARER": func(s *fakeserver.Session) sasl.Server {
			return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
				if !s.CheckPassword(o.Username, o.Token) {
					return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
				}
				s.SetAuthUser(o.Username)
				return nil
			})
		},
		"EXTERNAL": func(s *fakeserver.Session) sasl.Server {
			return sasl.NewExternalServer(func(identity string) error {
				st := s.TLSState()
				if st == nil || len(st.PeerCertificates) == 0 || identity != "" && identity != authUser {
					return errors.New("no client certificate for that identity")
				}
				s.SetAuthUser(authUser)
				return nil
			})
		},
		"ANONYMOUS": func(s *fakeserver.Session) sasl.Server {
			return sasl.NewAnonymousServer(func(trace string) error {
				if trace == "banned" {
					return errors.New("banned")
				}
				return nil
			})
		},
	}
}

// authEnv is a fakeserver with every mechanism and a Dialer for it.
type authEnv struct {
	srv *fakeserver.Server
	d   Dialer
	tls bool
}

// newAuthEnv starts a server speaking implicit TLS (withTLS) or plaintext
// without AUTH before TLS. It asks for a client certificate, and the
// Dialer presents one, for EXTERNAL.
func newAuthEnv(t *testing.T, withTLS bool, cfg fakeserver.Config) *authEnv {
	t.Helper()
	pki, err := fakeserver.NewPKI("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pki.Valid}, ClientAuth: tls.RequestClientCert}
	cfg.ImplicitTLS = withTLS
	if cfg.Users == nil {
		cfg.Users = map[string]string{authUser: authPass}
	}
	mechs := authMechs()
	for k, v := range cfg.SASL {
		mechs[k] = v
	}
	cfg.SASL = mechs
	clientTLS := pki.ClientConfig()
	clientTLS.Certificates = []tls.Certificate{pki.Valid}
	return &authEnv{srv: fakeserver.NewTB(t, cfg), d: Dialer{TLSConfig: clientTLS}, tls: withTLS}
}

// dial connects, says EHLO and registers Close.
func (e *authEnv) dial(t *testing.T, ctx context.Context) *Conn {
	t.Helper()
	dial := e.d.Dial
	if e.tls {
		dial = e.d.DialTLS
	}
	c, err := dial(ctx, e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Ehlo(ctx, "client.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

// authBytes returns what the client sent from its first AUTH command on,
// as the server recorded it.
func (e *authEnv) authBytes(t *testing.T) string {
	t.Helper()
	recs := e.srv.Sessions()
	if len(recs) == 0 {
		t.Fatal("no session recorded")
	}
	b := recs[len(recs)-1].ClientBytes
	i := bytes.Index(b, []byte("AUTH "))
	if i < 0 {
		return ""
	}
	return string(b[i:])
}

// mechCase is one mechanism with a client that should succeed and one
// that should be refused.
type mechCase struct {
	mech      string
	good, bad func() sasl.Client
	authUser  string // what the server records on success
}

func mechCases() []mechCase {
	return []mechCase{
		{"PLAIN", func() sasl.Client { return sasl.NewPlainClient("", authUser, authPass) },
			func() sasl.Client { return sasl.NewPlainClient("", authUser, "wrong") }, authUser},
		{"LOGIN", func() sasl.Client { return NewLoginClient(authUser, authPass, false) },
			func() sasl.Client { return NewLoginClient(authUser, "wrong", false) }, authUser},
		{"LOGIN", func() sasl.Client { return NewLoginClient(authUser, authPass, true) },
			func() sasl.Client { return NewLoginClient(authUser, "wrong", true) }, authUser},
		{"CRAM-MD5", func() sasl.Client { return NewCRAMMD5Client(authUser, authPass) },
			func() sasl.Client { return NewCRAMMD5Client(authUser, "wrong") }, authUser},
		{"SCRAM-SHA-1", func() sasl.Client { return NewSCRAMSHA1Client(authUser, authPass) },
			func() sasl.Client { return NewSCRAMSHA1Client(authUser, "wrong") }, authUser},
		{"SCRAM-SHA-256", func() sasl.Client { return NewSCRAMSHA256Client(authUser, authPass) },
			func() sasl.Client { return NewSCRAMSHA256Client(authUser, "wrong") }, authUser},
		{"XOAUTH2", func() sasl.Client { return NewXOAuth2Client(authUser, authPass) },
			func() sasl.Client { return NewXOAuth2Client(authUser, "wrong") }, authUser},
		{"OAUTHBEARER", func() sasl.Client {
			return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: authUser, Token: authPass})
		}, func() sasl.Client {
			return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: authUser, Token: "wrong"})
		}, authUser},
		{"EXTERNAL", func() sasl.Client { return sasl.NewExternalClient("") },
			func() sasl.Client { return sasl.NewExternalClient("mallory") }, authUser},
		{"ANONYMOUS", func() sasl.Client { return sasl.NewAnonymousClient("probe") },
			func() sasl.Client { return sasl.NewAnonymousClient("banned") }, "ANONYMOUS"},
	}
}

// noSecretIn fails when s holds the password or its base64.
func noSecretIn(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{authPass, base64.StdEncoding.EncodeToString([]byte(authPass))} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains the secret %q:\n%s", what, secret, s)
		}
	}
}

func TestAuthMechanismSuccess(t *testing.T) {
	for _, mc := range mechCases() {
		t.Run(mc.mech, func(t *testing.T) {
			ctx := authCtx(t)
			env := newAuthEnv(t, true, fakeserver.Config{})
			c := env.dial(t, ctx)
			r, err := c.Auth(ctx, mc.good())
			if err != nil {
				t.Fatalf("Auth: %v\n%s", err, c.Transcript())
			}
			if r.Code != 235 || r.Enhanced != (EnhancedCode{2, 7, 0}) {
				t.Errorf("reply = %d %v, want 235 2.7.0", r.Code, r.Enhanced)
			}
			if got := env.srv.Sessions()[0].AuthUser; got != mc.authUser {
				t.Errorf("server authenticated %q, want %q", got, mc.authUser)
			}
			if !strings.HasPrefix(env.authBytes(t), "AUTH "+mc.mech) {
				t.Errorf("wire = %q, want AUTH %s first", env.authBytes(t), mc.mech)
			}
			noSecretIn(t, "transcript", c.Transcript().String())
			if _, err := c.Noop(ctx); err != nil {
				t.Errorf("NOOP after AUTH: %v", err)
			}
		})
	}
}

func TestAuthMechanismWrongCredentials(t *testing.T) {
	for _, mc := range mechCases() {
		t.Run(mc.mech, func(t *testing.T) {
			ctx := authCtx(t)
			env := newAuthEnv(t, true, fakeserver.Config{})
			c := env.dial(t, ctx)
			r, err := c.Auth(ctx, mc.bad())
			var re *ReplyError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *ReplyError\n%s", err, err, c.Transcript())
			}
			if re.Command != "AUTH "+mc.mech || r.Code != 535 || r.Enhanced != (EnhancedCode{5, 7, 8}) {
				t.Errorf("got %q %d %v, want AUTH %s 535 5.7.8", re.Command, r.Code, r.Enhanced, mc.mech)
			}
			if re.Temporary() {
				t.Error("535 reported as temporary")
			}
			if got := env.srv.Sessions()[0].AuthUser; got != "" {
				t.Errorf("server authenticated %q", got)
			}
			noSecretIn(t, "error", err.Error())
			if _, err := c.Noop(ctx); err != nil {
				t.Errorf("NOOP after a failed AUTH: %v", err)
			}
		})
	}
}

// cancelHandler answers AUTH the way a server that gives up does: one
// "Username:" prompt to a mechanism without initial response, then reply.
func cancelHandler(reply string) fakeserver.HandlerFunc {
	return func(s *fakeserver.Session, cmd fakeserver.Command) bool {
		if !strings.Contains(cmd.Arg, " ") {
			s.Reply(334, "VXNlcm5hbWU6")
			if _, err := s.ReadLine(); err != nil {
				return true
			}
		}
		s.WriteRaw([]byte(reply + "\r\n"))
		return true
	}
}

func TestAuthServerCancels(t *testing.T) {
	replies := []struct {
		line      string
		code      int
		enhanced  EnhancedCode
		temporary bool
	}{
		{"501 5.7.0 Authentication aborted by server", 501, EnhancedCode{5, 7, 0}, false},
		{"454 4.7.0 Temporary authentication failure", 454, EnhancedCode{4, 7, 0}, true},
		{"534 5.7.9 Authentication mechanism is too weak", 534, EnhancedCode{5, 7, 9}, false},
		{"504 5.5.4 Unrecognized authentication type", 504, EnhancedCode{5, 5, 4}, false},
		{"530 5.7.0 Must issue a STARTTLS command first", 530, EnhancedCode{5, 7, 0}, false},
	}
	for _, mc := range mechCases() {
		for _, rp := range replies {
			t.Run(mc.mech+"/"+rp.line[:3], func(t *testing.T) {
				ctx := authCtx(t)
				env := newAuthEnv(t, true, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"AUTH": cancelHandler(rp.line)}})
				c := env.dial(t, ctx)
				r, err := c.Auth(ctx, mc.good())
				var re *ReplyError
				if !errors.As(err, &re) || re.Command != "AUTH "+mc.mech {
					t.Fatalf("err = %v, want *ReplyError for AUTH %s", err, mc.mech)
				}
				if r.Code != rp.code || r.Enhanced != rp.enhanced || re.Temporary() != rp.temporary {
					t.Errorf("got %d %v temporary=%v, want %d %v %v", r.Code, r.Enhanced, re.Temporary(), rp.code, rp.enhanced, rp.temporary)
				}
			})
		}
	}
}

// scriptHandler answers AUTH with replies in order, reading one client
// line between two replies.
func scriptHandler(replies ...string) fakeserver.HandlerFunc {
	return func(s *fakeserver.Session, _ fakeserver.Command) bool {
		for i, r := range replies {
			s.WriteRaw([]byte(r + "\r\n"))
			if i == len(replies)-1 {
				break
			}
			if _, err := s.ReadLine(); err != nil {
				break
			}
		}
		return true
	}
}

func TestAuthMalformedChallenge(t *testing.T) {
	for _, mc := range mechCases() {
		t.Run(mc.mech, func(t *testing.T) {
			ctx := authCtx(t)
			h := scriptHandler("334 %%%not-base64%%%", "501 5.7.0 Authentication aborted")
			env := newAuthEnv(t, true, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"AUTH": h}})
			c := env.dial(t, ctx)
			r, err := c.Auth(ctx, mc.good())
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *ProtocolError", err, err)
			}
			if pe.Step != "AUTH "+mc.mech || pe.Reason != "334 challenge is not base64" || pe.Line != "334 %%%not-base64%%%" {
				t.Errorf("ProtocolError = %+v", pe)
			}
			if r == nil || r.Code != 501 {
				t.Errorf("reply = %v, want the server's 501", r)
			}
			if wire := env.authBytes(t); !strings.HasSuffix(wire, "\r\n*\r\n") || strings.Count(wire, "\r\n") != 2 {
				t.Errorf("wire = %q, want the AUTH line then *", wire)
			}
			if _, err := c.Noop(ctx); err != nil {
				t.Errorf("NOOP after a cancelled AUTH: %v", err)
			}
		})
	}
}

// endlessHandler sends 334 challenges until the client cancels.
func endlessHandler(challenge string) fakeserver.HandlerFunc {
	return func(s *fakeserver.Session, _ fakeserver.Command) bool {
		for range 100 {
			s.Reply(334, base64.StdEncoding.EncodeToString([]byte(challenge)))
			line, err := s.ReadLine()
			if err != nil {
				return true
			}
			if line == "*" {
				break
			}
		}
		s.Reply(501, "5.7.0 Authentication aborted")
		return true
	}
}

// TestAuthTooManyRounds: a server that never stops challenging gets a "*"
// from every mechanism, which refuses a challenge it has no answer for.
func TestAuthTooManyRounds(t *testing.T) {
	for _, mc := range mechCases() {
		t.Run(mc.mech, func(t *testing.T) {
			ctx := authCtx(t)
			env := newAuthEnv(t, true, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"AUTH": endlessHandler("more")}})
			env.d.Limits.MaxAuthRounds = 3
			c := env.dial(t, ctx)
			r, err := c.Auth(ctx, mc.good())
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Step != "AUTH "+mc.mech || pe.Err == nil {
				t.Fatalf("err = %v (%T), want a *ProtocolError for AUTH %s wrapping the mechanism's refusal", err, err, mc.mech)
			}
			if r == nil || r.Code != 501 {
				t.Errorf("reply = %v, want 501", r)
			}
			wire := env.authBytes(t)
			if !strings.HasSuffix(wire, "\r\n*\r\n") || strings.Count(wire, "\r\n") > 4 {
				t.Errorf("wire = %q, want at most 3 rounds then *", wire)
			}
		})
	}
}

// endlessClient answers every challenge.
type endlessClient struct{ n int }

func (e *endlessClient) Start() (string, []byte, error) { return "X-ENDLESS", nil, nil }
func (e *endlessClient) Next([]byte) ([]byte, error) {
	e.n++
	return []byte("again"), nil
}

func TestAuthRoundsCapped(t *testing.T) {
	for _, max := range []int{1, 3, 16} {
		t.Run(strconv.Itoa(max), func(t *testing.T) {
			ctx := authCtx(t)
			env := newAuthEnv(t, true, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"AUTH": endlessHandler("more")}})
			env.d.Limits.MaxAuthRounds = max
			c := env.dial(t, ctx)
			ec := &endlessClient{}
			_, err := c.Auth(ctx, ec)
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Step != "AUTH X-ENDLESS" || !strings.Contains(pe.Reason, "Limits.MaxAuthRounds") {
				t.Fatalf("err = %v, want *ProtocolError about MaxAuthRounds", err)
			}
			if ec.n != max {
				t.Errorf("client answered %d challenges, want %d", ec.n, max)
			}
			want := "AUTH X-ENDLESS\r\n" + strings.Repeat("YWdhaW4=\r\n", max) + "*\r\n"
			if got := env.authBytes(t); got != want {
				t.Errorf("wire = %q, want %q", got, want)
			}
			if !strings.Contains(c.Transcript().String(), "C: [credentials redacted]") {
				t.Error("responses of an unknown mechanism are not redacted")
			}
		})
	}
}

func TestAuthBeforeTLS(t *testing.T) {
	for _, mc := range mechCases() {
		t.Run(mc.mech, func(t *testing.T) {
			ctx := authCtx(t)
			env := newAuthEnv(t, false, fakeserver.Config{})
			c := env.dial(t, ctx)
			_, err := c.Auth(ctx, mc.good())
			secret := mc.mech != "EXTERNAL" && mc.mech != "ANONYMOUS"
			if secret {
				var oe *OpError
				if !errors.Is(err, ErrInsecureAuth) || !errors.As(err, &oe) || oe.Op != "AUTH "+mc.mech {
					t.Fatalf("err = %v, want *OpError{AUTH %s, ErrInsecureAuth}", err, mc.mech)
				}
				if wire := env.authBytes(t); wire != "" {
					t.Errorf("wrote %q before refusing", wire)
				}
				if _, err := c.Noop(ctx); err != nil {
					t.Errorf("NOOP after refusal: %v", err)
				}
			} else {
				var re *ReplyError
				if !errors.As(err, &re) || re.Reply.Code != 538 {
					t.Fatalf("err = %v, want the server's 538", err)
				}
			}
			// Allowed by the Dialer, the server's own refusal comes back.
			env.d.AllowInsecureAuth = true
			c = env.dial(t, ctx)
			r, err := c.Auth(ctx, mc.good())
			var re *ReplyError
			if !errors.As(err, &re) || re.Command != "AUTH "+mc.mech {
				t.Fatalf("err = %v, want *ReplyError", err)
			}
			if r.Code != 538 || r.Enhanced != (EnhancedCode{5, 7, 11}) {
				t.Errorf("reply = %d %v, want 538 5.7.11", r.Code, r.Enhanced)
			}
		})
	}
}
