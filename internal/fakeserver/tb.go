package fakeserver

import (
	"net"
	"testing"
)

// NewTB starts a server for a test or benchmark, failing it if the server
// cannot start, and registers Close with tb.Cleanup.
func NewTB(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	srv, err := Start(cfg)
	if err != nil {
		tb.Fatalf("fakeserver: %v", err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	return srv
}

// ClosedAddr returns a loopback address where nothing listens: a port
// that was just free, for tests of a refused connection.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
