package probe_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/mta"
)

func deliveringServers() []mta.Server {
	return []mta.Server{mta.PostfixMX(), mta.Exim(), mta.DovecotLMTP()}
}

// testMessage is a message whose first line is its unique Message-ID and
// whose body holds what dot-stuffing and chunking must carry unchanged:
// lines of dots, a lone ".", leading and trailing blanks, empty lines and
// a long line.
func testMessage(from, to, token, subject string) string {
	return "Message-ID: <" + token + "@probe.example.test>\r\n" +
		"Date: Sun, 22 Nov 2026 21:00:00 +0000\r\n" +
		"From: Probe <" + from + ">\r\n" +
		"To: <" + to + ">\r\n" +
		"Subject: " + subject + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"X-Probe-Folded: first part\r\n" +
		"\tsecond part\r\n" +
		"\r\n" +
		"First line.\r\n" +
		".\r\n" +
		"..two dots\r\n" +
		".leading dot\r\n" +
		"\r\n" +
		"\r\n" +
		"  indented, trailing blanks  \r\n" +
		"\ttab\tinside\r\n" +
		strings.Repeat("0123456789", 70) + "\r\n" +
		"From the start of a line (no mbox quoting in Maildir)\r\n" +
		"Last line.\r\n"
}

// TestIntegrationPipelinedSend sends one message to three local users and
// one unknown one with Send: MAIL, the four RCPTs and DATA go in one write
// since the servers offer PIPELINING; the results say which recipients got
// the message, and the three copies are read back from the Maildirs.
func TestIntegrationPipelinedSend(t *testing.T) {
	mta.RequireMTA(t)
	tests := []struct {
		srv     mta.Server
		unknown string // the refusal of the unknown user contains it
		code    int
	}{
		{mta.PostfixMX(), "5.1.1 <nobody-", 550},
		{mta.Exim(), "Unknown user", 550},
	}
	for _, tt := range tests {
		t.Run(tt.srv.Name, func(t *testing.T) {
			ctx := mta.Context(t)
			c := tt.srv.DialPlain(t, ctx)
			if !c.Capabilities().Pipelining {
				t.Fatalf("%s does not advertise PIPELINING", tt.srv.Name)
			}
			token := mta.UniqueToken(t)
			from := mta.LocalAddr(t, "alice")
			to := []string{mta.LocalAddr(t, "alice"), mta.LocalAddr(t, "bob"), mta.LocalAddr(t, "carol"), mta.LocalAddr(t, "nobody-"+token)}
			msg := testMessage(from, to[0], token, "pipelined "+token)
			before := c.Transcript().Len()
			res, err := c.Send(ctx, probe.Envelope{From: from, To: to, Body: strings.NewReader(msg)})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if !res.Pipelined || res.Mail.Code != 250 || res.Data.Code != 354 || res.Final.Code != 250 || res.QueueID() == "" {
				t.Fatalf("pipelined %v mail %v data %v final %v queue id %q", res.Pipelined, res.Mail, res.Data, res.Final, res.QueueID())
			}
			checkOneWrite(t, c.Transcript().Entries()[before:], "MAIL FROM:", "RCPT TO:", "RCPT TO:", "RCPT TO:", "RCPT TO:", "DATA")
			for i, rr := range res.Recipients {
				if rr.Address != to[i] {
					t.Errorf("result %d is for %s, want %s", i, rr.Address, to[i])
				}
				if i < 3 {
					if !rr.Accepted() || !rr.Delivered() || rr.Final != res.Final {
						t.Errorf("%s: rcpt %v final %v, want accepted and delivered", rr.Address, rr.Rcpt, rr.Final)
					}
					continue
				}
				if rr.Accepted() || rr.Delivered() || rr.Rcpt.Code != tt.code || !strings.Contains(rr.Rcpt.Text(), tt.unknown) {
					t.Errorf("%s: rcpt %v final %v, want refused with %d …%s…", rr.Address, rr.Rcpt, rr.Final, tt.code, tt.unknown)
				}
			}
			for _, lp := range []string{"alice", "bob", "carol"} {
				tt.srv.CheckReadBack(t, ctx, lp, token, msg, true)
			}
		})
	}
}

// checkOneWrite checks that entries begin with the commands named by
// prefixes, all sent before the first reply was read.
func checkOneWrite(t *testing.T, entries []probe.Entry, prefixes ...string) {
	t.Helper()
	var sent []string
	for _, e := range entries {
		if e.Kind == probe.Received {
			break
		}
		if e.Kind == probe.Sent {
			sent = append(sent, e.Text)
		}
	}
	if len(sent) != len(prefixes) {
		t.Fatalf("sent before the first reply: %q, want %d commands %q", sent, len(prefixes), prefixes)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(sent[i], p) {
			t.Errorf("command %d = %q, want %s…", i, sent[i], p)
		}
	}
}

