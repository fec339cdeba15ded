package probe

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// testCtx bounds every test: no test may hang.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startServer(t *testing.T, cfg fakeserver.Config) *fakeserver.Server {
	t.Helper()
	return fakeserver.NewTB(t, cfg)
}

// rawReply answers a command with bytes exactly as given.
func rawReply(b string) fakeserver.HandlerFunc {
	return func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.WriteRaw([]byte(b))
		return true
	}
}

// rawBanner replaces the greeting with bytes exactly as given.
func rawBanner(b string) func(*fakeserver.Session) bool {
	return func(s *fakeserver.Session) bool {
		s.WriteRaw([]byte(b))
		s.Flush()
		return true
	}
}

func TestSeedSessionCommands(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{
		Hostname:  "a.mx.jms1.net",
		Banner:    []string{"a.mx.jms1.net NO UCE ESMTP"},
		Greeting:  "NO UCE",
		EhloLines: []string{"AUTH LOGIN PLAIN", "AUTH=LOGIN PLAIN", "PIPELINING", "8BITMIME"},
	})
	d := &Dialer{LocalName: "testing"}
	c, err := d.Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Banner(); b.Code != 220 || b.Text() != "a.mx.jms1.net NO UCE ESMTP" {
		t.Errorf("banner = %v", b)
	}
	caps, err := c.Ehlo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if caps.Domain != "a.mx.jms1.net" || caps.Greeting != "NO UCE" || !caps.Pipelining || !caps.SupportsAuth("plain") || c.Capabilities() != caps {
		t.Errorf("caps = %+v", caps)
	}
	for name, call := range map[string]func() (*Reply, error){
		"NOOP": func() (*Reply, error) { return c.Noop(ctx) },
		"RSET": func() (*Reply, error) { return c.Rset(ctx) },
		"VRFY": func() (*Reply, error) { return c.Vrfy(ctx, "postmaster") },
	} {
		if r, err := call(); err != nil || r.Code/100 != 2 {
			t.Errorf("%s = %v, %v", name, r, err)
		}
	}
	r, err := c.Quit(ctx)
	if err != nil || r.Code != 221 {
		t.Errorf("QUIT = %v, %v", r, err)
	}
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wire := string(recs[0].ClientBytes)
	if !strings.HasPrefix(wire, "EHLO testing\r\n") || !strings.HasSuffix(wire, "QUIT\r\n") {
		t.Errorf("client wire = %q", wire)
	}
	if _, err := c.Noop(ctx); !errors.Is(err, net.ErrClosed) {
		t.Errorf("NOOP after QUIT: %v, want net.ErrClosed", err)
	}
	if r, err := c.Quit(ctx); r != nil || !errors.Is(err, net.ErrClosed) {
		t.Errorf("second QUIT = %v, %v; want nothing sent and net.ErrClosed", r, err)
	}
}

// replyCase is a server reply to EHLO and what the client must make of it.
type replyCase struct {
	name    string
	wire    string
	code    int      // expected reply code; 0 when an error is expected
	lines   []string // expected lines, when code != 0
	notes   []string // substrings of notes that must appear
	errType string   // "protocol" or "" for none
	usable  bool     // NOOP works afterwards
}

