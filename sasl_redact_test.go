package probe

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// secretRunes are what random credentials are made of: ASCII, base64's
// own alphabet, HTML-special characters JSON escapes, and non-ASCII
// letters and symbols. Control and format characters, which renderings
// escape, and the quote and backslash, which the slog text handler
// escapes, are left out so that a leak shows as the plain string.
var secretRunes = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=-_.@!#$%^*()[]{}<>&;:,? " +
	"éüßñçøåÆ日本語密码пароль🔑🙂€")

// randomSecret returns a string of 10 to 40 runes, or, one time in four,
// the base64 of random bytes: a password that looks like base64.
func randomSecret(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		b := make([]byte, 8+r.IntN(24))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	n := 10 + r.IntN(31)
	rs := make([]rune, n)
	for i := range rs {
		rs[i] = secretRunes[r.IntN(len(secretRunes))]
	}
	return string(rs)
}

// renderings returns every form in which a transcript leaves the
// library: its text, its JSON (and the texts decoded from it), the slog
// output (and, for JSON, the texts decoded from it), and the errors.
func renderings(t *testing.T, c *Conn, logs *bytes.Buffer, errs []error) map[string]string {
	t.Helper()
	js, err := json.Marshal(c.Transcript())
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct{ Entries []struct{ Text string } }
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range decoded.Entries {
		texts = append(texts, e.Text)
	}
	var logTexts []string
	sc := bufio.NewScanner(bytes.NewReader(logs.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			logTexts = append(logTexts, m["text"].(string))
		}
	}
	var es []string
	for _, e := range errs {
		es = append(es, e.Error())
	}
	return map[string]string{
		"text":          c.Transcript().String(),
		"json":          string(js),
		"json decoded":  strings.Join(texts, "\n"),
		"slog":          logs.String(),
		"slog decoded":  strings.Join(logTexts, "\n"),
		"error message": strings.Join(es, "\n"),
	}
}

// scramSalt and scramServerNonce are the fake SCRAM server's, so that the
// test can work out the server signature of each exchange.
var (
	scramSalt        = []byte("fixed salt bytes")
	scramServerNonce = "SERVERNONCE"
)

// scramServerSignature computes the SCRAM-SHA-256 server signature
// (RFC 5802 §3) of an exchange with the fake server at 16 iterations,
// independently of the client.
func scramServerSignature(t *testing.T, user, pass, cnonce string) []byte {
	t.Helper()
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	salted, err := pbkdf2.Key(sha256.New, pass, scramSalt, 16, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user)
	nonce := cnonce + scramServerNonce
	authMessage := "n=" + name + ",r=" + cnonce + "," +
		"r=" + nonce + ",s=" + base64.StdEncoding.EncodeToString(scramSalt) + ",i=16," +
		"c=biws,r=" + nonce
	return mac(mac(salted, "Server Key"), authMessage)
}

