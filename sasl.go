package probe

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
)

// ErrInsecureAuth is wrapped by Auth's error for a mechanism that carries
// credentials on a Conn without TLS; nothing is written.
var ErrInsecureAuth = errors.New("smtp: AUTH with credentials refused on a connection without TLS (see Dialer.AllowInsecureAuth)")

// Redactor is implemented by a sasl.Client that knows which responses carry
// credentials: Auth records Redaction() in place of each one unless it is
// "". Without it, responses are redacted but for EXTERNAL and ANONYMOUS.
type Redactor interface {
	Redaction() string // the stand-in, such as "[password redacted]", or ""
}

// AuthPlain authenticates with PLAIN (RFC 4616), recorded as "AUTH PLAIN
// [credentials redacted]"; a field holding NUL is refused before writing.
func (c *Conn) AuthPlain(ctx context.Context, identity, username, password string) (*Reply, error) {
	fields := [...]struct{ name, value string }{
		{"identity", identity}, {"username", username}, {"password", password},
	}
	for _, f := range fields {
		if strings.IndexByte(f.value, 0) >= 0 {
			return nil, &OpError{Op: "AUTH PLAIN", Err: fmt.Errorf("%s contains NUL: %w", f.name, ErrInvalidLine)}
		}
	}
	return c.Auth(ctx, sasl.NewPlainClient(identity, username, password))
}

// AuthLogin authenticates with LOGIN: the username after the first 334,
// the password (redacted) after the second, whatever the prompts say.
func (c *Conn) AuthLogin(ctx context.Context, username, password string) (*Reply, error) {
	return c.Auth(ctx, NewLoginClient(username, password, false))
}

// Auth runs AUTH (RFC 4954) with any SASL client, a response per 334 within
// Timeouts.Command. 235 is success; a 4xx or 5xx is a *ReplyError matching
// ErrAuthFailed. A challenge not base64, past Limits.MaxAuthRounds or
// refused by the client (a wrong SCRAM signature …) is cancelled with "*":
// a *ProtocolError wrapping the client's error, and the session goes on.
// Another code, or a 235 from a SCRAM server that proved nothing, ends it.
//
// Challenges are noted decoded, except SCRAM's server-final (it would allow
// an offline dictionary attack). Credentials are redacted where written (see
// Redactor) and refused without TLS (ErrInsecureAuth) unless
// AllowInsecureAuth.
func (c *Conn) Auth(ctx context.Context, m sasl.Client) (*Reply, error) {
	mech, ir, err := m.Start()
	mech = strings.ToUpper(mech)
	step := "AUTH"
	if validMechanism(mech) {
		step += " " + mech
	}
	switch {
	case err != nil:
		return nil, &OpError{Op: step, Err: fmt.Errorf("SASL client: %w", err)}
	case !validMechanism(mech):
		return nil, &OpError{Op: step, Err: fmt.Errorf("SASL mechanism name %q: %w", truncate(mech, 32), errInvalidMechanism)}
	case c.tls == nil && !c.d.AllowInsecureAuth && carriesSecret(mech):
		return nil, &OpError{Op: step, Err: ErrInsecureAuth}
	}
	if h, ok := m.(secretHolder); ok {
		c.addSecret(h.secret())
	}
	a := &authRun{c: c, m: m, mech: mech, step: step}
	return a.run(ctx, ir)
}

// errInvalidMechanism is wrapped when a SASL client names its mechanism
// with characters RFC 4422 does not allow.
var errInvalidMechanism = errors.New("not a valid SASL mechanism name")