func TestReplyDeviations(t *testing.T) {
	long := strings.Repeat("x", 600)
	cases := []replyCase{
		{name: "multi-line", wire: "250-a\r\n250-b\r\n250 c\r\n", code: 250, lines: []string{"a", "b", "c"}, usable: true},
		{name: "bare code", wire: "250\r\n", code: 250, lines: []string{""}, usable: true},
		{name: "missing space", wire: "250ok\r\n", code: 250, lines: []string{"ok"}, notes: []string{"no space"}, usable: true},
		{name: "bare LF", wire: "250-a\n250 b\n", code: 250, lines: []string{"a", "b"}, notes: []string{"bare LF"}, usable: true},
		{name: "bare CR", wire: "250-a\r250 b\r\n", code: 250, lines: []string{"a", "b"}, notes: []string{"bare CR"}, usable: true},
		{name: "NUL byte", wire: "250 a\x00b\r\n", code: 250, lines: []string{"a\x00b"}, notes: []string{"0x00"}, usable: true},
		{name: "ESC byte", wire: "250 \x1b[31mred\r\n", code: 250, lines: []string{"\x1b[31mred"}, notes: []string{"0x1b"}, usable: true},
		{name: "non-UTF-8", wire: "250 caf\xe9\r\n", code: 250, lines: []string{"caf\xe9"}, notes: []string{"UTF-8"}, usable: true},
		{name: "over 512 octets", wire: "250 " + long + "\r\n", code: 250, lines: []string{long}, notes: []string{"exceeds RFC 5321"}, usable: true},
		{name: "mismatched codes", wire: "250-a\r\n251 b\r\n", errType: "protocol", notes: []string{"continuation line has code 251"}},
		{name: "non-digit code", wire: "2x0 nope\r\n", errType: "protocol"},
		{name: "first digit 1", wire: "150 nope\r\n", errType: "protocol"},
		{name: "first digit 6", wire: "650 nope\r\n", errType: "protocol"},
		{name: "too long", wire: "250 " + strings.Repeat("y", 20000) + "\r\n", errType: "protocol"},
		{name: "too many lines", wire: strings.Repeat("250-x\r\n", 1001) + "250 x\r\n", errType: "protocol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runReplyCase(t, tc) })
	}
}

func runReplyCase(t *testing.T, tc replyCase) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"XTEST": rawReply(tc.wire)}})
	c, err := Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	r, err := c.SendRaw(ctx, "XTEST")
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	switch tc.errType {
	case "":
		if err != nil || r.Code != tc.code || strings.Join(r.Lines, "|") != strings.Join(tc.lines, "|") {
			t.Errorf("got %v, %v; want %d %q", r, err, tc.code, tc.lines)
		}
	case "protocol":
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Step != "XTEST" {
			t.Errorf("err = %#v, want *ProtocolError at XTEST", err)
		}
	}
	transcript := c.Transcript().String()
	for _, n := range tc.notes {
		if !strings.Contains(transcript, "*  ") || !strings.Contains(transcript, n) {
			t.Errorf("transcript lacks note %q:\n%s", n, transcript)
		}
	}
	if strings.ContainsAny(strings.ReplaceAll(transcript, "\n", ""), "\x00\x1b\r") {
		t.Errorf("transcript has raw control bytes: %q", transcript)
	}
	_, err = c.Noop(ctx)
	if tc.usable != (err == nil) {
		t.Errorf("NOOP afterwards: %v, want usable=%v", err, tc.usable)
	}
}

func TestServerClosed421(t *testing.T) {
	ctx := testCtx(t)
	t.Run("greeting", func(t *testing.T) {
		srv := startServer(t, fakeserver.Config{OnConnect: rawBanner("421 4.3.2 Service shutting down\r\n")})
		_, err := Dial(ctx, srv.Addr())
		var re *ReplyError
		if !errors.As(err, &re) || re.Reply.Code != 421 || !errors.Is(err, ErrServerClosed) || !re.Temporary() || re.Command != "banner" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("after EHLO", func(t *testing.T) {
		srv := startServer(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
			"EHLO": rawReply("421 4.4.2 mail.example.test Error: timeout exceeded\r\n")}})
		c, err := Dial(ctx, srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Hello(ctx, "")
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Hello: %v", err)
		}
		_, err = c.Noop(ctx)
		var op *OpError
		var re *ReplyError
		if !errors.As(err, &op) || op.Op != "NOOP" || !errors.As(err, &re) || re.Reply.Code != 421 || !errors.Is(err, ErrServerClosed) {
			t.Errorf("NOOP after 421: %v", err)
		}
		if recs, _ := srv.WaitSessions(1, 5*time.Second); len(recs) == 1 && strings.Contains(string(recs[0].ClientBytes), "HELO") {
			t.Error("HELO fallback after 421")
		}
	})
	t.Run("unsolicited", func(t *testing.T) {
		srv := startServer(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
			"NOOP": rawReply("421 4.3.2 going away\r\n")}})
		c, err := Dial(ctx, srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.SendRaw(ctx, "NOOP")
		if err != nil || r.Code != 421 {
			t.Fatalf("SendRaw = %v, %v", r, err)
		}
		if _, err := c.Rset(ctx); !errors.Is(err, ErrServerClosed) {
			t.Errorf("RSET after 421 = %v", err)
		}
		if c.Err() == nil {
			t.Error("Err() is nil after 421")
		}
	})
}

