package fakeserver_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// authClient returns a plaintext client past EHLO on a server with
// AuthBeforeTLS.
func authClient(t *testing.T, cfg fakeserver.Config) (*fakeserver.Server, *client) {
	t.Helper()
	cfg.AuthBeforeTLS = true
	if cfg.Users == nil {
		cfg.Users = map[string]string{"alice": "s3cret"}
	}
	srv := start(t, cfg)
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	return srv, cl
}

func TestAuthPlain(t *testing.T) {
	srv, cl := authClient(t, fakeserver.Config{})
	cl.cmd("AUTH PLAIN "+b64("\x00alice\x00wrong"), 535)
	if l := cl.cmd("AUTH PLAIN "+b64("\x00alice\x00s3cret"), 235); l[0] != "2.7.0 Authentication successful" {
		t.Fatalf("reply %q", l)
	}
	cl.cmd("AUTH PLAIN "+b64("\x00alice\x00s3cret"), 503)
	cl.cmd("MAIL FROM:<alice@example.test>", 250)
	cl.cmd("RCPT TO:<someone@elsewhere.test>", 250) // relaying allowed
	cl.cmd("DATA", 354)
	cl.send("x\r\n.\r\n")
	cl.expect(250)
	m, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil || m[0].AuthUser != "alice" {
		t.Fatalf("message %+v %v", m, err)
	}
	if l := srv.LiveSessions()[0]; l.Record().AuthUser != "alice" {
		t.Fatal("AuthUser not recorded")
	}
}

func TestAuthPlainEmptyChallenge(t *testing.T) {
	_, cl := authClient(t, fakeserver.Config{})
	cl.send("AUTH PLAIN\r\n")
	if _, err := cl.r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cl.cmd(b64("alice\x00alice\x00s3cret"), 235)
}

func TestAuthLogin(t *testing.T) {
	_, cl := authClient(t, fakeserver.Config{})
	if l := cl.cmd("AUTH LOGIN", 334); l[0] != "VXNlcm5hbWU6" {
		t.Fatalf("challenge %q", l)
	}
	if l := cl.cmd(b64("alice"), 334); l[0] != "UGFzc3dvcmQ6" {
		t.Fatalf("challenge %q", l)
	}
	cl.cmd(b64("nope"), 535)
	if l := cl.cmd("AUTH LOGIN "+b64("alice"), 334); l[0] != "UGFzc3dvcmQ6" {
		t.Fatalf("challenge %q", l)
	}
	cl.cmd(b64("s3cret"), 235)
}

func TestAuthCramMD5(t *testing.T) {
	_, cl := authClient(t, fakeserver.Config{})
	l := cl.cmd("AUTH CRAM-MD5", 334)
	chal, err := base64.StdEncoding.DecodeString(l[0])
	if err != nil || !strings.HasPrefix(string(chal), "<") || !strings.HasSuffix(string(chal), "@mail.example.test>") {
		t.Fatalf("challenge %q %v", chal, err)
	}
	mac := hmac.New(md5.New, []byte("s3cret"))
	mac.Write(chal)
	cl.cmd(b64("alice "+hex.EncodeToString(mac.Sum(nil))), 235)
}

func TestAuthErrors(t *testing.T) {
	_, cl := authClient(t, fakeserver.Config{})
	cl.cmd("AUTH", 501)
	cl.cmd("AUTH XOAUTH9", 504)
	cl.cmd("AUTH PLAIN !!!", 501)
	cl.cmd("AUTH LOGIN", 334)
	if l := cl.cmd("*", 501); l[0] != "5.7.0 Authentication aborted" {
		t.Fatalf("cancel %q", l)
	}
	cl.cmd("AUTH LOGIN", 334)
	if l := cl.cmd("not base64!", 501); l[0] != "5.5.2 Cannot decode response" {
		t.Fatalf("bad base64 %q", l)
	}
	if l := cl.cmd("AUTH PLAIN "+b64("\x00bob\x00x"), 535); l[0] != "5.7.8 Error: authentication failed: authentication failure" {
		t.Fatalf("failure %q", l)
	}
	cl.cmd("AUTH CRAM-MD5 "+b64("x"), 535)
	cl.cmd("AUTH PLAIN "+b64("admin\x00alice\x00s3cret"), 535)
	cl.cmd("MAIL FROM:<a@b>", 250)
	cl.cmd("AUTH PLAIN "+b64("\x00alice\x00s3cret"), 503)
}

func TestAuthPlugin(t *testing.T) {
	cfg := fakeserver.Config{SASL: map[string]func(*fakeserver.Session) sasl.Server{
		"ANONYMOUS": func(s *fakeserver.Session) sasl.Server {
			return sasl.NewAnonymousServer(func(trace string) error {
				if trace == "bad" {
					return errors.New("no")
				}
				s.SetAuthUser("anon:" + trace)
				return nil
			})
		},
		"EXTERNAL": func(*fakeserver.Session) sasl.Server {
			return sasl.NewExternalServer(func(string) error { return nil })
		},
	}}
	srv, cl := authClient(t, cfg)
	cl.cmd("AUTH ANONYMOUS "+b64("bad"), 535)
	cl.cmd("AUTH ANONYMOUS "+b64("tracer"), 235)
	cl.cmd("QUIT", 221)
	if rec := waitOne(t, srv); rec.AuthUser != "anon:tracer" {
		t.Fatalf("user %q", rec.AuthUser)
	}

	cl2 := dial(t, srv.Addr())
	cl2.expect(220)
	if l := cl2.cmd("EHLO c", 250); !strings.Contains(strings.Join(l, "\n"), "AUTH PLAIN LOGIN CRAM-MD5 ANONYMOUS EXTERNAL") {
		t.Fatalf("EHLO %q", l)
	}
	cl2.cmd("AUTH EXTERNAL =", 235)
	cl2.cmd("QUIT", 221)
	recs, err := srv.WaitSessions(2, 5*time.Second)
	if err != nil || recs[1].AuthUser != "EXTERNAL" {
		t.Fatalf("records %+v %v", recs, err)
	}
}

func TestAuthRequiresTLSByDefault(t *testing.T) {
	srv := start(t, fakeserver.Config{TLSCert: &testPKI.Valid, Users: map[string]string{"alice": "s3cret"}})
	cl := dial(t, srv.Addr())
	cl.expect(220)
	cl.cmd("EHLO c", 250)
	if l := cl.cmd("AUTH PLAIN "+b64("\x00alice\x00s3cret"), 538); l[0] != "5.7.11 Encryption required for requested authentication mechanism" {
		t.Fatalf("reply %q", l)
	}
	cl.startTLS(testPKI.ClientConfig())
	cl.cmd("AUTH PLAIN "+b64("\x00alice\x00s3cret"), 503) // EHLO first
	cl.cmd("EHLO c", 250)
	cl.cmd("AUTH PLAIN "+b64("\x00alice\x00s3cret"), 235)
}
