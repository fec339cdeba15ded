package probe

// Hostile and broken servers: every session must end with a correct value
// or a typed error naming its step, within its deadline, without a panic
// or a leaked goroutine (TestMain runs goleak). Each test logs its wall
// time as "wall time"; the bound it asserts is hostileBound unless noted.
// The reply deviations that TestReplyDeviations checks through SendRaw are
// checked here again in the banner and EHLO steps (TestHostileReplies).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

const (
	// hostileStep is every step timeout of hostileDialer.
	hostileStep = 400 * time.Millisecond
	// hostileBound is the wall time no hostile session may exceed.
	hostileBound = 2 * time.Second
)

// hostileDialer has short step timeouts, so that a server that never
// finishes costs hostileStep per step.
func hostileDialer() Dialer {
	s := hostileStep
	return Dialer{LocalName: "probe.example", Timeouts: Timeouts{Connect: s, Greeting: s, Command: s, Handshake: s,
		Mail: s, Rcpt: s, DataInit: s, DataBlock: s, DataEnd: s}}
}

// timed runs f, logs its wall time and fails when it exceeds bound.
func timed(t *testing.T, bound time.Duration, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	f()
	el := time.Since(start)
	t.Logf("wall time %v", el.Round(10*time.Microsecond))
	if el > bound {
		t.Errorf("took %v, more than %v", el, bound)
	}
	return el
}

// hostileDial dials srv with hostileDialer (changed by tweak, if set).
func hostileDial(t *testing.T, ctx context.Context, srv *fakeserver.Server, tweak func(*Dialer)) (*Conn, error) {
	t.Helper()
	d := hostileDialer()
	if tweak != nil {
		tweak(&d)
	}
	c, err := d.Dial(ctx, srv.Addr())
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// clientBytes closes c and returns what the server received in its only
// session.
func clientBytes(t *testing.T, c *Conn, srv *fakeserver.Server) fakeserver.SessionRecord {
	t.Helper()
	if c != nil {
		c.Close()
	}
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return recs[0]
}

func wantProtocolError(t *testing.T, err error, step, reason string) *ProtocolError {
	t.Helper()
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Step != step || !strings.Contains(pe.Reason, reason) {
		t.Fatalf("err = %v (%T), want a *ProtocolError at %q with %q", err, err, step, reason)
	}
	return pe
}

func wantTimeout(t *testing.T, err error, step string) {
	t.Helper()
	var op *OpError
	if !errors.As(err, &op) || op.Op != step || !op.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v (%T), want an *OpError timeout at %q", err, err, step)
	}
}

func wantReplyError(t *testing.T, err error, step string, code int) *ReplyError {
	t.Helper()
	var re *ReplyError
	if !errors.As(err, &re) || re.Command != step || re.Reply.Code != code {
		t.Fatalf("err = %v (%T), want a *ReplyError %d at %q", err, err, code, step)
	}
	return re
}

// wantBroken checks that c refuses further work with an *OpError that
// wraps the error which ended the session.
func wantBroken(t *testing.T, c *Conn, cause error) {
	t.Helper()
	if c.Err() == nil {
		t.Fatal("the Conn goes on")
	}
	_, err := c.Noop(testCtx(t))
	var op *OpError
	if !errors.As(err, &op) || op.Op != "NOOP" || !errors.Is(err, cause) {
		t.Fatalf("NOOP after the failure: %v, want an *OpError wrapping %v", err, cause)
	}
}

// hostileCase is a reply a server puts in place of its banner or of its
// EHLO reply, and what the client must make of it.
type hostileCase struct {
	name    string
	wire    []byte
	lines   []string // the reply's lines when it is read as a value
	reason  string   // a *ProtocolError with this reason
	timeout bool     // the step times out
}

