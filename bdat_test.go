package probe

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// refuseFirstChunkThen answers the first BDAT chunk with 552 and BDAT LAST
// with the replies of last, reading every chunk's bytes.
func refuseFirstChunkThen(last ...fakeserver.Reply) fakeserver.HandlerFunc {
	return func(s *fakeserver.Session, cmd fakeserver.Command) bool {
		f := strings.Fields(cmd.Arg)
		size, _ := strconv.Atoi(f[0])
		s.ReadFull(size)
		if len(f) == 1 {
			s.Reply(552, "5.3.4 Message too big")
			return true
		}
		for _, r := range last {
			s.Reply(r.Code, r.Lines...)
		}
		return true
	}
}

// TestBdatLastReadAfterRefusal: with PIPELINING, a message of two chunks
// sends the first and LAST before any reply; when the first is refused,
// LAST's reply (LMTP: replies) must still be read so that the RSET the
// caller sends next gets its own answer.
func TestBdatLastReadAfterRefusal(t *testing.T) {
	ok := fakeserver.Reply{Code: 250, Lines: []string{"2.0.0 last chunk"}}
	bad := fakeserver.Reply{Code: 503, Lines: []string{"5.5.1 no transaction"}}
	tests := []struct {
		name      string
		lmtp      bool
		last      []fakeserver.Reply
		wantCodes []int
	}{
		{"smtp", false, []fakeserver.Reply{ok}, []int{250}},
		{"lmtp positive", true, []fakeserver.Reply{ok, ok}, []int{250, 250}},
		{"lmtp refused once", true, []fakeserver.Reply{bad}, []int{503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{LMTP: tt.lmtp,
				Handlers: map[string]fakeserver.HandlerFunc{"BDAT": refuseFirstChunkThen(tt.last...)}})
			c, _ := dialMail(t, ctx, srv, &Dialer{LMTP: tt.lmtp})
			if !c.Capabilities().Pipelining {
				t.Fatal("fakeserver did not advertise PIPELINING")
			}
			c.Mail(ctx, "a@example.test", nil)
			c.Rcpt(ctx, "b@example.test", nil)
			if tt.lmtp {
				c.Rcpt(ctx, "c@example.test", nil)
			}
			replies, err := c.BdatLMTP(ctx, bytes.NewReader(bytes.Repeat([]byte("z"), 100)), 64, 0)
			var re *ReplyError
			if !errors.As(err, &re) || re.Command != "BDAT" || re.Reply.Code != 552 {
				t.Fatalf("err = %v", err)
			}
			var codes []int
			for _, r := range replies {
				codes = append(codes, r.Code)
			}
			if !slices.Equal(codes, tt.wantCodes) {
				t.Errorf("replies to LAST %v, want %v", codes, tt.wantCodes)
			}
			r, err := c.Rset(ctx)
			if err != nil || r.Text() != "2.0.0 Ok" {
				t.Fatalf("RSET got %q, %v: the session is out of step", r, err)
			}
			if r, err := c.Noop(ctx); err != nil || r.Code != 250 {
				t.Fatalf("NOOP got %q, %v", r, err)
			}
		})
	}
}
