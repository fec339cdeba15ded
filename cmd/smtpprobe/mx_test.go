package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
	"github.com/smtpprobe/probe/scan"
)

// fakeResolver answers from maps: mx by domain, hosts by name. A name in
// neither is not found, as DNS would say.
type fakeResolver struct {
	mx    map[string][]*net.MX
	hosts map[string][]string
}

func (r fakeResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if recs, ok := r.mx[name]; ok {
		return recs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if addrs, ok := r.hosts[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// mxResolver maps example.test to three exchangers, given out of order:
// mx1 (10) has no address, mx2 (20) and mx3 (30) are 127.0.0.1. nomail.test
// has a null MX.
func mxResolver() fakeResolver {
	return fakeResolver{
		mx: map[string][]*net.MX{
			"example.test": {
				{Host: "mx3.example.test.", Pref: 30},
				{Host: "mx1.example.test.", Pref: 10},
				{Host: "mx2.example.test.", Pref: 20},
			},
			"nomail.test": {{Host: ".", Pref: 0}},
		},
		hosts: map[string][]string{
			"mx2.example.test": {"127.0.0.1"},
			"mx3.example.test": {"127.0.0.1"},
		},
	}
}

// busyFirst is a fakeserver whose first session is greeted with 421 (and
// closed); later sessions get the usual 220.
func busyFirst(t *testing.T) *fakeserver.Server {
	t.Helper()
	var sessions atomic.Int32
	return fakeserver.NewTB(t, fakeserver.Config{OnConnect: func(s *fakeserver.Session) bool {
		if sessions.Add(1) > 1 {
			return false
		}
		s.Reply(421, "4.3.2 mx2 busy, try the next one")
		return true
	}})
}

// runMXCLI runs the command with r answering its DNS questions.
func runMXCLI(t *testing.T, r scan.Resolver, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := runContext(ctx, args, stdio{in: strings.NewReader(""), out: &out, err: &errb,
		getenv: func(string) string { return "" }, resolver: r})
	if ctx.Err() != nil {
		t.Fatalf("smtpprobe %q did not finish within its deadline", args)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestMXFlag: -mx tries the exchangers by preference: mx1 has no address,
// mx2 greets with 421, mx3 answers; the summary names mx3 and counts the
// three attempts. The target's port is the port of every exchanger.
func TestMXFlag(t *testing.T) {
	srv := busyFirst(t)
	_, port, _ := net.SplitHostPort(srv.Addr())
	r := runMXCLI(t, mxResolver(), "-mx", "-quit-after", "ehlo", "example.test:"+port)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	assertContains(t, r.stdout,
		"S: 220 ", "C: EHLO ", "C: QUIT",
		"Target:    example.test:"+port+" (127.0.0.1:"+port+")\n",
		"MX:        mx1.example.test (10), mx2.example.test (20), mx3.example.test (30); 3 attempts\n",
		"Result:    OK, reached EHLO in ")
	if strings.Contains(r.stdout, "S: 421") {
		t.Errorf("the transcript is of the last attempt only, yet holds mx2's 421:\n%s", r.stdout)
	}
	recs, err := srv.WaitSessions(2, 5*time.Second)
	if err != nil || len(recs) != 2 {
		t.Fatalf("server sessions %d, err %v; want 2 (mx2, mx3)", len(recs), err)
	}
	if v0, v1 := strings.Join(recs[0].Verbs(), " "), strings.Join(recs[1].Verbs(), " "); v0 != "" || v1 != "EHLO QUIT" {
		t.Errorf("server sessions: %q then %q; want none (421 greeting) then \"EHLO QUIT\"", v0, v1)
	}
}

// TestMXFlagJSON: the Report's MX fields in -json: the exchangers in
// order, and each attempt with its host, address and outcome.
func TestMXFlagJSON(t *testing.T) {
	srv := busyFirst(t)
	_, port, _ := net.SplitHostPort(srv.Addr())
	r := runMXCLI(t, mxResolver(), "-mx", "-json", "-quit-after", "banner", "example.test:"+port)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Host     string        `json:"host"`
		Address  string        `json:"address"`
		Success  bool          `json:"success"`
		Stage    scan.Stage    `json:"stage"`
		MX       []scan.MXHost `json:"mx"`
		Attempts []struct {
			Host       string         `json:"host"`
			Preference uint16         `json:"preference"`
			Address    string         `json:"address"`
			Banner     *probe.Reply   `json:"banner"`
			Error      *scan.RunError `json:"error"`
		} `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v in:\n%s", err, r.stdout)
	}
	addr := "127.0.0.1:" + port
	if rep.Host != "mx3.example.test" || rep.Address != addr || !rep.Success || rep.Stage != scan.StageBanner {
		t.Errorf("host %q address %q success %v stage %q; want mx3.example.test, %s, true, banner",
			rep.Host, rep.Address, rep.Success, rep.Stage, addr)
	}
	wantMX := []scan.MXHost{{Host: "mx1.example.test", Preference: 10}, {Host: "mx2.example.test", Preference: 20}, {Host: "mx3.example.test", Preference: 30}}
	if len(rep.MX) != len(wantMX) {
		t.Fatalf("mx %+v, want %+v", rep.MX, wantMX)
	}
	for i := range wantMX {
		if rep.MX[i] != wantMX[i] {
			t.Errorf("mx[%d] = %+v, want %+v", i, rep.MX[i], wantMX[i])
		}
	}
	type want struct {
		host    string
		pref    uint16
		address string
		banner  int
		class   scan.ErrorClass
		stage   scan.Stage
	}
	wantAttempts := []want{
		{"mx1.example.test", 10, "", 0, scan.ClassDNS, scan.StageResolve},
		{"mx2.example.test", 20, addr, 421, scan.ClassServerClosed, scan.StageBanner},
		{"mx3.example.test", 30, addr, 220, "", ""},
	}
	if len(rep.Attempts) != len(wantAttempts) {
		t.Fatalf("%d attempts, want %d:\n%s", len(rep.Attempts), len(wantAttempts), r.stdout)
	}
	for i, w := range wantAttempts {
		a := rep.Attempts[i]
		var got want
		got.host, got.pref, got.address = a.Host, a.Preference, a.Address
		if a.Banner != nil {
			got.banner = a.Banner.Code
		}
		if a.Error != nil {
			got.class, got.stage = a.Error.Class, a.Error.Stage
		}
		if got != w {
			t.Errorf("attempt %d = %+v, want %+v", i, got, w)
		}
	}
}

// TestMXNullMX: a domain with a null MX fails at resolve with exit 10 and
// says why, in every output; nothing is dialled.
func TestMXNullMX(t *testing.T) {
	const because = "nomail.test accepts no mail (null MX, RFC 7505)"
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"text", nil, exitResolve, []string{"Result:    FAILED at resolve", "(exit 10)", "Error:     null-mx at resolve: ", because}},
		{"json", []string{"-json"}, exitResolve, []string{`"class": "null-mx"`, `"stage": "resolve"`, because}},
		{"nagios", []string{"-nagios"}, nagiosCritical, []string{"SMTP CRITICAL - resolve failed (null-mx): ", because}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runMXCLI(t, mxResolver(), append(tt.args, "-mx", "nomail.test")...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			assertContains(t, r.stdout, tt.want...)
			if strings.Contains(r.stdout, "attempts") || strings.Contains(r.stdout, " S: ") {
				t.Errorf("a null MX must not be dialled:\n%s", r.stdout)
			}
		})
	}
}
