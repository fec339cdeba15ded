package scan

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe"

	"github.com/emersion/go-sasl"
)

// StartTLSPolicy says what Run does about STARTTLS on a plaintext session.
type StartTLSPolicy int

// The STARTTLS policies.
const (
	// StartTLSIfOffered starts TLS when the server offers STARTTLS, and
	// goes on in plaintext when it does not, or when it refuses the
	// command with a 4xx or 5xx (noted in the transcript and as the
	// finding starttls-failed). A failed handshake or certificate ends
	// the run. It is the default.
	StartTLSIfOffered StartTLSPolicy = iota
	// StartTLSNever stays in plaintext.
	StartTLSNever
	// StartTLSRequired ends the run, before any AUTH or MAIL, when the
	// server does not offer STARTTLS or refuses it (ErrNoStartTLS, class
	// starttls-unavailable), or when the handshake or the certificate
	// fails.
	StartTLSRequired
)

// String returns "if-offered", "never" or "required".
func (p StartTLSPolicy) String() string {
	switch p {
	case StartTLSIfOffered:
		return "if-offered"
	case StartTLSNever:
		return "never"
	case StartTLSRequired:
		return "required"
	}
	return "StartTLSPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Options describes one probe for Run.
type Options struct {
	// Target is "host", "host:port" or "[ipv6]:port"; with MX, a mail
	// domain (optionally with a port).
	Target string
	// MX makes Target a mail domain: its MX hosts are tried in order of
	// preference until one greets (see ResolveMX).
	MX bool
	// Resolver looks up MX records and addresses for MX; nil means
	// net.DefaultResolver.
	Resolver Resolver
	// Port is used when Target has none: 0 means 25, 465 with
	// ImplicitTLS, 24 with Dialer.LMTP.
	Port int
	// Dialer holds the connection options: proxy, EHLO name, TLS config,
	// timeouts, limits, AllowInsecureAuth, RevealSecrets, LMTP, logger.
	Dialer probe.Dialer
	// ImplicitTLS starts TLS on connect (port 465, RFC 8314); the
	// StartTLS policy is then ignored.
	ImplicitTLS bool
	// StartTLS is the STARTTLS policy on a plaintext session.
	StartTLS StartTLSPolicy

	// Identity, Username and Password are the credentials for AUTH, which
	// runs when Username, AuthMechanism or SASL is set. For XOAUTH2 and
	// OAUTHBEARER Password holds the token; for ANONYMOUS Username is the
	// trace.
	Identity, Username, Password string
	// AuthMechanism names the mechanism to use whether or not the server
	// offers it: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256,
	// XOAUTH2, OAUTHBEARER, EXTERNAL or ANONYMOUS. Empty means the best the
	// server offers: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN.
	AuthMechanism string
	// SASL, when set, is used as it is instead of the above. A SASL client
	// keeps state: give each Run a new one.
	SASL sasl.Client

	// Envelope is the message, sent with Conn.Send (pipelined when the
	// server offers PIPELINING, unless NoPipelining). Without recipients
	// there is no mail transaction, unless QuitAfter is StageMail, which
	// sends MAIL FROM alone. Unlike Send, a nil Body sends a short test
	// message with Subject, Date and Message-ID headers, whose domain is
	// the name EHLO gives (Conn.LocalName); its From is From, or
	// postmaster at that name.
	probe.Envelope

	// QuitAfter ends the run after that stage (then QUIT); "" plays every
	// stage that applies. After StageConnect the connection is closed
	// without QUIT, since the server has not greeted yet. StageRcpt and
	// StageData need recipients; StageResolve needs MX.
	QuitAfter Stage
	// ExpectName is the name the server should give in its banner and EHLO
	// reply; a different one is the finding name-mismatch. Empty: no check.
	ExpectName string
	// CertWarnDays is how many days before its expiry a certificate gets
	// the finding cert-expiring: 0 means 14; negative, never.
	CertWarnDays int
	// XClient, when not empty, is sent as XCLIENT (Conn.XClient: NAME,
	// ADDR, PORT, PROTO, HELO, LOGIN, DESTADDR, DESTPORT) after the first
	// EHLO, which must offer it; the server greets anew and EHLO is said
	// again, as part of StageEhlo (Report.Phases then holds two ehlo
	// phases, the second with XCLIENT). The rest of the session speaks for
	// the client it names. The checks do not send it.
	XClient map[string]string
	// XForward, when not empty, is sent as XFORWARD (Conn.XForward: NAME,
	// ADDR, PORT, PROTO, HELO, IDENT, SOURCE) right before MAIL FROM, as
	// part of StageMail: the attributes of the client the message came
	// from, for the one transaction.
	XForward map[string]string

	// Checks lists the active checks to perform after the session, each
	// on connections of its own (see CheckID and ParseChecks); their
	// findings join Report.Findings and Report.Checks says how each went.
	// CheckOptions tunes them.
	Checks       []CheckID
	CheckOptions CheckOptions
}

// Run plays one probe as Options say: connect (plain or implicit TLS),
// banner, EHLO (HELO fallback), STARTTLS by policy and EHLO again, AUTH,
// MAIL, RCPT…, DATA or BDAT (through Send: pipelined when offered, with a
// result per recipient), and QUIT, which is sent whenever the session can
// still take it. It stops after Options.QuitAfter, or at the first error.
//
// Run never panics and always returns a complete Report: the error, if
// any, is in Report.Error, classified (see ErrorClass), with the stage it
// happened at; Report.Phases times each phase; Report.Findings lists what
// the session showed without any extra traffic (see FindingID), followed
// by those of the checks Options.Checks asks for, which run after the
// session on connections of their own (see CheckID). A Trace in ctx
// (WithTrace) gets the events as they happen. The whole
// run is bounded by ctx; each step by Dialer.Timeouts.
func Run(ctx context.Context, o Options) *Report {
	r := newRunner(ctx, o)
	r.protect(ctx)
	r.runChecks(ctx)
	r.finish()
	return r.rep
}

// runner is one Run in progress.
type runner struct {
	o       Options
	rep     *Report
	c       *probe.Conn
	tr      tracer
	start   time.Time
	current Stage          // the stage being played
	spans   map[Stage]span // transcript entries of each phase
	entries []probe.Entry  // the session's transcript, once findings need it
}

// span is a range of transcript entries, [first, last).
type span struct{ first, last int }

func newRunner(ctx context.Context, o Options) *runner {
	now := time.Now()
	return &runner{
		o:     o,
		start: now,
		tr:    newTracer(ContextTrace(ctx)),
		spans: map[Stage]span{},
		rep: &Report{
			SchemaVersion: SchemaVersion,
			Target:        o.Target,
			ImplicitTLS:   o.ImplicitTLS,
			Start:         now.Round(0).UTC(),
			Phases:        []Phase{},
		},
	}
}

// protect runs the probe, turns a panic (of a hook or a SASL client, say)
// into the run's error, and closes the connection.
func (r *runner) protect(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			r.fail(r.current, fmt.Errorf("probe: panic during the run: %v", p))
		}
		if r.c != nil {
			r.c.Close()
		}
	}()
	r.run(ctx)
}

