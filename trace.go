package probe

import (
	"context"
	"time"
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
	TLSHandshakeDone  func(info *TLSInfo, err error)
	// BannerDone is called once the greeting is read, or failed.
	BannerDone func(banner *Reply, err error)
	// EHLODone is called after each EHLO (with HELO fallback).
	EHLODone func(caps *Capabilities, err error)
	// AuthDone is called after the AUTH exchange.
	AuthDone func(mechanism string, reply *Reply, err error)
	// PhaseStart and PhaseDone surround every phase (see the Phase
	// constants) with its name, its duration and the error it ended with.
	PhaseStart func(name string)
	PhaseDone  func(name string, d time.Duration, err error)
}

type traceKey struct{}

// WithTrace returns a context carrying t, for Run to call besides
// Options.Trace. A trace already in ctx is kept: both are called, t first.
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
		BannerDone: t.bannerDone, EHLODone: t.ehloDone, AuthDone: t.authDone,
		PhaseStart: t.phaseStart, PhaseDone: t.phaseDone,
	}
}

func (t tracer) resolveStart(domain string) {
	for _, x := range t {
		if x.ResolveStart != nil {
			x.ResolveStart(domain)
		}
	}
}

func (t tracer) resolveDone(hosts []MXHost, err error) {
	for _, x := range t {
		if x.ResolveDone != nil {
			x.ResolveDone(hosts, err)
		}
	}
}

func (t tracer) connectStart(addr string) {
	for _, x := range t {
		if x.ConnectStart != nil {
			x.ConnectStart(addr)
		}
	}
}

func (t tracer) connectDone(addr string, err error) {
	for _, x := range t {
		if x.ConnectDone != nil {
			x.ConnectDone(addr, err)
		}
	}
}

func (t tracer) tlsStart() {
	for _, x := range t {
		if x.TLSHandshakeStart != nil {
			x.TLSHandshakeStart()
		}
	}
}

func (t tracer) tlsDone(info *TLSInfo, err error) {
	for _, x := range t {
		if x.TLSHandshakeDone != nil {
			x.TLSHandshakeDone(info, err)
		}
	}
}

func (t tracer) bannerDone(r *Reply, err error) {
	for _, x := range t {
		if x.BannerDone != nil {
			x.BannerDone(r, err)
		}
	}
}

func (t tracer) ehloDone(caps *Capabilities, err error) {
	for _, x := range t {
		if x.EHLODone != nil {
			x.EHLODone(caps, err)
		}
	}
}

func (t tracer) authDone(mech string, r *Reply, err error) {
	for _, x := range t {
		if x.AuthDone != nil {
			x.AuthDone(mech, r, err)
		}
	}
}

func (t tracer) phaseStart(name string) {
	for _, x := range t {
		if x.PhaseStart != nil {
			x.PhaseStart(name)
		}
	}
}

func (t tracer) phaseDone(name string, d time.Duration, err error) {
	for _, x := range t {
		if x.PhaseDone != nil {
			x.PhaseDone(name, d, err)
		}
	}
}

// phaseRun is a phase in progress.
type phaseRun struct {
	name  string
	start time.Time
	first int
}

func (r *runner) begin(name string) phaseRun {
	r.tr.phaseStart(name)
	return phaseRun{name: name, start: time.Now(), first: r.trLen()}
}

// end records a phase; reply nil means the reply of err, if any.
func (r *runner) end(p phaseRun, reply *Reply, err error) {
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
func replyOf(err error) *Reply {
	var re *ReplyError
	if asReplyError(err, &re) {
		return re.Reply
	}
	return nil
}

func orReply(reply *Reply, err error) *Reply {
	if reply != nil {
		return reply
	}
	return replyOf(err)
}
