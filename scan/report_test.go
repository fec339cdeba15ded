package scan

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpprobe/probe"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.json")

func TestClassify(t *testing.T) {
	reply := func(code int, text string) *probe.Reply {
		return &probe.Reply{Code: code, Lines: []string{text}}
	}
	tests := []struct {
		name  string
		err   error
		class ErrorClass
		code  int
	}{
		{"nil", nil, "", 0},
		{"canceled", &probe.OpError{Op: "EHLO", Err: fmt.Errorf("%w (%w)", context.Canceled, os.ErrDeadlineExceeded)}, ClassCanceled, 0},
		{"null MX", &NullMXError{Domain: "example.test"}, ClassNullMX, 0},
		{"dns", &probe.OpError{Op: "connect", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}}, ClassDNS, 0},
		{"proxy", &probe.OpError{Op: "connect", Err: &net.OpError{Op: "socks connect", Err: syscall.ECONNREFUSED}}, ClassProxy, 0},
		{"deadline", &probe.OpError{Op: "banner", Err: os.ErrDeadlineExceeded}, ClassTimeout, 0},
		{"context deadline", &probe.OpError{Op: "connect", Err: fmt.Errorf("%w (dial)", context.DeadlineExceeded)}, ClassTimeout, 0},
		{"handshake timeout", &probe.TLSError{Step: "TLS handshake", Err: os.ErrDeadlineExceeded}, ClassTimeout, 0},
		{"untrusted", &probe.TLSError{Step: "STARTTLS verify", Info: &probe.TLSInfo{}, Err: x509.UnknownAuthorityError{}}, ClassTLSUntrusted, 0},
		{"handshake", &probe.TLSError{Step: "STARTTLS handshake", Err: errors.New("remote error: tls: protocol version not supported")}, ClassTLSHandshake, 0},
		{"refused", &probe.OpError{Op: "connect", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, ClassConnectionRefused, 0},
		{"net unreachable", &probe.OpError{Op: "connect", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, ClassNetworkUnreachable, 0},
		{"host unreachable", &probe.OpError{Op: "connect", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, ClassNetworkUnreachable, 0},
		{"no STARTTLS", &policyError{sentinel: ErrNoStartTLS}, ClassStartTLSUnavailable, 0},
		{"STARTTLS refused", &policyError{sentinel: ErrNoStartTLS, reply: &probe.ReplyError{Command: "STARTTLS", Reply: reply(454, "4.7.0 not now")}},
			ClassStartTLSUnavailable, 454},
		{"no mechanism", &policyError{sentinel: ErrNoAuthMechanism}, ClassAuthUnavailable, 0},
		{"insecure auth", &probe.OpError{Op: "AUTH PLAIN", Err: probe.ErrInsecureAuth}, ClassInsecureAuth, 0},
		{"protocol", &probe.ProtocolError{Step: "EHLO", Reason: "bad"}, ClassProtocol, 0},
		{"421", &probe.ReplyError{Command: "MAIL", Reply: reply(421, "4.3.2 shutting down")}, ClassServerClosed, 421},
		{"after 421", &probe.OpError{Op: "RCPT", Err: &probe.ReplyError{Command: "MAIL", Reply: reply(421, "bye")}}, ClassServerClosed, 421},
		{"EOF", &probe.OpError{Op: "EHLO", Err: io.EOF}, ClassServerClosed, 0},
		{"reset", &probe.OpError{Op: "EHLO", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, ClassServerClosed, 0},
		{"auth failed", fmt.Errorf("%w: %w", probe.ErrAuthFailed, &probe.ReplyError{Command: "AUTH PLAIN", Reply: reply(535, "5.7.8 bad credentials")}), ClassAuthFailed, 535},
		{"server signature", &probe.OpError{Op: "AUTH SCRAM-SHA-256", Err: probe.ErrServerSignature}, ClassAuthFailed, 0},
		{"reply", &probe.ReplyError{Command: "RCPT", Reply: reply(550, "5.1.1 no such user")}, ClassReply, 550},
		{"no recipients", fmt.Errorf("%w: %w", probe.ErrNoRecipients, &probe.ReplyError{Command: "RCPT", Reply: reply(554, "5.7.1 relay")}), ClassReply, 554},
		{"invalid line", &probe.OpError{Op: "raw", Err: probe.ErrInvalidLine}, ClassInvalidInput, 0},
		{"invalid options", invalidOptions("Target is empty"), ClassInvalidInput, 0},
		{"other", errors.New("something else"), ClassOther, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			class, code := Classify(tc.err)
			if class != tc.class || code != tc.code {
				t.Errorf("Classify = %q, %d; want %q, %d", class, code, tc.class, tc.code)
			}
		})
	}
}

func TestRunErrorFields(t *testing.T) {
	cause := &probe.ReplyError{Command: "MAIL", Reply: &probe.Reply{Code: 550, Enhanced: probe.EnhancedCode{Class: 5, Subject: 7, Detail: 1}, Lines: []string{"5.7.1 no"}}}
	e := newRunError(StageMail, cause)
	want := RunError{Class: ClassReply, Stage: StageMail, Code: 550, Enhanced: "5.7.1", Message: cause.Error(), err: cause}
	if !reflect.DeepEqual(*e, want) || e.Error() != "mail (reply-error): "+cause.Error() || e.Unwrap() != cause {
		t.Errorf("RunError = %+v (%q)", e, e.Error())
	}
	var r Report
	if r.Err() != nil {
		t.Errorf("Err of a report without error = %v, want untyped nil", r.Err())
	}
}

// goldenRun plays a session that touches every part of the schema: MX
// with a failed attempt, STARTTLS, AUTH, a refused and an accepted
// recipient, a finding with evidence.
func goldenRun(t *testing.T) *Report {
	t.Helper()
	pki, err := fakeserver.NewPKI("mx2.example.test") // the certificate is checked against the MX name
	if err != nil {
		t.Fatal(err)
	}
	cfg := fullConfig(pki)
	cfg.Hostname = "mx2.example.test"
	cfg.RejectRecipients = map[string]fakeserver.Reply{
		"nobody@example.test": {Code: 550, Lines: []string{"5.1.1 <nobody@example.test>: Recipient address rejected"}},
	}
	srv := startServer(t, cfg)
	_, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)
	res := &fakeResolver{
		mx:    map[string][]*net.MX{"example.test": {{Host: "mx1.example.test.", Pref: 10}, {Host: "mx2.example.test.", Pref: 20}}},
		hosts: map[string][]string{"mx1.example.test": {"127.0.0.2"}, "mx2.example.test": {"127.0.0.1"}},
	}
	rep := Run(testCtx(t), Options{
		Target: "example.test", MX: true, Resolver: res, Port: p,
		Dialer:   probe.Dialer{LocalName: "probe.test", TLSConfig: &tls.Config{RootCAs: pki.CAPool()}},
		StartTLS: StartTLSRequired,
		Username: "alice", Password: "secret", AuthMechanism: "PLAIN",
		ExpectName: "mx.example.test",
		Envelope:   probe.Envelope{From: "alice@example.test", To: []string{"nobody@example.test", "bob@example.test"}, Body: strings.NewReader(testBody)},
	})
	if rep.Error != nil {
		t.Fatalf("golden run failed: %v", rep.Error)
	}
	return rep
}

// sameInstant puts a time in one representation: UTC, no monotonic clock.
func sameInstant(t *time.Time) { *t = t.Round(0).UTC() }

// forCompare clears what JSON does not carry (the causes of errors, the
// crypto/tls state) and gives every time one representation.
func forCompare(r *Report) {
	sameInstant(&r.Start)
	if r.Error != nil {
		r.Error.err = nil
	}
	for i := range r.Attempts {
		if r.Attempts[i].Error != nil {
			r.Attempts[i].Error.err = nil
		}
	}
	if r.TLS != nil {
		r.TLS.State = tls.ConnectionState{}
		sameInstant(&r.TLS.HandshakeTime)
		for i := range r.TLS.Chain {
			sameInstant(&r.TLS.Chain[i].NotBefore)
			sameInstant(&r.TLS.Chain[i].NotAfter)
		}
	}
	for i := range r.Findings {
		for j := range r.Findings[i].Evidence {
			sameInstant(&r.Findings[i].Evidence[j].Time)
		}
	}
	r.Transcript = nil // compared by its JSON: its times are unexported

}

func TestReportJSONRoundTrip(t *testing.T) {
	failed := Run(testCtx(t), Options{Target: fakeserver.ClosedAddr(t)})
	for name, rep := range map[string]*Report{"full": goldenRun(t), "failed": failed} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			trWant, _ := json.Marshal(rep.Transcript)
			trGot, _ := json.Marshal(back.Transcript)
			if string(trWant) != string(trGot) {
				t.Errorf("transcript round trip differs:\n%s\n%s", trWant, trGot)
			}
			forCompare(rep)
			forCompare(&back)
			if !reflect.DeepEqual(rep, &back) {
				again, _ := json.Marshal(&back)
				t.Errorf("round trip differs:\n%s\n%s", b, again)
			}
		})
	}
}

