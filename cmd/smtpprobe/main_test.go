package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ttyBuffer is a buffer that says it is a terminal.
type ttyBuffer struct{ bytes.Buffer }

func (*ttyBuffer) IsTerminal() bool { return true }

// result is what one run of the command produced.
type result struct {
	code           int
	stdout, stderr string
}

// invocation describes one run of the command in a test.
type invocation struct {
	args           []string
	env            map[string]string
	stdin          string
	stdout, stderr interface {
		Write([]byte) (int, error)
		String() string
	}
}

// runCLI runs the command with args, an empty environment and empty stdin,
// bounded by a deadline.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	return invocation{args: args}.run(t)
}

func (inv invocation) run(t *testing.T) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if inv.stdout == nil {
		inv.stdout = &bytes.Buffer{}
	}
	if inv.stderr == nil {
		inv.stderr = &bytes.Buffer{}
	}
	getenv := func(k string) string { return inv.env[k] }
	code := runContext(ctx, inv.args, stdio{in: strings.NewReader(inv.stdin), out: inv.stdout, err: inv.stderr, getenv: getenv})
	if ctx.Err() != nil {
		t.Fatalf("smtpprobe %q did not finish within its deadline", inv.args)
	}
	return result{code: code, stdout: inv.stdout.String(), stderr: inv.stderr.String()}
}

// testPKI is one test CA and its certificates, with the CA in a PEM file.
type testPKI struct {
	*fakeserver.PKI
	caFile string
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	pki, err := fakeserver.NewPKI(fakeserver.DefaultHostname)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := pki.WriteCAFile(path); err != nil {
		t.Fatal(err)
	}
	return &testPKI{PKI: pki, caFile: path}
}

// tlsServer starts a fakeserver with STARTTLS under cert and a user
// alice@example.test with the password "secret", shaped by edit.
func tlsServer(t testing.TB, cert tls.Certificate, edit func(*fakeserver.Config)) *fakeserver.Server {
	t.Helper()
	cfg := fakeserver.Config{TLSCert: &cert, Users: map[string]string{"alice@example.test": "secret"}}
	if edit != nil {
		edit(&cfg)
	}
	return fakeserver.NewTB(t, cfg)
}

// assertContains fails unless s holds every want, in order.
func assertContains(t *testing.T, s string, want ...string) {
	t.Helper()
	rest := s
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q (in this order) in:\n%s", w, s)
		}
		rest = rest[i+len(w):]
	}
}
