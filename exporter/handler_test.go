package exporter

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// TestBadRequests: an unknown module or a malformed target is answered
// 400 with one line, and nothing connects to the server.
func TestBadRequests(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n", nil, Options{})
	port := strings.TrimPrefix(srv.Addr(), "127.0.0.1")
	for _, tc := range []struct{ name, query, want string }{
		{"no module", "target=" + srv.Addr(), "missing module"},
		{"unknown module", "module=nope&target=" + srv.Addr(), `unknown module "nope"`},
		{"no target", "module=plain", "missing target"},
		{"empty target", "module=plain&target=", "missing target"},
		{"empty host", "module=plain&target=" + url.QueryEscape(port), "empty host"},
		{"bad port", "module=plain&target=127.0.0.1:99999", "port"},
		{"port not a number", "module=plain&target=127.0.0.1:smtp", "port"},
		{"port zero", "module=plain&target=127.0.0.1:0", "port"},
		{"control byte", "module=plain&target=" + url.QueryEscape("127.0.0.1\r\nRCPT:25"), "control"},
		{"NUL", "module=plain&target=" + url.QueryEscape("127.0.0.1\x00:25"), "control"},
		{"space", "module=plain&target=" + url.QueryEscape("127.0.0.1 "+port), "space"},
		{"slash", "module=plain&target=" + url.QueryEscape("mail.example.test/x:25"), "host name holds"},
		{"userinfo", "module=plain&target=" + url.QueryEscape("u@127.0.0.1:25"), "host name holds"},
		{"non-ASCII", "module=plain&target=" + url.QueryEscape("mäil.example.test:25"), "non-ASCII"},
		{"too long", "module=plain&target=" + strings.Repeat("a", 400), "longer"},
		{"bad header", "module=plain&target=" + srv.Addr() + "&h=x", "X-Prometheus-Scrape-Timeout-Seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if strings.HasSuffix(tc.query, "&h=x") {
				hdr = []string{"X-Prometheus-Scrape-Timeout-Seconds", "soon"}
			}
			w := get(t, e, "/probe?"+tc.query, hdr...)
			body := w.Body.String()
			if w.Code != http.StatusBadRequest || !strings.Contains(body, tc.want) || strings.Count(body, "\n") != 1 {
				t.Errorf("%d %q; want 400 and one line with %q", w.Code, body, tc.want)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // a connection would have been accepted by now
	if n := len(srv.Sessions()); n != 0 {
		t.Errorf("the server saw %d connections; a bad request must run no probe", n)
	}
	if v := counterValue(t, e, "smtpprobe_exporter_requests_refused_total", "reason", "bad_request"); v != 16 {
		t.Errorf("requests_refused_total{reason=bad_request} = %v, want 16", v)
	}
}

func TestAllowList(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	port := strings.TrimPrefix(srv.Addr(), "127.0.0.1:")
	for _, tc := range []struct {
		name, allow, target string
		want                int
	}{
		{"cidr allows", "cidrs: [127.0.0.0/8]", srv.Addr(), 200},
		{"cidr refuses", "cidrs: [192.0.2.0/24]", srv.Addr(), 403},
		{"cidr allows a name resolved inside", "cidrs: [127.0.0.1/32, '::1/128']", "localhost:" + port, 200},
		{"host allows", "hosts: [localhost]", "localhost:" + port, 200},
		{"host pattern does not match the bare domain", "hosts: ['*.localhost']", "localhost:" + port, 403},
		{"host refuses an IP literal", "hosts: [localhost]", srv.Addr(), 403},
		{"port refuses", "cidrs: [127.0.0.0/8]\n  ports: [25, 465]", srv.Addr(), 403},
		{"port allows", "cidrs: [127.0.0.0/8]\n  ports: [" + port + "]", srv.Addr(), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Sessions())
			e := newExporter(t, "allowed_targets:\n  "+tc.allow+"\nmodules:\n  plain:\n    tls: none\n    preferred_ip_protocol: ip4\n", nil, Options{})
			w := get(t, e, "/probe?module=plain&target="+tc.target)
			if w.Code != tc.want {
				t.Fatalf("%d %q; want %d", w.Code, w.Body, tc.want)
			}
			time.Sleep(20 * time.Millisecond)
			got := len(srv.Sessions()) - before
			if tc.want == 403 && (got != 0 || !strings.Contains(w.Body.String(), "not in allowed_targets")) {
				t.Errorf("refused target: %d connections, answer %q", got, w.Body)
			}
			if tc.want == 200 && got != 1 {
				t.Errorf("allowed target: %d connections, want 1", got)
			}
		})
	}
}

