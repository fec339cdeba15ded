package fakeserver

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Answer is the Step that answers with code and lines instead of the
// normal answer, with no state change: any code for any command, such as
// 354 to MAIL, 250 to DATA or 221 to RSET. (Step.Code keeps the normal
// behaviour and changes only the code.)
func Answer(code int, lines ...string) Step {
	return Step{Reply: &Reply{Code: code, Lines: lines}}
}

// Silent is the Step of a server that never answers: used at StepConnect
// there is no banner, and all input is swallowed until either side closes.
func Silent() Step {
	return Step{Raw: []byte{}, Hang: true}
}

// Slowloris is the Step that writes line one byte every interval, over and
// over, until the client goes away or the server closes.
func Slowloris(line string, every time.Duration) Step {
	return Step{Endless: []byte(line), ByteByByte: true, ByteDelay: every}
}

// Inject is the Step for STARTTLS that appends injected bytes (e.g.
// "250-forged\r\n250 AUTH PLAIN\r\n") to the 220 reply, in the same write
// if delay is 0, otherwise in a second plaintext write after delay, before
// the handshake.
func Inject(b []byte, delay time.Duration) Step {
	return Step{After: b, AfterDelay: delay}
}

// RawLines joins lines, each followed by CRLF, for use as Step.Raw.
func RawLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// LongReply returns a single reply line of exactly n bytes including the
// CRLF ("250 xxxx...\r\n"); n below 6 gives a truncated prefix.
func LongReply(code, n int) []byte {
	head := strconv.Itoa(code) + " "
	if n < len(head)+2 {
		return []byte((head + "\r\n")[:max(n, 0)])
	}
	return []byte(head + strings.Repeat("x", n-len(head)-2) + "\r\n")
}

// ManyMechanisms returns an "AUTH PLAIN X-MECH-1 ... X-MECH-n" EHLO line.
func ManyMechanisms(n int) string {
	var b strings.Builder
	b.WriteString("AUTH PLAIN")
	for i := 1; i <= n; i++ {
		b.WriteString(" X-MECH-" + strconv.Itoa(i))
	}
	return b.String()
}

// HostileEhlo returns named sets of absurd EHLO extension lines, for
// Config.EhloLines. The map is new on each call.
func HostileEhlo() map[string][]string {
	return map[string][]string{
		"size-huge":      {"PIPELINING", "SIZE 99999999999999999999999"},
		"size-negative":  {"SIZE -1"},
		"size-junk":      {"SIZE junk", "SIZE"},
		"size-twice":     {"SIZE 1000", "SIZE 2000"},
		"auth-many":      {ManyMechanisms(500)},
		"auth-empty":     {"AUTH", "AUTH=PLAIN"},
		"duplicates":     {"PIPELINING", "PIPELINING", "STARTTLS", "STARTTLS", "8BITMIME", "8bitmime"},
		"empty-lines":    {"", "PIPELINING", "", " "},
		"lower-case":     {"pipelining", "starttls", "auth plain login"},
		"long-keyword":   {strings.Repeat("X", 5000)},
		"control-bytes":  {"PIPE\x00LINING", "SIZE\t100", "\x1b[31mRED"},
		"non-utf8":       {"X-\xff\xfe", "SMTPUTF8"},
		"many-lines":     manyLines(1000),
		"trailing-space": {"PIPELINING ", "SIZE 100 "},
	}
}

func manyLines(n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = "X-EXT-" + strconv.Itoa(i)
	}
	return l
}

// HostileReplies returns named malformed replies for Step.Raw. The map is
// new on each call.
func HostileReplies() map[string][]byte {
	return map[string][]byte{
		"mismatched-codes": []byte("250-first\r\n251-second\r\n250 last\r\n"),
		"non-digit-code":   []byte("2x0 Ok\r\n"),
		"letters-code":     []byte("abc Ok\r\n"),
		"first-digit-1":    []byte("150 Ok\r\n"),
		"first-digit-6":    []byte("650 Ok\r\n"),
		"first-digit-0":    []byte("050 Ok\r\n"),
		"two-digit-code":   []byte("25 Ok\r\n"),
		"four-digit-code":  []byte("2500 Ok\r\n"),
		"no-separator":     []byte("250Ok\r\n"),
		"bad-separator":    []byte("250_Ok\r\n"),
		"nul":              []byte("250 O\x00k\r\n"),
		"esc":              []byte("250 \x1b[2J\x1b[31mOk\r\n"),
		"control":          []byte("250 \x01\x02\x07\x08\x7fOk\r\n"),
		"non-utf8":         []byte("250 \xff\xfe\xc3\x28 Ok\r\n"),
		"bare-lf":          []byte("250-a\n250 b\n"),
		"bare-cr":          []byte("250-a\r250 b\r"),
		"mixed-endings":    []byte("250-a\n250-b\r250 c\r\n"),
		"empty-line":       []byte("\r\n250 Ok\r\n"),
		"code-only":        []byte("250\r\n"),
		"space-only":       []byte("250 \r\n"),
		"continuation-eof": []byte("250-never ends"),
		"long-line":        LongReply(250, 100000),
	}
}

// AuthLoop returns a handler for "AUTH" that answers every round with
// "334 " plus challenge exactly as given (so it may be invalid base64),
// reading one response line per round. With rounds 0 it never ends (until
// the client cancels with "*", goes away or the server closes); otherwise
// it fails with 535 after that many rounds.
func AuthLoop(challenge string, rounds int) HandlerFunc {
	return func(s *Session, _ Command) bool {
		for i := 0; rounds == 0 || i < rounds; i++ {
			s.WriteRaw([]byte("334 " + challenge + "\r\n"))
			line, err := s.ReadLine()
			if err != nil {
				s.Close()
				return true
			}
			if line == "*" {
				s.Reply(501, "5.7.0 Authentication aborted")
				return true
			}
		}
		s.Reply(535, "5.7.8 Error: authentication failed: authentication failure")
		return true
	}
}

// B64 is base64 (standard encoding), handy for building AuthLoop challenges.
func B64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
