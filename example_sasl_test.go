package probe_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/internal/fakeserver"
)

// printAuth prints the transcript from entry n on.
func printAuth(c *probe.Conn, n int) {
	for _, e := range c.Transcript().Entries()[n:] {
		fmt.Println(e)
	}
}

// AUTH LOGIN by hand, as in the tutorials: the prompts are decoded in the
// transcript, the username shows, the password does not.
func ExampleConn_AuthLogin() {
	pki, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := startExampleServer(fakeserver.Config{TLSCert: &pki.Valid, ImplicitTLS: true,
		Users: map[string]string{"user@domain.com": "password"}})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	d := probe.Dialer{TLSConfig: pki.ClientConfig()}
	c, err := d.DialTLS(ctx, srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Quit(ctx)
	if _, err := c.Ehlo(ctx, "client.example"); err != nil {
		fmt.Println(err)
		return
	}
	n := c.Transcript().Len()
	r, err := c.AuthLogin(ctx, "user@domain.com", "password")
	if err != nil {
		fmt.Println(err)
		return
	}
	printAuth(c, n)
	fmt.Println(r.Code, r.Enhanced)
	// Output:
	// C: AUTH LOGIN
	// S: 334 VXNlcm5hbWU6
	// *  334 decoded: Username:
	// C: dXNlckBkb21haW4uY29t
	// S: 334 UGFzc3dvcmQ6
	// *  334 decoded: Password:
	// C: [password redacted]
	// S: 235 2.7.0 Authentication successful
	// 235 2.7.0
}

// AUTH PLAIN is refused on plaintext before anything is written; allowed,
// the server's own refusal and a wrong password are *ReplyErrors.
func ExampleConn_AuthPlain() {
	srv := startExampleServer(fakeserver.Config{AuthBeforeTLS: true,
		Users: map[string]string{"user@domain.com": "password"}})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var d probe.Dialer
	c, err := d.Dial(ctx, srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Quit(ctx)
	if _, err := c.Ehlo(ctx, "client.example"); err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.AuthPlain(ctx, "", "user@domain.com", "password")
	fmt.Println(errors.Is(err, probe.ErrInsecureAuth), err)

	d.AllowInsecureAuth = true
	c2, err := d.Dial(ctx, srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c2.Quit(ctx)
	if _, err := c2.Ehlo(ctx, "client.example"); err != nil {
		fmt.Println(err)
		return
	}
	n := c2.Transcript().Len()
	_, err = c2.AuthPlain(ctx, "", "user@domain.com", "wrong")
	var re *probe.ReplyError
	if errors.As(err, &re) {
		fmt.Println(re.Command, re.Reply.Code, re.Reply.Enhanced)
	}
	printAuth(c2, n)
	// Output:
	// true smtp AUTH PLAIN: smtp: AUTH with credentials refused on a connection without TLS (see Dialer.AllowInsecureAuth)
	// AUTH PLAIN 535 5.7.8
	// C: AUTH PLAIN [credentials redacted]
	// S: 535 5.7.8 Error: authentication failed: authentication failure
}

// Any go-sasl client works with Auth; SCRAM verifies the server too.
func ExampleConn_Auth() {
	pki, err := fakeserver.NewPKI("mail.example.test")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := startExampleServer(fakeserver.Config{TLSCert: &pki.Valid, ImplicitTLS: true,
		Users: map[string]string{"user@domain.com": "password"},
		SASL: map[string]func(*fakeserver.Session) sasl.Server{
			"SCRAM-SHA-256": fakeserver.SCRAM(sha256.New, fakeserver.SCRAMOptions{}),
		}})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	d := probe.Dialer{TLSConfig: pki.ClientConfig()}
	c, err := d.DialTLS(ctx, srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Quit(ctx)
	caps, err := c.Ehlo(ctx, "client.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(caps.SupportsAuth("SCRAM-SHA-256"))
	r, err := c.Auth(ctx, probe.NewSCRAMSHA256Client("user@domain.com", "password"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r)
	// Output:
	// true
	// 235 2.7.0 Authentication successful
}
