package probe

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestHostile421 sends 421 at every point of a session: at the greeting,
// after EHLO, in the middle of a transaction, at the end of the data, and
// unsolicited between two commands. Each is a *ReplyError matching
// ErrServerClosed at the step that read it, and the Conn is closed.
func TestHostile421(t *testing.T) {
	shutdown := func(step string) fakeserver.Config {
		return fakeserver.Config{Misbehave: map[string]fakeserver.Step{step: fakeserver.Shutdown421()}}
	}
	unsolicited := fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"NOOP": func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.Reply(250, "2.0.0 Ok")
		s.Flush()
		s.WriteRaw([]byte("421 4.4.2 mail.example.test Error: timeout exceeded\r\n"))
		s.Flush()
		s.Discard()
		return true
	}}}
	mail := func(ctx context.Context, c *Conn) error {
		if _, err := c.Ehlo(ctx, ""); err != nil {
			return err
		}
		if _, err := c.Mail(ctx, "alice@example.test", nil); err != nil {
			return err
		}
		_, err := c.Rcpt(ctx, "bob@example.test", nil)
		return err
	}
	cases := []struct {
		name string
		cfg  fakeserver.Config
		step string
		run  func(ctx context.Context, c *Conn) error
		wire string
	}{
		{"greeting", shutdown(fakeserver.StepConnect), "banner", nil, ""},
		{"after EHLO", shutdown("EHLO"), "EHLO", func(ctx context.Context, c *Conn) error {
			_, err := c.Hello(ctx, "")
			return err
		}, "EHLO probe.example\r\n"},
		{"mid-transaction", shutdown("RCPT"), "RCPT", mail,
			"EHLO probe.example\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"},
		{"end of data", shutdown(fakeserver.StepEOD), stepDataEnd, func(ctx context.Context, c *Conn) error {
			if err := mail(ctx, c); err != nil {
				return err
			}
			_, err := c.Data(ctx, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
			return err
		}, "EHLO probe.example\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n"},
		{"unsolicited between commands", unsolicited, "RSET", func(ctx context.Context, c *Conn) error {
			if _, err := c.Noop(ctx); err != nil {
				return err
			}
			_, err := c.Rset(ctx)
			return err
		}, "NOOP\r\n"}, // the 421 came with NOOP's reply: RSET is never sent
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			var c *Conn
			var err error
			timed(t, hostileBound, func() {
				c, err = hostileDial(t, ctx, srv, nil)
				if err == nil {
					err = tc.run(ctx, c)
				}
			})
			re := wantReplyError(t, err, tc.step, 421)
			if !errors.Is(err, ErrServerClosed) || !re.Temporary() {
				t.Errorf("421 not seen as the server closing: %v", err)
			}
			if c != nil {
				wantBroken(t, c, ErrServerClosed)
			}
			got := string(clientBytes(t, c, srv).ClientBytes)
			if tc.name == "unsolicited between commands" && got == "NOOP\r\nRSET\r\n" {
				got = tc.wire // the 421 came in a packet of its own, after RSET left
			}
			if got != tc.wire {
				t.Errorf("client sent %q, want %q", got, tc.wire)
			}
		})
	}
}

