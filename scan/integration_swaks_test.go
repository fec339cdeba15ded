package scan_test

// Integration tests of what a client puts on the wire besides SMTP itself
// (issue 17), against the endpoints of testdata/mta made for them:
// XCLIENT (10027), a PROXY header (10028), LMTP over Dovecot's unix
// socket, and the TLS version sweep (10029, TLS 1.2 only). Each proves
// what the server made of it from the delivered message's Received header
// and, for Postfix, its log.

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/mta"
	"github.com/smtpprobe/probe/scan"
)

// Endpoints of testdata/mta/run/env for these tests.
const (
	envXClient    = "PROBE_POSTFIX_XCLIENT"
	envProxy      = "PROBE_POSTFIX_PROXY"
	envTLS12      = "PROBE_POSTFIX_TLS12"
	envLMTPSocket = "PROBE_DOVECOT_LMTP_SOCKET"
	envPostfixLog = "PROBE_POSTFIX_LOG"
)

// postfixAt is the Postfix MX service on the port of env: it delivers and
// prepends as the MX port does.
func postfixAt(name, env string) mta.Server {
	s := mta.PostfixMX()
	s.Name, s.AddrEnv = name, env
	return s
}

// deliver runs o with a message to alice carrying a new token, checks it
// was delivered as sent, and returns the Report and the header fields the
// server prepended.
func deliver(t *testing.T, s mta.Server, o scan.Options) (*scan.Report, string) {
	t.Helper()
	ctx := mta.Context(t)
	token := mta.UniqueToken(t)
	to := mta.LocalAddr(t, "alice")
	msg := mta.PlainMessage("sender@remote.test", to, token, "issue 17 "+s.Name)
	o.From, o.To, o.Body = "sender@remote.test", []string{to}, strings.NewReader(msg)
	rep := scan.Run(ctx, o)
	if rep.Error != nil {
		t.Fatalf("%s: %v\n%s", s.Name, rep.Error, rep.Transcript)
	}
	t.Logf("%s transcript:\n%s", s.Name, rep.Transcript)
	return rep, s.CheckReadBack(t, ctx, "alice", token, msg, false)
}

// receivedFrom checks the first line of the prepended Received header.
func receivedFrom(t *testing.T, prefix, want string) {
	t.Helper()
	for _, line := range strings.Split(prefix, "\n") {
		if strings.HasPrefix(line, "Received: ") {
			if !strings.Contains(line, want) {
				t.Errorf("Received header %q lacks %q", line, want)
			}
			return
		}
	}
	t.Errorf("no Received header in %q", prefix)
}

// postfixLogged waits for Postfix's log line naming the client of the
// message queued as id.
func postfixLogged(t *testing.T, id, client string) {
	t.Helper()
	mta.RequireEnv(t, envPostfixLog)
	line := mta.WaitForLog(t, mta.Context(t), "postfix.log", id+": client="+client)
	t.Logf("log: %s", line)
}

// TestIntegrationXClient: Options.XClient on the XCLIENT port; Postfix
// greets anew, takes the message for the client named, and says so in the
// Received header and its log.
func TestIntegrationXClient(t *testing.T) {
	s := postfixAt("postfix-xclient", envXClient)
	o := runOptions(t, s)
	o.XClient = map[string]string{"NAME": "client.remote.test", "REVERSE_NAME": "rev.remote.test", "ADDR": "198.51.100.7", "PORT": "4321", "HELO": "helo.remote.test"}
	rep, prefix := deliver(t, s, o)
	if !rep.Capabilities.Has("XFORWARD") || rep.Capabilities.Has("XCLIENT") {
		t.Errorf("EHLO after XCLIENT: %v (XFORWARD stays, XCLIENT goes)", rep.Capabilities.Extensions)
	}
	if !bytes.Contains([]byte(rep.Transcript.String()), []byte("C: XCLIENT ")) {
		t.Error("no XCLIENT in the transcript")
	}
	receivedFrom(t, prefix, "(client.remote.test [198.51.100.7])")
	postfixLogged(t, rep.QueueID, "client.remote.test[198.51.100.7]")
}

// TestIntegrationProxyHeader: a PROXY v1 and a v2 header on the port
// behind the "load balancer"; Postfix takes the source for the client.
func TestIntegrationProxyHeader(t *testing.T) {
	s := postfixAt("postfix-proxy", envProxy)
	for _, tt := range []struct {
		version int
		source  string
	}{{1, "192.0.2.1:5555"}, {2, "203.0.113.50:40000"}} {
		t.Run("v"+string(rune('0'+tt.version)), func(t *testing.T) {
			o := runOptions(t, s)
			src := netip.MustParseAddrPort(tt.source)
			o.Dialer.ProxyHeader = &probe.ProxyHeader{Version: tt.version, Source: src,
				Destination: netip.MustParseAddrPort(s.Addr(t))}
			rep, prefix := deliver(t, s, o)
			receivedFrom(t, prefix, "(unknown ["+src.Addr().String()+"])")
			postfixLogged(t, rep.QueueID, "unknown["+src.Addr().String()+"]")
		})
	}
}

// TestIntegrationLMTPSocket: LMTP to Dovecot over its unix socket, a
// "unix:/path" target; Dovecot's Received names no address then.
func TestIntegrationLMTPSocket(t *testing.T) {
	s := mta.DovecotLMTP()
	s.Name, s.AddrEnv = "dovecot-lmtp-socket", envLMTPSocket
	o := runOptions(t, s)
	o.Target = "unix:" + s.Addr(t)
	o.StartTLS = scan.StartTLSNever
	rep, prefix := deliver(t, s, o)
	if len(rep.Recipients) != 1 || rep.Recipients[0].Final == nil || rep.Recipients[0].Final.Code != 250 {
		t.Errorf("recipients %+v: want one final 250", rep.Recipients)
	}
	receivedFrom(t, prefix, "Received: from probe.example.test")
	if strings.Contains(strings.SplitN(prefix, "\n\tby", 2)[0], "[") {
		t.Errorf("Received over the socket names an address: %q", prefix)
	}
}

// TestIntegrationTLSVersions: the sweep against the TLS 1.2-only port
// finds exactly 1.2, and no legacy finding.
func TestIntegrationTLSVersions(t *testing.T) {
	s := postfixAt("postfix-tls12", envTLS12)
	o := runOptions(t, s)
	o.QuitAfter, o.Checks = scan.StageTLS, []scan.CheckID{scan.CheckTLSVersions}
	rep := scan.Run(mta.Context(t), o)
	if rep.Error != nil || len(rep.Checks) != 1 {
		t.Fatalf("run: %v, checks %+v", rep.Error, rep.Checks)
	}
	c := rep.Checks[0]
	t.Logf("tls-versions: %s: %s", c.Status, c.Detail)
	parts := strings.Split(c.Detail, "; ")
	if c.Status != scan.CheckPassed || len(parts) != 4 {
		t.Fatalf("result %+v", c)
	}
	for i, v := range []string{"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"} {
		want := v + " refused ("
		if v == "TLS 1.2" {
			want = v + " accepted (TLS_"
		}
		if !strings.HasPrefix(parts[i], want) {
			t.Errorf("%s: %q, want %q…", v, parts[i], want)
		}
	}
}
