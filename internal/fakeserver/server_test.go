package fakeserver_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func TestDefaultDialogue(t *testing.T) {
	srv := start(t, fakeserver.Config{})
	cl := dial(t, srv.Addr())
	if got := cl.expect(220); got[0] != "mail.example.test ESMTP fakeserver" {
		t.Fatalf("banner %q", got)
	}
	lines := cl.cmd("EHLO client.test", 250)
	want := []string{"mail.example.test", "PIPELINING", "SIZE 36360000", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("EHLO %q, want %q", lines, want)
	}
	cl.cmd("MAIL FROM:<a@b.test> SIZE=10 BODY=8BITMIME", 250)
	cl.cmd("RCPT TO:<x@example.test> NOTIFY=NEVER", 250)
	cl.cmd("RCPT TO:<y@EXAMPLE.TEST>", 250)
	cl.cmd("DATA", 354)
	cl.send("Subject: hi\r\n\r\n..dot\r\n..\r\nnot end\r\n.\r\n")
	if l := cl.expect(250); !strings.HasPrefix(l[0], "2.0.0 Ok: queued as ") || len(l[0]) != len("2.0.0 Ok: queued as ")+10 {
		t.Fatalf("queued reply %q", l)
	}
	cl.cmd("RSET", 250)
	cl.cmd("NOOP", 250)
	cl.cmd("VRFY bob", 252)
	cl.cmd("EXPN list", 502)
	cl.cmd("HELP", 214)
	cl.cmd("XYZZY", 502)
	cl.cmd("QUIT", 221)
	cl.expectEOF()

	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.From != "a@b.test" || !reflect.DeepEqual(m.To, []string{"x@example.test", "y@EXAMPLE.TEST"}) ||
		!reflect.DeepEqual(m.MailParams, []string{"SIZE=10", "BODY=8BITMIME"}) ||
		!reflect.DeepEqual(m.RcptParams[0], []string{"NOTIFY=NEVER"}) || m.Helo != "client.test" || m.TLS || m.BDAT {
		t.Fatalf("message %+v", m)
	}
	if string(m.Data) != "Subject: hi\r\n\r\n.dot\r\n.\r\nnot end\r\n" {
		t.Fatalf("data %q", m.Data)
	}
	rec := waitOne(t, srv)
	if !rec.Done || rec.Err != nil || rec.ClientTLSOffset != -1 {
		t.Fatalf("record %+v", rec)
	}
	if !bytes.HasPrefix(rec.ClientBytes, []byte("EHLO client.test\r\nMAIL FROM:<a@b.test>")) || !bytes.HasSuffix(rec.ClientBytes, []byte("QUIT\r\n")) {
		t.Fatalf("client bytes %q", rec.ClientBytes)
	}
	if !bytes.HasPrefix(rec.ServerBytes, []byte("220 mail.example.test ESMTP fakeserver\r\n250-mail.example.test\r\n")) ||
		!bytes.HasSuffix(rec.ServerBytes, []byte("221 2.0.0 Bye\r\n")) {
		t.Fatalf("server bytes %q", rec.ServerBytes)
	}
	wantVerbs := []string{"EHLO", "MAIL", "RCPT", "RCPT", "DATA", "RSET", "NOOP", "VRFY", "EXPN", "HELP", "XYZZY", "QUIT"}
	if !reflect.DeepEqual(rec.Verbs(), wantVerbs) {
		t.Fatalf("verbs %q", rec.Verbs())
	}
}

func TestNullSenderAndBareAddresses(t *testing.T) {
	srv := start(t, fakeserver.Config{})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("HELO c", 250)
	cl.cmd("MAIL FROM:<>", 250)
	cl.cmd("RCPT TO:<@relay.test:x@example.test>", 250)
	cl.cmd("RCPT TO:postmaster", 250)
	cl.cmd("DATA", 354)
	cl.send("x\n.\n")
	cl.expect(250)
	m, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m[0].From != "" || !reflect.DeepEqual(m[0].To, []string{"x@example.test", "postmaster"}) || string(m[0].Data) != "x\n" {
		t.Fatalf("message %+v", m[0])
	}
}

