package bench

import (
	"bufio"
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
