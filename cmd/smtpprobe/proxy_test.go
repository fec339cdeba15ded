package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// proxyUser and proxyPass are the test proxy's credentials.
const (
	proxyUser = "probeuser"
	proxyPass = "Pr0xy-s3cret-9f2c"
)

// TestProxyFlag: -proxy carries the session through a SOCKS5 proxy: with
// socks5h the proxy gets the target's name, with socks5 its address, and
// with user:pass it gets those credentials.
func TestProxyFlag(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	_, port, _ := net.SplitHostPort(srv.Addr())
	named := "mail.example.test:" + port
	hosts := map[string]string{"mail.example.test": "127.0.0.1"}

	tests := []struct {
		name       string
		user, pass string // the proxy's; "" for no auth
		url        string // -proxy without host:port
		target     string
		args       []string
		wantSeen   string // the CONNECT target the proxy saw
		wantMail   bool   // a message reaches the server
		want       []string
	}{
		{"socks5h sends the name", "", "", "socks5h://", named, []string{"-quit-after", "ehlo"}, named, false,
			[]string{"S: 220 ", "C: EHLO ", "Result:    OK, reached EHLO"}},
		{"socks5 sends the address", "", "", "socks5://", srv.Addr(), []string{"-quit-after", "ehlo"}, srv.Addr(), false,
			[]string{"C: EHLO ", "Result:    OK, reached EHLO"}},
		{"user and password, whole session", proxyUser, proxyPass, "socks5h://" + proxyUser + ":" + proxyPass + "@", named,
			[]string{"-no-starttls", "-to", "bob@example.test"}, named, true,
			[]string{"C: MAIL FROM:<>", "C: RCPT TO:<bob@example.test>", "C: DATA", "Result:    OK, reached DATA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px := newSOCKSServer(t, tt.user, tt.pass, hosts)
			before := len(srv.Messages())
			r := runCLI(t, append(tt.args, "-proxy", tt.url+px.addr(), tt.target)...)
			if r.code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			// The address connected to is the proxy's.
			assertContains(t, r.stdout, tt.want...)
			assertContains(t, r.stdout, "Target:    "+tt.target+" ("+px.addr()+")\n")
			seen := px.seen()
			want := socksRequest{user: tt.user, pass: tt.pass, target: tt.wantSeen}
			if len(seen) != 1 || seen[0] != want {
				t.Errorf("proxy saw %+v, want [%+v]", seen, want)
			}
			if tt.wantMail {
				msgs, err := srv.WaitMessages(before+1, 5*time.Second)
				if err != nil || len(msgs) != before+1 || strings.Join(msgs[before].To, ",") != "bob@example.test" {
					t.Errorf("server messages %+v (%v), want one new one to bob@example.test", msgs, err)
				}
			}
			if strings.Contains(r.stdout+r.stderr, proxyPass) {
				t.Errorf("the proxy password is in the output:\n%s\n%s", r.stdout, r.stderr)
			}
		})
	}
}

// TestProxyPasswordKept: the proxy password shows in no output, whether
// the proxy accepts it or refuses it (exit 11, class proxy).
func TestProxyPasswordKept(t *testing.T) {
	srv := fakeserver.NewTB(t, fakeserver.Config{})
	const wrongPass = "wr0ng-S3cret-71ad"
	outputs := []struct {
		name             string
		args             []string
		ok, refused      int
		okText, refusals string
	}{
		{"text", nil, exitOK, exitConnect, "Result:    OK, reached EHLO", "Error:     proxy at connect: "},
		{"json", []string{"-json"}, exitOK, exitConnect, `"stage": "ehlo",`, `"class": "proxy",`},
		{"nagios", []string{"-nagios"}, nagiosOK, nagiosCritical, "SMTP OK - ", "SMTP CRITICAL - connect failed (proxy): "},
	}
	for _, out := range outputs {
		for _, pass := range []string{proxyPass, wrongPass} {
			verdict := "accepted"
			if pass == wrongPass {
				verdict = "refused"
			}
			t.Run(out.name+"/"+verdict, func(t *testing.T) {
				px := newSOCKSServer(t, proxyUser, proxyPass, nil)
				url := "socks5h://" + proxyUser + ":" + pass + "@" + px.addr()
				r := runCLI(t, append(out.args, "-proxy", url, "-quit-after", "ehlo", srv.Addr())...)
				wantCode, wantText := out.ok, out.okText
				if pass == wrongPass {
					wantCode, wantText = out.refused, out.refusals
				}
				if r.code != wantCode || !strings.Contains(r.stdout, wantText) {
					t.Fatalf("exit %d, want %d and %q in:\n%s\nstderr:\n%s", r.code, wantCode, wantText, r.stdout, r.stderr)
				}
				for _, secret := range []string{proxyPass, wrongPass} {
					if strings.Contains(r.stdout+r.stderr, secret) {
						t.Errorf("password %q in the output:\nstdout:\n%s\nstderr:\n%s", secret, r.stdout, r.stderr)
					}
				}
				if seen := px.seen(); len(seen) != 1 || seen[0].user != proxyUser || seen[0].pass != pass {
					t.Errorf("proxy saw %+v; want one login as %s", seen, proxyUser)
				}
			})
		}
	}
}
