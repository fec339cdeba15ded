package probe

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// streamLine is one 80-byte continuation line of the endless EHLO reply.
var streamLine = "250-" + strings.Repeat("x", 74) + "\r\n"

// streamEhlo answers EHLO with continuation lines, generated on the fly in
// 64000-byte writes, until size bytes were sent or the client went away;
// then a last line.
func streamEhlo(size int64) fakeserver.HandlerFunc {
	chunk := []byte(strings.Repeat(streamLine, 800))
	return func(s *fakeserver.Session, _ fakeserver.Command) bool {
		for sent := int64(0); sent < size; sent += int64(len(chunk)) {
			s.WriteRaw(chunk)
			if s.Flush() != nil {
				return true
			}
		}
		s.Reply(250, "end")
		return true
	}
}

// heapPeak samples HeapAlloc every few milliseconds while f runs and
// returns the peak less the baseline taken just before.
func heapPeak(f func()) (peak uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > peak {
				peak = m.HeapAlloc - base
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	runtime.ReadMemStats(&ms) // what f left reachable counts too
	if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
		peak = ms.HeapAlloc - base
	}
	return peak
}

// TestHostileHugeReplyHeap streams a reply of continuation lines at the
// client. With the default limits the client stops at Limits.MaxReplyLines
// long before the gigabyte the server offers, in a few hundred kilobytes
// of heap. With MaxReplyLines raised, Limits.MaxReplyBytes (1 MiB) stops
// it instead. With both raised the client reads what it was allowed to,
// and keeps every line twice (Reply.Lines and the transcript), so the heap
// grows with the bytes read, about 4.4 bytes per byte: that case reads
// 16 MB, 2 MB under -race (at 10-40 MB/s, a few MB/s with -race, a
// gigabyte would take 25 s or more and 4.5 GB of heap), logs the rate and
// the heap per byte, and asserts at most 6 per byte (slice growth makes it vary).
func TestHostileHugeReplyHeap(t *testing.T) {
	const gigabyte = 1 << 30
	raised := 16 << 20
	if raceEnabled {
		raised = 2 << 20
	}
	cases := []struct {
		name     string
		lines    int   // Limits.MaxReplyLines; 0 for the default
		bound    int64 // heap above the baseline
		short    bool  // runs under -short
		minBytes int64 // bytes the client must have read
		maxBytes int   // Limits.MaxReplyBytes; 0 for the default
		reason   string
	}{
		{"default limits", 0, 8 << 20, true, 1000 * int64(len(streamLine)), 0, "lines (Limits.MaxReplyLines)"},
		{"MaxReplyLines raised", 1 << 30, 8 << 20, true, (1 << 20) - int64(len(streamLine)), 0, "bytes (Limits.MaxReplyBytes)"},
		{"both raised", raised/len(streamLine) + 1, 6 * int64(raised), false, int64(raised), 1 << 30, "lines (Limits.MaxReplyLines)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("reads megabytes")
			}
			ctx := testCtx(t)
			srv := startServer(t, fakeserver.Config{NoRecord: true, Handlers: map[string]fakeserver.HandlerFunc{"EHLO": streamEhlo(gigabyte)}})
			c, err := hostileDial(t, ctx, srv, func(d *Dialer) {
				d.Limits.MaxReplyLines = tc.lines
				d.Limits.MaxReplyBytes = tc.maxBytes
				d.Timeouts.Command = 8 * time.Second
			})
			if err != nil {
				t.Fatal(err)
			}
			var el time.Duration
			peak := heapPeak(func() {
				el = timed(t, 9*time.Second, func() { _, err = c.Ehlo(ctx, "") })
			})
			wantProtocolError(t, err, "EHLO", tc.reason)
			read := int64(c.Transcript().Len()-3) * int64(len(streamLine)) // less banner, EHLO, note
			t.Logf("read %d KB in %v (%.0f MB/s); peak heap %.1f MB above the baseline (%.1f bytes per byte read)",
				read>>10, el.Round(time.Millisecond), float64(read)/(1<<20)/el.Seconds(), float64(peak)/(1<<20), float64(peak)/float64(read))
			if read < tc.minBytes || int64(peak) > tc.bound {
				t.Errorf("read %d bytes (want %d), peak heap %d (bound %d)", read, tc.minBytes, peak, tc.bound)
			}
			if !bytes.Contains([]byte(lastNote(c)), []byte("protocol error")) {
				t.Errorf("last note %q", lastNote(c))
			}
		})
	}
}