func TestSequenceAndSyntaxErrors(t *testing.T) {
	srv := start(t, fakeserver.Config{})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("MAIL FROM:<a@b>", 503)
	cl.cmd("EHLO", 501)
	cl.cmd("LHLO x", 502)
	cl.cmd("EHLO c", 250)
	cl.cmd("RCPT TO:<x@example.test>", 503)
	cl.cmd("DATA", 503)
	cl.cmd("MAIL FROM:a@b extra>", 250)
	cl.cmd("MAIL FROM:<a@b>", 503)
	cl.cmd("DATA", 503)
	cl.cmd("RCPT TO:<>", 501)
	cl.cmd("RCPT TO <x@example.test>", 501)
	cl.cmd("RCPT TO:<x@example.test", 501)
	cl.cmd("DATA junk", 501)
	cl.cmd("RSET", 250)
	cl.cmd("MAIL FROM:<a@b> SIZE=junk", 501)
	cl.cmd("MAIL FROM:<a@b> SIZE=999999999999", 552)
	cl.cmd("STARTTLS", 502)
	cl.cmd("AUTH PLAIN", 538)
	cl.cmd("VRFY", 501)
	cl.cmd("", 500)
	cl.cmd("QUIT", 221)
}

func TestRelayRejectsAndLimits(t *testing.T) {
	srv := start(t, fakeserver.Config{
		LocalDomains:     []string{"example.test", "other.test"},
		MaxRecipients:    3,
		RejectRecipients: map[string]fakeserver.Reply{"nobody@example.test": {Code: 550, Lines: []string{"5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"}}},
		CheckRecipient: func(_ *fakeserver.Session, addr string, _ []string) *fakeserver.Reply {
			if strings.HasPrefix(addr, "full@") {
				return &fakeserver.Reply{Code: 452, Lines: []string{"4.2.2 Mailbox full"}}
			}
			return nil
		},
		CheckSender: func(_ *fakeserver.Session, addr string, _ []string) *fakeserver.Reply {
			if addr == "spam@bad.test" {
				return &fakeserver.Reply{Code: 550, Lines: []string{"5.7.1 go away"}}
			}
			return nil
		},
	})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<spam@bad.test>", 550)
	cl.cmd("MAIL FROM:<a@b.test>", 250)
	if l := cl.cmd("RCPT TO:<x@elsewhere.test>", 554); l[0] != "5.7.1 <x@elsewhere.test>: Relay access denied" {
		t.Fatalf("relay reply %q", l)
	}
	cl.cmd("RCPT TO:<NOBODY@example.test>", 550)
	cl.cmd("RCPT TO:<full@example.test>", 452)
	cl.cmd("RCPT TO:<a@example.test>", 250)
	cl.cmd("RCPT TO:<b@other.test>", 250)
	cl.cmd("RCPT TO:<c@example.test.>", 250)
	if l := cl.cmd("RCPT TO:<d@example.test>", 452); l[0] != "4.5.3 Error: too many recipients" {
		t.Fatalf("limit reply %q", l)
	}
}

func TestPipeliningRoundTrips(t *testing.T) {
	srv := start(t, fakeserver.Config{})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	live := srv.LiveSessions()[0]
	f0, r0 := live.Flushes(), live.ClientReads()
	batch := "MAIL FROM:<a@b.test>\r\n"
	for i := range 5 {
		batch += "RCPT TO:<r" + string(rune('0'+i)) + "@example.test>\r\n"
	}
	cl.send(batch + "DATA\r\n")
	for range 6 {
		cl.expect(250)
	}
	cl.expect(354)
	if f, r := live.Flushes()-f0, live.ClientReads()-r0; f != 1 || r != 1 {
		t.Fatalf("MAIL+5 RCPT+DATA: %d flushes, %d reads; want 1, 1", f, r)
	}
	cl.send("body\r\n.\r\nQUIT\r\n")
	cl.expect(250)
	cl.expect(221)
	rec := waitOne(t, srv)
	if rec.Flushes != 4 || rec.ClientReads != 3 {
		t.Fatalf("session: %d flushes, %d reads; want 4, 3", rec.Flushes, rec.ClientReads)
	}
}

