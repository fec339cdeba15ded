package probe_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// startExampleServer starts the package's test server on 127.0.0.1, as the
// examples' stand-in for a real mail server.
func startExampleServer(cfg fakeserver.Config) *fakeserver.Server {
	srv, err := fakeserver.Start(cfg)
	if err != nil {
		log.Fatal(err)
	}
	return srv
}

// The first steps of every tutorial: read the banner, say EHLO, look at
// what the server offers, and QUIT.
func ExampleDial() {
	srv := startExampleServer(fakeserver.Config{
		Hostname:  "smtp.yourdomain.com",
		EhloLines: []string{"PIPELINING", "SIZE 36360000", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN"},
	})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := probe.Dial(ctx, srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	caps, err := c.Ehlo(ctx, "probe.example")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("STARTTLS offered:", caps.StartTLS, "- size limit:", caps.Size)
	c.Quit(ctx)
	c.Transcript().WriteTo(os.Stdout)
	// Output:
	// STARTTLS offered: true - size limit: 36360000
	// S: 220 smtp.yourdomain.com ESMTP fakeserver
	// C: EHLO probe.example
	// S: 250-smtp.yourdomain.com
	// S: 250-PIPELINING
	// S: 250-SIZE 36360000
	// S: 250-VRFY
	// S: 250-ETRN
	// S: 250-STARTTLS
	// S: 250-ENHANCEDSTATUSCODES
	// S: 250-8BITMIME
	// S: 250 DSN
	// C: QUIT
	// S: 221 2.0.0 Bye
}

// SendRaw sends any single line and returns the reply whatever its code;
// the reply reader notes what the server got wrong.
func ExampleConn_SendRaw() {
	srv := startExampleServer(fakeserver.Config{Handlers: map[string]fakeserver.HandlerFunc{
		"XSHOUT": func(s *fakeserver.Session, _ fakeserver.Command) bool {
			s.WriteRaw([]byte("250 \x1b[31mred text\n")) // an escape sequence and a bare LF
			return true
		},
	}})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := probe.Dial(ctx, srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r, _ := c.SendRaw(ctx, "XSHOUT")
	fmt.Println(r.Code)
	r, _ = c.SendRaw(ctx, "XUNKNOWN")
	fmt.Println(r.Code, r.Enhanced)
	for _, e := range c.Transcript().Entries()[1:] {
		fmt.Println(e)
	}
	// Output:
	// 250
	// 502 5.5.2
	// C: XSHOUT
	// S: 250 \x1b[31mred text
	// *  line ended with a bare LF, not CRLF
	// *  control bytes in reply text: 0x1b
	// C: XUNKNOWN
	// S: 502 5.5.2 Error: command not recognized
}

// Errors say which step failed; errors.As tells a refusal from a broken
// connection.
func ExampleReplyError() {
	srv := startExampleServer(fakeserver.Config{BannerCode: 554, Banner: []string{"5.7.1 No SMTP service here"}})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := probe.Dial(ctx, srv.Addr())
	var re *probe.ReplyError
	if errors.As(err, &re) {
		fmt.Println(re.Command, re.Reply.Code, re.Reply.Enhanced, re.Temporary())
	}
	fmt.Println(err)
	// Output:
	// banner 554 5.7.1 false
	// smtp banner: server replied 554 5.7.1 No SMTP service here
}
