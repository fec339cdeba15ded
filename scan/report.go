package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/smtpprobe/probe"
)

// SchemaVersion is the version of the Report's JSON form, given in its
// "schema_version" field. It changes when a field is removed or changes
// meaning; fields may be added without a change.
const SchemaVersion = 1

// Report is what Run found: every phase with its timing, what the server
// announced and answered, the TLS details, the transcript, the findings and
// the error, if any. It is built for monitoring agents and marshals to
// stable JSON with snake_case names:
//
//	{
//	  "schema_version": 1,
//	  "target": "example.com",          // Options.Target as given
//	  "host": "mx1.example.com",        // the host that answered (MX mode) or the target's host
//	  "address": "192.0.2.1:25",        // the address connected to
//	  "mx": [{"host", "preference", "implicit"}],
//	  "attempts": [{"host", "preference", "address", "start_offset_ns", "duration_ns", "banner", "error"}],
//	  "implicit_tls": false,
//	  "start": "2025-01-02T03:04:05.678Z",
//	  "duration_ns": 81234567,          // the whole run
//	  "success": true,                  // no error
//	  "stage": "data",                  // the last stage completed
//	  "error": {"class", "stage", "code", "enhanced", "message"},
//	  "phases": [{"name", "start_offset_ns", "duration_ns", "reply", "error"}],
//	  "banner": {"code": 220, "enhanced": "", "lines": ["…"]},
//	  "capabilities": {…},              // EHLO before STARTTLS, or the only EHLO
//	  "capabilities_tls": {…},          // EHLO after STARTTLS
//	  "tls": {…},                       // TLSInfo
//	  "auth": {"mechanism", "success", "reply"},
//	  "mail": {reply}, "recipients": [{"address", "accepted", "reply", "final"}],
//	  "data": {reply}, "final": {reply}, "queue_id": "6A4C1D5153E", "pipelined": true,
//	  "quit": {reply},
//	  "findings": [{"id", "severity", "summary", "evidence", "reference", "check"}],
//	  "checks": [{"id", "status", "detail", "error", "findings", "start_offset_ns", "duration_ns", "transcripts"}],
//	  "transcript": {"start", "entries": […]}
//	}
//
// Durations are integers in nanoseconds (names ending in "_ns"); offsets
// are from Start. Empty parts are left out, except "phases" and
// "findings", which are always arrays.
type Report struct {
	// SchemaVersion is the SchemaVersion the Report was made with.
	SchemaVersion int `json:"schema_version"`
	// Target is Options.Target as given.
	Target string `json:"target"`
	// Host is the name of the host the session was with: the MX host that
	// answered, or the host of Target. Certificates are checked against it.
	Host string `json:"host,omitempty"`
	// Address is the remote address of the connection ("ip:port"; with a
	// proxy, the proxy's).
	Address string `json:"address,omitempty"`
	// MX lists the mail exchangers of Target in the order they were tried
	// (Options.MX only).
	MX []MXHost `json:"mx,omitempty"`
	// Attempts lists every connection attempt in order (Options.MX only).
	Attempts []Attempt `json:"attempts,omitempty"`
	// ImplicitTLS reports that the session began with TLS (Options.ImplicitTLS).
	ImplicitTLS bool `json:"implicit_tls,omitempty"`

	// Start is when Run began; Duration how long it took in all.
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	// Success reports that the run ended without an error.
	Success bool `json:"success"`
	// Stage is the last stage that completed. Stages that did not apply
	// (STARTTLS by policy, AUTH without credentials, MAIL without
	// recipients) are not counted.
	Stage Stage `json:"stage"`
	// Error is why the run ended early, or nil.
	Error *RunError `json:"error,omitempty"`
	// Phases holds each timed phase in order. With Options.MX they are
	// those of the session with the host that answered (or the last one
	// tried); Attempts times the others.
	Phases []Phase `json:"phases"`

	Banner *probe.Reply `json:"banner,omitempty"`
	// Capabilities is what the first EHLO announced (in plaintext, or
	// inside implicit TLS; with Options.XClient, the EHLO after XCLIENT);
	// CapabilitiesTLS what the EHLO after STARTTLS announced.
	Capabilities    *probe.Capabilities `json:"capabilities,omitempty"`
	CapabilitiesTLS *probe.Capabilities `json:"capabilities_tls,omitempty"`
	// TLS describes the TLS layer, also when its verification failed.
	TLS  *probe.TLSInfo `json:"tls,omitempty"`
	Auth *AuthResult    `json:"auth,omitempty"`

	// SendResult reports the mail transaction: Mail, Recipients, Data
	// (the 354, nil with BDAT), Final (the reply to the end of the data),
	// Pipelined, and Quit, the reply to QUIT (also without a transaction).
	// Its fields appear in the JSON at the top level.
	probe.SendResult
	// QueueID is the queue identifier the server gave the message, as
	// SendResult.QueueID finds it in Final. It is kept as a field, not
	// left to the method, so that the Report stays a plain struct: a
	// MarshalJSON of its own would be promoted into every struct that
	// embeds a Report and hide that struct's fields.
	QueueID string `json:"queue_id,omitempty"`

	// Findings lists what deserves attention (see FindingID and CheckID).
	Findings []Finding `json:"findings"`
	// Checks reports each check of Options.Checks, in the order they ran.
	Checks []CheckResult `json:"checks,omitempty"`
	// Transcript is every line of the session (with Options.MX, of the
	// last attempt that connected). It is empty when nothing connected.
	Transcript *probe.Transcript `json:"transcript"`
}

