package scan

import (
	"context"
	"errors"
	"time"

	"github.com/smtpprobe/probe"
)

// Trace holds hooks that Run calls as a probe goes, in the manner of
// net/http/httptrace, so that an agent can turn phases into metrics or
// logs as they happen. Any field may be nil.
//
// Hooks are called synchronously, in the goroutine that called Run, in
// the order the events happen: a slow hook slows the probe (and counts in
// the next phase's timing), and a hook needs no locking to touch state
// that only Run's caller uses. A hook must not use the Report while Run
// is running; Run returns it complete.
type Trace struct {
	// ResolveStart and ResolveDone surround the MX lookup (Options.MX).
	ResolveStart func(domain string)
	ResolveDone  func(hosts []MXHost, err error)
	// ConnectStart and ConnectDone surround each TCP (or proxy) connect;
	// addr is what is dialled.
	ConnectStart func(addr string)
	ConnectDone  func(addr string, err error)
	// TLSHandshakeStart is called before STARTTLS is sent, or before the
	// handshake of implicit TLS; TLSHandshakeDone after the handshake,
	// with the TLS report when there is one (also when verification
	// failed).
	TLSHandshakeStart func()
	TLSHandshakeDone  func(info *probe.TLSInfo, err error)
	// BannerDone is called once the greeting is read, or failed.
	BannerDone func(banner *probe.Reply, err error)
	// EhloDone is called after each EHLO (with HELO fallback).
	EhloDone func(caps *probe.Capabilities, err error)
	// AuthDone is called after the AUTH exchange.
	AuthDone func(mechanism string, reply *probe.Reply, err error)
	// PhaseStart and PhaseDone surround every phase (see the Phase
	// constants) with its name, its duration and the error it ended with.
	PhaseStart func(name Stage)
	PhaseDone  func(name Stage, d time.Duration, err error)
}

type traceKey struct{}

// WithTrace returns a context carrying t, whose hooks Run calls. A
// trace already in ctx is kept: both are called, t first.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	if old := ContextTrace(ctx); old != nil && t != nil {
		t = tracer{t, old}.trace()
	}
	return context.WithValue(ctx, traceKey{}, t)
}

// ContextTrace returns the Trace in ctx, or nil.
func ContextTrace(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// tracer calls the hooks of several traces in order; nil traces and nil
// hooks are skipped.
type tracer []*Trace

func newTracer(traces ...*Trace) tracer {
	var t tracer
	for _, x := range traces {
		if x != nil {
			t = append(t, x)
		}
	}
	return t
}

// trace is a Trace whose every hook calls those of t.
func (t tracer) trace() *Trace {
	return &Trace{
		ResolveStart: t.resolveStart, ResolveDone: t.resolveDone,
		ConnectStart: t.connectStart, ConnectDone: t.connectDone,
		TLSHandshakeStart: t.tlsStart, TLSHandshakeDone: t.tlsDone,
		BannerDone: t.bannerDone, EhloDone: t.ehloDone, AuthDone: t.authDone,
		PhaseStart: t.phaseStart, PhaseDone: t.phaseDone,
	}
}

// each calls f with each trace, in order.
func (t tracer) each(f func(*Trace)) {
	for _, x := range t {
		f(x)
	}
}

// call0 to call3 call hook f with the arguments unless it is nil.
func call0(f func()) {
	if f != nil {
		f()
	}
}

func call1[A any](f func(A), a A) {
	if f != nil {
		f(a)
	}
}

func call2[A, B any](f func(A, B), a A, b B) {
	if f != nil {
		f(a, b)
	}
}

func call3[A, B, C any](f func(A, B, C), a A, b B, c C) {
	if f != nil {
		f(a, b, c)
	}
}

func (t tracer) resolveStart(d string) { t.each(func(x *Trace) { call1(x.ResolveStart, d) }) }
func (t tracer) resolveDone(h []MXHost, err error) {
	t.each(func(x *Trace) { call2(x.ResolveDone, h, err) })
}
func (t tracer) connectStart(addr string) { t.each(func(x *Trace) { call1(x.ConnectStart, addr) }) }
func (t tracer) connectDone(addr string, err error) {
	t.each(func(x *Trace) { call2(x.ConnectDone, addr, err) })
}
func (t tracer) tlsStart() { t.each(func(x *Trace) { call0(x.TLSHandshakeStart) }) }
func (t tracer) tlsDone(info *probe.TLSInfo, err error) {
	t.each(func(x *Trace) { call2(x.TLSHandshakeDone, info, err) })
}
func (t tracer) bannerDone(r *probe.Reply, err error) {
	t.each(func(x *Trace) { call2(x.BannerDone, r, err) })
}
func (t tracer) ehloDone(caps *probe.Capabilities, err error) {
	t.each(func(x *Trace) { call2(x.EhloDone, caps, err) })
}
func (t tracer) authDone(mech string, r *probe.Reply, err error) {
	t.each(func(x *Trace) { call3(x.AuthDone, mech, r, err) })
}
func (t tracer) phaseStart(name Stage) { t.each(func(x *Trace) { call1(x.PhaseStart, name) }) }
func (t tracer) phaseDone(name Stage, d time.Duration, err error) {
	t.each(func(x *Trace) { call3(x.PhaseDone, name, d, err) })
}

// phaseRun is a phase in progress.
type phaseRun struct {
	name  Stage
	start time.Time
	first int
}

func (r *runner) begin(name Stage) phaseRun {
	r.tr.phaseStart(name)
	return phaseRun{name: name, start: time.Now(), first: r.trLen()}
}

// end records a phase; reply nil means the reply of err, if any.
func (r *runner) end(p phaseRun, reply *probe.Reply, err error) {
	d := time.Since(p.start)
	if reply == nil {
		reply = replyOf(err)
	}
	ph := Phase{Name: p.name, Start: p.start.Sub(r.start), Duration: d, Reply: reply}
	if err != nil {
		ph.Error = err.Error()
	}
	r.rep.Phases = append(r.rep.Phases, ph)
	r.spans[p.name] = span{p.first, r.trLen()}
	r.tr.phaseDone(p.name, d, err)
}

func (r *runner) trLen() int {
	if r.c == nil {
		return 0
	}
	return r.c.Transcript().Len()
}

// replyOf returns the reply behind err, or nil.
func replyOf(err error) *probe.Reply {
	var re *probe.ReplyError
	if errors.As(err, &re) {
		return re.Reply
	}
	return nil
}

func orReply(reply *probe.Reply, err error) *probe.Reply {
	if reply != nil {
		return reply
	}
	return replyOf(err)
}