// validMechanism reports whether mech is 1 to 20 of A-Z, 0-9, '-' and '_'.
func validMechanism(mech string) bool {
	if mech == "" || len(mech) > 20 {
		return false
	}
	for i := 0; i < len(mech); i++ {
		b := mech[i]
		if !(b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// carriesSecret reports whether mech sends a password, hash or token.
// Unknown mechanisms are assumed to.
func carriesSecret(mech string) bool {
	return mech != sasl.External && mech != sasl.Anonymous
}

// challengeRedactor is implemented by a sasl.Client whose next challenge
// may carry a secret: after each response Auth asks what the transcript
// shows in place of the next 334 challenge, "" meaning the challenge as
// received. Such a challenge is not noted decoded either.
type challengeRedactor interface {
	challengeRedaction() string
}

// authRun is one AUTH exchange in progress.
type authRun struct {
	c          *Conn
	m          sasl.Client
	mech, step string
	deferred   []byte // an initial response too long for the AUTH line
	hidden     bool   // the latest challenge was recorded redacted
}

// run sends the AUTH line and answers challenges until a final reply.
func (a *authRun) run(ctx context.Context, ir []byte) (*Reply, error) {
	r, err := a.send(ctx, a.authLine(ir))
	for rounds := 0; ; rounds++ {
		if err != nil {
			return r, err
		}
		if r.Code != 334 {
			return a.finish(ctx, r)
		}
		if rounds == a.c.d.Limits.MaxAuthRounds {
			return a.abort(ctx, r, "more than "+strconv.Itoa(rounds)+" 334 challenges (Limits.MaxAuthRounds)")
		}
		r, err = a.answer(ctx, r)
	}
}

// authLine builds "AUTH MECH [initial-response]", deferring a response
// that would make the line longer than RFC 5321 allows.
func (a *authRun) authLine(ir []byte) outLine {
	line := "AUTH " + a.mech
	if ir == nil {
		return outLine{text: line}
	}
	enc := "="
	if len(ir) > 0 {
		enc = base64.StdEncoding.EncodeToString(ir)
	}
	if len(line)+1+len(enc)+2 > rfcLineLimit {
		a.deferred = ir
		return outLine{text: line}
	}
	return a.responseLine(line+" ", enc, ir)
}

// responseLine is prefix+enc, marked secret when resp carries credentials.
func (a *authRun) responseLine(prefix, enc string, resp []byte) outLine {
	l := outLine{text: prefix + enc}
	if shown := a.redaction(resp); shown != "" {
		l.shown = prefix + shown
		a.c.addResponseSecrets(a.mech, resp)
	}
	return l
}

// redaction returns the stand-in for resp, or "" when it may be shown.
func (a *authRun) redaction(resp []byte) string {
	if len(resp) == 0 {
		return ""
	}
	if r, ok := a.m.(Redactor); ok {
		return r.Redaction()
	}
	if !carriesSecret(a.mech) {
		return ""
	}
	if a.mech == sasl.OAuthBearer || a.mech == "XOAUTH2" {
		return "[token redacted]"
	}
	return "[credentials redacted]"
}

// send writes one line and reads the reply, within Timeouts.Command.
func (a *authRun) send(ctx context.Context, l outLine) (*Reply, error) {
	return a.sendHiding(ctx, l, "")
}

// sendHiding is send for a response whose reply may be a challenge that
// carries a secret: unless secrets are revealed, a 334 reply is recorded
// as hide (when not "") and is not noted decoded.
func (a *authRun) sendHiding(ctx context.Context, l outLine, hide string) (*Reply, error) {
	c := a.c
	if err := validLines(a.step, []outLine{l}); err != nil {
		return nil, err
	}
	if err := c.begin(ctx, a.step, c.d.Timeouts.Command); err != nil {
		return nil, err
	}
	if err := c.write(ctx, a.step, []outLine{l}); err != nil {
		return nil, err
	}
	a.hidden = hide != "" && !c.tr.Reveal()
	return c.readReplyHiding(ctx, a.step, hide)
}

// nextChallengeRedaction is the stand-in for the next challenge, or "".
func (a *authRun) nextChallengeRedaction() string {
	if r, ok := a.m.(challengeRedactor); ok {
		return r.challengeRedaction()
	}
	return ""
}

// hiddenLine returns the stand-in for a received line when it belongs to a
// 334 reply that carries a secret (hide is set) and secrets are not
// revealed: the code and separator, then hide.
func hiddenLine(line, hide string, reveal bool) (string, bool) {
	if hide == "" || reveal || !strings.HasPrefix(line, "334") {
		return "", false
	}
	sep := " "
	if len(line) > 3 && line[3] == '-' {
		sep = "-"
	}
	return "334" + sep + hide, true
}

// answer decodes a 334 challenge and sends the client's response.
func (a *authRun) answer(ctx context.Context, r *Reply) (*Reply, error) {
	challenge, err := a.decode(r)
	if err != nil {
		return a.abort(ctx, r, "334 challenge is not base64")
	}
	var resp []byte
	if a.deferred != nil {
		resp, a.deferred = a.deferred, nil
		if len(challenge) > 0 {
			a.note("server sent a non-empty challenge where an empty one was due; sending the initial response")
		}
	} else if resp, err = a.m.Next(challenge); err != nil {
		return a.refuse(ctx, err)
	}
	enc := base64.StdEncoding.EncodeToString(resp)
	return a.sendHiding(ctx, a.responseLine("", enc, resp), a.nextChallengeRedaction())
}

// decode returns the challenge of a 334 reply and notes it decoded, unless
// it was recorded redacted. A challenge without its base64 padding is
// accepted with a note.
func (a *authRun) decode(r *Reply) ([]byte, error) {
	text := strings.TrimSpace(strings.Join(r.Lines, ""))
	if text == "" {
		a.note("334 empty challenge")
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil && len(text)%4 != 0 && !strings.Contains(text, "=") {
		if b, err = base64.RawStdEncoding.DecodeString(text); err == nil {
			a.note("334 challenge lacks its base64 padding")
		}
	}
	if err != nil {
		return nil, err
	}
	if !a.hidden {
		a.note("334 decoded: " + string(b)) // scrubbed of echoed secrets by note
	}
	return b, nil
}

// refuse ends the exchange after the client refused a challenge: with the
// dummy response RFC 7628 asks for when an OAUTHBEARER server reports an
// error, and with "*" otherwise.
func (a *authRun) refuse(ctx context.Context, cause error) (*Reply, error) {
	var oe *sasl.OAuthBearerError
	if errors.As(cause, &oe) {
		r, err := a.send(ctx, outLine{text: base64.StdEncoding.EncodeToString([]byte{1})})
		if err != nil {
			return r, err
		}
		switch r.Code / 100 {
		case 4, 5:
			return r, &ReplyError{Command: a.step, Reply: r, auth: true}
		case 2:
			return r, a.c.protocolFailure(a.step, &ProtocolError{Reason: "server accepted after reporting an error", Reply: r, Err: cause})
		}
	}
	r, err := a.cancel(ctx)
	if err != nil {
		return r, err
	}
	// The cancellation put the exchange back in step: the session goes on.
	return r, &ProtocolError{Step: a.step, Reason: "the SASL mechanism refused the server's challenge; AUTH cancelled", Err: cause}
}

// abort cancels the exchange because the server broke the protocol.
func (a *authRun) abort(ctx context.Context, bad *Reply, reason string) (*Reply, error) {
	r, err := a.cancel(ctx)
	if err != nil {
		return r, err
	}
	line := ""
	if len(bad.Lines) > 0 {
		line = strconv.Itoa(bad.Code) + " " + bad.Lines[0]
	}
	return r, &ProtocolError{Step: a.step, Reason: reason, Line: line, Reply: bad}
}

// cancel sends "*" and reads the server's reply, which should be 501. A
// server that answers with yet another 3xx has lost the thread: the Conn
// is closed.
func (a *authRun) cancel(ctx context.Context) (*Reply, error) {
	r, err := a.send(ctx, outLine{text: "*"})
	if err != nil {
		return r, err
	}
	if r.Code != 501 {
		a.note("server answered the AUTH cancellation with " + strconv.Itoa(r.Code) + ", not 501")
	}
	if r.Code/100 == 3 {
		pe := &ProtocolError{Step: a.step, Reason: "server went on with the AUTH exchange after it was cancelled", Reply: r}
		return r, a.c.protocolFailure(a.step, pe)
	}
	return r, nil
}

// finish turns the final reply into the result: success for a 2xx (if the
// mechanism agrees), a *ReplyError for a 4xx or 5xx.
func (a *authRun) finish(ctx context.Context, r *Reply) (*Reply, error) {
	switch {
	case r.Code == 235:
		if f, ok := a.m.(interface{ finish() error }); ok {
			if err := f.finish(); err != nil {
				// Authenticated to a server that did not prove itself:
				// the session cannot be trusted and ends.
				return r, a.c.protocolFailure(a.step, &ProtocolError{Reason: "server accepted without proving it knows the password", Reply: r, Err: err})
			}
		}
		return r, nil
	case r.Temporary(), r.Permanent():
		return r, &ReplyError{Command: a.step, Reply: r, auth: true}
	}
	return r, a.c.check(a.step, r, 235, 334) // out of step: the session ends
}

func (a *authRun) note(text string) { a.c.note(text) }
