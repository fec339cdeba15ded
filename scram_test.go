package probe

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"hash"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// The examples of RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3
// (SCRAM-SHA-256): user "user", password "pencil".
var scramVectors = []struct {
	name                                                      string
	client                                                    func(u, p string) sasl.Client
	nonce, clientFirst, serverFirst, clientFinal, serverFinal string
}{
	{
		name:        "RFC 5802",
		client:      NewSCRAMSHA1Client,
		nonce:       "fyko+d2lbbFgONRv9qkxdawL",
		clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	},
	{
		name:        "RFC 7677",
		client:      NewSCRAMSHA256Client,
		nonce:       "rOprNGfwEbeRWgbNEkqO",
		clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	},
}

func TestSCRAMVectors(t *testing.T) {
	for _, v := range scramVectors {
		t.Run(v.name, func(t *testing.T) {
			c := v.client("user", "pencil").(*scramClient)
			c.nonce = v.nonce
			mech, ir, err := c.Start()
			if err != nil || string(ir) != v.clientFirst {
				t.Fatalf("Start = %s %q %v, want %q", mech, ir, err, v.clientFirst)
			}
			if c.Redaction() != "" {
				t.Error("client-first is redacted; it holds no secret")
			}
			final, err := c.Next([]byte(v.serverFirst))
			if err != nil || string(final) != v.clientFinal {
				t.Fatalf("client-final = %q %v, want %q", final, err, v.clientFinal)
			}
			if c.Redaction() != "[proof redacted]" {
				t.Errorf("client-final redaction = %q", c.Redaction())
			}
			if err := c.finish(); !errors.Is(err, ErrServerSignature) {
				t.Errorf("finish before server-final = %v, want ErrServerSignature", err)
			}
			resp, err := c.Next([]byte(v.serverFinal))
			if err != nil || len(resp) != 0 {
				t.Fatalf("after server-final: %q %v, want an empty response", resp, err)
			}
			if err := c.finish(); err != nil {
				t.Errorf("finish after a verified signature: %v", err)
			}
			if _, err := c.Next(nil); !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
				t.Errorf("a fourth message: %v", err)
			}
		})
	}
}