// hostileReplies pairs each malformed reply of fakeserver.HostileReplies
// (its 250 turned into code) with its outcome, and adds the
// endless, megabyte and byte-per-segment cases.
func hostileReplies(code string) []hostileCase {
	wire := fakeserver.HostileReplies()
	for k, v := range wire {
		wire[k] = bytes.ReplaceAll(v, []byte("250"), []byte(code))
	}
	return []hostileCase{
		{name: "mismatched-codes", reason: "continuation line has code 251, reply began with " + code},
		{name: "non-digit-code", reason: "three-digit code"},
		{name: "letters-code", reason: "three-digit code"},
		{name: "first-digit-1", reason: "outside 2xx–5xx"},
		{name: "first-digit-6", reason: "outside 2xx–5xx"},
		{name: "first-digit-0", reason: "outside 2xx–5xx"},
		{name: "two-digit-code", reason: "three-digit code"},
		{name: "four-digit-code", lines: []string{"0 Ok"}},
		{name: "no-separator", lines: []string{"Ok"}},
		{name: "bad-separator", lines: []string{"_Ok"}},
		{name: "nul", lines: []string{"O\x00k"}},
		{name: "esc", lines: []string{"\x1b[2J\x1b[31mOk"}},
		{name: "control", lines: []string{"\x01\x02\x07\x08\x7fOk"}},
		{name: "non-utf8", lines: []string{"\xff\xfe\xc3\x28 Ok"}},
		{name: "bare-lf", lines: []string{"a", "b"}},
		// A CR at the very end cannot be told from the first half of a
		// CRLF split across segments: the reader waits for the next byte,
		// which this server never sends, until the step's deadline.
		{name: "bare-cr", timeout: true},
		{name: "mixed-endings", lines: []string{"a", "b", "c"}},
		{name: "empty-line", reason: "three-digit code"},
		{name: "code-only", lines: []string{""}},
		{name: "space-only", lines: []string{""}},
		{name: "continuation-eof", timeout: true},
		{name: "long-line", reason: "longer than 16384 bytes"},
		{name: "megabyte line", wire: fakeserver.LongReply(250, 4<<20), reason: "longer than 16384 bytes"},
		{name: "endless continuation", wire: []byte(strings.Repeat(code+"-more\r\n", 5000)), reason: "more than 1000 lines"},
	}
}

// TestHostileReplies sends each malformed reply as the banner and as the
// reply to EHLO, whole and one byte per TCP segment.
func TestHostileReplies(t *testing.T) {
	for _, byByte := range []bool{false, true} {
		for _, step := range []string{"banner", "EHLO"} {
			code := "250"
			if step == "banner" {
				code = "220"
			}
			wires := fakeserver.HostileReplies()
			for _, hc := range hostileReplies(code) {
				if hc.wire == nil {
					hc.wire = bytes.ReplaceAll(wires[hc.name], []byte("250"), []byte(code))
				}
				if byByte && len(hc.wire) > 4096 {
					continue // one byte per segment: the small ones are enough
				}
				name := step + "/" + hc.name
				if byByte {
					name += "/byte-per-segment"
				}
				t.Run(name, func(t *testing.T) {
					st := fakeserver.Step{Raw: hc.wire, ByteByByte: byByte}
					if step == "banner" {
						runHostileBanner(t, hc, st)
					} else {
						runHostileEhlo(t, hc, st)
					}
				})
			}
		}
	}
}

// bigWire is the size past which the server does not record what it sends:
// copying megabytes under -race could outlast the step's deadline before
// the first byte is written.
const bigWire = 64 << 10

func runHostileBanner(t *testing.T, hc hostileCase, st fakeserver.Step) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{NoRecord: len(hc.wire) > bigWire, Misbehave: map[string]fakeserver.Step{fakeserver.StepConnect: st}})
	var c *Conn
	var err error
	timed(t, hostileBound, func() { c, err = hostileDial(t, ctx, srv, nil) })
	switch {
	case hc.timeout:
		wantTimeout(t, err, "banner")
	case hc.reason != "":
		wantProtocolError(t, err, "banner", hc.reason)
	default:
		if err != nil || c.Banner().Code != 220 || !reflect.DeepEqual(c.Banner().Lines, hc.lines) {
			t.Fatalf("Dial: %v, %v; want 220 %q", c.Banner(), err, hc.lines)
		}
	}
	checkRendered(t, "transcript", transcriptOf(c, err), -1)
}

