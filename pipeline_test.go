package probe

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

func TestSendPipelinedOneRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, cc := dialMail(t, ctx, srv, nil)
	if !c.Capabilities().Pipelining {
		t.Fatal("fakeserver did not advertise PIPELINING")
	}
	to := []string{"r1@example.test", "r2@example.test", "r3@example.test", "r4@example.test", "r5@example.test"}
	live := srv.LiveSessions()[0]
	writes, reads := cc.writes.Load(), cc.reads.Load()
	flushes, clientReads := live.Flushes(), live.ClientReads()

	// Stop the body at the first read: by then the envelope's replies
	// must all have been read, so the counters cover exactly the batch.
	body := &probeReader{r: strings.NewReader("Subject: hi\r\n\r\nhello\r\n"), onFirst: func() {
		writes, reads = cc.writes.Load()-writes, cc.reads.Load()-reads
		flushes, clientReads = live.Flushes()-flushes, live.ClientReads()-clientReads
	}}
	res, err := c.Send(ctx, Envelope{From: "a@example.test", To: to, Body: body})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if writes != 1 || reads != 1 {
		t.Errorf("client made %d writes and %d reads for MAIL + 5 RCPT + DATA, want 1 and 1", writes, reads)
	}
	if flushes != 1 || clientReads != 1 {
		t.Errorf("server made %d flushes and %d reads, want 1 and 1", flushes, clientReads)
	}
	if !res.Pipelined || res.Mail.Code != 250 || res.Data.Code != 354 || res.Final.Code != 250 {
		t.Errorf("result %+v", res)
	}
	for i, r := range res.Recipients {
		if r.Address != to[i] || r.Rcpt.Code != 250 || r.Final != res.Final || !r.Delivered() {
			t.Errorf("recipient %d: %+v", i, r)
		}
	}
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(msgs[0].To, to) || string(msgs[0].Data) != "Subject: hi\r\n\r\nhello\r\n" || res.QueueID() != msgs[0].QueueID {
		t.Errorf("message %+v, queue id %q", msgs[0], res.QueueID())
	}
	wantWire := "MAIL FROM:<a@example.test>\r\n"
	for _, r := range to {
		wantWire += "RCPT TO:<" + r + ">\r\n"
	}
	wantWire += "DATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\n"
	if got := string(srv.Sessions()[0].ClientBytes); !strings.Contains(got, "EHLO client.example.test\r\n"+wantWire) {
		t.Errorf("wire %q", got)
	}
}

// probeReader calls onFirst before its first Read.
type probeReader struct {
	r       *strings.Reader
	onFirst func()
}

func (p *probeReader) Read(b []byte) (int, error) {
	if p.onFirst != nil {
		p.onFirst()
		p.onFirst = nil
	}
	return p.r.Read(b)
}

