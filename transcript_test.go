package probe

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	tests := map[string]string{
		"plain text":           "plain text",
		"a\r\nC: forged":       `a\r\nC: forged`,
		"\x1b[2J\x1b[31mred":   `\x1b[2J\x1b[31mred`,
		"nul\x00del\x7f":       `nul\x00del\x7f`,
		"tab\there":            `tab\there`,
		"bad \xff utf8":        `bad \xff utf8`,
		"c1 \u0085 next line":  `c1 \u{85} next line`,
		"bidi \u202e override": `bidi \u{202e} override`,
		"line sep \u2028 here": `line sep \u{2028} here`,
		"ünïcödé ok — 日本":      "ünïcödé ok — 日本",
		`back\slash doubled`:   `back\\slash doubled`,
		`forged \r\n text`:     `forged \\r\\n text`,
		"\xe2\x82 truncated":   `\xe2\x82 truncated`,
		"zero width \u200b sp": `zero width \u{200b} sp`,
		"emoji 📬 stays as is":  "emoji 📬 stays as is",
	}
	for in, want := range tests {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTranscriptRenderings(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := newTranscript(false, logger)
	tr.add(Received, "220 mail.example.test ESMTP", false, false)
	tr.add(Sent, "EHLO probe.example", false, false)
	tr.add(Received, "250 evil\x1b[2J\r\nC: forged", false, false)
	tr.add(Note, "TLS 1.3 TLS_AES_128_GCM_SHA256", true, false)
	tr.secret("AUTH PLAIN AHVzZXIAcGFzcw==", "AUTH PLAIN [credentials redacted]", true)
	tr.add(Received, "250 \xff", true, false)

	want := "S: 220 mail.example.test ESMTP\n" +
		"C: EHLO probe.example\n" +
		`S: 250 evil\x1b[2J\r\nC: forged` + "\n" +
		"*  TLS 1.3 TLS_AES_128_GCM_SHA256\n" +
		"C: AUTH PLAIN [credentials redacted]\n" +
		`S: 250 \xff` + "\n"
	if got := tr.String(); got != want {
		t.Errorf("String:\n%s\nwant:\n%s", got, want)
	}
	var buf bytes.Buffer
	if n, err := tr.WriteTo(&buf); err != nil || n != int64(len(want)) || buf.String() != want {
		t.Errorf("WriteTo = %d, %v", n, err)
	}
	for _, out := range []string{tr.String(), logs.String()} {
		if strings.Contains(out, "AHVzZXIAcGFzcw") || strings.ContainsRune(out, 0x1b) {
			t.Errorf("rendering leaks a secret or an escape:\n%s", out)
		}
	}
	if strings.Count(logs.String(), "msg=smtp") != 6 {
		t.Errorf("slog got %d entries:\n%s", strings.Count(logs.String(), "msg=smtp"), logs.String())
	}

	data, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("AHVzZXIAcGFzcw")) {
		t.Errorf("JSON leaks the secret: %s", data)
	}
	var back Transcript
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stripMonotonic(back.Entries()), stripMonotonic(tr.Entries())) {
		t.Errorf("JSON round trip differs:\n%+v\n%+v", back.Entries(), tr.Entries())
	}
	e := tr.Entries()[4]
	if !e.Redacted || !e.TLS || e.Kind != Sent {
		t.Errorf("secret entry = %+v", e)
	}
}

func TestTranscriptReveal(t *testing.T) {
	tr := newTranscript(true, nil)
	tr.secret("AUTH PLAIN AHVzZXIAcGFzcw==", "AUTH PLAIN [credentials redacted]", false)
	if got := tr.String(); got != "C: AUTH PLAIN AHVzZXIAcGFzcw==\n" || tr.Entries()[0].Redacted {
		t.Errorf("revealed transcript = %q", got)
	}
}

func TestKindText(t *testing.T) {
	for _, k := range []Kind{Sent, Received, Note} {
		b, _ := k.MarshalText()
		var back Kind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%v round trip: %v, %v", k, back, err)
		}
	}
	var k Kind
	if err := k.UnmarshalText([]byte("bogus")); err == nil {
		t.Error("bogus kind accepted")
	}
	if Kind(9).String() != "kind(9)" {
		t.Error(Kind(9).String())
	}
}

func TestSplitRaw(t *testing.T) {
	got := splitRaw([]byte("MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\n.\r"))
	want := []string{"MAIL FROM:<a>", "RCPT TO:<b>", "DATA\n.\r"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("splitRaw = %q", got)
	}
}

func stripMonotonic(es []Entry) []Entry {
	for i := range es {
		es[i].Time = es[i].Time.UTC().Round(0)
	}
	return es
}