func (r *runner) run(ctx context.Context) {
	if err := r.o.check(); err != nil {
		r.fail("", err)
		return
	}
	if r.o.MX {
		r.runMX(ctx)
	} else {
		r.runDirect(ctx)
	}
	if r.rep.Error == nil && r.greeted() {
		for _, stage := range [...]func(context.Context) bool{r.ehlo, r.startTLS, r.auth, r.transaction} {
			if !stage(ctx) {
				break
			}
		}
	}
	r.quit(ctx)
}

// finish fills in what is known only at the end.
func (r *runner) finish() {
	r.rep.Duration = time.Since(r.start)
	r.rep.Success = r.rep.Error == nil
	if r.c != nil {
		r.rep.Transcript = r.c.Transcript()
	} else {
		r.rep.Transcript = new(probe.Transcript) // nothing connected: empty
	}
	r.rep.Findings = r.findings()
}

// next reports whether stage s is to be played, and records it as the
// stage in progress. It is false once s is past Options.QuitAfter.
func (r *runner) next(s Stage) bool {
	if r.o.QuitAfter != "" && s.order() > r.o.QuitAfter.order() {
		return false
	}
	r.current = s
	return true
}

// reached records that stage s completed.
func (r *runner) reached(s Stage) { r.rep.Stage = s }