func runHostileEhlo(t *testing.T, hc hostileCase, st fakeserver.Step) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{NoRecord: len(hc.wire) > bigWire, Misbehave: map[string]fakeserver.Step{"EHLO": st}})
	c, err := hostileDial(t, ctx, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	var caps *Capabilities
	timed(t, hostileBound, func() { caps, err = c.Ehlo(ctx, "") })
	switch {
	case hc.timeout:
		wantTimeout(t, err, "EHLO")
		wantBroken(t, c, os.ErrDeadlineExceeded)
	case hc.reason != "":
		pe := wantProtocolError(t, err, "EHLO", hc.reason)
		if hc.name == "mismatched-codes" && (pe.Reply == nil || pe.Reply.Code != 250 || len(pe.Reply.Lines) != 3) {
			t.Errorf("mismatched reply %v: the whole reply should be read and kept", pe.Reply)
		}
		wantBroken(t, c, pe)
	default:
		want, _ := ParseCapabilities(hc.lines)
		if err != nil || !reflect.DeepEqual(caps, want) || c.Capabilities() != caps {
			t.Fatalf("Ehlo = %+v, %v; want %+v", caps, err, want)
		}
	}
	checkRendered(t, "transcript", c.Transcript().String(), -1)
}

// transcriptOf renders the transcript of c, or "" when Dial failed (the
// failed Conn is not returned; its error is typed, which is checked).
func transcriptOf(c *Conn, err error) string {
	if c == nil {
		return ""
	}
	return c.Transcript().String()
}

// TestHostileSilentAndSlow checks servers that say nothing, or trickle
// bytes: the step's deadline bounds the whole step, not the gap between
// bytes, so a byte every 150 ms cannot keep a step alive.
func TestHostileSilentAndSlow(t *testing.T) {
	cases := []struct {
		name string
		cfg  fakeserver.Config
		step string // the failing step: "banner" or "EHLO"
	}{
		{"silent, no banner", fakeserver.Config{Misbehave: map[string]fakeserver.Step{
			fakeserver.StepConnect: fakeserver.Silent()}}, "banner"},
		{"slowloris banner", fakeserver.Config{Misbehave: map[string]fakeserver.Step{
			fakeserver.StepConnect: fakeserver.Slowloris("220-slow\r\n", 150*time.Millisecond)}}, "banner"},
		{"slowloris single line", fakeserver.Config{Misbehave: map[string]fakeserver.Step{
			fakeserver.StepConnect: fakeserver.Slowloris("220 slowly", 150*time.Millisecond)}}, "banner"},
		{"slowloris EHLO", fakeserver.Config{Misbehave: map[string]fakeserver.Step{
			"EHLO": fakeserver.Slowloris("250-x\r\n", 150*time.Millisecond)}}, "EHLO"},
		{"stops mid-reply", fakeserver.Config{Misbehave: map[string]fakeserver.Step{
			"EHLO": {Raw: []byte("250-mail.example.test\r\n250-PIPELI"), Hang: true}}}, "EHLO"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			var err error
			el := timed(t, hostileStep+500*time.Millisecond, func() {
				var c *Conn
				c, err = hostileDial(t, ctx, srv, nil)
				if err == nil {
					_, err = c.Ehlo(ctx, "")
				}
			})
			wantTimeout(t, err, tc.step)
			if el < hostileStep {
				t.Errorf("ended after %v, before the step's deadline", el)
			}
		})
	}
}

// TestHostileConnectionCut checks a server that closes in the middle of a
// reply and one that resets the connection (TCP RST).
func TestHostileConnectionCut(t *testing.T) {
	reset := func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.WriteRaw([]byte("250-mail.example.test\r\n"))
		s.Flush()
		s.Reset()
		return true
	}
	cases := []struct {
		name string
		cfg  fakeserver.Config
		is   error
	}{
		{"closes mid-reply", fakeserver.Config{Misbehave: map[string]fakeserver.Step{
			"EHLO": {Raw: []byte("250-mail.example.test\r\n250-PIPELI"), Close: true}}}, io.ErrUnexpectedEOF},
		{"closes between lines", fakeserver.Config{Misbehave: map[string]fakeserver.Step{
			"EHLO": {Raw: []byte("250-mail.example.test\r\n"), Close: true}}}, io.EOF},
		{"reset mid-reply", fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"EHLO": reset}}, syscall.ECONNRESET},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			c, err := hostileDial(t, ctx, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			timed(t, hostileBound, func() { _, err = c.Ehlo(ctx, "") })
			var op *OpError
			if !errors.As(err, &op) || op.Op != "EHLO" || op.Timeout() || !errors.Is(err, tc.is) {
				t.Fatalf("err = %v (%T), want an *OpError at EHLO wrapping %v", err, err, tc.is)
			}
			wantBroken(t, c, tc.is)
		})
	}
}