func TestSCRAMRefusesBadServerMessages(t *testing.T) {
	v := scramVectors[0]
	cases := []struct {
		name, serverFirst, serverFinal, want string
	}{
		{"nonce not extended", "r=someoneelse,s=QSXCR+Q6sek8bf92,i=4096", "", "does not extend"},
		{"nonce only echoed", "r=" + v.nonce + ",s=QSXCR+Q6sek8bf92,i=4096", "", "does not extend"},
		{"salt not base64", strings.Replace(v.serverFirst, "s=QSXCR+Q6sek8bf92", "s=!!", 1), "", "'s'"},
		{"no iterations", strings.Replace(v.serverFirst, ",i=4096", "", 1), "", "iteration"},
		{"too many iterations", strings.Replace(v.serverFirst, "i=4096", "i=999999999", 1), "", "iteration"},
		{"zero iterations", strings.Replace(v.serverFirst, "i=4096", "i=0", 1), "", "iteration"},
		{"mandatory extension", "m=ext," + v.serverFirst, "", "extension"},
		{"garbage", "hello", "", "nonce"},
		{"wrong signature", v.serverFirst, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "signature"},
		{"signature not base64", v.serverFirst, "v=***", "signature"},
		{"server error", v.serverFirst, "e=invalid-proof", "invalid-proof"},
		{"no signature", v.serverFirst, "x=1", "signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewSCRAMSHA1Client("user", "pencil").(*scramClient)
			c.nonce = v.nonce
			if _, _, err := c.Start(); err != nil {
				t.Fatal(err)
			}
			_, err := c.Next([]byte(tc.serverFirst))
			if tc.serverFinal != "" {
				if err != nil {
					t.Fatalf("server-first: %v", err)
				}
				_, err = c.Next([]byte(tc.serverFinal))
				if !errors.Is(err, ErrServerSignature) {
					t.Errorf("err = %v, want ErrServerSignature", err)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one about %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pencil") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

// TestSASLprep: user names (and passwords) go through SASLprep (RFC 4013)
// with its NFKC normalisation, seen here in the user name of client-first.
func TestSASLprep(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"pencil", "pencil", true},
		{"I\u00ADX", "IX", true},           // soft hyphen mapped to nothing (RFC 4013 §3 example)
		{"a\u00A0b", "a b", true},          // non-ASCII space
		{"a\u2003b\u3000c", "a b c", true}, // em space, ideographic space
		{"\u00AA", "a", true},              // NFKC (RFC 4013 §3 example)
		{"\uFB01le", "file", true},         // NFKC: the ligature fi
		{"p\u00e4ss", "p\u00e4ss", true},
		{"tab\there", "", false},
		{"del\x7f", "", false},
		{"nul\x00", "", false},
		{"c1\u0085", "", false},
		{"private\uE000", "", false},
		{"\uFFFD", "", false},
		{"rtl\u202Emark", "", false},
	}
	for _, tc := range cases {
		c := NewSCRAMSHA256Client(tc.in, "x").(*scramClient)
		c.nonce = "N"
		_, ir, err := c.Start()
		if !tc.ok {
			if err == nil {
				t.Errorf("user name %q accepted: %q", tc.in, ir)
			}
			continue
		}
		if want := "n,,n=" + tc.want + ",r=N"; err != nil || string(ir) != want {
			t.Errorf("user name %q: client-first %q, %v; want %q", tc.in, ir, err, want)
		}
	}
}

func TestSCRAMUsernameEscapedAndPrepared(t *testing.T) {
	c := NewSCRAMSHA256Client("a,b=c\u00A0d", "x").(*scramClient)
	c.nonce = "N"
	_, ir, err := c.Start()
	if err != nil || string(ir) != "n,,n=a=2Cb=3Dc d,r=N" {
		t.Errorf("client-first = %q %v", ir, err)
	}
	for _, bad := range [][2]string{{"u\x01", "p"}, {"u", "p\x01"}} {
		c := NewSCRAMSHA1Client(bad[0], bad[1])
		if _, _, err := c.Start(); err == nil {
			t.Errorf("Start(%q, %q) accepted a control character", bad[0], bad[1])
		}
	}
}

// TestSCRAMServerMisbehaves runs SCRAM against servers that do not prove
// they know the password.
func TestSCRAMServerMisbehaves(t *testing.T) {
	for _, h := range []struct {
		mech    string
		newHash func() hash.Hash
		client  func(u, p string) sasl.Client
	}{{"SCRAM-SHA-1", sha1.New, NewSCRAMSHA1Client}, {"SCRAM-SHA-256", sha256.New, NewSCRAMSHA256Client}} {
		t.Run(h.mech+"/bad signature", func(t *testing.T) {
			ctx := authCtx(t)
			sasl := map[string]func(*fakeserver.Session) sasl.Server{h.mech: fakeserver.SCRAM(h.newHash, fakeserver.SCRAMOptions{BadSignature: true})}
			env := newAuthEnv(t, true, fakeserver.Config{SASL: sasl})
			c := env.dial(t, ctx)
			r, err := c.Auth(ctx, h.client(authUser, authPass))
			var pe *ProtocolError
			if !errors.Is(err, ErrServerSignature) || !errors.As(err, &pe) || pe.Step != "AUTH "+h.mech {
				t.Fatalf("err = %v, want a *ProtocolError wrapping ErrServerSignature", err)
			}
			if r == nil || r.Code != 501 {
				t.Errorf("reply = %v, want 501 to the cancellation", r)
			}
			if !strings.HasSuffix(env.authBytes(t), "\r\n*\r\n") {
				t.Errorf("wire = %q, want * last", env.authBytes(t))
			}
			if got := env.srv.Sessions()[0].AuthUser; got != "" {
				t.Errorf("server authenticated %q", got)
			}
		})
		t.Run(h.mech+"/no server-final", func(t *testing.T) {
			ctx := authCtx(t)
			sasl := map[string]func(*fakeserver.Session) sasl.Server{h.mech: fakeserver.SCRAM(h.newHash, fakeserver.SCRAMOptions{SkipFinal: true})}
			env := newAuthEnv(t, true, fakeserver.Config{SASL: sasl})
			c := env.dial(t, ctx)
			r, err := c.Auth(ctx, h.client(authUser, authPass))
			if !errors.Is(err, ErrServerSignature) || r == nil || r.Code != 235 {
				t.Fatalf("got %v, %v; want the 235 and ErrServerSignature", r, err)
			}
		})
		t.Run(h.mech+"/fixed salt and nonce", func(t *testing.T) {
			ctx := authCtx(t)
			opt := fakeserver.SCRAMOptions{Iterations: 10000, Salt: []byte("0123456789abcdef"), ServerNonce: "SERVERNONCE"}
			sasl := map[string]func(*fakeserver.Session) sasl.Server{h.mech: fakeserver.SCRAM(h.newHash, opt)}
			env := newAuthEnv(t, true, fakeserver.Config{SASL: sasl})
			c := env.dial(t, ctx)
			if _, err := c.Auth(ctx, h.client(authUser, authPass)); err != nil {
				t.Fatalf("Auth: %v", err)
			}
			tr := c.Transcript().String()
			for _, want := range []string{"*  334 decoded: r=", "SERVERNONCE,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=10000", "C: [proof redacted]", "S: 334 [server signature redacted]"} {
				if !strings.Contains(tr, want) {
					t.Errorf("transcript lacks %q:\n%s", want, tr)
				}
			}
			if strings.Contains(tr, "decoded: v=") || strings.Contains(tr, "S: 334 dj") {
				t.Errorf("transcript shows the server signature:\n%s", tr)
			}
		})
	}
}
