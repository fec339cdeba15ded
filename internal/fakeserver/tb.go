package fakeserver

import "testing"

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
