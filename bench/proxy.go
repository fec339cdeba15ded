package bench

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DelayProxy forwards TCP connections to a target and delivers every chunk
// a fixed delay after it arrived (on Linux; elsewhere after the proxy read
// it), in each direction: a link with a round-trip time of twice the
// delay and no bandwidth limit. Each direction has a reader that
// timestamps chunks (see stampedReader) and a writer that sends
// each one when it is due, so the delay never serialises throughput.
//
// A new connection reaches the target only after one delay (as the
// client's first packet would), so the banner arrives one RTT after the
// client's connect returns. The TCP handshake itself is not delayed:
// connect costs nothing here and is counted apart.
type DelayProxy struct {
	delay  time.Duration
	slack  *TimerSlack
	target string
	ln     net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// chunkQueue is how many chunks a direction holds in flight before its
// reader waits for the writer.
const chunkQueue = 256

// NewDelayProxy listens on 127.0.0.1 and forwards to target with delay
// added in each direction.
func NewDelayProxy(target string, delay time.Duration) (*DelayProxy, error) {
	return NewDelayProxyOn("127.0.0.1:0", target, delay, nil)
}

// NewDelayProxyOn is NewDelayProxy listening on listen, a loopback
// address such as "127.64.0.1:0" (all of 127/8 is loopback on Linux),
// with its timers corrected by slack (nil: not corrected).
func NewDelayProxyOn(listen, target string, delay time.Duration, slack *TimerSlack) (*DelayProxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &DelayProxy{delay: delay, target: target, ln: ln, conns: map[net.Conn]struct{}{}, slack: slack}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients dial.
func (p *DelayProxy) Addr() string { return p.ln.Addr().String() }

// RTT is the round-trip time the proxy adds.
func (p *DelayProxy) RTT() time.Duration { return 2 * p.delay }

// Close stops accepting, closes every connection and waits for all the
// proxy's goroutines.
func (p *DelayProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *DelayProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(client) {
			return
		}
		p.wg.Add(1)
		go p.forward(client)
	}
}

// track registers c so that Close can close it; false when closed.
func (p *DelayProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *DelayProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

// forward connects to the target after one delay and pumps both ways.
func (p *DelayProxy) forward(client net.Conn) {
	defer p.wg.Done()
	p.slack.SleepUntil(time.Now().Add(p.delay))
	server, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(server) {
		p.untrack(client)
		return
	}
	var dirs sync.WaitGroup
	dirs.Add(2)
	go func() { defer dirs.Done(); p.pump(server, client) }()
	go func() { defer dirs.Done(); p.pump(client, server) }()
	dirs.Wait()
	p.untrack(client, server)
}

// chunk is bytes read at one moment, due for delivery at due.
type chunk struct {
	due  time.Time
	data []byte
}

// pump copies src to dst, each chunk delay after it was read. At the end
// of src it half-closes dst; on any failure it closes both, which ends the
// other direction too.
func (p *DelayProxy) pump(dst, src net.Conn) {
	queue := make(chan chunk, chunkQueue)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.deliver(dst, src, queue)
	}()
	// One read buffer per direction; each chunk keeps a copy of its size,
	// so that a proxy carrying thousands of short SMTP lines does not
	// allocate 32 KiB for each.
	buf := make([]byte, 32<<10)
	read := func() (int, time.Time, error) {
		n, err := src.Read(buf)
		return n, time.Now(), err
	}
	if sr := newStampedReader(src); sr != nil {
		read = func() (int, time.Time, error) { return sr.Read(buf) }
	}
	for {
		n, at, err := read()
		if n > 0 {
			queue <- chunk{due: at.Add(p.delay), data: bytes.Clone(buf[:n])}
		}
		if err != nil {
			break
		}
	}
	close(queue)
	<-done
}

// deliver writes each chunk when it is due, then half-closes dst.
func (p *DelayProxy) deliver(dst, src net.Conn, queue <-chan chunk) {
	for c := range queue {
		p.slack.SleepUntil(c.due)
		if _, err := dst.Write(c.data); err != nil {
			dst.Close()
			src.Close()
			for range queue { // let the reader finish
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// TimerSlack corrects the lateness of Go's timers for delay proxies: on
// Linux a timer fires up to a millisecond late (the runtime's epoll wait
// takes whole milliseconds), so that a proxy whose two delays of 25 ms
// should make an RTT of 50 ms makes one of about 51–52 ms. A TimerSlack
// keeps a running mean of how late the proxies' sleeps end and aims each
// sleep that much early, never more than MaxTimerLead: a correction of the
// timer's granularity, not of the CPU time the processes take, which
// stays in every round trip. One TimerSlack may serve many proxies.
type TimerSlack struct{ lead atomic.Int64 }

// MaxTimerLead bounds how early a TimerSlack aims a sleep.
const MaxTimerLead = time.Millisecond

// SleepUntil sleeps until due, aiming early by the mean lateness; on a nil
// TimerSlack it is time.Sleep(time.Until(due)).
func (s *TimerSlack) SleepUntil(due time.Time) {
	if s == nil {
		time.Sleep(time.Until(due))
		return
	}
	lead := time.Duration(s.lead.Load())
	time.Sleep(time.Until(due) - lead)
	late := time.Since(due) // how far from due the correction left us
	s.lead.Store(int64(min(max(lead+late/16, 0), MaxTimerLead)))
}
