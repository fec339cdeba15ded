package jsonl

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// reflected is the line as encoding/json writes it from a struct that
// embeds the Report, which AppendLine must reproduce byte for byte.
type reflected struct {
	Line  int `json:"line"`
	Tries int `json:"tries,omitempty"`
	*scan.Report
}

func TestAppendLine(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	rep := scan.Run(t.Context(), scan.Options{Target: srv.Addr()})
	if len(rep.Transcript.Entries()) < 3 {
		t.Fatalf("a transcript of %d lines", len(rep.Transcript.Entries()))
	}
	for _, tries := range []int{1, 3} {
		r := reflected{Line: 42, Report: rep}
		if tries > 1 {
			r.Tries = tries
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendLine([]byte("previous\n"), 42, tries, rep)
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("previous\n"), append(want, '\n')...); !bytes.Equal(got, want) {
			t.Errorf("tries %d:\n got %s\nwant %s", tries, got, want)
		}
	}
}

// TestAppendLineNil: a nil report gives the line number alone, as
// encoding/json writes a struct whose embedded Report is nil.
func TestAppendLineNil(t *testing.T) {
	want, err := json.Marshal(reflected{Line: 7, Tries: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppendLine(nil, 7, 2, nil)
	if err != nil || string(got) != string(want)+"\n" {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}
