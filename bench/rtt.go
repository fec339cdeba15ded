package bench

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// NoopRTT measures the effective round-trip time to an SMTP server at
// addr: the median time of n NOOP exchanges on one connection, with a
// client that does nothing else (the median, so that one scheduling
// hiccup on a shared machine does not skew it). Through a DelayProxy it is the nominal RTT plus
// the timer slack of the proxy and the server's time per command.
func NoopRTT(addr string, n int) (time.Duration, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	if err := expectReply(r, "220"); err != nil {
		return 0, err
	}
	times := make([]time.Duration, max(n, 1))
	for i := range times {
		start := time.Now()
		if _, err := nc.Write([]byte("NOOP\r\n")); err != nil {
			return 0, err
		}
		if err := expectReply(r, "250"); err != nil {
			return 0, err
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// expectReply reads one single-line reply and checks its code.
func expectReply(r *bufio.Reader, code string) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, code+" ") {
		return fmt.Errorf("bench: want a %s reply, got %q", code, line)
	}
	return nil
}

// RTTMeter measures the effective round-trip time to an SMTP server with
// NOOPs on one connection, one after the other, until Stop: what the link,
// the proxies and the server add to a round trip while other traffic runs.
type RTTMeter struct {
	stop  chan struct{}
	done  chan struct{}
	times []time.Duration
	err   error
}

// StartRTTMeter connects to addr, reads the banner and starts the NOOPs.
func StartRTTMeter(addr string) (*RTTMeter, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(nc)
	if err := expectReply(r, "220"); err != nil {
		nc.Close()
		return nil, err
	}
	m := &RTTMeter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		defer nc.Close()
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			start := time.Now()
			if _, err := nc.Write([]byte("NOOP\r\n")); err != nil {
				m.err = err
				return
			}
			if err := expectReply(r, "250"); err != nil {
				m.err = err
				return
			}
			m.times = append(m.times, time.Since(start))
		}
	}()
	return m, nil
}

// Stop ends the NOOPs and returns the median round trip and how many were
// measured.
func (m *RTTMeter) Stop() (time.Duration, int, error) {
	close(m.stop)
	<-m.done
	if m.err != nil || len(m.times) == 0 {
		return 0, 0, errors.Join(m.err, errors.New("bench: no round trip measured"))
	}
	slices.Sort(m.times)
	return m.times[len(m.times)/2], len(m.times), nil
}
