package probe

import (
	"context"
	"time"
)

// ctxWatch cancels the network step in progress when its context ends: it
// moves the connection's deadline into the past, so a blocked read or
// write returns at once. One watch serves every step run with the same
// context (the same Done channel), so a session run under one context
// registers it once rather than once per command or pipelined reply.
type ctxWatch struct {
	done  <-chan struct{} // the watched context's Done channel; nil: none
	stop  func() bool
	moved chan struct{} // closed once a fired watch has moved the deadline
}

// watch makes sure ctx is the context watched. A context that can never
// end (a nil Done channel) needs no watch.
func (c *Conn) watch(ctx context.Context) {
	done := ctx.Done()
	if done == c.w.done {
		return
	}
	c.unwatch()
	if done == nil {
		return
	}
	// Every later net.Conn (crypto/tls's) wraps this one and delegates its
	// deadlines to it, so this is the deadline that matters after STARTTLS
	// too.
	nc, moved := c.nc, make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(moved)
		c.deadlineMu.Lock()
		defer c.deadlineMu.Unlock()
		nc.SetDeadline(time.Unix(1, 0))
	})
	c.w = ctxWatch{done: done, stop: stop, moved: moved}
}

// unwatch removes the watch. When it has already fired, unwatch waits
// until it has moved the deadline, so that it cannot overwrite the next
// step's.
func (c *Conn) unwatch() {
	if c.w.stop != nil && !c.w.stop() {
		<-c.w.moved
	}
	c.w = ctxWatch{}
}

// begin prepares a network step: the Conn must be usable and ctx not
// ended; ctx is watched, and the deadline is the earlier of now+timeout
// and the context's deadline.
func (c *Conn) begin(ctx context.Context, step string, timeout time.Duration) error {
	if c.broken != nil {
		return &OpError{Op: step, Err: c.broken}
	}
	if err := ctx.Err(); err != nil {
		return &OpError{Op: step, Err: err}
	}
	c.watch(ctx)
	if err := c.refreshDeadline(ctx, timeout); err != nil {
		if ctx.Err() != nil {
			return &OpError{Op: step, Err: err}
		}
		return c.ioFailure(ctx, step, err)
	}
	return nil
}