// fail records the error that ends the run; the first one wins.
func (r *runner) fail(s Stage, err error) {
	if r.rep.Error == nil && err != nil {
		r.rep.Error = newRunError(s, err)
	}
}

// greeted reports whether the session has a server that greeted it: QUIT
// makes sense.
func (r *runner) greeted() bool { return r.c != nil && r.rep.Banner != nil }

// secure starts TLS with start (Conn.Handshake for implicit TLS,
// Conn.StartTLS) as the phase tls, and keeps the TLS report, also that of
// a failed verification.
func (r *runner) secure(ctx context.Context, start func(context.Context, *tls.Config) (*probe.TLSInfo, error)) error {
	r.tr.tlsStart()
	p := r.begin(StageTLS)
	info, err := start(ctx, nil)
	r.rep.TLS = tlsInfoOf(info, err)
	r.end(p, nil, err)
	r.tr.tlsDone(r.rep.TLS, err)
	return err
}

// tlsInfoOf returns info, or the report a failed verification carries.
func tlsInfoOf(info *probe.TLSInfo, err error) *probe.TLSInfo {
	var te *probe.TLSError
	if info == nil && errors.As(err, &te) {
		return te.Info
	}
	return info
}

func (r *runner) banner(ctx context.Context) error {
	p := r.begin(StageBanner)
	b, err := r.c.ReadBanner(ctx)
	r.rep.Banner = b
	r.end(p, b, err)
	r.tr.bannerDone(b, err)
	return err
}

func (r *runner) ehlo(ctx context.Context) bool {
	if !r.next(StageEhlo) {
		return false
	}
	caps, err := r.hello(ctx, StageEhlo, nil)
	if err == nil && len(r.o.XClient) > 0 {
		caps, err = r.hello(ctx, StageEhlo, r.xclient)
	}
	r.rep.Capabilities = caps
	if err != nil {
		r.fail(StageEhlo, err)
		return false
	}
	r.reached(StageEhlo)
	return true
}

// hello sends EHLO (HELO on 500/502) as the phase name, after before
// when that is not nil.
func (r *runner) hello(ctx context.Context, name Stage, before func(context.Context) error) (*probe.Capabilities, error) {
	p := r.begin(name)
	var caps *probe.Capabilities
	var err error
	if before != nil {
		err = before(ctx)
	}
	if err == nil {
		caps, err = r.c.Hello(ctx, "")
	}
	r.end(p, nil, err)
	r.tr.ehloDone(caps, err)
	return caps, err
}

// xclient sends Options.XClient; EHLO follows in the same phase.
func (r *runner) xclient(ctx context.Context) error {
	_, err := r.c.XClient(ctx, r.o.XClient)
	return err
}

// startTLS applies the STARTTLS policy, and says EHLO again after TLS.
func (r *runner) startTLS(ctx context.Context) bool {
	if !r.o.wantsStartTLS() {
		return true
	}
	if !r.next(StageTLS) {
		return false
	}
	started, err := applyStartTLSPolicy(ctx, r.c, &r.o, func(ctx context.Context) error {
		return r.secure(ctx, r.c.StartTLS)
	})
	if err != nil {
		r.fail(StageTLS, err)
		return false
	}
	if !started {
		return true
	}
	caps, err := r.hello(ctx, StageEhloTLS, nil)
	r.rep.CapabilitiesTLS = caps
	if err != nil {
		r.fail(StageTLS, err)
		return false
	}
	r.reached(StageTLS)
	return true
}

// wantsStartTLS reports whether the STARTTLS policy applies at all: on a
// plaintext session, unless it is StartTLSNever.
func (o *Options) wantsStartTLS() bool {
	return !o.ImplicitTLS && o.StartTLS != StartTLSNever
}

