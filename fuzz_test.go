package probe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// scriptConn is a net.Conn that serves a fixed byte string to the reader
// and swallows writes: the whole "server" of a fuzz run, with no goroutine.
type scriptConn struct {
	r io.Reader
}

func (s *scriptConn) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *scriptConn) Write(p []byte) (int, error) { return len(p), nil }
func (s *scriptConn) Close() error                { return nil }
func (s *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1025}
}
func (s *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// chunkReader returns at most n bytes per Read, so that a reply arrives in
// pieces as it would over TCP.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// replySeeds are server byte streams for FuzzReplyReader: the catalogue of
// malformed replies, the seed tutorials' EHLO lists and a few sessions.
func replySeeds() [][]byte {
	seeds := [][]byte{
		[]byte("220 mail.example.test ESMTP\r\n250-mail.example.test\r\n250 PIPELINING\r\n"),
		[]byte("220-pregreet\r\n220 mail.example.test\r\n"),
		[]byte("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 ok\r\n"),
		[]byte("421 4.3.2 Service shutting down\r\n"),
		[]byte("250 ok (#2.0.0)\r\n250 2.1.5 <a@b>\r\n"),
		[]byte("250-a\r\n251-b\r\n250 c\r\n250 next\r\n"),
		[]byte(strings.Repeat("250-x\r\n", 20) + "250 end\r\n"),
		[]byte("250 a\rb\r\n"),
		[]byte("\r"),
		[]byte("250 \xc2\x85\xe2\x80\xae\r\n"),
	}
	for _, b := range fakeserver.HostileReplies() {
		seeds = append(seeds, b)
	}
	for _, l := range seedEhloLists {
		seeds = append(seeds, []byte(strings.ReplaceAll(l, "\n", "\r\n")+"\r\n"))
	}
	return seeds
}

// FuzzReplyReader feeds arbitrary server bytes, in chunks of arbitrary
// size, to a Conn under small limits. Every call must end with a reply
// that obeys the invariants or a typed error; the transcript must render
// without raw control bytes.
func FuzzReplyReader(f *testing.F) {
	for i, s := range replySeeds() {
		f.Add(s, uint8(i%7+1), uint8(64), uint8(8))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk, maxLine, maxLines uint8) {
		d := &Dialer{Limits: Limits{MaxLineLength: int(maxLine) + 1, MaxReplyLines: int(maxLines)%16 + 1}}
		c := NewConn(&scriptConn{r: &chunkReader{b: data, n: int(chunk)%16 + 1}}, d)
		ctx := context.Background()
		// Each reply consumes at least one byte, so this bound is never
		// reached by a reader that makes progress.
		for i := 0; i <= len(data)+1; i++ {
			r, err := c.ReadReply(ctx)
			if err != nil {
				checkReaderError(t, c, r, err)
				if c.Err() != nil {
					checkTranscript(t, c.Transcript())
					return
				}
				continue
			}
			checkReply(t, r)
			if cause := c.Err(); cause != nil { // a 421 ends the session
				if _, err := c.ReadReply(ctx); !errors.Is(err, cause) {
					t.Fatalf("read after %v: %v", cause, err)
				}
				checkTranscript(t, c.Transcript())
				return
			}
		}
		t.Fatalf("no end after %d replies from %d bytes", len(data)+2, len(data))
	})
}

// checkReply asserts the invariants of a reply the reader returned.
func checkReply(t *testing.T, r *Reply) {
	t.Helper()
	if r == nil || r.Code < 200 || r.Code > 599 || len(r.Lines) == 0 {
		t.Fatalf("reply breaks the invariants: %#v", r)
	}
	for _, l := range r.Lines {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("reply line holds a line break: %q", l)
		}
	}
	if e := r.Enhanced; !e.IsZero() && e.Class != r.Code/100 {
		t.Fatalf("enhanced code %v does not match %d", e, r.Code)
	}
}

// checkReaderError asserts that err is one of the reader's typed errors:
// a *ProtocolError (whose reply, when it has one, obeys the invariants) or
// an *OpError for the end of the stream.
func checkReaderError(t *testing.T, c *Conn, r *Reply, err error) {
	t.Helper()
	var pe *ProtocolError
	var op *OpError
	switch {
	case errors.As(err, &pe):
		if pe.Step != "read" || pe.Reason == "" {
			t.Fatalf("protocol error without step or reason: %#v", pe)
		}
		if pe.Reply != nil {
			checkReply(t, pe.Reply)
		}
	case errors.As(err, &op):
		if op.Op != "read" || (!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Fatalf("unexpected op error: %v", err)
		}
	default:
		t.Fatalf("untyped error %T: %v", err, err)
	}
	if r != nil {
		t.Fatalf("reply %v returned with error %v", r, err)
	}
	if c.Err() == nil && pe == nil {
		t.Fatalf("I/O error %v left the Conn usable", err)
	}
}

// checkTranscript renders t as text, JSON and slog text and checks each.
func checkTranscript(t *testing.T, tr *Transcript) {
	t.Helper()
	entries := tr.Entries()
	for _, e := range entries {
		if e.Kind == Received && strings.ContainsAny(e.Text, "\r\n") {
			t.Fatalf("received entry holds a line break: %q", e.Text)
		}
	}
	checkRendered(t, "String", tr.String(), len(entries))
}

// checkRendered fails when s, the rendering of n entries (n < 0: any
// number), holds a raw control byte other than the newline that ends each entry: C0, DEL, a
// C1 control, or a byte that is not UTF-8.
func checkRendered(t *testing.T, what, s string, n int) {
	t.Helper()
	if got := strings.Count(s, "\n"); n >= 0 && got != n {
		t.Fatalf("%s: %d newlines for %d entries: %q", what, got, n, s)
	}
	if !utf8.ValidString(s) {
		t.Fatalf("%s: invalid UTF-8 survived: %q", what, s)
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029' {
			t.Fatalf("%s: raw control %U survived: %q", what, r, s)
		}
	}
}

