package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// startServe runs serveOn with the flags args on a loopback port and
// returns its base address; the server stops with the test.
func startServe(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	c, err := parseServe(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- serveOn(ctx, ln, c, stdio{out: io.Discard, err: logs, getenv: func(string) string { return "" }})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve ended with %d:\n%s", code, logs)
		}
	})
	return ln.Addr().String(), logs
}

func writeTestFile(t *testing.T, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fetch(t *testing.T, c *http.Client, url, user, pass string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeUsage(t *testing.T) {
	dir := t.TempDir()
	good := writeTestFile(t, dir, "m.yml", "modules:\n  a: {}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "needs -config"},
		{[]string{"-config", good, "extra"}, "no arguments"},
		{[]string{"-config", good, "-max-concurrent", "0"}, "-max-concurrent 0"},
		{[]string{"-config", good, "-web.config.file", writeTestFile(t, dir, "w.yml", "basic_auth_users: [\n")}, "-web.config.file"},
		{[]string{"-config", writeTestFile(t, dir, "bad.yml", "modules:\n  a:\n    tls: maybe\n"), "-web.listen-address", "127.0.0.1:0"}, "line 3: module a: tls"},
		{[]string{"-config", good, "-web.listen-address", "256.0.0.1:1"}, "256.0.0.1"},
	} {
		var errOut strings.Builder
		code := runContext(context.Background(), append([]string{"serve"}, tc.args...), stdio{out: io.Discard, err: &errOut, getenv: os.Getenv})
		if code == exitOK || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("serve %q: exit %d, stderr %q; want an error with %q", tc.args, code, errOut.String(), tc.want)
		}
	}
	var out strings.Builder
	if code := runContext(context.Background(), []string{"serve", "-h"}, stdio{out: io.Discard, err: &out, getenv: os.Getenv}); code != exitOK ||
		!strings.Contains(out.String(), "-web.config.file") {
		t.Errorf("serve -h: %d %q", code, out.String())
	}
}

// TestServeWebConfig: with a web configuration file the HTTP side needs
// TLS and the basic auth password; without one it is open.
func TestServeWebConfig(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	pki, err := fakeserver.NewPKI("localhost")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(pki.Valid.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile := writeTestFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Valid.Certificate[0]})))
	keyFile := writeTestFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})))
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := writeTestFile(t, dir, "web.yml", "tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+
		"\nbasic_auth_users:\n  prometheus: "+string(hash)+"\n")
	modules := writeTestFile(t, dir, "modules.yml", "modules:\n  plain:\n    tls: none\n")
	probeURL := "/probe?module=plain&target=" + srv.Addr()

	addr, _ := startServe(t, "-config", modules, "-web.config.file", web)
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.CAPool(), ServerName: "localhost"}}}
	defer tlsClient.CloseIdleConnections()
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", 401}, {"prometheus", "wrong", 401}, {"other", "scrape-secret", 401}, {"prometheus", "scrape-secret", 200}} {
		code, body := fetch(t, tlsClient, "https://"+addr+probeURL, tc.user, tc.pass)
		if code != tc.want || tc.want == 200 && !strings.Contains(body, "probe_success 1") {
			t.Errorf("user %q password %q: %d %q; want %d", tc.user, tc.pass, code, body, tc.want)
		}
	}
	plainClient := &http.Client{Transport: &http.Transport{}}
	defer plainClient.CloseIdleConnections()
	if code, body := fetch(t, plainClient, "http://"+addr+probeURL, "prometheus", "scrape-secret"); code == 200 {
		t.Errorf("plain HTTP to the TLS listener answered 200: %q", body)
	}
	if n := len(srv.Sessions()); n != 1 {
		t.Errorf("%d probes reached the server; only the authenticated scrape may", n)
	}

	open, _ := startServe(t, "-config", modules)
	if code, body := fetch(t, plainClient, "http://"+open+probeURL, "", ""); code != 200 || !strings.Contains(body, "probe_success 1") {
		t.Errorf("without a web configuration: %d %q", code, body)
	}
}

// TestServeReloadOnSIGHUP: SIGHUP reloads the module file; a bad file
// keeps the modules in use and is logged.
func TestServeReloadOnSIGHUP(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	dir := t.TempDir()
	modules := writeTestFile(t, dir, "modules.yml", "modules:\n  one:\n    tls: none\n")
	addr, logs := startServe(t, "-config", modules)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	url := "http://" + addr + "/probe?target=" + srv.Addr() + "&module="
	if code, _ := fetch(t, client, url+"two", "", ""); code != 400 {
		t.Fatalf("module two before SIGHUP: %d", code)
	}
	writeTestFile(t, dir, "modules.yml", "modules:\n  two:\n    tls: none\n")
	hup(t)
	waitUntil(t, func() bool { code, _ := fetch(t, client, url+"two", "", ""); return code == 200 })
	writeTestFile(t, dir, "modules.yml", "modules:\n  three:\n    tls: nonee\n")
	hup(t)
	waitUntil(t, func() bool { return strings.Contains(logs.String(), "reload failed") })
	if code, _ := fetch(t, client, url+"two", "", ""); code != 200 {
		t.Errorf("module two after a failed reload: %d", code)
	}
	if !strings.Contains(logs.String(), "line 3: module three: tls") {
		t.Errorf("the log does not say why the reload failed:\n%s", logs)
	}
}

func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