// Err returns the error that ended the run (a *RunError wrapping the cause
// for errors.Is and errors.As), or nil.
func (r *Report) Err() error {
	if r.Error == nil {
		return nil
	}
	return r.Error
}

// Phase returns the last phase of stage s, or nil.
func (r *Report) Phase(s Stage) *Phase {
	for i := len(r.Phases) - 1; i >= 0; i-- {
		if r.Phases[i].Name == s {
			return &r.Phases[i]
		}
	}
	return nil
}

// Phase is one timed step of a run.
type Phase struct {
	// Name is the stage the phase plays, or the part of one it times
	// (StageEhloTLS, StageTransaction, StageQuit).
	Name Stage `json:"name"`
	// Start is when the phase began, from Report.Start.
	Start time.Duration `json:"start_offset_ns"`
	// Duration is how long it took.
	Duration time.Duration `json:"duration_ns"`
	// Reply is the server's last reply in the phase, when the call gives
	// one (the EHLO reply is in Capabilities instead).
	Reply *probe.Reply `json:"reply,omitempty"`
	// Error is the text of the error the phase ended with, or "".
	Error string `json:"error,omitempty"`
}

// MXHost is one mail exchanger of a domain.
type MXHost struct {
	Host       string `json:"host"`
	Preference uint16 `json:"preference"`
	// Implicit reports that the domain has no MX records and the domain
	// itself stands in for them (RFC 5321 §5.1).
	Implicit bool `json:"implicit,omitempty"`
}

// Attempt is one try to reach a mail exchanger: one address of one host.
type Attempt struct {
	Host       string        `json:"host"`
	Preference uint16        `json:"preference"`
	Address    string        `json:"address,omitempty"`
	Start      time.Duration `json:"start_offset_ns"`
	Duration   time.Duration `json:"duration_ns"`
	// Banner is the greeting, when one was read.
	Banner *probe.Reply `json:"banner,omitempty"`
	// Error is why the attempt did not lead to a session, or nil.
	Error *RunError `json:"error,omitempty"`
}

// AuthResult reports the AUTH exchange.
type AuthResult struct {
	// Mechanism is the SASL mechanism used: "PLAIN", "SCRAM-SHA-256" …
	Mechanism string `json:"mechanism"`
	// Success reports that the server accepted the credentials.
	Success bool `json:"success"`
	// Reply is the final reply, when there was one.
	Reply *probe.Reply `json:"reply,omitempty"`
}

