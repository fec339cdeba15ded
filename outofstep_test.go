package probe

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestUnsolicitedReplyBeforeCommand: a reply that arrived with the EHLO
// reply, before MAIL was written, is never MAIL's reply: MAIL is not sent,
// the error is a *ProtocolError, and the session ends.
func TestUnsolicitedReplyBeforeCommand(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{
		"EHLO": {After: []byte("250 2.1.0 surprise\r\n")}}})
	c, err := hostileDial(t, ctx, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	var r *Reply
	timed(t, hostileBound, func() { r, err = c.Mail(ctx, "a@example.test", nil) })
	pe := wantProtocolError(t, err, "MAIL", "before MAIL was sent")
	if r != nil || !strings.Contains(pe.Line, "surprise") {
		t.Errorf("reply %v, line %q", r, pe.Line)
	}
	wantBroken(t, c, pe)
	if got := string(clientBytes(t, c, srv).ClientBytes); strings.Contains(got, "MAIL") {
		t.Errorf("MAIL was sent: %q", got)
	}
}

// TestDoubledFinalReply: a second final reply after the end of data is
// seen before the next command and ends the session; it never answers
// QUIT (which wants 221 anyway).
func TestDoubledFinalReply(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{
		fakeserver.StepEOD: {After: []byte("250 2.0.0 Ok: queued as AGAIN\r\n")}}})
	c, err := hostileDial(t, ctx, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ehlo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test"}, Body: strings.NewReader("hi\r\n")})
	if err != nil || !res.Final.Positive() {
		t.Fatalf("Send: %v, %v", res, err)
	}
	var r *Reply
	timed(t, hostileBound, func() { r, err = c.Quit(ctx) })
	var pe *ProtocolError
	if !errors.As(err, &pe) || r != nil {
		t.Fatalf("Quit = %v, %v; want a *ProtocolError for the reply nobody asked for", r, err)
	}
}

// TestEarlyReplyDuringBody: a reply that arrives while a large body is on
// its way ends the transfer: a refusal is the *ReplyError of the body, a
// 250 a *ProtocolError, never the message's success; the final "." is not
// sent. The server replies after 4 KiB and then stops reading, so the
// client is still sending, blocked, when the reply comes (a server that
// reads on may drain the whole body before its reply is seen; after the
// final "." nothing tells an early reply from the real one). A server
// that closes may reset the connection before its reply can be read: then
// the body's write fails, never a success either.
func TestEarlyReplyDuringBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 1<<18) // 16 MiB
	for _, tc := range []struct {
		name string
		code int
		then fakeserver.EarlyEnd
	}{
		{"554 then stop reading", 554, fakeserver.EarlyHang},
		{"250 then stop reading", 250, fakeserver.EarlyHang},
		{"421 then stop reading", 421, fakeserver.EarlyHang},
		{"552 then close", 552, fakeserver.EarlyClose},
		{"250 then close", 250, fakeserver.EarlyClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
				"DATA": fakeserver.EarlyDataReply(4096, fakeserver.Reply{Code: tc.code, Lines: []string{"early"}}, tc.then)}})
			c, err := hostileDial(t, ctx, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Ehlo(ctx, ""); err != nil {
				t.Fatal(err)
			}
			var res *SendResult
			timed(t, hostileBound, func() {
				res, err = c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test"},
					Body: bytes.NewReader(body), NoPipelining: true})
			})
			if err == nil || (res != nil && res.Final.Positive()) {
				t.Fatalf("Send = %+v, %v; want the early reply to fail the message", res, err)
			}
			var re *ReplyError
			var pe *ProtocolError
			var oe *OpError
			switch {
			case tc.code >= 400 && errors.As(err, &re) && re.Reply.Code == tc.code && re.Command == "DATA body":
			case tc.code < 400 && errors.As(err, &pe) && pe.Reply != nil && pe.Reply.Code == tc.code:
			case tc.then == fakeserver.EarlyClose && errors.As(err, &oe):
				// The server closed before the client looked: the write
				// failed first. Still no success.
			default:
				t.Fatalf("err = %v (%T)", err, err)
			}
			if c.Err() == nil {
				t.Error("the session goes on after the transfer ended early")
			}
			if tr := c.Transcript().String(); strings.Contains(tr, "C: .\n") {
				t.Errorf("the final '.' was sent:\n%s", tr)
			}
		})
	}
}

// TestClientHelloAnswered421: a server that answers the ClientHello with a
// 421 in plaintext is closing, and is reported so (a *ReplyError matching
// ErrServerClosed), not as response injection.
func TestClientHelloAnswered421(t *testing.T) {
	ctx := testCtx(t)
	p := newPKI(t)
	srv := startServer(t, fakeserver.Config{TLSCert: &p.Valid, Handlers: map[string]fakeserver.HandlerFunc{
		"STARTTLS": fakeserver.AnswerClientHello(fakeserver.Reply{Code: 421, Lines: []string{"4.7.0 TLS not available now"}})}})
	c := dialEhlo(t, ctx, srv, hostileDialer())
	var err error
	timed(t, hostileBound, func() { _, err = c.StartTLS(ctx, nil) })
	var re *ReplyError
	var pe *ProtocolError
	if !errors.As(err, &re) || re.Reply.Code != 421 || !errors.Is(err, ErrServerClosed) || errors.As(err, &pe) {
		t.Fatalf("StartTLS = %v (%T), want the server's 421", err, err)
	}
	if c.Err() == nil {
		t.Error("the session goes on after the server closed it")
	}
	if tr := c.Transcript().String(); !strings.Contains(tr, "S: 421 4.7.0 TLS not available now") {
		t.Errorf("the 421 is not in the transcript:\n%s", tr)
	}
}
