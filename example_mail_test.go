package probe_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// Send a message to two recipients, one of whom the server does not know,
// and look at what happened to each.
func ExampleConn_Send() {
	srv := startExampleServer(fakeserver.Config{
		RejectRecipients: map[string]fakeserver.Reply{
			"nobody@example.test": {Code: 550, Lines: []string{"5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"}},
		},
		DataReply: func(*fakeserver.Session, *fakeserver.Message, string) fakeserver.Reply {
			return fakeserver.Reply{Code: 250, Lines: []string{"2.0.0 Ok: queued as 6A4C1D5153E"}}
		},
	})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := probe.Dial(ctx, srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Quit(ctx)
	if _, err := c.Ehlo(ctx, "client.example.test"); err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Send(ctx, probe.Envelope{
		From: "alice@example.test",
		To:   []string{"bob@example.test", "nobody@example.test"},
		Body: strings.NewReader("Subject: hello\n\n.signature line starts with a dot\n"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("pipelined:", res.Pipelined)
	for _, r := range res.Recipients {
		fmt.Printf("%s: RCPT %d, delivered %v\n", r.Address, r.Rcpt.Code, r.Delivered())
	}
	fmt.Println("queue id:", res.QueueID())
	// Output:
	// pipelined: true
	// bob@example.test: RCPT 250, delivered true
	// nobody@example.test: RCPT 550, delivered false
	// queue id: 6A4C1D5153E
}

// The queue id of the qmail reply in the seed tutorials.
func ExampleReply_QueueID() {
	r := &probe.Reply{Code: 250, Lines: []string{"ok 1113954693 qp 29052"}}
	fmt.Println(r.QueueID())
	// Output: 1113954693 qp 29052
}