func TestSendRecipientResults(t *testing.T) {
	unknown := fakeserver.Reply{Code: 550, Lines: []string{"5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"}}
	cfg := fakeserver.Config{RejectRecipients: map[string]fakeserver.Reply{"nobody@example.test": unknown}}
	tests := []struct {
		name       string
		noPipe     bool
		to         []string
		wantCodes  []int
		wantErr    error // nil, ErrNoRecipients
		wantVerbs  string
		wantDataNo bool // no DATA reply
	}{
		{"one unknown among accepted", false, []string{"a@example.test", "nobody@example.test", "b@example.test"},
			[]int{250, 550, 250}, nil, "EHLO MAIL RCPT RCPT RCPT DATA", false},
		{"relay denied", true, []string{"a@example.test", "victim@elsewhere.test"},
			[]int{250, 554}, nil, "EHLO MAIL RCPT RCPT DATA", false},
		{"all refused, lock-step: DATA not sent", true, []string{"nobody@example.test", "victim@elsewhere.test"},
			[]int{550, 554}, ErrNoRecipients, "EHLO MAIL RCPT RCPT", true},
		{"all refused, pipelined: no body", false, []string{"nobody@example.test", "victim@elsewhere.test"},
			[]int{550, 554}, ErrNoRecipients, "EHLO MAIL RCPT RCPT DATA", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, cfg)
			c, _ := dialMail(t, ctx, srv, nil)
			res, err := c.Send(ctx, Envelope{From: "s@example.test", To: tc.to, NoPipelining: tc.noPipe,
				Body: strings.NewReader("secret-text\n")})
			if tc.wantErr == nil && err != nil {
				t.Fatalf("Send: %v", err)
			}
			if tc.wantErr != nil {
				var re *ReplyError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &re) || re.Command != "RCPT" || re.Reply.Code != tc.wantCodes[0] {
					t.Fatalf("err = %v, want %v with the first refusal", err, tc.wantErr)
				}
			}
			for i, r := range res.Recipients {
				if r.Rcpt.Code != tc.wantCodes[i] || r.Accepted() != (tc.wantCodes[i] == 250) {
					t.Errorf("recipient %d: %q", i, r.Rcpt)
				}
				if r.Accepted() != r.Delivered() {
					t.Errorf("recipient %d: accepted %v, delivered %v (final %q)", i, r.Accepted(), r.Delivered(), r.Final)
				}
			}
			if (res.Data == nil) != tc.wantDataNo {
				t.Errorf("DATA reply %q", res.Data)
			}
			if _, err := c.Quit(ctx); err != nil {
				t.Fatal(err)
			}
			recs, err := srv.WaitSessions(1, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(recs[0].Verbs(), " "); got != tc.wantVerbs+" QUIT" {
				t.Errorf("server saw %s, want %s QUIT", got, tc.wantVerbs)
			}
			if tc.wantErr != nil && bytes.Contains(recs[0].ClientBytes, []byte("secret-text")) {
				t.Error("the body was sent although no recipient was accepted")
			}
		})
	}
}

func TestSendRelayDeniedReply(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, _ := dialMail(t, ctx, srv, nil)
	res, err := c.Send(ctx, Envelope{From: "s@example.test", To: []string{"v@elsewhere.test"}})
	if !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("err = %v", err)
	}
	r := res.Recipients[0].Rcpt
	if r.Code != 554 || r.Enhanced != (EnhancedCode{5, 7, 1}) || r.Text() != "5.7.1 <v@elsewhere.test>: Relay access denied" {
		t.Errorf("reply %q", r)
	}
	if res.Data == nil || res.Data.Code != 503 || res.Final != nil {
		t.Errorf("DATA %q, final %q", res.Data, res.Final)
	}
	want := "smtp RCPT: no recipient was accepted; first refusal: 554 5.7.1 <v@elsewhere.test>: Relay access denied"
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
}

func TestSendBDATEmptyBody(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, _ := dialMail(t, ctx, srv, nil)
	res, err := c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test"}, UseBDAT: true, ChunkSize: 1 << 40})
	if err != nil || res.Final.Code != 250 {
		t.Fatalf("%+v, %v", res, err)
	}
	if got := lastCommand(t, srv); got != "BDAT 0 LAST\r\n" {
		t.Errorf("last command %q", got)
	}
}

func TestSendEmptyDataAfterUnwarranted354(t *testing.T) {
	ctx := testCtx(t)
	// A broken server that says 354 to DATA without recipients.
	srv := startServer(t, fakeserver.Config{
		RejectRecipients: map[string]fakeserver.Reply{"b@example.test": {Code: 550, Lines: []string{"5.1.1 unknown"}}},
		Handlers:         seedHandlers("250 ok", "550 5.1.1 unknown", "354 go ahead", "554 5.5.1 no valid recipients"),
	})
	c, _ := dialMail(t, ctx, srv, nil)
	res, err := c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test"}, Body: strings.NewReader("secret body\n")})
	if !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("err = %v", err)
	}
	if !res.EmptyDataSent || res.Data.Code != 354 || res.Final == nil || res.Final.Code != 554 {
		t.Errorf("result %+v", res)
	}
	if _, err := c.Noop(ctx); err != nil {
		t.Fatalf("session out of step: %v", err)
	}
	c.Quit(ctx)
	recs, _ := srv.WaitSessions(1, 5*time.Second)
	if got := string(recs[0].ClientBytes); !strings.Contains(got, "DATA\r\n.\r\nNOOP\r\n") || strings.Contains(got, "secret") {
		t.Errorf("wire %q", got)
	}
}

