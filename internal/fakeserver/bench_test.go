package fakeserver_test

import (
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// BenchmarkSession measures one full plaintext delivery.
func BenchmarkSession(b *testing.B) {
	srv := fakeserver.NewTB(b, fakeserver.Config{NoRecord: true})
	for b.Loop() {
		cl := dial(b, srv.Addr())
		cl.expect(220)
		cl.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\n")
		for range 3 {
			cl.reply()
		}
		cl.expect(354)
		cl.send("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
		cl.expect(250)
		cl.expect(221)
		_ = cl.c.Close()
	}
}