// TestHostileGreeting: refusing greetings (554, 521, 556) end Dial with a
// permanent *ReplyError and nothing written; a multi-line 220- greeting
// trickled line by line is read whole when it fits in the Greeting
// timeout, and is a timeout when it does not.
func TestHostileGreeting(t *testing.T) {
	for _, code := range []int{554, 521, 556} {
		t.Run(itoa(code), func(t *testing.T) {
			srv := startServer(t, fakeserver.Config{BannerCode: code, Banner: []string{"5.7.1 no SMTP service here"}})
			var err error
			timed(t, hostileBound, func() { _, err = hostileDial(t, testCtx(t), srv, nil) })
			re := wantReplyError(t, err, "banner", code)
			if re.Temporary() || re.Reply.Text() != "5.7.1 no SMTP service here" || re.Reply.Enhanced != (EnhancedCode{5, 7, 1}) {
				t.Errorf("reply %v", re.Reply)
			}
			if got := clientBytes(t, nil, srv).ClientBytes; len(got) != 0 {
				t.Errorf("client sent %q", got)
			}
		})
	}
	pregreet := []string{"mail.example.test ESMTP pregreet", "please wait", "mail.example.test ESMTP"}
	for _, tc := range []struct {
		name    string
		delay   time.Duration
		timeout bool
	}{{"pregreet within the timeout", 100 * time.Millisecond, false}, {"pregreet past the timeout", 250 * time.Millisecond, true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, fakeserver.Config{Banner: pregreet, BannerDelay: tc.delay})
			var c *Conn
			var err error
			// Within: three delays well inside a roomy greeting timeout, so a
			// loaded machine cannot turn it into a timeout. Past: three delays
			// of 250 ms always pass the 400 ms one.
			roomy := func(d *Dialer) {
				if !tc.timeout {
					d.Timeouts.Greeting = 5 * time.Second
				}
			}
			timed(t, hostileBound, func() { c, err = hostileDial(t, testCtx(t), srv, roomy) })
			if tc.timeout {
				wantTimeout(t, err, "banner")
				return
			}
			if err != nil || !reflect.DeepEqual(c.Banner().Lines, pregreet) {
				t.Fatalf("Dial = %v, %v", c.Banner(), err)
			}
		})
	}
}

// TestHostilePipelining: a reply nobody asked for inside a pipelined batch,
// and a batch with fewer replies than commands, through Pipeline and Send.
func TestHostilePipelining(t *testing.T) {
	env := Envelope{From: "alice@example.test", To: []string{"bob@example.test"}, Body: strings.NewReader("Subject: x\r\n\r\nhi\r\n")}
	raw := func(step, b string) fakeserver.Config {
		return fakeserver.Config{Misbehave: map[string]fakeserver.Step{step: {Raw: []byte(b)}}}
	}
	extraMail := fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"MAIL": func(s *fakeserver.Session, cmd fakeserver.Command) bool {
		s.Default(cmd)
		s.Reply(250, "2.1.0 extra")
		return true
	}}}
	pipeline := func(ctx context.Context, c *Conn) (int, error) {
		rs, err := c.Pipeline(ctx, "NOOP", "NOOP")
		return len(rs), err
	}
	send := func(ctx context.Context, c *Conn) (int, error) {
		res, err := c.Send(ctx, env)
		n := 0
		for _, r := range []*Reply{res.Mail, res.Recipients[0].Rcpt, res.Data} {
			if r != nil {
				n++
			}
		}
		return n, err
	}
	cases := []struct {
		name    string
		cfg     fakeserver.Config
		run     func(ctx context.Context, c *Conn) (int, error)
		replies int    // replies read
		step    string // the failing step
		reason  string // a *ProtocolError with this reason; "" for a timeout
	}{
		{"Pipeline, extra reply", raw("NOOP#1", "250 2.0.0 Ok\r\n250 2.0.0 extra\r\n"), pipeline, 2,
			"pipeline", "bytes arrived after the last reply of the batch"},
		{"Pipeline, reply missing", raw("NOOP#1", ""), pipeline, 1, "NOOP", ""},
		{"Send, extra reply to MAIL", extraMail, send, 2, "DATA", "out of step with the pipelined commands"},
		// RCPT's place is taken by DATA's refusal, which could answer
		// RCPT: undetectable, and DATA times out.
		{"Send, reply to RCPT missing", raw("RCPT", ""), send, 2, "DATA", ""},
		{"Send, reply to DATA missing", raw("DATA", ""), send, 2, "DATA", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			c, err := hostileDial(t, ctx, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			if caps, err := c.Ehlo(ctx, ""); err != nil || !caps.Pipelining {
				t.Fatalf("EHLO: %+v, %v", caps, err)
			}
			var n int
			timed(t, hostileBound, func() { n, err = tc.run(ctx, c) })
			if tc.reason == "" {
				wantTimeout(t, err, tc.step)
			} else {
				wantProtocolError(t, err, tc.step, tc.reason)
			}
			if n != tc.replies {
				t.Errorf("%d replies read, want %d", n, tc.replies)
			}
			wantBroken(t, c, err)
		})
	}
}

