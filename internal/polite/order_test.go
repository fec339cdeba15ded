package polite

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestReorderWritesInOrderWithinTheWindow(t *testing.T) {
	const n, window, workers = 500, 16, 8
	var got []int
	var held int
	r := NewReorder(window, func(v int) { got = append(got, v) })
	jobs := make(chan [2]int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
				if j[0]%97 == 0 {
					time.Sleep(5 * time.Millisecond) // a slow one holds the others back
				}
				r.Done(j[0], j[1])
			}
		})
	}
	var mu sync.Mutex
	for i := range n {
		seq, err := r.Reserve(context.Background())
		if err != nil || seq != i {
			t.Fatalf("Reserve = %d, %v; want %d", seq, err, i)
		}
		mu.Lock()
		held = max(held, r.Held())
		mu.Unlock()
		jobs <- [2]int{seq, i * 10}
	}
	close(jobs)
	wg.Wait()
	if len(got) != n {
		t.Fatalf("%d results written, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i*10 {
			t.Fatalf("result %d is %d, want %d", i, v, i*10)
		}
	}
	if held >= window {
		t.Errorf("%d results held at once, want fewer than the window %d", held, window)
	}
}

func TestReorderReserveWaitsForRoom(t *testing.T) {
	r := NewReorder(2, func(int) {})
	ctx := context.Background()
	a, _ := r.Reserve(ctx)
	r.Reserve(ctx)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := r.Reserve(short); err == nil {
		t.Fatal("a third Reserve with a window of 2 did not wait")
	}
	r.Done(a, 0)
	if seq, err := r.Reserve(ctx); err != nil || seq != 2 {
		t.Errorf("Reserve after the first was written = %d, %v; want 2", seq, err)
	}
}