// TestIntegrationDataReadBack sends a message with DATA (dot-stuffed) and
// one with BDAT in small chunks to every server that delivers into a
// Maildir, and reads each back: once the header fields the server put on
// top are removed, it is the message sent, byte for byte.
func TestIntegrationDataReadBack(t *testing.T) {
	mta.RequireMTA(t)
	for _, srv := range deliveringServers() {
		for _, bdat := range []bool{false, true} {
			name := srv.Name + "/DATA"
			if bdat {
				name = srv.Name + "/BDAT"
			}
			t.Run(name, func(t *testing.T) {
				ctx := mta.Context(t)
				c := srv.DialPlain(t, ctx)
				if bdat && !c.Capabilities().Chunking {
					t.Fatalf("%s does not advertise CHUNKING", srv.Name)
				}
				token := mta.UniqueToken(t)
				from, to := mta.LocalAddr(t, "bob"), mta.LocalAddr(t, "alice")
				msg := testMessage(from, to, token, name+" "+token)
				opts := &probe.MailOptions{}
				if c.Capabilities().Has("SIZE") {
					opts.Size = int64(len(msg))
				}
				if _, err := c.Mail(ctx, from, opts); err != nil {
					t.Fatalf("MAIL: %v", err)
				}
				if _, err := c.Rcpt(ctx, to, nil); err != nil {
					t.Fatalf("RCPT: %v", err)
				}
				var r *probe.Reply
				var err error
				if bdat {
					r, err = c.Bdat(ctx, strings.NewReader(msg), 100)
				} else {
					r, err = c.Data(ctx, strings.NewReader(msg))
				}
				if err != nil || r.Code != 250 {
					t.Fatalf("end of data = %v, %v; want 250", r, err)
				}
				if bdat {
					checkChunks(t, c.Transcript(), len(msg), 100)
				}
				prefix := srv.CheckReadBack(t, ctx, "alice", token, msg, false)
				if !strings.Contains(prefix, "<"+from+">") {
					t.Errorf("the envelope sender %s is not in the prepended fields:\n%s", from, prefix)
				}
			})
		}
	}
}

// checkChunks checks that the transcript holds one BDAT command per chunk
// of size bytes, the last one with LAST.
func checkChunks(t *testing.T, tr *probe.Transcript, n, size int) {
	t.Helper()
	var bdats []string
	for _, e := range tr.Entries() {
		if e.Kind == probe.Sent && strings.HasPrefix(e.Text, "BDAT ") {
			bdats = append(bdats, e.Text)
		}
	}
	want := (n + size - 1) / size
	if len(bdats) != want || !strings.HasSuffix(bdats[len(bdats)-1], " LAST") {
		t.Errorf("BDAT commands %q, want %d chunks of %d bytes ending with LAST", bdats, want, size)
	}
}

// TestIntegrationSMTPUTF8 sends, with the SMTPUTF8 parameter, a message
// from a UTF-8 address with a UTF-8 Subject and body (RFC 6531/6532) and
// reads it back; the envelope sender comes back in Return-Path as sent.
func TestIntegrationSMTPUTF8(t *testing.T) {
	mta.RequireMTA(t)
	for _, srv := range []mta.Server{mta.PostfixMX(), mta.Exim()} {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := mta.Context(t)
			c := srv.DialPlain(t, ctx)
			if !c.Capabilities().SMTPUTF8 || !c.Capabilities().EightBitMIME {
				t.Fatalf("%s does not advertise SMTPUTF8 and 8BITMIME", srv.Name)
			}
			token := mta.UniqueToken(t)
			from, to := mta.LocalAddr(t, "jörg.müller"), mta.LocalAddr(t, "carol")
			msg := "Message-ID: <" + token + "@probe.example.test>\r\n" +
				"Date: Sun, 22 Nov 2026 21:00:00 +0000\r\n" +
				"From: Jörg Müller <" + from + ">\r\n" +
				"To: <" + to + ">\r\n" +
				"Subject: Grüße aus Köln ✉ " + token + "\r\n" +
				"MIME-Version: 1.0\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\n" +
				"Content-Transfer-Encoding: 8bit\r\n" +
				"\r\n" +
				"Größe, Straße, 東京, Ελλάδα.\r\n"
			res, err := c.Send(ctx, probe.Envelope{
				From:        from,
				To:          []string{to},
				Body:        strings.NewReader(msg),
				MailOptions: &probe.MailOptions{SMTPUTF8: true, Body: probe.Body8BitMIME},
			})
			if err != nil || res.Final.Code != 250 {
				t.Fatalf("Send with SMTPUTF8 = %+v, %v", res, err)
			}
			prefix := srv.CheckReadBack(t, ctx, "carol", token, msg, false)
			if !strings.Contains(prefix, "<"+from+">") {
				t.Errorf("the UTF-8 envelope sender %s is not in the prepended fields:\n%s", from, prefix)
			}
		})
	}
}

