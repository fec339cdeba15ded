package scan

import (
	"context"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// testCtx bounds every test: no test may hang.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startServer(t *testing.T, cfg fakeserver.Config) *fakeserver.Server {
	t.Helper()
	return fakeserver.NewTB(t, cfg)
}

// rawBanner replaces the greeting with bytes exactly as given.
func rawBanner(b string) func(*fakeserver.Session) bool {
	return func(s *fakeserver.Session) bool {
		s.WriteRaw([]byte(b))
		s.Flush()
		return true
	}
}
