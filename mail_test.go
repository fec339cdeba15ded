package probe

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// countingConn counts the writes and reads a Conn makes.
type countingConn struct {
	net.Conn
	writes, reads atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// dialMail connects to srv through a countingConn, reads the banner and
// says EHLO (LHLO with d.LMTP).
func dialMail(t *testing.T, ctx context.Context, srv *fakeserver.Server, d *Dialer) (*Conn, *countingConn) {
	t.Helper()
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{Conn: nc}
	if d == nil {
		d = &Dialer{}
	}
	c := NewConn(cc, d)
	t.Cleanup(func() { c.Close() })
	if _, err := c.ReadBanner(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ehlo(ctx, "client.example.test"); err != nil {
		t.Fatal(err)
	}
	return c, cc
}

// lastCommand returns the raw bytes of the session's last command.
func lastCommand(t *testing.T, srv *fakeserver.Server) string {
	t.Helper()
	sessions := srv.Sessions()
	if len(sessions) == 0 || len(sessions[0].Commands) == 0 {
		t.Fatal("no command recorded")
	}
	cmds := sessions[0].Commands
	return string(cmds[len(cmds)-1].Raw)
}

func TestMailLine(t *testing.T) {
	tests := []struct {
		name string
		from string
		o    *MailOptions
		want string
	}{
		{"plain", "alice@example.test", nil, "MAIL FROM:<alice@example.test>\r\n"},
		{"null sender", "", nil, "MAIL FROM:<>\r\n"},
		{"quoted local part", `"john doe"@example.test`, nil, "MAIL FROM:<\"john doe\"@example.test>\r\n"},
		{"every parameter", "a@example.test", &MailOptions{
			Size: 4096, Body: Body8BitMIME, SMTPUTF8: true, RequireTLS: true,
			Return: ReturnHeaders, EnvelopeID: "QQ314159 x=y+z", Auth: "e=mc2@example.test",
			Extra: []string{"MT-PRIORITY=3", "HOLDFOR"},
		}, "MAIL FROM:<a@example.test> SIZE=4096 BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=HDRS " +
			"ENVID=QQ314159+20x+3Dy+2Bz AUTH=e+3Dmc2@example.test MT-PRIORITY=3 HOLDFOR\r\n"},
		{"auth none", "a@example.test", &MailOptions{Auth: "<>"}, "MAIL FROM:<a@example.test> AUTH=<>\r\n"},
		{"auth like the seed", "user@example.com", &MailOptions{Auth: "<user@example.com>"},
			"MAIL FROM:<user@example.com> AUTH=<user@example.com>\r\n"},
		{"binary body", "a@example.test", &MailOptions{Body: BodyBinaryMIME, Return: ReturnFull},
			"MAIL FROM:<a@example.test> BODY=BINARYMIME RET=FULL\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{})
			c, _ := dialMail(t, ctx, srv, nil)
			r, err := c.Mail(ctx, tc.from, tc.o)
			if err != nil {
				t.Fatalf("Mail: %v", err)
			}
			if r.Code != 250 || r.Enhanced.String() != "2.1.0" {
				t.Errorf("reply %q, want 250 2.1.0", r)
			}
			if got := lastCommand(t, srv); got != tc.want {
				t.Errorf("wire %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRcptLine(t *testing.T) {
	tests := []struct {
		name string
		o    *RcptOptions
		want string
	}{
		{"plain", nil, "RCPT TO:<bob@example.test>\r\n"},
		{"notify never", &RcptOptions{Notify: []DSNNotify{NotifyNever}},
			"RCPT TO:<bob@example.test> NOTIFY=NEVER\r\n"},
		{"notify set and orcpt", &RcptOptions{
			Notify:            []DSNNotify{NotifySuccess, NotifyFailure, NotifyDelay},
			OriginalRecipient: "Bob+Smith@example.test",
		}, "RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;Bob+2BSmith@example.test\r\n"},
		{"orcpt utf-8 type and extra", &RcptOptions{
			OriginalRecipient: "bob@example.test", OriginalRecipientType: "utf-8", Extra: []string{"X-TAG=1"},
		}, "RCPT TO:<bob@example.test> ORCPT=utf-8;bob@example.test X-TAG=1\r\n"},
		// addr-type is an RFC 5322 atom, written as it is (only the
		// address is xtext).
		{"orcpt type of atext symbols", &RcptOptions{
			OriginalRecipient: "b+c@example.test", OriginalRecipientType: "x-Type_1+!#$%&'*/?^`{|}~",
		}, "RCPT TO:<bob@example.test> ORCPT=x-Type_1+!#$%&'*/?^`{|}~;b+2Bc@example.test\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{})
			c, _ := dialMail(t, ctx, srv, nil)
			if _, err := c.Mail(ctx, "a@example.test", nil); err != nil {
				t.Fatal(err)
			}
			r, err := c.Rcpt(ctx, "bob@example.test", tc.o)
			if err != nil {
				t.Fatalf("Rcpt: %v", err)
			}
			if r.Code != 250 {
				t.Errorf("reply %q", r)
			}
			if got := lastCommand(t, srv); got != tc.want {
				t.Errorf("wire %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestMailRcptRefuseBadArguments(t *testing.T) {
	tests := []struct {
		name     string
		mail     bool
		addr     string
		mo       *MailOptions
		ro       *RcptOptions
		wantArg  string
		wantLine bool // errors.Is(err, ErrInvalidLine)
	}{
		{"CRLF in sender", true, "a@example.test>\r\nRCPT TO:<x@y", nil, nil, "from", true},
		{"NUL in recipient", false, "b\x00@example.test", nil, nil, "to", true},
		{"angle bracket", false, "b@example.test> X=1", nil, nil, "to", false},
		{"space", true, "a b@example.test", nil, nil, "from", false},
		{"unterminated quote", false, `"a b@example.test`, nil, nil, "to", false},
		{"empty recipient", false, "", nil, nil, "to", false},
		{"LF in ENVID", true, "a@example.test", &MailOptions{EnvelopeID: "x\ny"}, nil, "ENVID", true},
		{"CR in AUTH", true, "a@example.test", &MailOptions{Auth: "a\r@x"}, nil, "AUTH", true},
		{"space in extra value", true, "a@example.test", &MailOptions{Extra: []string{"X=a b"}}, nil, "X", false},
		{"CRLF in extra", true, "a@example.test", &MailOptions{Extra: []string{"X=a\r\nQUIT"}}, nil, "X", true},
		{"bad keyword", true, "a@example.test", &MailOptions{Extra: []string{"-X=1"}}, nil, "parameter", false},
		{"negative size", true, "a@example.test", &MailOptions{Size: -1}, nil, "SIZE", false},
		{"bad body", true, "a@example.test", &MailOptions{Body: "8BIT MIME"}, nil, "BODY", false},
		{"NEVER with others", false, "b@example.test", nil, &RcptOptions{Notify: []DSNNotify{NotifyNever, NotifyDelay}}, "NOTIFY", false},
		{"unknown notify", false, "b@example.test", nil, &RcptOptions{Notify: []DSNNotify{"SOMETIMES"}}, "NOTIFY", false},
		{"notify twice", false, "b@example.test", nil, &RcptOptions{Notify: []DSNNotify{NotifyDelay, NotifyDelay}}, "NOTIFY", false},
		{"orcpt type", false, "b@example.test", nil, &RcptOptions{OriginalRecipient: "x", OriginalRecipientType: "rfc 822"}, "ORCPT", false},
		{"orcpt type with '='", false, "b@example.test", nil, &RcptOptions{OriginalRecipient: "x", OriginalRecipientType: "a=b"}, "ORCPT", false},
		{"orcpt type with '.'", false, "b@example.test", nil, &RcptOptions{OriginalRecipient: "x", OriginalRecipientType: "rfc.822"}, "ORCPT", false},
		// The line break lies beyond the 80 bytes ArgError.Value keeps.
		{"CRLF after byte 80 in sender", true, strings.Repeat("a", 100) + "\r\nRSET", nil, nil, "from", true},
		{"LF after byte 80 in recipient", false, strings.Repeat("b", 90) + "\n@example.test", nil, nil, "to", true},
		{"CR after byte 80 in ENVID", true, "a@example.test", &MailOptions{EnvelopeID: strings.Repeat("x", 81) + "\r"}, nil, "ENVID", true},
		{"NUL after byte 80 in extra", true, "a@example.test", &MailOptions{Extra: []string{"X=" + strings.Repeat("v", 85) + "\x00"}}, nil, "X", true},
		{"long value, no line break", true, strings.Repeat("a", 100) + " b", nil, nil, "from", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{})
			c, _ := dialMail(t, ctx, srv, nil)
			before := c.Transcript().Len()
			var err error
			op := "MAIL"
			if tc.mail {
				_, err = c.Mail(ctx, tc.addr, tc.mo)
			} else {
				op = "RCPT"
				_, err = c.Rcpt(ctx, tc.addr, tc.ro)
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Op != op {
				t.Fatalf("err = %v, want *OpError for %s", err, op)
			}
			var ae *ArgError
			if !errors.As(err, &ae) || ae.Name != tc.wantArg {
				t.Fatalf("err = %v, want *ArgError about %s", err, tc.wantArg)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Error("not ErrInvalidArgument")
			}
			if got := errors.Is(err, ErrInvalidLine); got != tc.wantLine {
				t.Errorf("errors.Is(ErrInvalidLine) = %v, want %v", got, tc.wantLine)
			}
			if n := c.Transcript().Len(); n != before {
				t.Errorf("transcript grew by %d entries: something was written", n-before)
			}
			// The session is intact: a good command still works and is
			// the only thing the server saw after EHLO.
			if _, err := c.Noop(ctx); err != nil {
				t.Fatal(err)
			}
			if got := lastCommand(t, srv); got != "NOOP\r\n" {
				t.Errorf("last command %q", got)
			}
			if n := len(srv.Sessions()[0].Commands); n != 2 {
				t.Errorf("server saw %d commands, want EHLO and NOOP", n)
			}
		})
	}
}

func TestArgErrorMessage(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, _ := dialMail(t, ctx, srv, nil)
	_, err := c.Mail(ctx, "a b@example.test", nil)
	want := `smtp MAIL: invalid from "a b@example.test": space outside a quoted local part`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
}

func TestCheckAddress(t *testing.T) {
	good := []string{"", "a@b", `"a b"@example.test`, `"a\"b c"@x`, "ünïcödé@example.test", "@relay:a@b"}
	for _, a := range good {
		if err := CheckAddress(a); err != nil {
			t.Errorf("CheckAddress(%q) = %v", a, err)
		}
	}
	bad := []string{"a\tb@x", "a<b", "a>b", "a b", "\"a", "a\x7f"}
	for _, a := range bad {
		if err := CheckAddress(a); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("CheckAddress(%q) = %v, want ErrInvalidArgument", a, err)
		}
	}
}

func TestXtext(t *testing.T) {
	tests := []struct{ plain, xtext string }{
		{"", ""},
		{"user@example.com", "user@example.com"},
		{"e=mc2@example.com", "e+3Dmc2@example.com"},
		{"a+b c", "a+2Bb+20c"},
		{"<>", "<>"},
		{"\x00\x7f\xff", "+00+7F+FF"},
		{"~!", "~!"},
	}
	for _, tc := range tests {
		if got := xtextEncode(tc.plain); got != tc.xtext {
			t.Errorf("XtextEncode(%q) = %q, want %q", tc.plain, got, tc.xtext)
		}
		got, err := xtextDecode(tc.xtext)
		if err != nil || got != tc.plain {
			t.Errorf("XtextDecode(%q) = %q, %v, want %q", tc.xtext, got, err, tc.plain)
		}
	}
	if got, err := xtextDecode("+41+42C"); err != nil || got != "ABC" {
		t.Errorf("XtextDecode of hex-encoded xchars = %q, %v", got, err)
	}
	for _, bad := range []string{"+", "+4", "+4g", "+2b", "a=b", "a b", "\x00", "é", "x+"} {
		if _, err := xtextDecode(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("XtextDecode(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// seedHandlers answer MAIL, RCPT and DATA with the texts of a seed
// session, whatever the client sends.
func seedHandlers(mail, rcpt, data354, final string) map[string]fakeserver.HandlerFunc {
	reply := func(text string) fakeserver.HandlerFunc {
		return func(s *fakeserver.Session, _ fakeserver.Command) bool {
			s.WriteRaw([]byte(text + "\r\n"))
			return true
		}
	}
	return map[string]fakeserver.HandlerFunc{
		"MAIL": reply(mail),
		"RCPT": reply(rcpt),
		"DATA": func(s *fakeserver.Session, _ fakeserver.Command) bool {
			s.WriteRaw([]byte(data354 + "\r\n"))
			for {
				line, err := s.ReadLine()
				if err != nil {
					return true
				}
				if line == "." {
					break
				}
			}
			s.WriteRaw([]byte(final + "\r\n"))
			return true
		},
	}
}

// TestSeedTransactions replays the MAIL, RCPT and DATA parts of the seed
// sessions: Postfix behind the first tutorial, qmail behind the others.
func TestSeedTransactions(t *testing.T) {
	tests := []struct {
		name                         string
		mail, rcpt, data354, final   string
		from, to                     string
		wantMail, wantRcpt, wantData string
		wantQueueID                  string
	}{
		{"postfix", "250 2.1.0 OK", "250 2.1.5 OK", "354 End data with <CR><LF>.<CR><LF>",
			"250 2.0.0 Ok: queued as 6A4C1D5153E", "your_username@yourdomain.com", "your_destination@domain.com",
			"2.1.0", "2.1.5", "End data with <CR><LF>.<CR><LF>", "6A4C1D5153E"},
		{"qmail", "250 ok", "250 ok", "354 go ahead", "250 ok 1113954693 qp 29052",
			"nospam@jms1.net", "nospam@jms1.net", "", "", "go ahead", "1113954693 qp 29052"},
		{"qmail null sender", "250 ok", "250 ok", "354 go ahead", "250 ok 1103093638 qp 87827",
			"", "postmaster@mail.getsdeliveredhere.net", "", "", "go ahead", "1103093638 qp 87827"},
	}
	body := "From: John <nospam@jms1.net>\nTo: Nobody <nospam@jms1.net>\nSubject: fnord\n\nhail eris!\n"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{
				EhloLines: []string{"8BITMIME"}, // no PIPELINING: lock-step like a telnet session
				Handlers:  seedHandlers(tc.mail, tc.rcpt, tc.data354, tc.final),
			})
			c, _ := dialMail(t, ctx, srv, nil)
			res, err := c.Send(ctx, Envelope{From: tc.from, To: []string{tc.to}, Body: strings.NewReader(body)})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res.Pipelined {
				t.Error("pipelined without PIPELINING")
			}
			if got := res.Mail.Enhanced.String(); got != tc.wantMail || res.Mail.Code != 250 {
				t.Errorf("MAIL reply %q", res.Mail)
			}
			if rr := res.Recipients[0]; rr.Rcpt.Enhanced.String() != tc.wantRcpt || !rr.Accepted() || !rr.Delivered() {
				t.Errorf("recipient %+v", rr)
			}
			if res.Data.Code != 354 || res.Data.Text() != tc.wantData {
				t.Errorf("DATA reply %q", res.Data)
			}
			if got := res.QueueID(); got != tc.wantQueueID {
				t.Errorf("QueueID = %q, want %q", got, tc.wantQueueID)
			}
			wantTail := "C: DATA\nS: " + tc.data354 + "\n*  message body: 90 bytes, 5 lines (not recorded)\nC: .\nS: " + tc.final + "\n"
			if tr := c.Transcript().String(); !strings.HasSuffix(tr, wantTail) {
				t.Errorf("transcript ends\n%s\nwant\n%s", tr, wantTail)
			}
		})
	}
}

func TestMailTimeout(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{"MAIL": {Raw: []byte{}}}})
	c, _ := dialMail(t, ctx, srv, &Dialer{Timeouts: Timeouts{Mail: 100 * time.Millisecond}})
	start := time.Now()
	_, err := c.Mail(ctx, "a@example.test", nil)
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op != "MAIL" || !oe.Timeout() {
		t.Fatalf("err = %v, want a MAIL timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestIsAtom(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"rfc822", true},
		{"utf-8", true},
		{"A1!#$%&'*+-/=?^_`{|}~", true},
		{"", false},
		{"rfc 822", false},
		{"rfc.822", false},
		{"a;b", false},
		{"a\"b", false},
		{"(a)", false},
		{"a@b", false},
		{"a\r", false},
		{"\u00fctf", false},
	}
	for _, tc := range tests {
		if got := isAtom(tc.s); got != tc.want {
			t.Errorf("isAtom(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