func TestAllowListPatterns(t *testing.T) {
	a := &AllowList{Hosts: []string{"*.Example.com", "mail.example.org"}, CIDRs: []string{"192.0.2.0/24", "2001:db8::/32"}}
	if err := a.prepare(); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"mx1.example.com": true, "a.b.EXAMPLE.com": true, "example.com": false, "badexample.com": false,
		"mail.example.org": true, "x.mail.example.org": false, "": false,
	} {
		if got := a.allowsName(host); got != want {
			t.Errorf("allowsName(%q) = %v, want %v", host, got, want)
		}
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{{"192.0.2.7", true}, {"192.0.3.1", false}, {"::ffff:192.0.2.7", true}, {"2001:db8::25", true}, {"2001:db9::1", false}} {
		if got := a.allowsAddr(mustAddr(t, tc.ip)); got != tc.want {
			t.Errorf("allowsAddr(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

// TestOverload: beyond MaxConcurrent probes in flight, a scrape is
// answered 503 at once.
func TestOverload(t *testing.T) {
	release := make(chan struct{})
	srv := fakeserver.NewTB(t, fakeserver.Config{OnConnect: func(s *fakeserver.Session) bool {
		<-release
		return false
	}})
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n", nil, Options{MaxConcurrent: 2})
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() { codes <- get(t, e, "/probe?module=plain&target="+srv.Addr()).Code })
	}
	waitFor(t, func() bool { return len(srv.LiveSessions()) == 2 })
	w := get(t, e, "/probe?module=plain&target="+srv.Addr())
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "2 probes in flight") {
		t.Errorf("third probe: %d %q; want 503", w.Code, w.Body)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a probe in flight ended %d", c)
		}
	}
	if w := get(t, e, "/probe?module=plain&target="+srv.Addr()); w.Code != 200 {
		t.Errorf("after the others ended: %d", w.Code)
	}
	if v := counterValue(t, e, "smtpprobe_exporter_requests_refused_total", "reason", "overload"); v != 1 {
		t.Errorf("refused{overload} = %v", v)
	}
}

// TestScrapeTimeoutHeader: the probe is bounded by the scrape's timeout
// less the offset, and by the module's timeout when that is shorter.
func TestScrapeTimeoutHeader(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{"CONNECT": fakeserver.Silent()}})
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n  short:\n    tls: none\n    timeout: 200ms\n", nil,
		Options{TimeoutOffset: 300 * time.Millisecond})
	for _, tc := range []struct {
		module, header string
		want           time.Duration
	}{
		{"plain", "0.8", 500 * time.Millisecond},
		{"short", "2", 200 * time.Millisecond},
		{"plain", "0.2", 200 * time.Millisecond}, // shorter than the offset: the scrape's own
	} {
		start := time.Now()
		w := get(t, e, "/probe?module="+tc.module+"&target="+srv.Addr(), "X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		took := time.Since(start)
		mfs := parse(t, w.Body)
		if v, _ := value(mfs, "probe_timeout_seconds"); v != tc.want.Seconds() {
			t.Errorf("%s with %ss: probe_timeout_seconds %v, want %v", tc.module, tc.header, v, tc.want.Seconds())
		}
		if took < tc.want || took > tc.want+time.Second {
			t.Errorf("%s with %ss: the probe took %v, want about %v", tc.module, tc.header, took, tc.want)
		}
		if v, _ := value(mfs, "probe_smtp_error_info", "stage", "banner", "class", "timeout"); v != 1 {
			t.Errorf("%s: the silent server is not a banner timeout", tc.module)
		}
	}
}

// TestClientDisconnectCancelsProbe: a scraper that goes away ends its
// probe and the connection to the server.
func TestClientDisconnectCancelsProbe(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{Misbehave: map[string]fakeserver.Step{"CONNECT": fakeserver.Silent()}})
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n    timeout: 30s\n", nil, Options{})
	hs := httptest.NewServer(e)
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/probe?module=plain&target="+srv.Addr(), nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, func() bool { return len(srv.LiveSessions()) == 1 })
	start := time.Now()
	cancel()
	<-done
	if _, err := srv.WaitSessions(1, 5*time.Second); err != nil {
		t.Errorf("the server's session did not end after the client left: %v", err)
	}
	waitFor(t, func() bool { return gaugeValue(t, e, "smtpprobe_exporter_probes_in_flight") == 0 })
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the probe went on for %v after the client left", took)
	}
	probes := e.history.list()
	if len(probes) != 1 || !strings.Contains(probes[0].Reason, "canceled") {
		t.Errorf("history %+v: want one cancelled probe", probes)
	}
}