// Severity ranks a Finding.
type Severity string

// The severities of findings, from least to most serious.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Finding is something about the server that deserves attention.
type Finding struct {
	// ID names the kind of finding (the package doc tabulates them).
	ID FindingID `json:"id"`
	// Severity ranks it.
	Severity Severity `json:"severity"`
	// Summary says what was found, in one sentence.
	Summary string `json:"summary"`
	// Evidence holds the transcript entries that show it.
	Evidence []probe.Entry `json:"evidence,omitempty"`
	// Reference points to the standard or advice that applies.
	Reference string `json:"reference,omitempty"`
	// Check is the check of Options.Checks that made the finding; empty
	// for the findings of the session itself.
	Check CheckID `json:"check,omitempty"`
}

// ErrorClass sorts the error that ended a run into the categories a
// scanner reports, so that an agent can count and alert on them.
type ErrorClass string

// The error classes, as Classify assigns them (in this order of priority).
const (
	ClassCanceled            ErrorClass = "canceled"             // the context was cancelled
	ClassNullMX              ErrorClass = "null-mx"              // the domain accepts no mail (RFC 7505)
	ClassDNS                 ErrorClass = "dns"                  // a name did not resolve
	ClassProxy               ErrorClass = "proxy"                // the SOCKS5 proxy failed or refused
	ClassTimeout             ErrorClass = "timeout"              // a step ran out of time
	ClassTLSUntrusted        ErrorClass = "tls-untrusted"        // the certificate did not verify
	ClassTLSHandshake        ErrorClass = "tls-handshake"        // the TLS handshake failed
	ClassConnectionRefused   ErrorClass = "connection-refused"   // nothing listens on the port
	ClassNetworkUnreachable  ErrorClass = "network-unreachable"  // no route to the network or host
	ClassStartTLSUnavailable ErrorClass = "starttls-unavailable" // STARTTLS required, not offered or refused
	ClassAuthUnavailable     ErrorClass = "auth-unavailable"     // no usable AUTH mechanism offered
	ClassInsecureAuth        ErrorClass = "insecure-auth"        // AUTH refused locally: no TLS
	ClassProtocol            ErrorClass = "protocol-error"       // the server broke the protocol
	ClassServerClosed        ErrorClass = "server-closed"        // 421, or the server closed the connection
	ClassAuthFailed          ErrorClass = "auth-failed"          // the server refused the credentials
	ClassReply               ErrorClass = "reply-error"          // a 4xx or 5xx where success was needed
	ClassInvalidInput        ErrorClass = "invalid-input"        // Options or an argument refused before sending
	ClassOther               ErrorClass = "other"                // anything else
)

// RunError is the error that ended a run, classified. It marshals to JSON
// without the cause; Unwrap gives the cause while the Report is in memory.
type RunError struct {
	// Class sorts the error.
	Class ErrorClass `json:"class"`
	// Stage is the stage that failed ("" when the Options were refused).
	Stage Stage `json:"stage"`
	// Code and Enhanced are the server's reply code and enhanced code,
	// when a reply caused the error.
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	// Message is the text of the cause.
	Message string `json:"message"`

	err error
}

func newRunError(stage Stage, err error) *RunError {
	class, code := Classify(err)
	e := &RunError{Class: class, Stage: stage, Code: code, Message: err.Error(), err: err}
	var re *probe.ReplyError
	if errors.As(err, &re) && re.Reply != nil {
		e.Enhanced = re.Reply.Enhanced.String()
	}
	return e
}

func (e *RunError) Error() string {
	return string(e.Stage) + " (" + string(e.Class) + "): " + e.Message
}

// Unwrap returns the cause; nil after a round trip through JSON.
func (e *RunError) Unwrap() error { return e.err }

