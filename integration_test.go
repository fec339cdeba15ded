package probe_test

// Integration tests against real mail servers (Postfix with Dovecot SASL,
// Dovecot LMTP, Exim) started by .ci/mta-up. They are skipped unless the
// variables of testdata/mta/run/env are set:
//
//	bash .ci/mta-up && . testdata/mta/run/env
//	go test -count=1 -race -run Integration -v .
//
// Every test is named TestIntegration… so that .ci/run can select them.

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/mta"
)

// TestIntegrationBannerAndCapabilities greets every endpoint and checks the
// banner and the EHLO (LHLO) capabilities before and after TLS against
// what testdata/mta configures.
func TestIntegrationBannerAndCapabilities(t *testing.T) {
	mta.RequireMTA(t)
	postfixAuth := []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"}
	postfixCommon := []string{"PIPELINING", "CHUNKING", "SMTPUTF8", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES", "VRFY", "ETRN"}
	postfixPlain := mta.CapFacts{StartTLS: true, Size: 10240000, Has: postfixCommon}
	postfixTLS := mta.CapFacts{Auth: postfixAuth, Size: 10240000, Has: postfixCommon}
	eximCommon := []string{"PIPELINING", "CHUNKING", "SMTPUTF8", "8BITMIME", "DSN", "PRDR", "PIPECONNECT"}
	lmtpCommon := []string{"PIPELINING", "CHUNKING", "8BITMIME", "ENHANCEDSTATUSCODES"}
	tests := []struct {
		srv        mta.Server
		banner     string // the banner's text starts with it
		greeting   string // the first EHLO line after the domain
		before     mta.CapFacts
		after      mta.CapFacts
		beforeNote string
	}{
		{srv: mta.PostfixMX(), banner: "mail.example.test ESMTP Postfix (smtpprobe test)",
			before: postfixPlain, after: postfixTLS},
		{srv: mta.PostfixSubmission(), banner: "mail.example.test ESMTP Postfix (smtpprobe test)",
			before: postfixPlain, after: postfixTLS},
		{srv: mta.PostfixSMTPS(), banner: "mail.example.test ESMTP Postfix (smtpprobe test)",
			after: postfixTLS},
		{srv: mta.DovecotLMTP(), banner: "mail.example.test Dovecot (Debian) ready.",
			before: mta.CapFacts{StartTLS: true, Has: lmtpCommon, Lacks: []string{"SMTPUTF8", "DSN"}},
			after:  mta.CapFacts{Has: lmtpCommon, Lacks: []string{"SMTPUTF8", "DSN"}}},
		{srv: mta.Exim(), banner: "mail.example.test ESMTP Exim 4.", greeting: "Hello probe.example.test [127.0.0.1]",
			before: mta.CapFacts{StartTLS: true, Size: 10485760, Has: eximCommon, Lacks: []string{"ENHANCEDSTATUSCODES"}},
			after:  mta.CapFacts{Auth: []string{"PLAIN", "LOGIN", "CRAM-MD5"}, Size: 10485760, Has: eximCommon}},
	}
	for _, tt := range tests {
		t.Run(tt.srv.Name, func(t *testing.T) {
			ctx := mta.Context(t)
			c := tt.srv.DialWith(t, ctx, tt.srv.Dialer(t))
			b := c.Banner()
			if b == nil || b.Code != 220 || !strings.HasPrefix(b.Text(), tt.banner) {
				t.Fatalf("banner = %v, want 220 %s…", b, tt.banner)
			}
			if tt.srv.Implicit != (c.TLS() != nil) {
				t.Fatalf("TLS before EHLO = %v, want %v", c.TLS() != nil, tt.srv.Implicit)
			}
			caps, err := c.Ehlo(ctx, "")
			if err != nil {
				t.Fatalf("EHLO: %v", err)
			}
			if caps.Domain != "mail.example.test" || caps.Greeting != tt.greeting {
				t.Errorf("EHLO first line = %q %q, want mail.example.test %q", caps.Domain, caps.Greeting, tt.greeting)
			}
			if tt.srv.Implicit {
				mta.CheckCaps(t, "EHLO inside implicit TLS", caps, tt.after)
				return
			}
			mta.CheckCaps(t, "EHLO before TLS", caps, tt.before)
			if _, err := c.StartTLS(ctx, nil); err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
			if c.Capabilities() != nil {
				t.Errorf("Capabilities after STARTTLS = %v, want nil until EHLO", c.Capabilities())
			}
			caps, err = c.Ehlo(ctx, "")
			if err != nil {
				t.Fatalf("EHLO after STARTTLS: %v", err)
			}
			mta.CheckCaps(t, "EHLO after STARTTLS", caps, tt.after)
		})
	}
}

// TestIntegrationSubmissionRequiresTLS: Postfix submission refuses MAIL
// before STARTTLS with 530 5.7.0, and accepts the same MAIL inside TLS
// once authenticated.
func TestIntegrationSubmissionRequiresTLS(t *testing.T) {
	mta.RequireMTA(t)
	srv := mta.PostfixSubmission()
	ctx := mta.Context(t)
	c := srv.DialPlain(t, ctx)
	from := mta.LocalAddr(t, "alice")
	r, err := c.Mail(ctx, from, nil)
	var re *probe.ReplyError
	if !errors.As(err, &re) {
		t.Fatalf("MAIL before TLS: reply %v, err %v; want a *ReplyError", r, err)
	}
	if re.Reply.Code != 530 || re.Reply.Enhanced.String() != "5.7.0" || !strings.Contains(re.Reply.Text(), "STARTTLS") {
		t.Errorf("MAIL before TLS = %v, want 530 5.7.0 …STARTTLS…", re.Reply)
	}
	if re.Temporary() {
		t.Errorf("530 reported as temporary")
	}
	c2 := srv.DialAuthenticated(t, ctx)
	if r, err := c2.Mail(ctx, from, nil); err != nil || r.Code != 250 {
		t.Fatalf("MAIL after STARTTLS and AUTH = %v, %v; want 250", r, err)
	}
}
