package probe

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// seedServer is the greeting, EHLO list and QUIT reply of one server in
// the seed tutorials (../shared/seeds), with what the client must read.
type seedServer struct {
	name     string
	banner   string // the 220 line's text
	ehlo     string // key of seedEhloLists; "" for a server the seed only shows HELO to
	quit     string // the 221 line's text
	helo     string // the seed's HELO reply text, for a HELO-only server
	wantAuth []string
}

var seedServers = []seedServer{
	{name: "000 STARTTLS list", banner: "SMTP banner", ehlo: "000-plain", quit: "2.0.0 Bye"},
	{name: "000 AUTH list", banner: "SMTP banner", ehlo: "000-tls", quit: "2.0.0 Bye", wantAuth: []string{"PLAIN", "LOGIN"}},
	{name: "001 sendmail-style", banner: "mail.example.com ESMTP", ehlo: "001", quit: "2.0.0 Bye", wantAuth: []string{"LOGIN", "PLAIN"}},
	{name: "002 qmail STARTTLS", banner: "a.mx.jms1.net NO UCE ESMTP", ehlo: "002-starttls", quit: "a.mx.jms1.net NO UCE"},
	{name: "002 qmail AUTH", banner: "a.mx.jms1.net NO UCE ESMTP", ehlo: "002-auth", quit: "a.mx.jms1.net NO UCE", wantAuth: []string{"LOGIN", "PLAIN"}},
	{name: "003 doubled AUTH", banner: "mail.server.local ESMTP", ehlo: "003", quit: "Connection closed by foreign host.", wantAuth: []string{"LOGIN", "PLAIN"}},
	{name: "003 bare ESMTP banner", banner: "ESMTP", helo: "", quit: ""},
	{name: "000 HELO", banner: "SMTP banner", helo: "smtp.yourdomain.com", quit: "2.0.0 Bye"},
}

// TestSeedServersThroughFakeserver replays every server of the seed
// tutorials on the wire: its banner, its EHLO list (or a HELO), and QUIT.
func TestSeedServersThroughFakeserver(t *testing.T) {
	for _, s := range seedServers {
		t.Run(s.name, func(t *testing.T) {
			ctx := testCtx(t)
			cfg := seedConfig(t, s)
			srv := startServer(t, cfg)
			c, err := Dial(ctx, srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Banner().Text(); got != s.banner || c.Banner().Code != 220 {
				t.Errorf("banner = %d %q, want 220 %q", c.Banner().Code, got, s.banner)
			}
			if s.ehlo != "" {
				want, _ := ParseCapabilities(replyLines(t, seedEhloLists[s.ehlo]))
				caps, err := c.Ehlo(ctx, "testing")
				if err != nil || caps.Domain != want.Domain || caps.Greeting != want.Greeting ||
					len(caps.Extensions) != len(want.Extensions) || strings.Join(caps.Auth, " ") != strings.Join(s.wantAuth, " ") {
					t.Errorf("Ehlo = %+v, %v; want %+v", caps, err, want)
				}
			} else {
				r, err := c.Helo(ctx, "smtp.yourdomain.com")
				if err != nil || r.Text() != s.helo || !c.Capabilities().FromHELO {
					t.Errorf("Helo = %v, %v", r, err)
				}
			}
			r, err := c.Quit(ctx)
			if err != nil || r.Code != 221 || r.Text() != s.quit {
				t.Errorf("QUIT = %v, %v; want 221 %q", r, err, s.quit)
			}
			for _, e := range c.Transcript().Entries() {
				if e.Kind == Note {
					t.Errorf("a seed server drew a note: %q", e.Text)
				}
			}
		})
	}
}

// seedConfig makes fakeserver send exactly the seed server's lines.
func seedConfig(t *testing.T, s seedServer) fakeserver.Config {
	t.Helper()
	cfg := fakeserver.Config{
		OnConnect: rawBanner("220 " + s.banner + "\r\n"),
		Handlers: map[string]fakeserver.HandlerFunc{
			"QUIT": func(sess *fakeserver.Session, _ fakeserver.Command) bool {
				sess.WriteRaw([]byte(strings.TrimSpace("221 "+s.quit) + "\r\n"))
				sess.Close()
				return true
			},
			"HELO": rawReply(strings.TrimSpace("250 "+s.helo) + "\r\n"),
		},
	}
	if s.ehlo != "" {
		cfg.Handlers["EHLO"] = rawReply(strings.ReplaceAll(seedEhloLists[s.ehlo], "\n", "\r\n") + "\r\n")
	}
	return cfg
}

// TestTranscriptReadWhileWriting reads the transcript from other
// goroutines while the Conn records a session; run with -race.
func TestTranscriptReadWhileWriting(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, fakeserver.Config{})
	c, err := Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				tr := c.Transcript()
				_ = tr.String()
				_, _ = tr.MarshalJSON()
				_ = tr.Entries()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for i := 0; i < 50; i++ {
		if _, err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c.Quit(ctx)
	close(done)
	wg.Wait()
	if n := c.Transcript().Len(); n != 1+2*50+2 {
		t.Errorf("transcript has %d entries, want %d", n, 1+2*50+2)
	}
}
