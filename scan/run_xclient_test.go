package scan

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestRunXClient: Options.XClient goes after the first EHLO, the new
// greeting is read and EHLO said again; a bad attribute is refused before
// anything is dialled.
func TestRunXClient(t *testing.T) {
	srv := startServer(t, fakeserver.Config{XClient: true})
	o := Options{Target: srv.Addr(), XClient: map[string]string{"ADDR": "192.0.2.7", "NAME": "client.example"}, QuitAfter: StageEhlo}
	rep := Run(testCtx(t), o)
	if rep.Error != nil {
		t.Fatalf("run: %v\n%s", rep.Error, rep.Transcript)
	}
	recs, err := srv.WaitSessions(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0].XClient; got["ADDR"] != "192.0.2.7" || got["NAME"] != "client.example" {
		t.Errorf("server saw XCLIENT %v", got)
	}
	var lines []string
	for _, e := range rep.Transcript.Entries() {
		if e.Kind.String() == "sent" {
			lines = append(lines, strings.Fields(e.Text)[0])
		}
	}
	if !slices.Equal(lines, []string{"EHLO", "XCLIENT", "EHLO", "QUIT"}) {
		t.Errorf("sent %v", lines)
	}
	if n := len(rep.Phases); n < 4 || rep.Phases[2].Name != StageEhlo || rep.Phases[3].Name != StageEhlo {
		t.Errorf("phases %+v", rep.Phases)
	}
	bad := Run(testCtx(t), Options{Target: srv.Addr(), XClient: map[string]string{"ADDR": "1\r\nRSET"}})
	if bad.Error == nil || bad.Error.Class != ClassInvalidInput || bad.Address != "" {
		t.Errorf("bad attribute: %+v", bad.Error)
	}
}

// TestRunXForward: Options.XForward goes right before MAIL and reaches the
// message; a refusal fails the run at StageMail.
func TestRunXForward(t *testing.T) {
	srv := startServer(t, fakeserver.Config{XForward: true})
	attrs := map[string]string{"ADDR": "203.0.113.9", "NAME": "fwd.example"}
	o := Options{Target: srv.Addr(), XForward: attrs, Envelope: probe.Envelope{From: "a@example.test", To: []string{"bob@example.test"}}}
	rep := Run(testCtx(t), o)
	if rep.Error != nil {
		t.Fatalf("run: %v\n%s", rep.Error, rep.Transcript)
	}
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs[0].XForward; got["ADDR"] != "203.0.113.9" || got["NAME"] != "fwd.example" {
		t.Errorf("message XFORWARD %v", got)
	}
	plain := startServer(t, fakeserver.Config{})
	o.Target = plain.Addr()
	rep = Run(testCtx(t), o)
	if rep.Error == nil || rep.Error.Stage != StageMail {
		t.Errorf("XFORWARD not offered: %+v", rep.Error)
	}
}
