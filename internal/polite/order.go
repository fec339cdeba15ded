package polite

import (
	"context"
	"sync"
)

// Reorder puts results that complete in any order back into the order of
// their sequence numbers, 0, 1, 2 …, holding at most a window of them:
// Reserve, called in sequence order before each piece of work starts,
// waits while window results are reserved and not yet written, so a slow
// first result holds back the start of new work, not memory. Safe for
// concurrent use.
type Reorder[T any] struct {
	slots chan struct{}
	write func(T)

	mu       sync.Mutex
	next     int // the sequence number to write next
	reserved int // the next sequence number Reserve hands out
	pending  map[int]T
}

// NewReorder returns a Reorder that calls write for each result in order,
// with at most window results reserved and unwritten (window < 1 is 1).
// write is called with the Reorder's lock held: one at a time, in order.
func NewReorder[T any](window int, write func(T)) *Reorder[T] {
	return &Reorder[T]{slots: make(chan struct{}, max(window, 1)), write: write, pending: map[int]T{}}
}

// Reserve waits for room and returns the next sequence number; an error
// only when ctx ends first.
func (r *Reorder[T]) Reserve(ctx context.Context) (int, error) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.reserved
	r.reserved++
	return seq, nil
}

// Done hands over the result of seq, and writes it and every result after
// it that is ready.
func (r *Reorder[T]) Done(seq int, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[seq] = v
	for {
		v, ok := r.pending[r.next]
		if !ok {
			return
		}
		delete(r.pending, r.next)
		r.next++
		r.write(v)
		<-r.slots
	}
}

// Held returns how many results wait for an earlier one.
func (r *Reorder[T]) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}