// TestAuthNeverLeaksSecrets runs hundreds of random usernames, passwords
// and tokens through every credential-bearing mechanism (failing ones
// first, then one that succeeds: PLAIN, LOGIN or SCRAM-SHA-256 in turn) and
// looks for the secrets in every rendering, including SCRAM's server
// signature, which allows an offline dictionary attack on the password as
// the proof does; with RevealSecrets they must be there.
func TestAuthNeverLeaksSecrets(t *testing.T) {
	const cases = 300
	rng := rand.New(rand.NewPCG(20240601, 1))
	type creds struct{ user, pass, token string }
	all := make([]creds, cases)
	users := make(map[string]string)
	for i := range all {
		all[i] = creds{randomSecret(rng), randomSecret(rng), randomSecret(rng)}
		users[all[i].user] = all[i].pass
	}
	env := newAuthEnv(t, false, fakeserver.Config{AuthBeforeTLS: true, Users: users, SASL: map[string]func(*fakeserver.Session) sasl.Server{
		"SCRAM-SHA-256": fakeserver.SCRAM(sha256.New, fakeserver.SCRAMOptions{Iterations: 16, Salt: scramSalt, ServerNonce: scramServerNonce}),
	}})
	for i, cr := range all {
		reveal := i%10 == 9
		var logs bytes.Buffer
		opts := &slog.HandlerOptions{Level: slog.LevelDebug}
		env.d.Logger = slog.New(slog.NewTextHandler(&logs, opts))
		if i%2 == 1 {
			env.d.Logger = slog.New(slog.NewJSONHandler(&logs, opts))
		}
		env.d.AllowInsecureAuth, env.d.RevealSecrets = true, reveal
		ctx := authCtx(t)
		c := env.dial(t, ctx)
		var errs []error
		try := func(m sasl.Client) {
			if _, err := c.Auth(ctx, m); err != nil {
				errs = append(errs, err)
			}
		}
		try(sasl.NewPlainClient("", cr.user, cr.token))
		try(NewLoginClient(cr.user, cr.token, i%3 == 0))
		try(NewCRAMMD5Client(cr.user, cr.token))
		try(NewSCRAMSHA256Client(cr.user, cr.token))
		try(NewXOAuth2Client(cr.user, cr.token))
		try(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: cr.user, Token: cr.token}))
		cnonce := "cnonce" + strconv.Itoa(i)
		switch i % 3 {
		case 0:
			try(sasl.NewPlainClient("", cr.user, cr.pass))
		case 1:
			try(NewLoginClient(cr.user, cr.pass, false))
		case 2:
			m := NewSCRAMSHA256Client(cr.user, cr.pass).(*scramClient)
			m.nonce = cnonce
			try(m)
		}
		wantErrs := 6
		if i%3 == 2 && errors.Is(errs[len(errs)-1], errSASLprep) {
			wantErrs = 7 // SCRAM refuses such a password before sending it
		}
		if len(errs) != wantErrs {
			t.Fatalf("case %d: %d errors, want 6 refusals and a success: %v\n%s", i, len(errs), errs, c.Transcript())
		}
		c.Close()

		secrets := map[string]string{
			"password":                 cr.pass,
			"token":                    cr.token,
			"base64 of the password":   base64.StdEncoding.EncodeToString([]byte(cr.pass)),
			"base64 of the token":      base64.StdEncoding.EncodeToString([]byte(cr.token)),
			"base64 of the PLAIN blob": base64.StdEncoding.EncodeToString([]byte("\x00" + cr.user + "\x00" + cr.token)),
		}
		var want string // what RevealSecrets must show of the success
		switch i % 3 {
		case 0:
			secrets["base64 of the PLAIN blob"] = base64.StdEncoding.EncodeToString([]byte("\x00" + cr.user + "\x00" + cr.pass))
			want = secrets["base64 of the PLAIN blob"]
		case 1:
			want = secrets["base64 of the password"]
		case 2:
			sig := base64.StdEncoding.EncodeToString(scramServerSignature(t, cr.user, cr.pass, cnonce))
			secrets["SCRAM server signature"] = sig
			secrets["base64 of SCRAM's server-final"] = base64.StdEncoding.EncodeToString([]byte("v=" + sig))
			want = secrets["base64 of SCRAM's server-final"]
		}
		for where, s := range renderings(t, c, &logs, errs) {
			for what, secret := range secrets {
				if reveal || !strings.Contains(s, secret) {
					continue
				}
				t.Fatalf("case %d: the %s leaks the %s %q:\n%s", i, where, what, secret, s)
			}
		}
		if wantErrs == 7 {
			continue // no SCRAM success to look at
		}
		if !reveal {
			if i%3 == 2 && !strings.Contains(c.Transcript().String(), "S: 334 [server signature redacted]\n") {
				t.Fatalf("case %d: server-final is not shown redacted:\n%s", i, c.Transcript())
			}
			continue
		}
		// Revealed, the PLAIN blob, the LOGIN password or SCRAM's
		// server-final (and its signature, decoded) is in the text, the
		// JSON and the slog output.
		wants := []string{want}
		if i%3 == 2 {
			wants = append(wants, "334 decoded: v="+secrets["SCRAM server signature"])
		}
		r := renderings(t, c, &logs, errs)
		for _, where := range []string{"text", "json decoded", "slog"} {
			for _, w := range wants {
				if !strings.Contains(r[where], w) {
					t.Errorf("case %d: RevealSecrets, but the %s lacks %q", i, where, w)
				}
			}
		}
	}
}