func TestSendMailRefused(t *testing.T) {
	for _, noPipe := range []bool{false, true} {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{CheckSender: func(*fakeserver.Session, string, []string) *fakeserver.Reply {
			return &fakeserver.Reply{Code: 553, Lines: []string{"5.7.1 Sender address rejected"}}
		}})
		c, _ := dialMail(t, ctx, srv, nil)
		res, err := c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test"}, NoPipelining: noPipe})
		var re *ReplyError
		if !errors.As(err, &re) || re.Command != "MAIL" || re.Reply.Code != 553 || res.Mail != re.Reply {
			t.Fatalf("pipelining %v: err = %v", !noPipe, err)
		}
		if noPipe && res.Recipients[0].Rcpt != nil {
			t.Error("RCPT sent after a refused MAIL in lock-step")
		}
		if _, err := c.Noop(ctx); err != nil {
			t.Fatalf("session out of step: %v", err)
		}
	}
}

func TestSendRefusesBadEnvelope(t *testing.T) {
	tests := []struct {
		name   string
		env    Envelope
		wantOp string
	}{
		{"no recipients", Envelope{From: "a@x"}, "RCPT"},
		{"bad sender", Envelope{From: "a\r\n@x", To: []string{"b@x"}}, "MAIL"},
		{"bad second recipient", Envelope{From: "a@x", To: []string{"b@x", "c d@x"}}, "RCPT"},
		{"options count", Envelope{From: "a@x", To: []string{"b@x", "c@x", "d@x"}, RcptOptions: []*RcptOptions{nil, nil}}, "RCPT"},
		{"bad option", Envelope{From: "a@x", To: []string{"b@x"}, RcptOptions: []*RcptOptions{{Notify: []DSNNotify{"X"}}}}, "RCPT"},
	}
	for _, tc := range tests {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{})
		c, _ := dialMail(t, ctx, srv, nil)
		_, err := c.Send(ctx, tc.env)
		var oe *OpError
		if !errors.As(err, &oe) || oe.Op != tc.wantOp || !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if _, err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(srv.Sessions()[0].Verbs(), " "); got != "EHLO NOOP" {
			t.Errorf("%s: server saw %s", tc.name, got)
		}
	}
}

func TestSendRcptOptionsPerRecipient(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, _ := dialMail(t, ctx, srv, nil)
	_, err := c.Send(ctx, Envelope{
		From: "a@example.test", To: []string{"b@example.test", "c@example.test"},
		MailOptions: &MailOptions{Body: Body8BitMIME, EnvelopeID: "id 1"},
		RcptOptions: []*RcptOptions{{Notify: []DSNNotify{NotifyNever}}, nil},
		Body:        strings.NewReader("x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := srv.WaitMessages(1, 5*time.Second)
	m := msgs[0]
	if !slices.Equal(m.MailParams, []string{"BODY=8BITMIME", "ENVID=id+201"}) ||
		!slices.Equal(m.RcptParams[0], []string{"NOTIFY=NEVER"}) || len(m.RcptParams[1]) != 0 {
		t.Errorf("params %q %q", m.MailParams, m.RcptParams)
	}
}

func TestSendOutOfStepReplies(t *testing.T) {
	tests := []struct {
		name string
		step fakeserver.Step
		key  string
	}{
		// An extra 250 after MAIL shifts every reply by one: DATA is then
		// answered by the last RCPT's 250.
		{"extra reply after MAIL", fakeserver.Step{After: []byte("250 2.0.0 unsolicited\r\n")}, "MAIL"},
		// An extra reply after 354 arrives before the body is sent.
		{"extra reply after 354", fakeserver.Step{After: []byte("250 2.0.0 surprise\r\n")}, "DATA"},
		// A 354 where a RCPT reply belongs.
		{"354 to RCPT", fakeserver.Step{Raw: []byte("354 go ahead\r\n")}, "RCPT#2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{tc.key: tc.step}})
			c, _ := dialMail(t, ctx, srv, nil)
			_, err := c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test", "c@example.test"},
				Body: strings.NewReader("must not be sent\n")})
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ProtocolError", err)
			}
			t.Logf("detected: %v", err)
			if c.Err() == nil {
				t.Error("session goes on with replies out of step")
			}
			srv.WaitSessions(1, 5*time.Second)
			if bytes.Contains(srv.Sessions()[0].ClientBytes, []byte("must not be sent")) {
				t.Error("body sent although the replies were out of step")
			}
		})
	}
}

