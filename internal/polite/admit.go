package polite

import (
	"context"
	"net/netip"
	"sync/atomic"
)

// Admit waits for the limits of a connection to addr of host, as Acquire
// does, and returns a context that carries the admission: the first
// connection a Dialer opens under that context takes it, instead of
// waiting again, and gives the slots back when it closes (or fails to
// open). A worker admits its probe before the probe's timeout starts, so
// that the time spent queueing for a busy network does not count against
// the probe. release gives the slots back if no connection took them; it
// is safe to call in any case once the probe is over.
func (l *Limiter) Admit(ctx context.Context, host string, addr netip.Addr) (admitted context.Context, release func(), err error) {
	release, err = l.Acquire(ctx, host, addr)
	if err != nil {
		return nil, nil, err
	}
	return context.WithValue(ctx, admissionKey{}, &admission{release: release}), release, nil
}

type admissionKey struct{}

// admission is one connection's worth of admission.
type admission struct {
	used    atomic.Bool
	release func()
}

// takeAdmission returns the release of the admission ctx carries, if it
// has one not yet used, and uses it up.
func takeAdmission(ctx context.Context) (func(), bool) {
	a, ok := ctx.Value(admissionKey{}).(*admission)
	if !ok || !a.used.CompareAndSwap(false, true) {
		return nil, false
	}
	return a.release, true
}

// Limited reports whether the Limiter limits anything.
func (l *Limiter) Limited() bool { return l.limits.Any() }