// ErrNoStartTLS is matched, with errors.Is, by the error of a run whose
// policy required STARTTLS when the server did not offer it or refused it.
// When it refused, the error also matches its *ReplyError with errors.As.
var ErrNoStartTLS = errors.New("smtp: STARTTLS required but not available")

// ErrNoAuthMechanism is matched, with errors.Is, by the error of a run
// that was to authenticate when the server offered no mechanism Run can
// use with the credentials given.
var ErrNoAuthMechanism = errors.New("smtp: no usable AUTH mechanism offered")

// policyError joins one of the sentinels above to its detail.
type policyError struct {
	sentinel error
	detail   string
	reply    *probe.ReplyError // the refusal, if any
}

func (e *policyError) Error() string {
	s := e.sentinel.Error()
	if e.detail != "" {
		s += ": " + e.detail
	}
	if e.reply != nil {
		s += ": " + e.reply.Error()
	}
	return s
}

func (e *policyError) Unwrap() []error {
	if e.reply == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.reply}
}

// Classify sorts err into an ErrorClass and returns the reply code behind
// it, or 0. It sees through wrapping, so it works on any error of this
// package, of a Conn or of Run.
func Classify(err error) (ErrorClass, int) {
	if err == nil {
		return "", 0
	}
	var re *probe.ReplyError
	code := 0
	if errors.As(err, &re) && re.Reply != nil {
		code = re.Reply.Code
	}
	if class := classifyTransport(err); class != "" {
		return class, code
	}
	return classifySession(err, re), code
}

// classifyTransport recognises failures below SMTP: the context, names,
// proxies, time, TLS and the network.
func classifyTransport(err error) ErrorClass {
	var (
		nullMX *NullMXError
		dnsErr *net.DNSError
		tlsErr *probe.TLSError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case errors.As(err, &nullMX):
		return ClassNullMX
	case errors.As(err, &dnsErr):
		return ClassDNS
	case isProxyError(err):
		return ClassProxy
	case isTimeout(err):
		return ClassTimeout
	case errors.As(err, &tlsErr) && tlsErr.Info != nil:
		return ClassTLSUntrusted
	case tlsErr != nil:
		return ClassTLSHandshake
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassConnectionRefused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return ClassNetworkUnreachable
	}
	return ""
}

// classifySession recognises failures of the SMTP dialogue.
func classifySession(err error, re *probe.ReplyError) ErrorClass {
	var pe *probe.ProtocolError
	switch {
	case errors.Is(err, ErrNoStartTLS):
		return ClassStartTLSUnavailable
	case errors.Is(err, ErrNoAuthMechanism):
		return ClassAuthUnavailable
	case errors.Is(err, probe.ErrInsecureAuth):
		return ClassInsecureAuth
	case errors.Is(err, probe.ErrServerSignature):
		return ClassAuthFailed // the server did not prove it knows the password
	case errors.As(err, &pe):
		return ClassProtocol
	case errors.Is(err, probe.ErrServerClosed):
		return ClassServerClosed
	case errors.Is(err, probe.ErrAuthFailed):
		return ClassAuthFailed
	case re != nil:
		return ClassReply
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ClassServerClosed
	case errors.Is(err, probe.ErrInvalidLine), errors.Is(err, probe.ErrInvalidArgument), errors.Is(err, errInvalidOptions):
		return ClassInvalidInput
	}
	return ClassOther
}

// isProxyError reports an error that came through a SOCKS5 proxy: the
// proxy could not be reached, or refused or failed the connection.
func isProxyError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && strings.HasPrefix(oe.Op, "socks")
}

// isTimeout reports a step that ran out of time, as the first error of the
// chain that can tell says (probe's errors tell a cancelled context from
// a deadline).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// errInvalidOptions is wrapped by the error of a Run whose Options are
// unusable; nothing was sent.
var errInvalidOptions = errors.New("invalid options")

func invalidOptions(format string, args ...any) error {
	return fmt.Errorf("probe: %w: "+format, append([]any{errInvalidOptions}, args...)...)
}