func TestPipelineRaw(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, cc := dialMail(t, ctx, srv, nil)
	writes := cc.writes.Load()
	replies, err := c.Pipeline(ctx, "NOOP", "MAIL FROM:<a@example.test>", "RCPT TO:<x@elsewhere.test>", "RSET", "BOGUS")
	if err != nil {
		t.Fatal(err)
	}
	if n := cc.writes.Load() - writes; n != 1 {
		t.Errorf("%d writes", n)
	}
	var codes []int
	for _, r := range replies {
		codes = append(codes, r.Code)
	}
	if !slices.Equal(codes, []int{250, 250, 554, 250, 502}) {
		t.Errorf("codes %v", codes)
	}
	if _, err := c.Pipeline(ctx, "NOOP", "NO\r\nOP"); !errors.Is(err, ErrInvalidLine) {
		t.Errorf("line with CRLF: %v", err)
	}
	if r, err := c.Pipeline(ctx); r != nil || err != nil {
		t.Errorf("empty pipeline: %v %v", r, err)
	}
}

func TestPipelineMissingAndExtraReplies(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{"NOOP#2": {Raw: []byte{}}}})
		c, _ := dialMail(t, ctx, srv, &Dialer{Timeouts: Timeouts{Command: 200 * time.Millisecond}})
		start := time.Now()
		replies, err := c.Pipeline(ctx, "NOOP", "NOOP", "NOOP")
		var oe *OpError
		if !errors.As(err, &oe) || !oe.Timeout() || oe.Op != "NOOP" || len(replies) != 2 {
			t.Fatalf("replies %d, err = %v", len(replies), err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("extra", func(t *testing.T) {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{"NOOP#1": {After: []byte("250 extra\r\n")}}})
		c, _ := dialMail(t, ctx, srv, nil)
		replies, err := c.Pipeline(ctx, "NOOP", "NOOP")
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Step != "pipeline" || len(replies) != 2 {
			t.Fatalf("replies %d, err = %v", len(replies), err)
		}
		if replies[1].Text() != "extra" || pe.Line != "250 2.0.0 Ok" {
			t.Errorf("second reply %q, leftover %q", replies[1], pe.Line)
		}
	})
}

func TestSendBDAT(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		ctx := testCtx(t)
		cfg := fakeserver.Config{}
		if !pipelining {
			cfg.EhloLines = []string{"CHUNKING", "BINARYMIME"}
		}
		srv := startServer(t, cfg)
		c, cc := dialMail(t, ctx, srv, nil)
		body := []byte("binary\r\n.\r\n\x00\xff bare\rCR and\nLF")
		writes := cc.writes.Load()
		res, err := c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test"},
			Body: bytes.NewReader(body), UseBDAT: true, ChunkSize: 10,
			MailOptions: &MailOptions{Body: BodyBinaryMIME}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Data != nil || res.Final.Code != 250 || !res.Recipients[0].Delivered() || res.Pipelined != pipelining {
			t.Errorf("result %+v", res)
		}
		// The envelope (one write pipelined, two in lock-step), then one
		// write per chunk, header and data together.
		chunks := int32(len(body)/10 + 1)
		wantWrites := 1 + chunks
		if !pipelining {
			wantWrites = 2 + chunks
		}
		if n := cc.writes.Load() - writes; n != wantWrites {
			t.Errorf("pipelining %v: %d writes, want %d", pipelining, n, wantWrites)
		}
		msgs, _ := srv.WaitMessages(1, 5*time.Second)
		if !bytes.Equal(msgs[0].Data, body) || !msgs[0].BDAT {
			t.Errorf("arrived %q", msgs[0].Data)
		}
	}
}