// applyStartTLSPolicy applies the STARTTLS policy of o on c, whose EHLO
// reply has been read, calling start to do STARTTLS, and reports whether
// TLS is up (EHLO is due again). It is the one place
// where Run and the checks decide what a missing or refused STARTTLS
// means: under StartTLSIfOffered a refusal (4xx/5xx, the Conn still up)
// is noted in the transcript and the session goes on in plaintext; under
// StartTLSRequired a missing or refused STARTTLS is ErrNoStartTLS. Any
// other failure is returned as it is.
func applyStartTLSPolicy(ctx context.Context, c *probe.Conn, o *Options, start func(context.Context) error) (bool, error) {
	if !o.wantsStartTLS() {
		return false, nil
	}
	if caps := c.Capabilities(); caps == nil || !caps.StartTLS {
		if o.StartTLS == StartTLSRequired {
			return false, &policyError{sentinel: ErrNoStartTLS, detail: "the server does not offer it"}
		}
		return false, nil
	}
	err := start(ctx)
	if err == nil {
		return true, nil
	}
	var re *probe.ReplyError
	refused := errors.As(err, &re) && !errors.Is(err, probe.ErrServerClosed)
	switch {
	case refused && c.Err() == nil && o.StartTLS == StartTLSIfOffered:
		c.Transcript().AddNote("STARTTLS refused; going on without TLS (policy " + o.StartTLS.String() + ")")
		return false, nil
	case refused:
		return false, &policyError{sentinel: ErrNoStartTLS, detail: "the server refused it", reply: re}
	}
	return false, err
}

// quit sends QUIT when the session can still take it.
func (r *runner) quit(ctx context.Context) {
	if r.rep.Quit != nil { // it left with the final "." (see Envelope.Quit)
		r.end(r.begin(StageQuit), r.rep.Quit, nil)
		return
	}
	if !r.greeted() || r.c.Err() != nil {
		return
	}
	p := r.begin(StageQuit)
	reply, err := r.c.Quit(ctx)
	r.rep.Quit = reply
	r.end(p, reply, err)
}

// check refuses Options that cannot make a run; nothing is sent then.
func (o *Options) check() error {
	switch {
	case o.Target == "":
		return invalidOptions("Target is empty")
	case strings.ContainsAny(o.Target, " \r\n\x00"):
		return invalidOptions("Target %q holds a space or a control character", o.Target)
	case o.QuitAfter != "" && o.QuitAfter.order() < 0:
		return invalidOptions("QuitAfter %q is not a stage", o.QuitAfter)
	case o.QuitAfter == StageResolve && !o.MX:
		return invalidOptions("QuitAfter %q needs MX", o.QuitAfter)
	case (o.QuitAfter == StageRcpt || o.QuitAfter == StageData) && len(o.To) == 0:
		return invalidOptions("QuitAfter %q needs recipients", o.QuitAfter)
	case o.StartTLS < StartTLSIfOffered || o.StartTLS > StartTLSRequired:
		return invalidOptions("unknown %v", o.StartTLS)
	case len(o.RcptOptions) > 1 && len(o.RcptOptions) != len(o.To):
		return invalidOptions("%d RcptOptions for %d recipients: give none, one, or one each", len(o.RcptOptions), len(o.To))
	case o.Port < 0 || o.Port > 65535:
		return invalidOptions("Port %d is out of range", o.Port)
	}
	if err := o.checkAddresses(); err != nil {
		return err
	}
	for cmd, attrs := range map[string]map[string]string{"XClient": o.XClient, "XForward": o.XForward} {
		for name, v := range attrs {
			if name == "" || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "" || strings.ContainsAny(v, "\r\n\x00") {
				return invalidOptions("%s attribute %q=%q: want an upper-case name and a value without CR, LF or NUL", cmd, name, v)
			}
		}
	}
	return o.checkChecks()
}

// checkAddresses refuses a sender or recipient that MAIL or RCPT would
// refuse, before anything is dialled.
func (o *Options) checkAddresses() error {
	if o.From != "" {
		if err := probe.CheckAddress(o.From); err != nil {
			return fmt.Errorf("probe: %w: From: %w", errInvalidOptions, err)
		}
	}
	for _, to := range o.To {
		if err := probe.CheckAddress(to); err != nil {
			return fmt.Errorf("probe: %w: To: %w", errInvalidOptions, err)
		}
	}
	return nil
}

// port is the port to use when the target names none.
func (o *Options) port() string {
	switch {
	case o.Port > 0:
		return strconv.Itoa(o.Port)
	case o.ImplicitTLS:
		return "465"
	case o.Dialer.LMTP:
		return "24"
	}
	return "25"
}