// TestIntegrationLMTPPerRecipient: Dovecot LMTP refuses an unknown user at
// RCPT and answers the end of data once per accepted recipient, in order,
// both through Send (pipelined) and through Mail, Rcpt and DataLMTP.
func TestIntegrationLMTPPerRecipient(t *testing.T) {
	mta.RequireMTA(t)
	srv := mta.DovecotLMTP()
	ctx := mta.Context(t)
	c := srv.DialPlain(t, ctx)
	from := mta.LocalAddr(t, "carol")
	alice, bob := mta.LocalAddr(t, "alice"), mta.LocalAddr(t, "bob")

	t.Run("Send", func(t *testing.T) {
		token := mta.UniqueToken(t)
		unknown := mta.LocalAddr(t, "nobody-"+token)
		msg := testMessage(from, alice, token, "LMTP Send "+token)
		res, err := c.Send(ctx, probe.Envelope{From: from, To: []string{alice, unknown, bob}, Body: strings.NewReader(msg)})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if !res.Pipelined {
			t.Errorf("not pipelined although Dovecot offers PIPELINING")
		}
		mta.CheckUnknownLMTP(t, res.Recipients[1].Rcpt, unknown)
		if res.Recipients[1].Final != nil {
			t.Errorf("final reply %v for the refused recipient", res.Recipients[1].Final)
		}
		for _, rr := range []probe.RecipientResult{res.Recipients[0], res.Recipients[2]} {
			mta.CheckSavedLMTP(t, rr.Final, rr.Address)
		}
		srv.CheckReadBack(t, ctx, "alice", token, msg, true)
		srv.CheckReadBack(t, ctx, "bob", token, msg, true)
	})

	t.Run("DataLMTP", func(t *testing.T) {
		token := mta.UniqueToken(t)
		unknown := mta.LocalAddr(t, "nobody-"+token)
		msg := testMessage(from, bob, token, "LMTP DataLMTP "+token)
		if _, err := c.Mail(ctx, from, nil); err != nil {
			t.Fatalf("MAIL: %v", err)
		}
		if _, err := c.Rcpt(ctx, bob, nil); err != nil {
			t.Fatalf("RCPT %s: %v", bob, err)
		}
		r, err := c.Rcpt(ctx, unknown, nil)
		var re *probe.ReplyError
		if !errors.As(err, &re) {
			t.Fatalf("RCPT %s = %v, %v; want a *ReplyError", unknown, r, err)
		}
		mta.CheckUnknownLMTP(t, re.Reply, unknown)
		if _, err := c.Rcpt(ctx, alice, nil); err != nil {
			t.Fatalf("RCPT %s: %v", alice, err)
		}
		before := c.Transcript().Len()
		replies, err := c.DataLMTP(ctx, strings.NewReader(msg), 0)
		if err != nil {
			t.Fatalf("DataLMTP: %v", err)
		}
		if len(replies) != 2 {
			t.Fatalf("%d replies after the data, want one per accepted recipient (2): %v", len(replies), replies)
		}
		mta.CheckSavedLMTP(t, replies[0], bob)
		mta.CheckSavedLMTP(t, replies[1], alice)
		if n := countReplies(c.Transcript().Entries()[before:]); n != 3 {
			t.Errorf("%d replies read for DATA and the data, want 354 and two finals", n)
		}
		srv.CheckReadBack(t, ctx, "bob", token, msg, true)
		srv.CheckReadBack(t, ctx, "alice", token, msg, true)
	})
}

// countReplies counts the replies in entries: a reply is one or more
// received lines, the last without a hyphen after the code.
func countReplies(entries []probe.Entry) int {
	n := 0
	for _, e := range entries {
		if e.Kind == probe.Received && len(e.Text) >= 4 && e.Text[3] != '-' {
			n++
		}
	}
	return n
}