func TestBdatChunks(t *testing.T) {
	tests := []struct {
		size, chunk int
		want        []string
	}{
		{0, 4, []string{"0 LAST"}},
		{3, 4, []string{"3 LAST"}},
		{8, 4, []string{"4", "4", "0 LAST"}},
		{10, 4, []string{"4", "4", "2 LAST"}},
		{5, 0, []string{"5 LAST"}},
	}
	for _, tc := range tests {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{})
		c, _ := dialMail(t, ctx, srv, nil)
		c.Mail(ctx, "a@example.test", nil)
		c.Rcpt(ctx, "b@example.test", nil)
		body := bytes.Repeat([]byte{'.'}, tc.size)
		r, err := c.Bdat(ctx, bytes.NewReader(body), tc.chunk)
		if err != nil || r.Code != 250 {
			t.Fatalf("%d/%d: %q, %v", tc.size, tc.chunk, r, err)
		}
		var args []string
		for _, cmd := range srv.Sessions()[0].Commands {
			if cmd.Verb == "BDAT" {
				args = append(args, cmd.Arg)
			}
		}
		if !slices.Equal(args, tc.want) {
			t.Errorf("%d/%d: BDAT %q, want %q", tc.size, tc.chunk, args, tc.want)
		}
		msgs, _ := srv.WaitMessages(1, 5*time.Second)
		if !bytes.Equal(msgs[0].Data, body) {
			t.Errorf("arrived %q", msgs[0].Data)
		}
	}
}

// refuseChunk answers the n-th BDAT chunk with 552, reading its bytes.
func refuseChunk(n int) fakeserver.HandlerFunc {
	seen := 0
	return func(s *fakeserver.Session, cmd fakeserver.Command) bool {
		seen++
		size, _ := strconv.Atoi(strings.Fields(cmd.Arg)[0])
		s.ReadFull(size)
		if seen == n {
			s.Reply(552, "5.3.4 Message too big")
		} else {
			s.Reply(250, "2.0.0 "+strconv.Itoa(size)+" bytes")
		}
		return true
	}
}

func TestBdatChunkRefused(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		ctx := testCtx(t)
		cfg := fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"BDAT": refuseChunk(2)}}
		if !pipelining {
			cfg.EhloLines = []string{"CHUNKING"}
		}
		srv := startServer(t, cfg)
		c, _ := dialMail(t, ctx, srv, &Dialer{RecordBody: true})
		c.Mail(ctx, "a@example.test", nil)
		c.Rcpt(ctx, "b@example.test", nil)
		r, err := c.Bdat(ctx, bytes.NewReader(bytes.Repeat([]byte("z"), 100)), 10)
		var re *ReplyError
		if !errors.As(err, &re) || re.Command != "BDAT" || re.Reply.Code != 552 || r != re.Reply {
			t.Fatalf("err = %v", err)
		}
		if _, err := c.Rset(ctx); err != nil {
			t.Fatalf("pipelining %v: session out of step: %v", pipelining, err)
		}
		var args []string
		for _, cmd := range srv.Sessions()[0].Commands {
			if cmd.Verb == "BDAT" {
				args = append(args, cmd.Arg)
			}
		}
		if slices.Contains(args, "0 LAST") || slices.Contains(args, "10 LAST") {
			t.Errorf("LAST sent after a refusal: %q", args)
		}
		if !pipelining && len(args) != 2 {
			t.Errorf("lock-step sent %d chunks, want 2", len(args))
		}
	}
}