func TestBDAT(t *testing.T) {
	srv := start(t, fakeserver.Config{})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.send("BDAT 5\r\nhello")
	cl.expect(503)
	cl.cmd("MAIL FROM:<a@b.test> BODY=BINARYMIME", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.send("BDAT 7\r\nline\r\n.")
	if l := cl.expect(250); l[0] != "2.0.0 Ok: 7 bytes received" {
		t.Fatalf("chunk reply %q", l)
	}
	cl.cmd("DATA", 503)
	cl.send("BDAT 3 LAST\r\n\r\nx")
	cl.expect(250)
	cl.cmd("BDAT", 501)
	cl.cmd("BDAT 1 FIRST", 501)
	cl.cmd("BDAT -1", 501)
	cl.cmd("MAIL FROM:<a@b.test>", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.cmd("BDAT 0 LAST", 250)
	msgs, err := srv.WaitMessages(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(msgs[0].Data) != "line\r\n.\r\nx" || !msgs[0].BDAT || len(msgs[1].Data) != 0 {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestBDATNotAdvertised(t *testing.T) {
	srv := start(t, fakeserver.Config{EhloLines: []string{"PIPELINING"}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	if l := cl.cmd("EHLO c", 250); len(l) != 2 {
		t.Fatalf("EHLO %q", l)
	}
	cl.cmd("BDAT 0 LAST", 502)
}

func TestMessageSizeLimit(t *testing.T) {
	srv := start(t, fakeserver.Config{MaxMessageSize: 100})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<a@b.test> SIZE=101", 552)
	cl.cmd("MAIL FROM:<a@b.test>", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.cmd("DATA", 354)
	cl.send(strings.Repeat("0123456789\r\n", 20) + ".\r\n")
	cl.expect(552)
	cl.cmd("MAIL FROM:<a@b.test>", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.send("BDAT 101 LAST\r\n" + strings.Repeat("x", 101))
	cl.expect(552)
	cl.cmd("NOOP", 250)
	if n := srv.MessageCount(); n != 0 {
		t.Fatalf("%d messages accepted", n)
	}
}

func TestLongCommandLine(t *testing.T) {
	srv := start(t, fakeserver.Config{})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("NOOP "+strings.Repeat("x", fakeserver.MaxLineLength+10), 500)
	cl.cmd("NOOP", 250)
}

func TestLMTP(t *testing.T) {
	srv := start(t, fakeserver.Config{
		LMTP:             true,
		RejectRecipients: map[string]fakeserver.Reply{"bad@example.test": {Code: 550, Lines: []string{"5.1.1 unknown"}}},
		DataReply: func(_ *fakeserver.Session, m *fakeserver.Message, rcpt string) fakeserver.Reply {
			if rcpt == "full@example.test" {
				return fakeserver.Reply{Code: 452, Lines: []string{"4.2.2 <" + rcpt + "> Mailbox full"}}
			}
			return fakeserver.Reply{Code: 250, Lines: []string{"2.0.0 <" + rcpt + "> Saved " + m.QueueID}}
		},
	})
	cl := dial(t, srv.Addr())
	if l := cl.expect(220); !strings.Contains(l[0], "LMTP") {
		t.Fatalf("banner %q", l)
	}
	cl.cmd("EHLO c", 502)
	cl.cmd("HELO c", 502)
	cl.cmd("LHLO c", 250)
	cl.cmd("MAIL FROM:<a@b.test>", 250)
	cl.cmd("RCPT TO:<ok@example.test>", 250)
	cl.cmd("RCPT TO:<bad@example.test>", 550)
	cl.cmd("RCPT TO:<full@example.test>", 250)
	cl.cmd("DATA", 354)
	cl.send("hi\r\n.\r\n")
	if l := cl.expect(250); !strings.Contains(l[0], "<ok@example.test>") {
		t.Fatalf("first LMTP reply %q", l)
	}
	cl.expect(452)
	cl.cmd("MAIL FROM:<a@b.test>", 250)
	cl.cmd("RCPT TO:<ok@example.test>", 250)
	cl.send("BDAT 2 LAST\r\nhi")
	cl.expect(250)
	msgs, err := srv.WaitMessages(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(msgs[0].To, []string{"ok@example.test", "full@example.test"}) || !msgs[1].BDAT {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestHELOOnly(t *testing.T) {
	srv := start(t, fakeserver.Config{RefuseEHLO: 500, Greeting: "hi"})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 500)
	cl.cmd("MAIL FROM:<a@b>", 503)
	if l := cl.cmd("HELO c", 250); l[0] != "mail.example.test" {
		t.Fatalf("HELO reply %q", l)
	}
	cl.cmd("MAIL FROM:<a@b>", 250)
	cl.cmd("AUTH PLAIN", 503)
}

func TestBannerOptions(t *testing.T) {
	srv := start(t, fakeserver.Config{
		Hostname:    "mx.test",
		Banner:      []string{"one", "two", "three"},
		BannerDelay: 20 * time.Millisecond,
		Greeting:    "at your service",
	})
	cl := dial(t, srv.Addr())
	t0 := time.Now()
	if l := cl.expect(220); !reflect.DeepEqual(l, []string{"one", "two", "three"}) {
		t.Fatalf("banner %q", l)
	}
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Fatalf("banner took %v", d)
	}
	if l := cl.cmd("EHLO c", 250); l[0] != "mx.test at your service" {
		t.Fatalf("EHLO %q", l)
	}
	cl.cmd("QUIT", 221)
	if rec := waitOne(t, srv); rec.Flushes < 4 {
		t.Fatalf("banner lines flushed %d times", rec.Flushes)
	}
}

func TestBannerCodes(t *testing.T) {
	srv := start(t, fakeserver.Config{BannerCode: 554, Banner: []string{"5.3.2 no service"}})
	cl := dial(t, srv.Addr())
	cl.expect(554)
	cl.cmd("EHLO c", 503)
	cl.cmd("QUIT", 221)
	cl.expectEOF()

	srv2 := start(t, fakeserver.Config{BannerCode: 421, Banner: []string{"4.3.2 busy"}})
	cl2 := dial(t, srv2.Addr())
	cl2.expect(421)
	cl2.expectEOF()
}

func TestWaitTimeout(t *testing.T) {
	srv := start(t, fakeserver.Config{})
	dial(t, srv.Addr())
	if _, err := srv.WaitSessions(1, 50*time.Millisecond); err == nil {
		t.Fatal("WaitSessions did not time out")
	}
	if _, err := srv.WaitMessages(1, 10*time.Millisecond); err == nil {
		t.Fatal("WaitMessages did not time out")
	}
}

func TestNoRecord(t *testing.T) {
	srv := start(t, fakeserver.Config{NoRecord: true})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	cl.cmd("MAIL FROM:<a@b.test>", 250)
	cl.cmd("RCPT TO:<x@example.test>", 250)
	cl.cmd("DATA", 354)
	cl.send("x\r\n.\r\n")
	cl.expect(250)
	cl.cmd("QUIT", 221)
	rec := waitOne(t, srv)
	if len(rec.ClientBytes) != 0 || len(rec.Commands) != 0 || rec.Flushes == 0 || srv.MessageCount() != 1 || len(srv.Messages()) != 0 {
		t.Fatalf("NoRecord record %+v", rec)
	}
}

func TestMaxRecord(t *testing.T) {
	srv := start(t, fakeserver.Config{MaxRecord: 10})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO client.test", 250)
	cl.cmd("QUIT", 221)
	rec := waitOne(t, srv)
	if !rec.Truncated || len(rec.ClientBytes) != 10 || len(rec.ServerBytes) != 10 {
		t.Fatalf("record %+v", rec)
	}
}
