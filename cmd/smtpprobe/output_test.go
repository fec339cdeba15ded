package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// TestColour: colour only on a terminal, and never with NO_COLOR or a
// dumb terminal; a server cannot put control bytes on the terminal.
func TestColour(t *testing.T) {
	// The banner tries to drive the terminal.
	srv := fakeserver.NewTB(t, fakeserver.Config{Banner: []string{"mail.example.test \x1b[2J\x1b]0;owned\x07 ESMTP"}})
	tests := []struct {
		name   string
		tty    bool
		env    map[string]string
		colour bool
	}{
		{"pipe", false, nil, false},
		{"terminal", true, nil, true},
		{"terminal with NO_COLOR", true, map[string]string{"NO_COLOR": "1"}, false},
		{"terminal with TERM=dumb", true, map[string]string{"TERM": "dumb"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := invocation{args: []string{"-quit-after", "ehlo", srv.Addr()}, env: tt.env}
			if tt.tty {
				inv.stdout = &ttyBuffer{}
			}
			r := inv.run(t)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stdout)
			}
			assertContains(t, r.stdout, `S: 220 mail.example.test \x1b[2J\x1b]0;owned\x07 ESMTP`)
			if got := strings.Contains(r.stdout, "\x1b["); got != tt.colour {
				t.Errorf("escape sequences in the output: %v, want %v:\n%q", got, tt.colour, r.stdout)
			}
			for _, bad := range []string{"\x1b[2J", "\x1b]0", "\x07"} {
				if strings.Contains(r.stdout, bad) {
					t.Errorf("the server's %q reached the terminal", bad)
				}
			}
			if tt.colour {
				assertContains(t, r.stdout, styleGreen+"OK"+styleReset)
			}
		})
	}
}

// TestIsTerminal: a pipe or a buffer is not a terminal.
func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) || !isTerminal(&ttyBuffer{}) {
		t.Error("buffer or ttyBuffer misjudged")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe counts as a terminal")
	}
}

// TestEscapeControls: C0, DEL and C1 controls become \xNN; text stays.
func TestEscapeControls(t *testing.T) {
	got := escapeControls("ok é\x00\x1b\x7f\u009b|")
	if want := `ok é\x00\x1b\x7f\x9b|`; got != want {
		t.Errorf("escapeControls = %q, want %q", got, want)
	}
}

// TestSummaryMX: with -mx the summary lists the exchangers and attempts.
func TestSummaryMX(t *testing.T) {
	var b bytes.Buffer
	rep := &scan.Report{Target: "example.test", Address: "192.0.2.1:25", Stage: scan.StageEhlo,
		MX:       []scan.MXHost{{Host: "mx1.example.test", Preference: 10}, {Host: "mx2.example.test", Preference: 20}},
		Attempts: []scan.Attempt{{Host: "mx1.example.test"}, {Host: "mx2.example.test"}}}
	newPrinter(&b, false).summary(rep)
	assertContains(t, b.String(), "Target:    example.test (192.0.2.1:25)\n",
		"MX:        mx1.example.test (10), mx2.example.test (20); 2 attempts\n", "Result:    OK, reached EHLO in 0s\n")
}
