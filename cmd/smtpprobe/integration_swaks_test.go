package main

// Integration tests of the swaks-like flags (issue 17) against the real
// servers of testdata/mta: skipped unless testdata/mta/run/env is loaded.

import (
	"regexp"
	"strings"
	"testing"

	"github.com/smtpprobe/probe/internal/mta"
)

// cliCase is one command line against one endpoint of testdata/mta.
type cliCase struct {
	name, env string
	target    func(addr string) string
	args      []string
	// out must appear in the output, in order.
	out []string
	// received, when set, must be in the Received header of the message
	// delivered to alice, and logged is Postfix's client=… for it.
	received, logged string
	maildir          string
}

func cliCases() []cliCase {
	plain := func(addr string) string { return addr }
	return []cliCase{{
		name: "xclient", env: "PROBE_POSTFIX_XCLIENT", target: plain,
		args:     []string{"-xclient", "NAME=client.remote.test ADDR=198.51.100.7 PORT=4321"},
		out:      []string{"C: XCLIENT ADDR=198.51.100.7 NAME=client.remote.test PORT=4321", "S: 220 ", "C: EHLO "},
		received: "(client.remote.test [198.51.100.7])", logged: "client.remote.test[198.51.100.7]", maildir: "PROBE_MTA_MAILDIR_POSTFIX",
	}, {
		name: "proxy v1", env: "PROBE_POSTFIX_PROXY", target: plain,
		args:     []string{"-proxy-header", "v1", "-proxy-source", "192.0.2.1:5555", "-proxy-dest", "127.0.0.1:10028"},
		out:      []string{"PROXY header sent: PROXY TCP4 192.0.2.1 127.0.0.1 5555 10028", "S: 220 "},
		received: "(unknown [192.0.2.1])", logged: "unknown[192.0.2.1]", maildir: "PROBE_MTA_MAILDIR_POSTFIX",
	}, {
		name: "proxy v2", env: "PROBE_POSTFIX_PROXY", target: plain,
		args:     []string{"-proxy-header", "v2", "-proxy-source", "203.0.113.50:40000", "-proxy-dest", "127.0.0.1:10028"},
		out:      []string{"PROXY v2 header sent (28 bytes): PROXY 203.0.113.50:40000 -> 127.0.0.1:10028", "S: 220 "},
		received: "(unknown [203.0.113.50])", logged: "unknown[203.0.113.50]", maildir: "PROBE_MTA_MAILDIR_POSTFIX",
	}, {
		name: "lmtp socket", env: "PROBE_DOVECOT_LMTP_SOCKET", target: func(p string) string { return "unix:" + p },
		args:     []string{"-lmtp"},
		out:      []string{"C: LHLO ", "final: 250 2.0.0 <alice@example.test> ", " Saved"},
		received: "Received: from probe.example.test\n", maildir: "PROBE_MTA_MAILDIR_LMTP",
	}}
}

// TestIntegrationCommandLine: -xclient, -proxy-header v1 and v2, and a
// unix: LMTP target deliver to alice, and the servers' Received headers
// and Postfix's log name the client the command claimed.
func TestIntegrationCommandLine(t *testing.T) {
	for _, tt := range cliCases() {
		t.Run(tt.name, func(t *testing.T) {
			env := mta.RequireEnv(t, tt.env, mta.EnvCA, mta.EnvServerName, tt.maildir)
			token := mta.UniqueToken(t)
			args := append(tt.args, "-cafile", env[1], "-server-name", env[2], "-ehlo", "probe.example.test",
				"-from", "sender@remote.test", "-to", mta.LocalAddr(t, "alice"), "-header", "X-Probe-Token: "+token, tt.target(env[0]))
			r := runCLI(t, args...)
			t.Logf("smtpprobe %q: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
			if r.code != exitOK {
				t.Fatalf("exit %d", r.code)
			}
			assertContains(t, r.stdout, tt.out...)
			msg := string(mta.DeliveredMessage(t, mta.Context(t), env[3], "alice", token))
			received := msg[strings.Index(msg, "Received: "):]
			received = received[:strings.Index(received, "\n\tby ")+1]
			t.Logf("delivered with %q", received)
			if !strings.Contains(received, tt.received) {
				t.Errorf("Received header %q lacks %q", received, tt.received)
			}
			if tt.logged != "" {
				id := regexp.MustCompile(`Queue ID:\s+(\S+)`).FindStringSubmatch(r.stdout)
				if id == nil {
					t.Fatal("no queue id in the summary")
				}
				t.Log(mta.WaitForLog(t, mta.Context(t), "postfix.log", id[1]+": client="+tt.logged))
			}
		})
	}
}

// TestIntegrationTLSSweepCommand: -checks tls-versions against the TLS
// 1.2-only port says so in the summary.
func TestIntegrationTLSSweepCommand(t *testing.T) {
	env := mta.RequireEnv(t, "PROBE_POSTFIX_TLS12", mta.EnvCA, mta.EnvServerName)
	r := runCLI(t, "-checks", "tls-versions", "-quit-after", "tls", "-cafile", env[1], "-server-name", env[2], env[0])
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	assertContains(t, r.stdout, "Checks:    tls-versions passed (TLS 1.0 refused (", "TLS 1.1 refused (",
		"TLS 1.2 accepted (TLS_", "TLS 1.3 refused (")
}