// FuzzParseCapabilities parses arbitrary EHLO lines and checks what the
// Capabilities say about them.
func FuzzParseCapabilities(f *testing.F) {
	for _, l := range seedEhloLists {
		f.Add(strings.Join(replyLinesOf(l), "\n"))
	}
	for _, lines := range fakeserver.HostileEhlo() {
		f.Add("mail.example.test Hello\n" + strings.Join(lines, "\n"))
	}
	f.Add("x\nAUTH=\nAUTH= PLAIN\nauth=login cram-md5\nSIZE 9223372036854775808\nSIZE -0\nSIZE +5\nLIMITS RCPTMAX=x MAILMAX=5")
	f.Add("\n\n\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Split(text, "\n")
		caps, notes := ParseCapabilities(lines)
		if len(caps.Extensions)+countEmpty(lines[1:]) != len(lines)-1 {
			t.Fatalf("%d extensions and %d empty lines from %d lines", len(caps.Extensions), countEmpty(lines[1:]), len(lines)-1)
		}
		if len(notes) < countEmpty(lines[1:]) {
			t.Fatalf("%d notes for %d empty lines", len(notes), countEmpty(lines[1:]))
		}
		if strings.ContainsAny(caps.Domain, " \t") || caps.Size < 0 {
			t.Fatalf("domain %q size %d", caps.Domain, caps.Size)
		}
		checkExtensions(t, caps, lines[1:])
		seen := map[string]bool{}
		for _, m := range caps.Auth {
			if m == "" || m != strings.ToUpper(m) || seen[m] || !caps.SupportsAuth(strings.ToLower(m)) {
				t.Fatalf("AUTH mechanisms %q", caps.Auth)
			}
			seen[m] = true
		}
		caps.Limit("RCPTMAX")
	})
}

func checkExtensions(t *testing.T, caps *Capabilities, lines []string) {
	t.Helper()
	i := 0
	for _, line := range lines {
		if countEmpty([]string{line}) == 1 {
			continue
		}
		e := caps.Extensions[i]
		i++
		if e.Keyword == "" || e.Keyword != strings.ToUpper(e.Keyword) || strings.ContainsAny(e.Keyword, " \t") || !caps.Has(e.Keyword) {
			t.Fatalf("keyword %q from line %q", e.Keyword, line)
		}
		if e.Params != nil && len(e.Params) == 0 {
			t.Fatalf("empty non-nil params from %q", line)
		}
		joined := strings.Join(append([]string{e.Keyword}, e.Params...), " ")
		if (e.Line == "" && joined != line) || (e.Line != "" && e.Line != line) {
			t.Fatalf("extension %+v does not give back line %q", e, line)
		}
	}
}

func countEmpty(lines []string) int {
	n := 0
	for _, l := range lines {
		if len(strings.Fields(l)) == 0 {
			n++
		}
	}
	return n
}

// replyLinesOf strips the codes from a quoted reply, without a *testing.T.
func replyLinesOf(quoted string) []string {
	var lines []string
	for _, l := range strings.Split(quoted, "\n") {
		if rl, err := parseReplyLine(l); err == nil {
			lines = append(lines, rl.text)
		}
	}
	return lines
}

// FuzzTranscriptRender records arbitrary text, split into entries at
// 0xff, and checks that no rendering (String, Entry.String, slog text)
// lets a raw control byte through and that JSON gives back every entry
// exactly.
func FuzzTranscriptRender(f *testing.F) {
	f.Add("250 ok\xff\x1b[2J\x00\xffcaf\xe9\xff\u202e\u200b\xff\xc2\x85\xe2\x80\xa8", uint8(0))
	f.Add("\r\n\t\x7f\xff\xff", uint8(5))
	for _, b := range fakeserver.HostileReplies() {
		f.Add(string(b), uint8(len(b)))
	}
	f.Fuzz(func(t *testing.T, text string, flags uint8) {
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		tr := newTranscript(false, logger)
		parts := strings.Split(text, "\xff")
		for i, p := range parts {
			kind := Kind((int(flags)+i)%3 + 1)
			tr.add(kind, p, flags&8 != 0, flags&16 != 0)
		}
		entries := tr.Entries()
		checkRendered(t, "String", tr.String(), len(parts))
		for _, e := range entries {
			checkRendered(t, "Entry.String", e.String()+"\n", 1)
		}
		checkRendered(t, "slog", logs.String(), len(parts))
		checkJSONRoundTrip(t, tr, entries)
	})
}

func checkJSONRoundTrip(t *testing.T, tr *Transcript, want []Entry) {
	t.Helper()
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want, err := reflectJSON(tr); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("MarshalJSON differs from encoding/json's own:\n got %s\nwant %s (%v)", b, want, err)
	}
	if app, err := tr.AppendJSON([]byte("x")); err != nil || !bytes.Equal(app, append([]byte("x"), b...)) {
		t.Fatalf("AppendJSON differs from MarshalJSON: %s, %v", app, err)
	}
	var back Transcript
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	got := back.Entries()
	if len(got) != len(want) || !back.Start().Equal(tr.Start()) {
		t.Fatalf("round trip: %d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		w := want[i]
		if !e.Time.Equal(w.Time) || e.Offset != w.Offset || e.Kind != w.Kind || e.Text != w.Text || e.TLS != w.TLS || e.Redacted != w.Redacted {
			t.Fatalf("entry %d: got %+v, want %+v", i, e, w)
		}
	}
}