func TestLMTP(t *testing.T) {
	perRcpt := func(_ *fakeserver.Session, _ *fakeserver.Message, rcpt string) fakeserver.Reply {
		if rcpt == "full@example.test" {
			return fakeserver.Reply{Code: 452, Lines: []string{"4.2.2 <" + rcpt + "> Mailbox full"}}
		}
		return fakeserver.Reply{Code: 250, Lines: []string{"2.0.0 <" + rcpt + "> Saved"}}
	}
	to := []string{"a@example.test", "nobody@example.test", "full@example.test", "b@example.test"}
	cfg := fakeserver.Config{LMTP: true, DataReply: perRcpt,
		RejectRecipients: map[string]fakeserver.Reply{"nobody@example.test": {Code: 550, Lines: []string{"5.1.1 unknown"}}}}
	want := []string{"2.0.0 <a@example.test> Saved", "", "4.2.2 <full@example.test> Mailbox full", "2.0.0 <b@example.test> Saved"}

	for _, bdat := range []bool{false, true} {
		ctx := testCtx(t)
		srv := startServer(t, cfg)
		c, _ := dialMail(t, ctx, srv, &Dialer{LMTP: true})
		res, err := c.Send(ctx, Envelope{From: "s@example.test", To: to, Body: strings.NewReader("hi\n"), UseBDAT: bdat})
		var re *ReplyError
		if !errors.As(err, &re) || re.Reply.Code != 452 || res.Final != re.Reply {
			t.Fatalf("bdat %v: err = %v", bdat, err)
		}
		for i, r := range res.Recipients {
			if r.Final.Text() != want[i] {
				t.Errorf("bdat %v: recipient %d final %q, want %q", bdat, i, r.Final, want[i])
			}
		}
		if _, err := c.Noop(ctx); err != nil {
			t.Fatalf("bdat %v: session out of step: %v", bdat, err)
		}
		if got := srv.Sessions()[0].Commands[0].Verb; got != "LHLO" {
			t.Errorf("greeting verb %s", got)
		}
	}
}

func TestDataLMTPAndBdatLMTP(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{LMTP: true})
	c, _ := dialMail(t, ctx, srv, &Dialer{LMTP: true})
	for round, send := range []func() ([]*Reply, error){
		func() ([]*Reply, error) { return c.DataLMTP(ctx, strings.NewReader("x"), 0) },
		func() ([]*Reply, error) { return c.BdatLMTP(ctx, strings.NewReader("x"), 0, 0) },
	} {
		c.Mail(ctx, "s@example.test", nil)
		c.Rcpt(ctx, "a@example.test", nil)
		c.Rcpt(ctx, "b@example.test", nil)
		replies, err := send()
		if err != nil || len(replies) != 2 {
			t.Fatalf("round %d: %d replies, %v", round, len(replies), err)
		}
		for i, rc := range []string{"a@example.test", "b@example.test"} {
			if !strings.HasPrefix(replies[i].Text(), "2.0.0 <"+rc+"> Ok: queued as ") || replies[i].QueueID() == "" {
				t.Errorf("round %d reply %d: %q", round, i, replies[i])
			}
		}
	}
	// Data on an LMTP Conn reads every reply and stays in step.
	c.Mail(ctx, "s@example.test", nil)
	c.Rcpt(ctx, "a@example.test", nil)
	c.Rcpt(ctx, "b@example.test", nil)
	if r, err := c.Data(ctx, strings.NewReader("y")); err != nil || !strings.Contains(r.Text(), "<a@example.test>") {
		t.Fatalf("Data: %q %v", r, err)
	}
	if _, err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFitsCommand(t *testing.T) {
	tests := []struct {
		step string
		code int
		want bool
	}{
		{"MAIL", 250, true}, {"RCPT", 251, true}, {"RCPT", 252, true}, {"RCPT", 452, true}, {"MAIL", 553, true},
		{"MAIL", 220, false}, {"RCPT", 221, false}, {"RCPT", 354, false}, {"MAIL", 334, false},
		{"DATA", 354, true}, {"DATA", 503, true}, {"DATA", 451, true}, {"DATA", 250, false}, {"DATA", 600, false},
	}
	for _, tc := range tests {
		if got := fitsCommand(tc.step, tc.code); got != tc.want {
			t.Errorf("fitsCommand(%s, %d) = %v", tc.step, tc.code, got)
		}
	}
}

