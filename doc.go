// Package probe talks SMTP one line at a time, the way a mail administrator
// does with telnet and "openssl s_client -starttls smtp", but from Go: it
// records every line both ways, parses what it sees, and never hides a step.
// Whole runs with findings and security checks live in package probe/scan,
// built on this package's exported API alone.
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
// Every call takes a context; each read and write ends by the earlier of
// its deadline and the step's timeout (Timeouts, RFC 5321 §4.5.3.2). Send
// does MAIL, RCPT and DATA in one call, pipelined when the server allows.
//
// # Replies and errors
//
// A Reply holds the code, the RFC 3463 enhanced code if any, and each
// line's text. The reader accepts a bare "250" and a missing space, bounds
// what a reply may cost (Limits), and notes every deviation from the RFC (a
// bare LF, a NUL, a line over 512 octets) in the transcript.
//
// Each command accepts only the replies its RFC lists for it. A 4xx or 5xx
// is a *ReplyError and the session goes on; any other code (a 2xx
// included), a reply no command asked for or one that cannot be parsed is
// a *ProtocolError and ends the session: a probe never calls a wrong reply
// a success. SendRaw and ReadReply judge nothing. A failed connection,
// deadline or cancelled context is an *OpError wrapping the cause, a failed
// TLS handshake or verification a *TLSError; after a 421 every error
// matches ErrServerClosed. Arguments with CR, LF or NUL are refused before
// anything is written.
//
// # Transcript
//
// The Transcript renders like the tutorials ("S: ", "C: ", "*  " for
// notes), as JSON (Transcript.AppendJSON for writers of many), and live
// through a slog.Logger, escaping control bytes so that a server cannot
// forge a line or drive a terminal. Credentials are redacted where they
// are written unless Dialer.RevealSecrets is set, and scrubbed from what
// the server echoes. A message body is summed up unless Dialer.RecordBody
// is set.
//
// # Writing your own checks
//
// SendRaw sends one line verbatim and reads whatever reply comes; WriteRaw
// writes any bytes at all; ReadReply reads the next reply. And:
//
//   - Dialer.Connect opens a Conn without reading the banner, to talk first
//     with WriteRaw or start implicit TLS with Conn.Handshake.
//   - Conn.Handshake runs TLS on the connection as it stands, say after a
//     STARTTLS sent with WriteRaw.
//   - Conn.Pending waits a bounded time for bytes a correct server never
//     sends; the session goes on when none come.
//   - Conn.LocalName is the EHLO name, for a Message-ID that matches it.
//   - Transcript.AddNote puts a check's remarks among the lines.
//   - Conn.XClient, Conn.XForward and Dialer.ProxyHeader make the server
//     see another client.
//
// # Standards
//
//   - RFC 5321: SMTP
//   - RFC 2033: LMTP (Dialer.LMTP)
//   - RFC 3207: STARTTLS
//   - RFC 8314: implicit TLS (DialTLS)
//   - RFC 4954: AUTH
//   - RFC 4616: PLAIN
//   - RFC 2195: CRAM-MD5
//   - RFC 5802, RFC 7677: SCRAM-SHA-1, SCRAM-SHA-256
//   - RFC 7628: OAUTHBEARER's error exchange
//   - RFC 2920: PIPELINING
//   - RFC 3030: CHUNKING, BINARYMIME
//   - RFC 1870: SIZE
//   - RFC 6152: 8BITMIME
//   - RFC 6531: SMTPUTF8
//   - RFC 3461: DSN
//   - RFC 8689: REQUIRETLS
//   - RFC 9422: LIMITS
//   - RFC 3463, RFC 2034: enhanced status codes
package probe
