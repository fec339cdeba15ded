// Package probe talks SMTP one line at a time, the way a mail administrator
// does with telnet and "openssl s_client -starttls smtp", but from Go: it
// records every line both ways, parses what it sees, and never hides a step.
//
// # A session, step by step
//
// The tutorials mail administrators learn from go like this: connect to
// port 25 and read the banner, say EHLO and look for STARTTLS and AUTH in
// the list, start TLS, say EHLO again, authenticate with AUTH PLAIN, send a
// message, QUIT. With probe each step is one call:
//
//	d := &probe.Dialer{LocalName: "probe.example"}
//	c, err := d.Dial(ctx, "mail.example.com:25") // S: 220 mail.example.com ESMTP
//	if err != nil {
//		return err // *probe.OpError for the connect, *probe.ReplyError for a 554 banner
//	}
//	defer c.Close()
//	caps, err := c.Ehlo(ctx, "") // C: EHLO probe.example / S: 250-…
//	if !caps.StartTLS {
//		return errors.New("no STARTTLS")
//	}
//	info, err := c.StartTLS(ctx, nil) // C: STARTTLS / S: 220 … / *  TLS 1.3 …
//	caps, err = c.Ehlo(ctx, "")       // what was learnt in plaintext is forgotten
//	_, err = c.AuthPlain(ctx, "", "user@example.com", "password")
//	//                                   C: AUTH PLAIN [credentials redacted]
//	//                                   S: 235 2.7.0 Authentication successful
//	_, err = c.Mail(ctx, "user@example.com", nil) // C: MAIL FROM:<user@example.com>
//	_, err = c.Rcpt(ctx, "dest@example.org", nil) // C: RCPT TO:<dest@example.org>
//	r, err := c.Data(ctx, strings.NewReader(msg)) // dot-stuffed, CRLF.CRLF
//	fmt.Println(r.QueueID())                      // "6A4C1D5153E"
//	_, err = c.Quit(ctx)
//	fmt.Print(c.Transcript())
//
// Every call takes a context; the deadline of each read and write is the
// earlier of the context's and the step's own timeout (Timeouts, with the
// defaults of RFC 5321 §4.5.3.2).
//
// # Replies and errors
//
// A Reply holds the code, the RFC 3463 enhanced code when the server sent
// one, and the text of each line. The reply reader is the package's own: it
// accepts a bare "250" and a missing space, caps the bytes per line and the
// lines per reply (Limits), and records every deviation from the RFC — a
// bare LF, a NUL, a line over 512 octets — as a note in the transcript.
//
// Errors say which step failed and can be told apart with errors.As:
// *ReplyError (a 4xx or 5xx where success was needed), *ProtocolError (the
// server broke the protocol), *OpError (the connection failed: network
// errors, deadlines, a cancelled context; it wraps the cause, so
// errors.Is(err, os.ErrDeadlineExceeded) works). After a 421 every call
// returns an error that matches ErrServerClosed.
//
// # Transcript
//
// The Transcript renders like the tutorials do ("S: ", "C: ", and "*  " for
// the library's notes), as JSON, and live through a slog.Logger. Control
// bytes are escaped in every rendering, so a server cannot forge a line or
// drive a terminal. Credentials are marked secret where they are written
// and redacted unless Dialer.RevealSecrets is set; they are never stored
// otherwise.
//
// # Raw access
//
// SendRaw sends one line verbatim and returns whatever reply comes back;
// WriteRaw writes any bytes at all, for deliberately malformed traffic, and
// ReadReply reads the next reply. All three are recorded.
package probe
