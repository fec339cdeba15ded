package probe

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"
)

// reflectJSON is the transcript's JSON as encoding/json writes it from
// transcriptJSON, which MarshalJSON must reproduce byte for byte.
func reflectJSON(t *Transcript) ([]byte, error) {
	out := transcriptJSON{Start: t.start, Entries: make([]entryJSON, len(t.entries))}
	for i, e := range t.entries {
		out.Entries[i].Entry = e
		if !utf8.ValidString(e.Text) {
			out.Entries[i].Bytes = []byte(e.Text)
		}
	}
	return json.Marshal(out)
}

func TestTranscriptJSONAsReflection(t *testing.T) {
	texts := []string{"", "250-PIPELINING", "MAIL FROM:<a&b@example.com> SIZE=10", "quote \" backslash \\ tab \t cr \r lf \n",
		"bell \a bs \b ff \f nul \x00 esc \x1b del \x7f", "caf\xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \xf0\x9f\x93\xa7",
		"invalid \xff\xfe utf-8 \xc3", "\xed\xa0\x80 surrogate", "<script>&amp;</script>"}
	rnd := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		b := make([]byte, rnd.IntN(40))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		texts = append(texts, string(b))
	}
	start := time.Date(2026, 12, 5, 8, 0, 0, 123456789, time.FixedZone("X", 3600))
	tr := &Transcript{start: start}
	for i, s := range texts {
		tr.entries = append(tr.entries, Entry{Time: start.Add(time.Duration(i) * time.Microsecond), Offset: time.Duration(i) * time.Microsecond,
			Kind: Kind(i%3 + 1), Text: s, TLS: i%3 == 0, Redacted: i%5 == 0})
	}
	got, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	want, err := reflectJSON(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("differs at byte %d:\n got %s\nwant %s", i, got[max(0, i-60):min(len(got), i+60)], want[max(0, i-60):min(len(want), i+60)])
			}
		}
		t.Fatalf("lengths %d and %d", len(got), len(want))
	}
	var back Transcript
	if err := json.Unmarshal(got, &back); err != nil || len(back.entries) != len(texts) || back.entries[10].Text != texts[10] {
		t.Errorf("round trip: %v, %d entries", err, len(back.entries))
	}
	empty, err := json.Marshal(new(Transcript))
	if want, _ := reflectJSON(new(Transcript)); err != nil || !bytes.Equal(empty, []byte(`{"start":"0001-01-01T00:00:00Z","entries":[]}`)) || !bytes.Equal(empty, want) {
		t.Errorf("empty transcript: %s, %v (reflection: %s)", empty, err, want)
	}
	far := &Transcript{start: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := json.Marshal(far); err == nil {
		t.Error("a year past 9999 was encoded")
	}
	if b, err := far.AppendJSON([]byte("kept")); err == nil || string(b) != "kept" {
		t.Errorf("AppendJSON of a year past 9999: %q, %v; want the buffer as it was and an error", b, err)
	}
	odd := &Transcript{start: start, entries: []Entry{{Time: start, Kind: Kind(9), Text: "x"}}}
	got, _ = json.Marshal(odd)
	if want, _ := reflectJSON(odd); !bytes.Equal(got, want) {
		t.Errorf("an unknown kind: %s, want %s", got, want)
	}
}

func BenchmarkTranscriptJSON(b *testing.B) {
	tr := &Transcript{start: time.Now()}
	for i := range 20 {
		tr.entries = append(tr.entries, Entry{Time: time.Now(), Offset: time.Duration(i), Kind: Received, Text: "250-ENHANCEDSTATUSCODES <x@y>", TLS: i > 10})
	}
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			json.Marshal(tr)
		}
	})
	b.Run("appendJSON-alone", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			tr.appendJSON(nil)
		}
	})
	b.Run("old-MarshalJSON", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			json.Marshal(oldMarshaler{tr})
		}
	})
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			reflectJSON(tr)
		}
	})
}

// oldMarshaler is the transcript as its MarshalJSON encoded it before
// appendJSON: through transcriptJSON by reflection.
type oldMarshaler struct{ t *Transcript }

func (o oldMarshaler) MarshalJSON() ([]byte, error) { return reflectJSON(o.t) }
