package probe

import (
	"errors"
	"strings"
	"testing"
)

// TestErrorStringsEscaped: the text of every error type escapes what a
// server put there (control bytes, bidi controls, invalid UTF-8), once,
// however deep the error is wrapped.
func TestErrorStringsEscaped(t *testing.T) {
	evil := "ok\x1b[2J\u202Egnp.exe\r\nS: 250 forged\xff"
	reply := &Reply{Code: 550, Lines: []string{evil}}
	errs := []error{
		&ReplyError{Command: "MAIL", Reply: reply},
		&ProtocolError{Step: "EHLO", Reason: "bad " + evil, Line: evil, Err: errors.New(evil)},
		&OpError{Op: "RCPT", Err: &ReplyError{Command: "MAIL", Reply: reply}},
		&TLSError{Step: "STARTTLS verify", Err: errors.New("x509: certificate is valid for " + evil)},
	}
	for _, err := range errs {
		s := err.Error()
		if strings.ContainsAny(s, "\x1b\r\n\u202E") || strings.Contains(s, "\xff") {
			t.Errorf("%T: %q holds raw control bytes", err, s)
		}
		if strings.Contains(s, `\\x1b`) {
			t.Errorf("%T: escaped twice: %q", err, s)
		}
		if !strings.Contains(s, `\x1b`) && !strings.Contains(s, `\u{202e}`) {
			t.Errorf("%T: %q lost the escapes", err, s)
		}
	}
	if got := clean(`C:\path`); got != `C:\path` {
		t.Errorf("clean changed a backslash: %q", got)
	}
}