// closeAtRcpt answers RCPT TO:<to> with 421, and the others as usual.
func closeAtRcpt(to string) map[string]fakeserver.HandlerFunc {
	return map[string]fakeserver.HandlerFunc{"RCPT": func(s *fakeserver.Session, cmd fakeserver.Command) bool {
		if !strings.Contains(cmd.Arg, "<"+to+">") {
			return false
		}
		s.Reply(421, "4.3.2 Shutting down")
		return true
	}}
}

// stepOf is the step an error names: the outer *OpError's, else the
// *ReplyError's command.
func stepOf(err error) string {
	var oe *OpError
	if errors.As(err, &oe) {
		return oe.Op
	}
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Command
	}
	return ""
}

// TestSend421AtRcpt: a 421 to a RCPT ends the transaction at RCPT; the
// RCPTs after it are not taken for refusals and the failure is not
// reported at DATA.
func TestSend421AtRcpt(t *testing.T) {
	to := []string{"r1@example.test", "r2@example.test", "r3@example.test"}
	tests := []struct {
		name         string
		closeAt      string
		noPipelining bool
		wantRcpts    []int // codes, 0 for not sent
	}{
		{"lock-step, middle", "r2@example.test", true, []int{250, 421, 0}},
		{"lock-step, last", "r3@example.test", true, []int{250, 250, 421}},
		{"pipelined, last", "r3@example.test", false, []int{250, 250, 421}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{Handlers: closeAtRcpt(tt.closeAt)})
			c, _ := dialMail(t, ctx, srv, nil)
			res, err := c.Send(ctx, Envelope{From: "a@example.test", To: to,
				Body: strings.NewReader("hi\r\n"), NoPipelining: tt.noPipelining})
			if !errors.Is(err, ErrServerClosed) || stepOf(err) != "RCPT" {
				t.Fatalf("err = %v (step %q), want a 421 at RCPT", err, stepOf(err))
			}
			if !errors.Is(c.Err(), ErrServerClosed) || res.Data != nil || res.Final != nil {
				t.Errorf("Conn error %v, data %v, final %v", c.Err(), res.Data, res.Final)
			}
			for i, want := range tt.wantRcpts {
				got := 0
				if r := res.Recipients[i].Rcpt; r != nil {
					got = r.Code
				}
				if got != want {
					t.Errorf("recipient %d: RCPT reply %d, want %d", i, got, want)
				}
			}
		})
	}
}

// TestSendQuit: with Envelope.Quit and PIPELINING, QUIT leaves in the same
// write as the final "." (one round trip less), both replies are read and
// the Conn is closed; without PIPELINING QUIT follows the final reply.
func TestSendQuit(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining %v", pipelining), func(t *testing.T) {
			ctx := testCtx(t)
			cfg := fakeserver.Config{}
			if !pipelining {
				cfg.EhloLines = []string{"8BITMIME"}
			}
			srv := startServer(t, cfg)
			c, err := hostileDial(t, ctx, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Ehlo(ctx, ""); err != nil {
				t.Fatal(err)
			}
			res, err := c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test"},
				Body: strings.NewReader("Subject: x\r\n\r\nhi\r\n"), Quit: true})
			if err != nil || !res.Final.Positive() || res.Quit == nil || res.Quit.Code != 221 {
				t.Fatalf("Send = %+v, %v", res, err)
			}
			if c.Err() == nil {
				t.Error("the Conn is still open")
			}
			wire := string(clientBytes(t, c, srv).ClientBytes)
			if !strings.HasSuffix(wire, "hi\r\n.\r\nQUIT\r\n") {
				t.Fatalf("client sent %q", wire)
			}
			tr := c.Transcript().String()
			if n := strings.Count(tr, "S: 250 2.0.0 Ok: queued"); n != 1 {
				t.Errorf("%d final replies in the transcript", n)
			}
			// With PIPELINING QUIT left before the final reply came.
			if before := strings.Index(tr, "C: QUIT") < strings.Index(tr, "S: 250 2.0.0 Ok: queued"); before != pipelining {
				t.Errorf("QUIT before the final reply: %v, want %v\n%s", before, pipelining, tr)
			}
			entries := c.Transcript().Entries()
			var sent []string
			for _, e := range entries {
				if e.Kind == Sent {
					sent = append(sent, e.Text)
				}
			}
			if n := len(sent); n < 2 || sent[n-2] != "." || sent[n-1] != "QUIT" {
				t.Errorf("transcript ends %q", sent)
			}
		})
	}
}