// TestCredentialsNeverShown: the password is on no page, in no debug
// output and in no log line, in clear or in base64.
func TestCredentialsNeverShown(t *testing.T) {
	const user, pass = "alice", "Tr0ub4dor&3-horse"
	srv := fakeserver.NewTB(t, fakeserver.Config{AuthBeforeTLS: true, Users: map[string]string{user: pass}})
	var logs bytes.Buffer
	e := newExporter(t, `modules:
  auth:
    tls: none
    auth: {username: alice, password_env: PW, allow_plaintext: true}
  auth_login:
    tls: none
    auth: {username: alice, mechanism: LOGIN, password_env: PW, allow_plaintext: true}
`, nil, Options{Getenv: env{"PW": pass}.get, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	var seen strings.Builder
	for _, m := range []string{"auth", "auth_login"} {
		w := get(t, e, "/probe?debug=true&module="+m+"&target="+srv.Addr())
		if !strings.Contains(w.Body.String(), "probe_smtp_auth_success") || !strings.Contains(w.Body.String(), "235") {
			t.Fatalf("%s: no successful AUTH in the debug output:\n%s", m, w.Body)
		}
		seen.WriteString(w.Body.String())
		seen.WriteString(get(t, e, "/probe?module="+m+"&target="+srv.Addr()).Body.String())
	}
	seen.WriteString(get(t, e, "/").Body.String())
	for _, p := range e.history.list() {
		seen.WriteString(get(t, e, "/logs?id="+itoa(p.ID)).Body.String())
	}
	seen.WriteString(logs.String())
	all := seen.String()
	for _, secret := range []string{pass, base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass)),
		base64.StdEncoding.EncodeToString([]byte(pass))} {
		if strings.Contains(all, secret) {
			t.Errorf("the secret %q appears in the pages or logs", secret)
		}
	}
	if !strings.Contains(all, "redacted") {
		t.Error("no redacted credentials in the transcripts: did AUTH run?")
	}
}

func TestDebugAndPages(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	e := newExporter(t, "modules:\n  plain:\n    tls: none\n  other:\n    port: 2525\n", nil, Options{History: 2})
	w := get(t, e, "/probe?debug=true&module=plain&target="+srv.Addr())
	body := w.Body.String()
	for _, want := range []string{"Module: plain", "Result: success", "S: 220 ", "C: EHLO", `"schema_version": 1`, "probe_success 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("debug output lacks %q:\n%s", want, body)
		}
	}
	for range 3 {
		get(t, e, "/probe?module=plain&target="+fakeserver.ClosedAddr(t))
	}
	page := get(t, e, "/").Body.String()
	for _, want := range []string{"<td>plain</td>", "<td>other</td><td>2525</td>", "connection-refused"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if got := len(e.history.list()); got != 2 {
		t.Errorf("history holds %d probes, want the last 2", got)
	}
	if strings.Contains(page, "logs?id=1\"") || !strings.Contains(page, "logs?id=4\"") {
		t.Errorf("the page should list probes 3 and 4 only:\n%s", page)
	}
	if w := get(t, e, "/logs?id=4"); w.Code != 200 || !strings.Contains(w.Body.String(), "connection-refused") {
		t.Errorf("/logs?id=4: %d %s", w.Code, w.Body)
	}
	if w := get(t, e, "/logs?id=1"); w.Code != 404 {
		t.Errorf("/logs?id=1 (dropped from the ring): %d", w.Code)
	}
	m := get(t, e, "/metrics").Body.String()
	for _, want := range []string{`smtpprobe_exporter_probes_total{module="plain",result="success"} 1`,
		`smtpprobe_exporter_probes_total{module="plain",result="failure"} 3`,
		`smtpprobe_exporter_probe_duration_seconds_count{module="plain"} 4`, "go_goroutines", "process_open_fds"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if w := get(t, e, "/nope"); w.Code != 404 {
		t.Errorf("/nope: %d", w.Code)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func counterValue(t *testing.T, e *Exporter, name string, labels ...string) float64 {
	t.Helper()
	mfs := parse(t, strings.NewReader(get(t, e, "/metrics").Body.String()))
	mf := mfs[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
			}
			if !found {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return -1
}

func gaugeValue(t *testing.T, e *Exporter, name string) float64 {
	t.Helper()
	v, _ := value(parse(t, strings.NewReader(get(t, e, "/metrics").Body.String())), name)
	return v
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
