package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// normalizeRef is the test's own statement of what Data must deliver: every
// CRLF, bare CR and bare LF becomes CRLF, and a last line without an
// ending gets one.
func normalizeRef(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return []byte(s)
}

func TestDotWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ".\r\n"},
		{"a", "a\r\n.\r\n"},
		{"a\n", "a\r\n.\r\n"},
		{"a\r\n", "a\r\n.\r\n"},
		{".", "..\r\n.\r\n"},
		{".\n", "..\r\n.\r\n"},
		{"..x", "...x\r\n.\r\n"},
		{"x.\n.y", "x.\r\n..y\r\n.\r\n"},
		{"a\r\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n"},
		{"a\rb\n\r", "a\r\nb\r\n\r\n.\r\n"},
		{"\r\r\n", "\r\n\r\n.\r\n"},
		{"\n\n", "\r\n\r\n.\r\n"},
		{"\r", "\r\n.\r\n"},
		{"\r.", "\r\n..\r\n.\r\n"},
		{"é\x00\xff\n", "é\x00\xff\r\n.\r\n"},
	}
	for _, tc := range tests {
		for _, split := range []int{0, 1, 2, 3} {
			var out bytes.Buffer
			w := newDotWriter(&out)
			in := []byte(tc.in)
			for len(in) > 0 {
				n := len(in)
				if split > 0 {
					n = min(split, n)
				}
				if m, err := w.Write(in[:n]); err != nil || m != n {
					t.Fatalf("Write = %d, %v", m, err)
				}
				in = in[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tc.want {
				t.Errorf("%q in pieces of %d: got %q, want %q", tc.in, split, got, tc.want)
			}
		}
	}
}

func TestDotWriterClosed(t *testing.T) {
	var out bytes.Buffer
	w := newDotWriter(&out)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if out.String() != ".\r\n" {
		t.Errorf("out %q", out.String())
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestDotWriterPropagatesErrors(t *testing.T) {
	boom := errors.New("boom")
	w := newDotWriter(failingWriter{boom})
	big := bytes.Repeat([]byte("0123456789\n"), 10000)
	if _, err := w.Write(big); !errors.Is(err, boom) {
		t.Errorf("Write = %v, want boom", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close = %v, want boom", err)
	}
}

// randomBody builds a body from pieces that stress stuffing and line
// endings.
func randomBody(rng *rand.Rand) []byte {
	pieces := []string{".", "..", ".\r\n", "\r\n.\r\n", "\n.\n", "\r", "\n", "\r\n", "\r\r\n", "a", "hello world",
		"\x00", "\xff\xfe", "é", "\t", " ", "From: x\r\n", ".hidden", "\r.\r"}
	var b []byte
	for n := rng.IntN(60); n > 0; n-- {
		b = append(b, pieces[rng.IntN(len(pieces))]...)
	}
	if rng.IntN(8) == 0 {
		b = append(b, bytes.Repeat([]byte("L"), 70000+rng.IntN(1000))...) // a line longer than any buffer
	}
	return b
}

func TestDataRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, _ := dialMail(t, ctx, srv, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	bodies := [][]byte{nil, []byte(""), []byte("."), []byte("no final newline"), []byte(".\r\n.\r\n"),
		[]byte("bare\nLF\nonly\n"), []byte("bare\rCR\r"), []byte("8-bit \xc3\xa9\xff\x00\r\n")}
	for range 40 {
		bodies = append(bodies, randomBody(rng))
	}
	for i, body := range bodies {
		if _, err := c.Mail(ctx, "a@example.test", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Rcpt(ctx, "b@example.test", nil); err != nil {
			t.Fatal(err)
		}
		r, err := c.Data(ctx, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		if r.Code != 250 || r.QueueID() == "" {
			t.Fatalf("body %d: final reply %q", i, r)
		}
		msgs, err := srv.WaitMessages(i+1, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, want := msgs[i].Data, normalizeRef(body)
		if !bytes.Equal(got, want) {
			t.Fatalf("body %d %q\narrived %q\nwant    %q", i, truncate(string(body), 200),
				truncate(string(got), 200), truncate(string(want), 200))
		}
		if msgs[i].QueueID != r.QueueID() {
			t.Errorf("QueueID %q, server gave %q", r.QueueID(), msgs[i].QueueID)
		}
	}
}

func TestDataTranscript(t *testing.T) {
	body := "Subject: x\n.dot\n\nend"
	tests := []struct {
		record bool
		want   string
	}{
		{false, "C: DATA\nS: 354 End data with <CR><LF>.<CR><LF>\n" +
			"*  message body: 26 bytes, 4 lines (not recorded)\nC: .\n"},
		{true, "C: DATA\nS: 354 End data with <CR><LF>.<CR><LF>\n" +
			"C: Subject: x\nC: ..dot\nC: \nC: end\nC: .\n"},
	}
	for _, tc := range tests {
		ctx := testCtx(t)
		srv := startServer(t, fakeserver.Config{})
		c, _ := dialMail(t, ctx, srv, &Dialer{RecordBody: tc.record})
		c.Mail(ctx, "a@example.test", nil)
		c.Rcpt(ctx, "b@example.test", nil)
		start := c.Transcript().Len()
		r, err := c.Data(ctx, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, e := range c.Transcript().Entries()[start:] {
			b.WriteString(e.String() + "\n")
		}
		want := tc.want + "S: 250 2.0.0 Ok: queued as " + r.QueueID() + "\n"
		if b.String() != want {
			t.Errorf("RecordBody %v: transcript\n%s\nwant\n%s", tc.record, b.String(), want)
		}
	}
}

func TestDataRefusals(t *testing.T) {
	tests := []struct {
		name     string
		cfg      fakeserver.Config
		wantStep string
		wantCode int
		wantMsgs int
	}{
		{"DATA refused", fakeserver.Config{Misbehave: map[string]fakeserver.Step{
			"DATA": {Reply: &fakeserver.Reply{Code: 554, Lines: []string{"5.5.1 Error: no valid recipients"}}}}},
			"DATA", 554, 0},
		{"message refused", fakeserver.Config{DataReply: func(*fakeserver.Session, *fakeserver.Message, string) fakeserver.Reply {
			return fakeserver.Reply{Code: 552, Lines: []string{"5.3.4 Message size exceeds fixed limit"}}
		}}, "DATA end", 552, 0},
		{"message deferred", fakeserver.Config{DataReply: func(*fakeserver.Session, *fakeserver.Message, string) fakeserver.Reply {
			return fakeserver.Reply{Code: 451, Lines: []string{"4.3.0 try later"}}
		}}, "DATA end", 451, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			c, _ := dialMail(t, ctx, srv, nil)
			c.Mail(ctx, "a@example.test", nil)
			c.Rcpt(ctx, "b@example.test", nil)
			r, err := c.Data(ctx, strings.NewReader("hello\n"))
			var re *ReplyError
			if !errors.As(err, &re) || re.Command != tc.wantStep || re.Reply.Code != tc.wantCode {
				t.Fatalf("err = %v, want %s %d", err, tc.wantStep, tc.wantCode)
			}
			if r != re.Reply {
				t.Errorf("reply %q is not the error's", r)
			}
			if re.Temporary() != (tc.wantCode/100 == 4) {
				t.Error("Temporary wrong")
			}
			if _, err := c.Noop(ctx); err != nil {
				t.Errorf("session unusable after a refusal: %v", err)
			}
			if n := srv.MessageCount(); n != tc.wantMsgs {
				t.Errorf("%d messages", n)
			}
		})
	}
}

func TestDataExtraReplyAfter354(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{
		"DATA": {After: []byte("250 2.0.0 Ok: queued as FAKE\r\n")}}})
	c, _ := dialMail(t, ctx, srv, nil)
	c.Mail(ctx, "a@example.test", nil)
	c.Rcpt(ctx, "b@example.test", nil)
	r, err := c.Data(ctx, strings.NewReader("must not be sent\n"))
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Step != "DATA" || pe.Line != "250 2.0.0 Ok: queued as FAKE" || r.Code != 354 {
		t.Fatalf("reply %q, err = %v", r, err)
	}
	srv.WaitSessions(1, 5*time.Second)
	if bytes.Contains(srv.Sessions()[0].ClientBytes, []byte("must not be sent")) {
		t.Error("body sent after an unsolicited reply")
	}
}

// errAfterReader returns n bytes, then err.
type errAfterReader struct {
	n   int
	err error
}

func (r *errAfterReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestDataReaderFailure(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, _ := dialMail(t, ctx, srv, nil)
	c.Mail(ctx, "a@example.test", nil)
	c.Rcpt(ctx, "b@example.test", nil)
	boom := errors.New("disk on fire")
	_, err := c.Data(ctx, &errAfterReader{n: 100000, err: boom})
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op != "DATA body" || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if c.Err() == nil {
		t.Error("Conn still usable after a broken body")
	}
	if _, err := srv.WaitSessions(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := srv.MessageCount(); n != 0 {
		t.Errorf("server accepted %d messages from a truncated body", n)
	}
}

// cancelReader cancels a context once it has been read past after bytes.
type cancelReader struct {
	after  int
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.after <= 0 {
		r.cancel()
	}
	r.after -= len(p)
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

func TestDataContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	srv := startServer(t, fakeserver.Config{})
	c, _ := dialMail(t, ctx, srv, nil)
	c.Mail(ctx, "a@example.test", nil)
	c.Rcpt(ctx, "b@example.test", nil)
	_, err := c.Data(ctx, &cancelReader{after: 1 << 20, cancel: cancel})
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op != "DATA body" || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestDataDeadlines(t *testing.T) {
	stall := func(s *fakeserver.Session, _ fakeserver.Command) bool {
		s.Reply(354, "go ahead")
		s.Flush()
		s.Sleep(10 * time.Second) // never reads the body; ends when the server closes
		return true
	}
	tests := []struct {
		name   string
		cfg    fakeserver.Config
		to     Timeouts
		body   io.Reader
		wantOp string
	}{
		{"body not read", fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{"DATA": stall}},
			Timeouts{DataBlock: 200 * time.Millisecond}, &errAfterReader{n: 256 << 20, err: io.EOF}, "DATA body"},
		{"no final reply", fakeserver.Config{Misbehave: map[string]fakeserver.Step{"EOD": {Raw: []byte{}}}},
			Timeouts{DataEnd: 200 * time.Millisecond}, strings.NewReader("hi\n"), "DATA end"},
		{"no 354", fakeserver.Config{Misbehave: map[string]fakeserver.Step{"DATA": {Raw: []byte{}}}},
			Timeouts{DataInit: 200 * time.Millisecond}, strings.NewReader("hi\n"), "DATA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, tc.cfg)
			c, _ := dialMail(t, ctx, srv, &Dialer{Timeouts: tc.to})
			c.Mail(ctx, "a@example.test", nil)
			c.Rcpt(ctx, "b@example.test", nil)
			start := time.Now()
			_, err := c.Data(ctx, tc.body)
			var oe *OpError
			if !errors.As(err, &oe) || oe.Op != tc.wantOp || !oe.Timeout() {
				t.Fatalf("err = %v, want a %s timeout", err, tc.wantOp)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// lineGenerator yields n lines of 79 bytes and LF, every 1000th starting
// with a dot, without holding more than one line.
type lineGenerator struct {
	line    [80]byte
	n, i    int
	pending []byte
}

func newLineGenerator(n int) *lineGenerator {
	g := &lineGenerator{n: n}
	for i := range g.line {
		g.line[i] = 'a' + byte(i%26)
	}
	g.line[79] = '\n'
	return g
}

func (g *lineGenerator) Read(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		if len(g.pending) == 0 {
			if g.i == g.n {
				if written == 0 {
					return 0, io.EOF
				}
				break
			}
			g.line[0] = 'a'
			if g.i%1000 == 0 {
				g.line[0] = '.'
			}
			g.i++
			g.pending = g.line[:]
		}
		k := copy(p[written:], g.pending)
		g.pending = g.pending[k:]
		written += k
	}
	return written, nil
}

// countingData answers DATA by counting the body's bytes and lines and
// throwing them away.
func countingData(s *fakeserver.Session, _ fakeserver.Command) bool {
	s.Reply(354, "go ahead")
	var size, lines int64
	for {
		line, err := s.ReadLine()
		if err != nil {
			return true
		}
		if line == "." {
			break
		}
		size += int64(len(line)) + 2
		lines++
	}
	s.Reply(250, "2.0.0 Ok: "+strconv.FormatInt(size, 10)+" "+strconv.FormatInt(lines, 10))
	return true
}

func TestDataStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MB")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startServer(t, fakeserver.Config{NoRecord: true,
		Handlers: map[string]fakeserver.HandlerFunc{"DATA": countingData}})
	c, _ := dialMail(t, ctx, srv, nil)
	c.Mail(ctx, "a@example.test", nil)
	c.Rcpt(ctx, "b@example.test", nil)

	const lines = 100 << 20 / 80 // 100 MiB of input
	peak, stop := sampleHeap()
	r, err := c.Data(ctx, newLineGenerator(lines))
	maxHeap := stop()
	if err != nil {
		t.Fatal(err)
	}
	dots := (lines + 999) / 1000
	want := "2.0.0 Ok: " + strconv.Itoa(lines*81+dots) + " " + strconv.Itoa(lines)
	if r.Text() != want {
		t.Errorf("server counted %q, want %q", r.Text(), want)
	}
	t.Logf("100 MiB streamed; peak heap in use %.1f MiB (at start %.1f MiB)",
		float64(maxHeap)/(1<<20), float64(peak)/(1<<20))
	if maxHeap >= 16<<20 {
		t.Errorf("peak heap %d bytes, want < 16 MiB", maxHeap)
	}
	note := c.Transcript().Entries()
	if got := note[len(note)-3].Text; got != "message body: "+strconv.Itoa(lines*81+dots)+" bytes, "+strconv.Itoa(lines)+" lines (not recorded)" {
		t.Errorf("summary %q", got)
	}
}

// sampleHeap samples the heap in use every few milliseconds until stop is
// called; stop returns the peak. start is the heap in use after a GC.
func sampleHeap() (start uint64, stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	start = ms.HeapInuse
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		peak := start
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-done:
				result <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return start, func() uint64 {
		close(done)
		return <-result
	}
}

// TestLMTPFinalReplyCount: the number of final replies an LMTP Conn
// expects follows RSET and the RCPTs of Pipeline; replies beyond the count
// (RCPTs sent with SendRaw) end the session with a *ProtocolError instead
// of answering the next command.
func TestLMTPFinalReplyCount(t *testing.T) {
	tests := []struct {
		name      string
		envelope  func(ctx context.Context, c *Conn)
		wantCount int  // final replies returned
		wantFatal bool // a *ProtocolError at "DATA end"
	}{
		{"RSET resets the count", func(ctx context.Context, c *Conn) {
			c.Mail(ctx, "s@example.test", nil)
			c.Rcpt(ctx, "a@example.test", nil)
			c.Rcpt(ctx, "b@example.test", nil)
			c.Rset(ctx)
			c.SendRaw(ctx, "MAIL FROM:<s@example.test>")
			c.Rcpt(ctx, "c@example.test", nil)
		}, 1, false},
		{"Pipeline RCPTs are counted", func(ctx context.Context, c *Conn) {
			c.Mail(ctx, "s@example.test", nil)
			c.Pipeline(ctx, "RCPT TO:<a@example.test>", "RCPT TO:<nobody@example.test>", "RCPT TO:<b@example.test>")
		}, 2, false},
		{"Pipeline RSET resets the count", func(ctx context.Context, c *Conn) {
			c.Mail(ctx, "s@example.test", nil)
			c.Rcpt(ctx, "a@example.test", nil)
			c.Rcpt(ctx, "b@example.test", nil)
			c.Pipeline(ctx, "RSET", "MAIL FROM:<s@example.test>", "RCPT TO:<c@example.test>")
		}, 1, false},
		{"SendRaw RCPT: extra replies are fatal", func(ctx context.Context, c *Conn) {
			c.Mail(ctx, "s@example.test", nil)
			c.Rcpt(ctx, "a@example.test", nil)
			c.SendRaw(ctx, "RCPT TO:<b@example.test>")
		}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{LMTP: true, RejectRecipients: map[string]fakeserver.Reply{
				"nobody@example.test": {Code: 550, Lines: []string{"5.1.1 unknown"}}}})
			c, _ := dialMail(t, ctx, srv, &Dialer{LMTP: true, Timeouts: Timeouts{DataEnd: 2 * time.Second}})
			tt.envelope(ctx, c)
			replies, err := c.DataLMTP(ctx, strings.NewReader("x"), 0)
			if len(replies) != tt.wantCount {
				t.Errorf("%d final replies, want %d", len(replies), tt.wantCount)
			}
			var pe *ProtocolError
			if tt.wantFatal {
				if !errors.As(err, &pe) || pe.Step != "DATA end" || !errors.Is(c.Err(), err) {
					t.Fatalf("err = %v, Conn error %v; want a *ProtocolError at DATA end", err, c.Err())
				}
				return
			}
			if err != nil {
				t.Fatalf("DataLMTP: %v", err)
			}
			if r, err := c.Noop(ctx); err != nil || r.Text() != "2.0.0 Ok" {
				t.Fatalf("NOOP got %q, %v: the session is out of step", r, err)
			}
		})
	}
}

// TestDataEndsInOneWrite checks that a message that fits the dot writer's
// buffer leaves with its final ".\r\n" in one write, and that a final
// ".\r\n" split across two writes (the buffer full after its first byte)
// is still recorded once, after the body, and never counted as body.
func TestDataEndsInOneWrite(t *testing.T) {
	line := strings.Repeat("x", 78) + "\r\n"
	small := strings.Repeat(line, 4096/len(line))
	// dataBlockSize-1 bytes: the buffer has room for the "." alone.
	big := strings.Repeat(line, (dataBlockSize-1)/len(line))
	big += strings.Repeat("y", dataBlockSize-1-len(big)-2) + "\r\n"
	for _, tc := range []struct {
		name   string
		body   func() io.Reader
		size   int
		writes int32
	}{
		{"4 KiB with Len", func() io.Reader { return strings.NewReader(small) }, len(small), 1},
		{"32 KiB - 1 without Len", func() io.Reader { return struct{ io.Reader }{strings.NewReader(big)} }, len(big), 2},
	} {
		for _, record := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s record %v", tc.name, record), func(t *testing.T) {
				ctx := testCtx(t)
				srv := startServer(t, fakeserver.Config{})
				c, cc := dialMail(t, ctx, srv, &Dialer{RecordBody: record})
				c.Mail(ctx, "a@example.test", nil)
				c.Rcpt(ctx, "b@example.test", nil)
				before, start := cc.writes.Load(), c.Transcript().Len()
				if _, err := c.Data(ctx, tc.body()); err != nil {
					t.Fatal(err)
				}
				if got := cc.writes.Load() - before - 1; got != tc.writes {
					t.Errorf("body and final dot in %d writes after DATA's, want %d", got, tc.writes)
				}
				es := c.Transcript().Entries()[start+2:] // after DATA and its 354
				dot := len(es) - 2                       // then the final reply
				if es[dot].Kind != Sent || es[dot].Text != "." {
					t.Fatalf("entry before the final reply %q, want C: .", es[dot])
				}
				lines := tc.size / len(line)
				if tc.size%len(line) != 0 {
					lines++
				}
				if record {
					if dot != lines || es[dot-1].Text == "." {
						t.Errorf("%d body lines recorded before the dot, want %d", dot, lines)
					}
				} else if want := fmt.Sprintf("message body: %d bytes, %d lines (not recorded)", tc.size, lines); dot != 1 || es[0].Text != want {
					t.Errorf("entries before the dot %q, want the note %q", es[:dot], want)
				}
				msgs, err := srv.WaitMessages(1, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs[0].Data) != tc.size {
					t.Errorf("server got %d bytes, want %d", len(msgs[0].Data), tc.size)
				}
			})
		}
	}
}
