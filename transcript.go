package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind says who wrote a transcript entry.
type Kind uint8

// The kinds of transcript entry.
const (
	Sent     Kind = iota + 1 // a line the client wrote: "C: "
	Received                 // a line the server wrote: "S: "
	Note                     // a remark of the library: "*  "
)

var kindNames = [...]string{Sent: "sent", Received: "received", Note: "note"}

// String returns "sent", "received" or "note".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes the kind as its name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind from its name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n != "" && n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("probe: unknown transcript entry kind %q", b)
}

// Entry is one line of a transcript.
type Entry struct {
	Time     time.Time     `json:"time"`               // when the line was written or read
	Offset   time.Duration `json:"offset_ns"`          // Time less the transcript's start (the connect)
	Kind     Kind          `json:"kind"`               // who wrote it
	Text     string        `json:"text"`               // without CRLF; any byte (renderings escape)
	TLS      bool          `json:"tls,omitempty"`      // the line travelled inside TLS
	Redacted bool          `json:"redacted,omitempty"` // Text stands in for credentials, never stored
}

// String renders the entry as one transcript line: "C: …", "S: …" or
// "*  …", with control bytes escaped.
func (e Entry) String() string {
	var b strings.Builder
	e.render(&b)
	return b.String()
}

func (e Entry) render(b *strings.Builder) {
	switch e.Kind {
	case Sent:
		b.WriteString("C: ")
	case Received:
		b.WriteString("S: ")
	default:
		b.WriteString("*  ")
	}
	writeEscaped(b, e.Text)
}

// Transcript records every line a Conn sends and receives, in order. It is
// safe for concurrent use; the zero Transcript is empty.
type Transcript struct {
	mu      sync.Mutex
	start   time.Time
	entries []Entry
	reveal  bool
	logger  *slog.Logger
}

// newTranscript returns an empty transcript that starts now. Entries marked
// secret keep their real text only when reveal is true. When logger is not
// nil every entry is also logged to it at debug level as it is added.
func newTranscript(reveal bool, logger *slog.Logger) *Transcript {
	return &Transcript{start: time.Now(), reveal: reveal, logger: logger,
		entries: make([]Entry, 0, initialEntries)}
}

// initialEntries is the room a new transcript has: a banner, an EHLO
// reply and a few commands, before it first grows.
const initialEntries = 24

// Start returns when the transcript started.
func (t *Transcript) Start() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.start
}

// Entries returns a copy of the entries recorded so far.
func (t *Transcript) Entries() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Entry(nil), t.entries...)
}

// Len returns the number of entries recorded so far.
func (t *Transcript) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// String renders the transcript as text, one entry a line.
func (t *Transcript) String() string {
	var b strings.Builder
	for _, e := range t.Entries() {
		e.render(&b)
		b.WriteByte('\n')
	}
	return b.String()
}

// WriteTo writes the text rendering of the transcript to w.
func (t *Transcript) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, t.String())
	return int64(n), err
}

// transcriptJSON is the JSON form of a transcript.
type transcriptJSON struct {
	Start   time.Time   `json:"start"`
	Entries []entryJSON `json:"entries"`
}

// entryJSON adds the exact bytes of a line whose text is not valid UTF-8,
// which a JSON string cannot hold.
type entryJSON struct {
	Entry
	Bytes []byte `json:"bytes,omitempty"`
}

// MarshalJSON encodes {"start", "entries": [{"time", "offset_ns", "kind",
// "text", "tls", "redacted", "bytes": text not valid UTF-8, in base64}]}.
func (t *Transcript) MarshalJSON() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.appendJSON(make([]byte, 0, 128+96*len(t.entries)))
}

// AppendJSON appends to b the bytes MarshalJSON returns (on error, b is
// returned as it was). encoding/json checks and copies whatever a
// MarshalJSON returns, which costs more than the encoding itself: a
// writer of many reports places the transcript with AppendJSON instead,
// as scan.Report.AppendJSON does.
func (t *Transcript) AppendJSON(b []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out, err := t.appendJSON(b)
	if err != nil {
		return b, err
	}
	return out, nil
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (t *Transcript) UnmarshalJSON(b []byte) error {
	var in transcriptJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	entries := make([]Entry, len(in.Entries))
	for i, e := range in.Entries {
		entries[i] = e.Entry
		if e.Bytes != nil {
			entries[i].Text = string(e.Bytes)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.start, t.entries = in.Start, entries
	return nil
}

func (t *Transcript) add(kind Kind, text string, tls, redacted bool) {
	now := time.Now()
	t.mu.Lock()
	e := Entry{Time: now, Offset: now.Sub(t.start), Kind: kind, Text: text, TLS: tls, Redacted: redacted}
	t.entries = append(t.entries, e)
	logger := t.logger
	t.mu.Unlock()
	if logger != nil {
		logger.LogAttrs(context.Background(), slog.LevelDebug, "smtp",
			slog.String("kind", kind.String()), slog.String("text", escape(text)),
			slog.Bool("tls", tls), slog.Duration("offset", e.Offset))
	}
}

// AddNote records a remark of the caller's as a Note, where the library
// records its own: a check says there what it saw and why it went on.
func (t *Transcript) AddNote(text string) { t.add(Note, text, false, false) }

// secret records a line that carries credentials: its real text when the
// transcript reveals secrets, and shown otherwise.
func (t *Transcript) secret(real, shown string, tls bool) {
	if t.reveal {
		t.add(Sent, real, tls, false)
		return
	}
	t.add(Sent, shown, tls, true)
}

// Reveal reports whether secret lines are recorded as they were sent.
func (t *Transcript) Reveal() bool { return t.reveal }

// escape returns s with control bytes, invalid UTF-8 and invisible format
// characters written as Go-style escapes, so that no rendering of a
// transcript can move a terminal's cursor or forge a line. A backslash is
// doubled, so an escape always means the byte it names.
func escape(s string) string {
	var b strings.Builder
	writeEscaped(&b, s)
	return b.String()
}

func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		case r >= 0x80 && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'):
			b.WriteString(`\u{`)
			b.WriteString(strconv.FormatInt(int64(r), 16))
			b.WriteByte('}')
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

// splitRaw cuts bytes written with WriteRaw into lines at each CRLF, for
// the transcript; any other control bytes stay in the text.
func splitRaw(p []byte) []string {
	var lines []string
	for len(p) > 0 {
		i := bytes.Index(p, []byte("\r\n"))
		if i < 0 {
			lines = append(lines, string(p))
			break
		}
		lines = append(lines, string(p[:i]))
		p = p[i+2:]
	}
	return lines
}
