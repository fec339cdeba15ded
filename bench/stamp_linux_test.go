package bench

import (
	"net"
	"testing"
	"time"
)

// TestStampedReader: data that waited in the socket is stamped with the
// time it arrived, not the time it was read. The kernel turns receive
// stamps on a moment after the first socket asks (a deferred switch), so
// the test tries a few times.
func TestStampedReader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := newStampedReader(s)
	if r == nil {
		t.Fatal("no SO_TIMESTAMPNS on a TCP socket")
	}
	const wait = 10 * time.Millisecond
	buf := make([]byte, 64)
	var late time.Duration
	for range 20 {
		sent := time.Now()
		if _, err := c.Write([]byte("220 hello\r\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait)
		n, at, err := r.Read(buf)
		if err != nil || string(buf[:n]) != "220 hello\r\n" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		if late = at.Sub(sent); late > -time.Millisecond && late < wait/2 {
			break
		}
	}
	if late < -time.Millisecond || late >= wait/2 {
		t.Errorf("data read %v after it was written was stamped %v after it", wait, late)
	}
	c.Close()
	if n, _, err := r.Read(buf); n != 0 || err == nil {
		t.Errorf("after the close: %d bytes, %v", n, err)
	}
}
