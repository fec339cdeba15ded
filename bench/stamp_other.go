//go:build !linux

package bench

import (
	"net"
	"time"
)

// stampedReader is Linux's only (stamp_linux.go): elsewhere a delay
// proxy counts a chunk's delay from when it read it.
type stampedReader struct{}

func newStampedReader(net.Conn) *stampedReader { return nil }

func (*stampedReader) Read([]byte) (int, time.Time, error) { panic("unreachable") }