// TestSendNoData: with NoData, Send stops after the RCPTs (pipelined or
// not), leaves the transaction open, and a refusal of every recipient is
// still ErrNoRecipients.
func TestSendNoData(t *testing.T) {
	for _, noPipelining := range []bool{false, true} {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{RejectRecipients: map[string]fakeserver.Reply{
			"nobody@example.test": {Code: 550, Lines: []string{"5.1.1 no such user"}}}})
		c, err := hostileDial(t, ctx, srv, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Ehlo(ctx, ""); err != nil {
			t.Fatal(err)
		}
		env := Envelope{From: "a@example.test", To: []string{"nobody@example.test", "b@example.test"},
			NoData: true, NoPipelining: noPipelining, Quit: true}
		res, err := c.Send(ctx, env)
		if err != nil || res.Data != nil || res.Final != nil || !res.Recipients[1].Accepted() || res.Pipelined == noPipelining {
			t.Fatalf("Send = %+v, %v", res, err)
		}
		if _, err := c.Rset(ctx); err != nil { // the transaction was left open, the Conn too
			t.Fatal(err)
		}
		env.To = env.To[:1]
		if _, err := c.Send(ctx, env); !errors.Is(err, ErrNoRecipients) {
			t.Errorf("all refused: %v, want ErrNoRecipients", err)
		}
		c.Close()
		if verbs := strings.Join(clientVerbs(t, srv), " "); strings.Contains(verbs, "DATA") {
			t.Errorf("sent %s", verbs)
		}
	}
}

// clientVerbs are the command verbs the server's first session got.
func clientVerbs(t *testing.T, srv *fakeserver.Server) []string {
	t.Helper()
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return recs[0].Verbs()
}

// TestSendQuitOneWrite: with Envelope.Quit and PIPELINING the end of the
// body, the final "." and QUIT leave in one write, whatever the body's
// size, and the final reply is never taken for an early one.
func TestSendQuitOneWrite(t *testing.T) {
	for _, size := range []int{10, 500, 507, 511, 1270, 40000} {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{})
		log := &writeLog{redirect: redirect{to: srv.Addr()}}
		d := Dialer{LocalName: "probe.example", NetDialer: log}
		c, err := d.Dial(ctx, srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Ehlo(ctx, ""); err != nil {
			t.Fatal(err)
		}
		body := strings.Repeat("x", size-2) + "\r\n"
		res, err := c.Send(ctx, Envelope{From: "a@example.test", To: []string{"b@example.test"},
			Body: strings.NewReader(body), Quit: true})
		if err != nil || res.Quit == nil || res.Quit.Code != 221 {
			t.Fatalf("size %d: Send = %+v, %v", size, res, err)
		}
		writes := log.since(0)
		last := string(writes[len(writes)-1])
		if !strings.HasSuffix(last, "\r\n.\r\nQUIT\r\n") {
			t.Errorf("size %d: the last write is %q, want the \".\" and QUIT in one write", size, last[max(0, len(last)-40):])
		}
	}
}