// TestHostileCapabilities: absurd EHLO replies (fakeserver.HostileEhlo)
// give exact capabilities, or a *ProtocolError when the reply passes
// Limits.MaxReplyLines.
func TestHostileCapabilities(t *testing.T) {
	type want struct {
		size       int64
		auth       []string
		keywords   int // extensions
		pipelining bool
		startTLS   bool
		notes      []string
	}
	mechs := []string{"PLAIN"}
	for i := 1; i <= 500; i++ {
		mechs = append(mechs, "X-MECH-"+itoa3(i))
	}
	notSize := func(v string) string { return "SIZE parameter \"" + v + "\" is not a size; taken as none" }
	cases := map[string]want{
		"size-huge":      {keywords: 2, pipelining: true, notes: []string{notSize("99999999999999999999999")}},
		"size-negative":  {keywords: 1, notes: []string{notSize("-1")}},
		"size-junk":      {keywords: 2, notes: []string{notSize("junk")}},
		"size-twice":     {keywords: 2, size: 1000},
		"auth-many":      {keywords: 1, auth: mechs},
		"auth-empty":     {keywords: 2, auth: []string{"PLAIN"}},
		"duplicates":     {keywords: 6, pipelining: true, startTLS: true},
		"empty-lines":    {keywords: 1, pipelining: true, notes: []string{"empty EHLO line ignored", "empty EHLO line ignored", "empty EHLO line ignored"}},
		"lower-case":     {keywords: 3, pipelining: true, startTLS: true, auth: []string{"PLAIN", "LOGIN"}},
		"long-keyword":   {keywords: 1},
		"control-bytes":  {keywords: 3, size: 100},
		"non-utf8":       {keywords: 2},
		"trailing-space": {keywords: 2, pipelining: true, size: 100},
	}
	for name, lines := range fakeserver.HostileEhlo() {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{EhloLines: lines})
			c, err := hostileDial(t, ctx, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			var caps *Capabilities
			timed(t, hostileBound, func() { caps, err = c.Ehlo(ctx, "") })
			if name == "many-lines" {
				pe := wantProtocolError(t, err, "EHLO", "more than 1000 lines")
				wantBroken(t, c, pe)
				return
			}
			w, ok := cases[name]
			if !ok {
				t.Fatalf("no expectation for %q", name)
			}
			if err != nil || caps.Size != w.size || !reflect.DeepEqual(caps.Auth, w.auth) || len(caps.Extensions) != w.keywords ||
				caps.Pipelining != w.pipelining || caps.StartTLS != w.startTLS {
				t.Fatalf("Ehlo = %+v, %v; want %+v", caps, err, w)
			}
			var notes []string
			for _, e := range c.Transcript().Entries() {
				if e.Kind == Note && (strings.HasPrefix(e.Text, "SIZE") || strings.HasPrefix(e.Text, "empty EHLO")) {
					notes = append(notes, e.Text)
				}
			}
			if !reflect.DeepEqual(notes, w.notes) {
				t.Errorf("notes %q, want %q", notes, w.notes)
			}
			if _, err := c.Noop(ctx); err != nil {
				t.Errorf("NOOP afterwards: %v", err)
			}
		})
	}
}

// itoa3 formats any non-negative n (itoa in conn_test.go stops at 999).
func itoa3(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa3(n/10) + string(rune('0'+n%10))
}