func TestHelloFallback(t *testing.T) {
	for _, tc := range []struct {
		code     int
		fallback bool
	}{{500, true}, {502, true}, {501, false}, {504, false}, {550, false}, {554, false}, {421, false}, {451, false}} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
				"EHLO": func(s *fakeserver.Session, _ fakeserver.Command) bool { s.Reply(tc.code, "no EHLO here"); return true }}})
			c, err := Dial(ctx, srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			caps, err := c.Hello(ctx, "client.example")
			if tc.fallback {
				if err != nil || !caps.FromHELO || caps.Domain != "mail.example.test" || len(caps.Extensions) != 0 {
					t.Errorf("Hello = %+v, %v", caps, err)
				}
				return
			}
			var re *ReplyError
			if !errors.As(err, &re) || re.Reply.Code != tc.code || re.Command != "EHLO" {
				t.Errorf("Hello err = %v, want ReplyError %d", err, tc.code)
			}
		})
	}
}

func itoa(n int) string {
	return strings.TrimLeft(string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)}), "0")
}

func TestDeadlines(t *testing.T) {
	silent := fakeserver.Config{OnConnect: func(s *fakeserver.Session) bool { s.Sleep(time.Minute); return true }}
	t.Run("step timeout", func(t *testing.T) {
		srv := startServer(t, silent)
		d := &Dialer{Timeouts: Timeouts{Greeting: 100 * time.Millisecond}}
		start := time.Now()
		_, err := d.Dial(testCtx(t), srv.Addr())
		var op *OpError
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &op) || !op.Timeout() || op.Op != "banner" {
			t.Errorf("err = %v", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("took %v", el)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		srv := startServer(t, silent)
		ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
		defer cancel()
		_, err := Dial(ctx, srv.Addr())
		if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("context cancel", func(t *testing.T) {
		srv := startServer(t, silent)
		ctx, cancel := context.WithCancel(testCtx(t))
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := Dial(ctx, srv.Addr())
		if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
			t.Errorf("err = %v after %v", err, time.Since(start))
		}
	})
	t.Run("cancelled before", func(t *testing.T) {
		srv := startServer(t, fakeserver.Config{})
		c, err := Dial(testCtx(t), srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithCancel(testCtx(t))
		cancel()
		if _, err := c.Noop(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
		if _, err := c.Noop(testCtx(t)); err != nil {
			t.Errorf("NOOP with a live context after a cancelled one: %v", err)
		}
	})
	t.Run("connect refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		_, err := Dial(testCtx(t), addr)
		var op *OpError
		if !errors.As(err, &op) || op.Op != "connect" {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSendRawRefusesControlBytes(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, err := Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"NOOP\r\nRSET", "NOOP\nX", "NOOP\rX", "NO\x00OP"} {
		if _, err := c.SendRaw(ctx, line); !errors.Is(err, ErrInvalidLine) {
			t.Errorf("SendRaw(%q) = %v", line, err)
		}
		if _, err := c.Vrfy(ctx, line); !errors.Is(err, ErrInvalidLine) {
			t.Errorf("Vrfy(%q) = %v", line, err)
		}
		if _, err := c.Ehlo(ctx, line); !errors.Is(err, ErrInvalidLine) {
			t.Errorf("Ehlo(%q) = %v", line, err)
		}
	}
	if r, err := c.SendRaw(ctx, "XFOO bar"); err != nil || r.Code != 502 {
		t.Errorf("SendRaw(XFOO) = %v, %v (a 5xx is a reply, not an error)", r, err)
	}
	c.Quit(ctx)
	recs, _ := srv.WaitSessions(1, 5*time.Second)
	if got := string(recs[0].ClientBytes); got != "XFOO bar\r\nQUIT\r\n" {
		t.Errorf("wire = %q", got)
	}
}

func TestWriteRawReadReply(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, err := Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteRaw(ctx, []byte("NOOP\r\nRSET\r\n")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if r, err := c.ReadReply(ctx); err != nil || r.Code != 250 {
			t.Errorf("reply %d = %v, %v", i, r, err)
		}
	}
	tr := c.Transcript().String()
	if !strings.Contains(tr, "C: NOOP\nC: RSET\n") {
		t.Errorf("transcript:\n%s", tr)
	}
}

func TestNewConnAndLogger(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := NewConn(nc, &Dialer{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if c.NetConn() != nc {
		t.Error("NetConn")
	}
	if r, err := c.ReadBanner(ctx); err != nil || r.Code != 220 {
		t.Fatalf("banner %v %v", r, err)
	}
	c.Quit(ctx)
	if n := strings.Count(logs.String(), `"msg":"smtp"`); n != c.Transcript().Len() || n < 3 {
		t.Errorf("logged %d entries, transcript has %d", n, c.Transcript().Len())
	}
	if _, err := NewConn(nc, nil).ReadBanner(ctx); err == nil {
		t.Error("read on a closed conn succeeded")
	}
}

func TestBannerRefused(t *testing.T) {
	for _, code := range []int{554, 521, 556} {
		srv := startServer(t, fakeserver.Config{BannerCode: code, Banner: []string{"no service"}})
		_, err := Dial(testCtx(t), srv.Addr())
		var re *ReplyError
		if !errors.As(err, &re) || re.Reply.Code != code || re.Command != "banner" || re.Temporary() {
			t.Errorf("%d: err = %v", code, err)
		}
	}
}

func TestMultiLineDelayedBanner(t *testing.T) {
	srv := startServer(t, fakeserver.Config{Banner: []string{"first", "second", "mail.example.test ESMTP"}, BannerDelay: 50 * time.Millisecond})
	c, err := Dial(testCtx(t), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Banner().Lines; len(got) != 3 || got[2] != "mail.example.test ESMTP" {
		t.Errorf("banner = %q", got)
	}
}

func TestProxy(t *testing.T) {
	srv := startServer(t, fakeserver.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr())
	for _, tc := range []struct {
		name, user, pass, scheme, host, wantTarget string
	}{
		{"socks5 no auth", "", "", "socks5", "127.0.0.1", "127.0.0.1:" + port},
		{"socks5 with auth", "probe", "s3cret", "socks5", "127.0.0.1", "127.0.0.1:" + port},
		{"socks5 resolves locally", "", "", "socks5", "localhost", "127.0.0.1:" + port},
		{"socks5h resolves remotely", "probe", "s3cret", "socks5h", "localhost", "localhost:" + port},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			px := startSOCKS5(t, tc.user, tc.pass)
			u := tc.scheme + "://"
			if tc.user != "" {
				u += tc.user + ":" + tc.pass + "@"
			}
			d := &Dialer{Proxy: u + px.ln.Addr().String()}
			c, err := d.Dial(ctx, net.JoinHostPort(tc.host, port))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Ehlo(ctx, ""); err != nil {
				t.Fatal(err)
			}
			c.Quit(ctx)
			targets, authOK := px.seen()
			if len(targets) != 1 || targets[0] != tc.wantTarget {
				t.Errorf("proxy saw %q, want %q", targets, tc.wantTarget)
			}
			if (tc.user != "") != (authOK == 1) {
				t.Errorf("proxy auth count = %d", authOK)
			}
		})
	}
	t.Run("wrong proxy password", func(t *testing.T) {
		px := startSOCKS5(t, "probe", "s3cret")
		d := &Dialer{Proxy: "socks5://probe:wrong@" + px.ln.Addr().String()}
		_, err := d.Dial(testCtx(t), srv.Addr())
		var op *OpError
		if !errors.As(err, &op) || op.Op != "connect" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("proxy password never in errors", func(t *testing.T) {
		d := &Dialer{Proxy: "socks5://probe:s3cr%zzet@127.0.0.1:1"}
		_, err := d.Dial(testCtx(t), srv.Addr())
		if err == nil || strings.Contains(err.Error(), "s3cr") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad proxy URL", func(t *testing.T) {
		for _, u := range []string{"http://127.0.0.1:1", "::bad"} {
			d := &Dialer{Proxy: u}
			if _, err := d.Dial(testCtx(t), srv.Addr()); err == nil {
				t.Errorf("%q accepted", u)
			}
		}
	})
	t.Run("NetDialer", func(t *testing.T) {
		px := startSOCKS5(t, "", "")
		pd, err := proxyDialer("socks5h://"+px.ln.Addr().String(), &net.Dialer{})
		if err != nil {
			t.Fatal(err)
		}
		d := &Dialer{NetDialer: pd, Proxy: "socks5://127.0.0.1:1"}
		c, err := d.Dial(testCtx(t), srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if targets, _ := px.seen(); len(targets) != 1 {
			t.Errorf("NetDialer not used: %q", targets)
		}
	})
}

func TestProxyFromEnvironment(t *testing.T) {
	srv := startServer(t, fakeserver.Config{})
	px := startSOCKS5(t, "", "")
	t.Setenv("ALL_PROXY", "socks5h://"+px.ln.Addr().String())
	t.Setenv("NO_PROXY", "")
	d := &Dialer{ProxyFromEnvironment: true}
	c, err := d.Dial(testCtx(t), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if targets, _ := px.seen(); len(targets) != 1 {
		t.Fatalf("ALL_PROXY not used: %q", targets)
	}
	t.Setenv("NO_PROXY", "127.0.0.1")
	c, err = d.Dial(testCtx(t), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if targets, _ := px.seen(); len(targets) != 1 {
		t.Errorf("NO_PROXY ignored: %q", targets)
	}
	t.Setenv("ALL_PROXY", "ftp://nope")
	if _, err := d.Dial(testCtx(t), srv.Addr()); err == nil {
		t.Error("a bad ALL_PROXY was accepted")
	}
}

func TestSplitTarget(t *testing.T) {
	for in, want := range map[string][2]string{
		"mail.example.test":     {"mail.example.test", "mail.example.test:25"},
		"mail.example.test:587": {"mail.example.test", "mail.example.test:587"},
		"[2001:db8::1]":         {"2001:db8::1", "[2001:db8::1]:25"},
		"[2001:db8::1]:465":     {"2001:db8::1", "[2001:db8::1]:465"},
		"127.0.0.1":             {"127.0.0.1", "127.0.0.1:25"},
	} {
		h, hp := splitTarget(in, "25")
		if h != want[0] || hp != want[1] {
			t.Errorf("splitTarget(%q) = %q, %q", in, h, hp)
		}
	}
}

// TestPendingKeepsBytes: what Pending reads stays where the line
// reader sees it, even when it is more than a line reader's buffer takes
// at once (a short MaxLineLength): the rest of the batch is buffered, not
// hidden behind the reader.
func TestPendingKeepsBytes(t *testing.T) {
	ctx := testCtx(t)
	client, server := net.Pipe()
	defer server.Close()
	c := NewConn(client, &Dialer{Limits: Limits{MaxLineLength: 20}})
	defer c.Close()
	const rest = "250 second reply\r\n250 third\r\n"
	go server.Write([]byte("250 first\r\n" + rest))
	if p, err := c.Pending(ctx, 5*time.Second); err != nil || len(p) == 0 {
		t.Fatalf("Pending = %q, %v", p, err)
	}
	r, err := c.ReadReply(ctx)
	if err != nil || r.Code != 250 || r.Text() != "first" {
		t.Fatalf("reply %v, %v", r, err)
	}
	if got := string(c.lr.buffered()); got != rest {
		t.Errorf("buffered %q, want %q", got, rest)
	}
	for _, want := range []string{"second reply", "third"} {
		if r, err := c.ReadReply(ctx); err != nil || r.Text() != want {
			t.Errorf("reply %v, %v; want %q", r, err, want)
		}
	}
}