// goldenRules replace what changes from run to run in the indented JSON.
var goldenRules = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`("[a-z_]+_ns"): -?\d+`), `$1: 0`},
	{regexp.MustCompile(`("(?:start|time|handshake_time|not_before|not_after)"): "[^"]*"`), `$1: "TIME"`},
	{regexp.MustCompile(`("(?:serial|sha256|key_exchange|cipher_suite_name)"): "[^"]*"`), `$1: "X"`},
	{regexp.MustCompile(`("(?:cipher_suite|days_left)"): \d+`), `$1: 0`},
	{regexp.MustCompile(`127\.0\.0\.(\d):\d+`), `127.0.0.$1:PORT`},
	{regexp.MustCompile(`(queued as |"queue_id": ")[0-9A-F]+`), `${1}QUEUEID`},
	{regexp.MustCompile(`TLS_[A-Z0-9_]+_SHA\d+`), `TLS_CIPHER`},
}

func normalizeGolden(b []byte) []byte {
	for _, r := range goldenRules {
		b = r.re.ReplaceAll(b, []byte(r.with))
	}
	return b
}

// TestReportGolden pins the JSON schema of a Report. Run with -update to
// rewrite testdata/report.golden.json after a deliberate change (and bump
// SchemaVersion if a field was removed or changed meaning).
func TestReportGolden(t *testing.T) {
	b, err := json.MarshalIndent(goldenRun(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got := append(normalizeGolden(b), '\n')
	path := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestReportGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report JSON differs from %s (go test -run TestReportGolden -update rewrites it):\n%s", path, lineDiff(want, got))
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)) && b.Len() < 2000; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

func TestReportAppendJSON(t *testing.T) {
	pki := testPKI(t)
	o := fullOptions(pki)
	o.StartTLS, o.QuitAfter = StartTLSRequired, StageTLS
	tlsOnly, _ := runAgainst(t, fullConfig(pki), o)
	odd, _ := runAgainst(t, fakeserver.Config{OnConnect: rawBanner("220 caf\xc3 <&> \x01\r\n")}, Options{})
	reports := map[string]*Report{
		"full": goldenRun(t), "tls only": tlsOnly, "odd bytes": odd,
		"failed":        Run(testCtx(t), Options{Target: fakeserver.ClosedAddr(t)}),
		"no transcript": {Target: "x", Findings: []Finding{}},
		"nil":           nil,
	}
	for name, rep := range reports {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			prefix := []byte(`{"line":1,`)
			got, err := rep.AppendJSON(prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[len(prefix):], want) {
				t.Errorf("AppendJSON differs from json.Marshal:\n got %s\nwant %s", got[len(prefix):], want)
			}
			if !bytes.Equal(got[:len(prefix)], prefix) {
				t.Errorf("the prefix was changed: %s", got[:len(prefix)])
			}
		})
	}
}
