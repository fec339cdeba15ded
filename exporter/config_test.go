package exporter

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

func TestParseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, yml, want string }{
		{"empty", "", "empty module file"},
		{"no modules", "modules: {}\n", "no modules"},
		{"unknown top-level key", "modules:\n  a: {}\nmodule:\n  b: {}\n", "line 3: field module not found"},
		{"unknown module key", "modules:\n  a:\n    tls: none\n    startls: required\n", "line 4: field startls not found"},
		{"password in the file", "modules:\n  a:\n    auth:\n      username: u\n      password: hunter2\n", "line 5: field password not found"},
		{"bad tls", "modules:\n  a:\n    port: 25\n    tls: startls\n", `line 4: module a: tls: "startls": want starttls, implicit or none`},
		{"bad policy", "modules:\n  a:\n    starttls: maybe\n", `line 3: module a: starttls: "maybe"`},
		{"policy without starttls", "modules:\n  a:\n    tls: implicit\n    starttls: required\n", "line 4: module a: starttls: a STARTTLS policy needs tls: starttls"},
		{"bad port", "modules:\n  a:\n    port: 70000\n", "line 3: module a: port: 70000"},
		{"port not a number", "modules:\n  a:\n    port: smtp\n", "line 3: cannot unmarshal !!str `smtp` into int"},
		{"bad duration", "modules:\n  a:\n    timeout: 10 parsecs\n", "line 3: cannot unmarshal !!str `10 parsecs` into time.Duration"},
		{"negative duration", "modules:\n  a:\n    tls: none\n    timeout: -1s\n", "line 4: module a: timeout: -1s"},
		{"bad regexp", "modules:\n  a:\n    expect_banner: '220 ('\n", "line 3: module a: expect_banner: error parsing regexp"},
		{"bad stage", "modules:\n  a:\n    quit_after: helo\n", `line 3: module a: quit_after: "helo"`},
		{"rcpt without recipients", "modules:\n  a:\n    quit_after: rcpt\n", "line 3: module a: quit_after: rcpt needs rcpt_to"},
		{"bad check", "modules:\n  a:\n    checks: [open-relay, rot13]\n", `line 3: module a: checks: probe: unknown check "rot13"`},
		{"smuggling without recipient", "modules:\n  a:\n    checks: [smtp-smuggling]\n", "line 3: module a: checks: smtp-smuggling sends test messages"},
		{"bad recipient", "modules:\n  a:\n    rcpt_to: [\"a b@example.test\"]\n", "line 3: module a: rcpt_to:"},
		{"ehlo with a space", "modules:\n  a:\n    ehlo: 'a b'\n", "line 3: module a: ehlo:"},
		{"auth without secret", "modules:\n  a:\n    auth:\n      username: u\n", "line 3: module a: auth: the secret comes from password_file or password_env"},
		{"auth secret unset", "modules:\n  a:\n    auth:\n      username: u\n      password_env: UNSET_FOR_TEST\n", "line 5: module a: auth.password_env: $UNSET_FOR_TEST is empty"},
		{"auth secret file missing", "modules:\n  a:\n    auth:\n      username: u\n      password_file: " + dir + "/none\n", "line 5: module a: auth.password_file:"},
		{"auth both", "modules:\n  a:\n    auth: {username: u, password_file: x, password_env: Y}\n", "module a: auth.password_env: give password_file or password_env, not both"},
		{"bad mechanism", "modules:\n  a:\n    auth: {username: u, mechanism: NTLM, password_env: PW}\n", `module a: auth.mechanism: "NTLM"`},
		{"ca file missing", "modules:\n  a:\n    tls_config:\n      ca_file: " + dir + "/none.pem\n", "line 4: module a: tls_config.ca_file:"},
		{"bad ip protocol", "modules:\n  a:\n    preferred_ip_protocol: ip5\n", `line 3: module a: preferred_ip_protocol: "ip5"`},
		{"bad cidr", "modules:\n  a: {}\nallowed_targets:\n  cidrs: [10.0.0.0/33]\n", `line 4: allowed_targets: cidrs: "10.0.0.0/33"`},
		{"bad host pattern", "modules:\n  a: {}\nallowed_targets:\n  hosts: ['mail server']\n", `line 4: allowed_targets: hosts: "mail server"`},
		{"empty allow-list", "modules:\n  a: {}\nallowed_targets:\n  ports: [25]\n", "line 3: allowed_targets: give hosts, cidrs or both"},
		{"bad allowed port", "modules:\n  a: {}\nallowed_targets:\n  cidrs: [127.0.0.0/8]\n  ports: [0]\n", "line 5: allowed_targets: ports: 0"},
		{"empty module", "modules:\n  a:\n", "line 2: module a is empty"},
		{"not yaml", "modules: [\n", "yaml: line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yml), env{"PW": "x"}.get)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseConfigModule(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	writeFile(t, pw, "s3cret\r\nignored\n")
	c, err := ParseConfig([]byte(`
allowed_targets:
  hosts: ["*.example.test"]
  cidrs: [127.0.0.0/8]
modules:
  full:
    port: 587
    starttls: required
    tls_config: {server_name: mail.example.test, insecure_skip_verify: true}
    ehlo: monitor.example.net
    auth: {mechanism: plain, username: alice, password_file: `+pw+`}
    mail_from: probe@example.net
    rcpt_to: [postmaster@example.test]
    quit_after: rcpt
    checks: [all]
    timeout: 7s
    step_timeout: 2s
    cert_warn_days: 30
    expect_name: mail.example.test
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Modules["full"]
	if m.password != "s3cret" {
		t.Errorf("password %q read from the file", m.password)
	}
	o := m.options(target{host: "mx.example.test", port: 587, ip: mustAddr(t, "127.0.0.1")})
	switch {
	case o.Target != "127.0.0.1:587", o.StartTLS != scan.StartTLSRequired, o.ImplicitTLS,
		o.Username != "alice", o.Password != "s3cret", o.AuthMechanism != "PLAIN",
		o.Dialer.LocalName != "monitor.example.net", o.Dialer.Timeouts.Greeting != 2*time.Second,
		o.Dialer.TLSConfig.ServerName != "mail.example.test", !o.Dialer.TLSConfig.InsecureSkipVerify,
		o.From != "probe@example.net", len(o.To) != 1, o.QuitAfter != scan.StageRcpt,
		len(o.Checks) < 5, o.CertWarnDays != 30, o.ExpectName != "mail.example.test":
		t.Errorf("options %+v", o)
	}
	if !c.AllowedTargets.allowsName("mx.example.test") || c.AllowedTargets.allowsName("example.test") {
		t.Error("allowed_targets hosts")
	}
	// Without a server_name the target's name is verified, not the address dialled.
	plain := &Module{}
	if cfg := plain.tlsFor(target{host: "mx.example.test", ip: mustAddr(t, "127.0.0.1")}); cfg == nil || cfg.ServerName != "mx.example.test" {
		t.Errorf("tlsFor a name: %+v", cfg)
	}
	if cfg := plain.tlsFor(target{host: "127.0.0.1", ip: mustAddr(t, "127.0.0.1")}); cfg != nil {
		t.Errorf("tlsFor an address: %+v, want the library's default", cfg)
	}
}

// TestReload: POST /-/reload and Reload take a new module file; a bad one
// keeps the modules in use and says why.
func TestReload(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	e := newExporter(t, "modules:\n  one:\n    tls: none\n", nil, Options{})
	path := e.opts.ConfigFile
	if w := get(t, e, "/probe?module=two&target="+srv.Addr()); w.Code != 400 {
		t.Fatalf("module two before the reload: %d", w.Code)
	}
	writeFile(t, path, "modules:\n  one:\n    tls: none\n  two:\n    tls: none\n")
	if w := post(e, "/-/reload"); w.Code != 200 {
		t.Fatalf("reload: %d %s", w.Code, w.Body)
	}
	if w := get(t, e, "/probe?module=two&target="+srv.Addr()); w.Code != 200 {
		t.Errorf("module two after the reload: %d %s", w.Code, w.Body)
	}
	writeFile(t, path, "modules:\n  two:\n    tls: none\n    colour: blue\n")
	w := post(e, "/-/reload")
	if w.Code != 500 || !strings.Contains(w.Body.String(), "line 4: field colour not found") ||
		!strings.Contains(w.Body.String(), "previous modules stay") {
		t.Errorf("bad reload: %d %q", w.Code, w.Body)
	}
	if w := get(t, e, "/probe?module=one&target="+srv.Addr()); w.Code != 200 {
		t.Errorf("module one after a failed reload: %d", w.Code)
	}
	if v := gaugeValue(t, e, "smtpprobe_exporter_config_last_reload_successful"); v != 0 {
		t.Errorf("last_reload_successful = %v after a failed reload", v)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	writeFile(t, path, "modules:\n  three:\n    tls: none\n")
	if err := e.Reload(); err != nil || e.Config().Modules["three"] == nil {
		t.Errorf("Reload: %v", err)
	}
	if v := gaugeValue(t, e, "smtpprobe_exporter_config_last_reload_successful"); v != 1 {
		t.Errorf("last_reload_successful = %v", v)
	}
	if w := get(t, e, "/-/reload"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d", w.Code)
	}
}

func TestNewFromConfig(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	e, err := New(Options{Config: &Config{Modules: map[string]*Module{"go": {TLS: "none"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if w := get(t, e, "/probe?module=go&target="+srv.Addr()); w.Code != 200 {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	if err := e.Reload(); err == nil {
		t.Error("Reload without a file succeeded")
	}
	if _, err := New(Options{Config: &Config{Modules: map[string]*Module{"bad": {TLS: "tls"}}}}); err == nil {
		t.Error("New accepted a bad module")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without modules succeeded")
	}
}

func post(h http.Handler, url string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, url, nil))
	return w
}
