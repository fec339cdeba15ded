// Package scan plays whole SMTP sessions and judges them. Run connects,
// greets, starts TLS, authenticates, sends a message and quits as Options
// say, and returns a Report: each phase timed, what the server announced
// and answered, the TLS details, the transcript, the error with the stage
// it ended, and Findings — things that should not work but did. The active
// checks of Options.Checks test, on connections of their own, what a
// well-configured server must refuse. Domain scans a mail domain as a
// sending MTA sees it.
//
// The package uses nothing of package probe but what it exports: the
// checks are written with Dialer.Connect, Conn.Handshake, Conn.Pending,
// Conn.WriteRaw, Transcript.AddNote and the like, so a check of your own
// can be written with the same means.
//
// # A run, its findings and a check
//
//	rep := scan.Run(ctx, scan.Options{
//		Target:   "mail.example.com", // or a mail domain, with MX: true
//		Dialer:   probe.Dialer{LocalName: "probe.example.net"},
//		StartTLS: scan.StartTLSRequired,
//		Envelope: probe.Envelope{From: "probe@example.net", To: []string{"postmaster@example.com"}},
//		Checks:   []scan.CheckID{scan.CheckOpenRelay},
//	})
//	if err := rep.Err(); err != nil { // rep.Error is the *RunError: Class, Stage, Code
//		fmt.Println(rep.Error.Stage, rep.Error.Class, err) // rcpt reply-error …
//	}
//	for _, f := range rep.Findings {
//		fmt.Println(f.Severity, f.ID, f.Check) // high open-relay open-relay
//		fmt.Println(f.Summary, f.Reference)    // … RFC 5321 §3.6, §7.9; RFC 2505 §2
//	}
//	for _, c := range rep.Checks {
//		fmt.Println(c.ID, c.Status, c.Findings) // open-relay found 1
//	}
//	fmt.Print(rep.Transcript) // the session; each check's are in c.Transcripts
//
// Run never panics and always returns a whole Report, which marshals to
// stable JSON (SchemaVersion); Report.AppendJSON writes the same bytes in
// about 40% of encoding/json's time, for writers of many reports. The
// session's own findings cost no extra
// traffic. The open-relay check opens a connection of its own, follows the
// same STARTTLS policy, and tries each way of writing a foreign recipient
// in a transaction of its own (MAIL, RCPT, RSET; never DATA): each RCPT
// accepted is a finding whose Evidence holds the transcript lines that show
// it. A Trace put in the context with WithTrace gets the events as they
// happen, for metrics.
//
// # Findings and checks
//
// Run's findings, then the checks with the findings they make ("→"). Every
// check is bounded by the context and the Dialer's timeouts, and neither
// sends DATA nor authenticates unless the table says so.
//
//	ID / finding                 Severity  What is sent                                   How it is judged                                  Reference
//	starttls-missing             medium    nothing extra                                  plaintext EHLO lacks STARTTLS (or was refused)    RFC 3207; RFC 7672
//	starttls-failed              medium    nothing extra                                  STARTTLS offered, refused with 4xx/5xx            RFC 3207 §4
//	auth-before-tls              medium/   nothing extra                                  the plaintext EHLO offers AUTH (high with PLAIN   RFC 4954 §4; RFC 8314 §4.1
//	                             high                                                     or LOGIN)
//	cert-untrusted, -name-       high      nothing extra                                  the chain has no trusted root, is not valid for   RFC 5280 §6; RFC 6125 §6
//	mismatch, -expired,                                                                   the host name, or a certificate is out of date
//	-not-yet-valid
//	cert-expiring                medium    nothing extra                                  expires within CertWarnDays (default 14)          RFC 5280 §4.1.2.5
//	tls-old                      medium    nothing extra                                  TLS older than 1.2                                RFC 8996
//	name-mismatch                low       nothing extra                                  banner/EHLO name is not Options.ExpectName        RFC 5321 §4.1.1.1
//	check open-relay             high      without AUTH: MAIL FROM, then RCPT TO each     an accepted RCPT (2xx): finding open-relay,       RFC 5321 §3.6, §7.9;
//	  → open-relay                         variant (user@RELAY, user%RELAY@LOCAL,         one per variant. Never DATA: RSET after each      RFC 2505 §2
//	                                       RELAY!user@LOCAL, @LOCAL:user@RELAY,           variant, QUIT at the end
//	                                       "user@RELAY"@LOCAL, user@[192.0.2.1])
//	check auth-plaintext         high      AUTH (PLAIN, or Options.AuthMechanism) with    235 on plaintext: finding auth-plaintext-         RFC 4954 §4; RFC 8314 §4.1
//	  → auth-plaintext-accepted            Options' credentials, without TLS; only with   accepted. AUTH merely offered on plaintext is
//	                                       Dialer.AllowInsecureAuth                       the finding auth-before-tls above
//	check starttls-injection     high      "STARTTLS\r\nNOOP\r\n" in one write, then the  a reply (to the NOOP sent in plaintext) arrives   CVE-2011-0411;
//	  → starttls-injection                 TLS handshake, then nothing                    inside TLS within CheckOptions.Wait               RFC 3207 §4.2
//	check smtp-smuggling         critical  a message to CheckOptions.SmugglingRecipient   the server replies 2xx before the real CRLF.CRLF, CVE-2023-51764,
//	  → smtp-smuggling                     per sequence, its body holding a non-standard  or answers the smuggled commands (2xx/354        CVE-2023-51765,
//	                                       end of data (\n.\n, \r.\r, \r.\n, \n.\r,       after the first final reply): one finding per    CVE-2023-51766;
//	                                       \n.\r\n, \r\n.\n, \r.\r\n, \r\n.\r,            sequence                                          RFC 5321 §4.1.1.4
//	                                       \r\n\0.\r\n, \r\n.\0\r\n) and a smuggled
//	                                       MAIL/RCPT/DATA
//	check pipelining-guard       low       EHLO right after connect, before the banner    the early EHLO gets a 2xx: pregreet-accepted      RFC 5321 §4.3.1
//	  → pregreet-accepted        (info if                                                 (info when the server advertises PIPECONNECT,
//	                             PIPECONNECT)                                             which invites early pipelining)
//	  → unsync-pipelining-       info      "EHLO x\r\nNOOP\r\n" in one write after the    both get a 2xx: unsync-pipelining-accepted        RFC 2920 §3.1
//	    accepted                           banner (EHLO must end a group)
//	check user-enumeration       medium    VRFY, EXPN, and MAIL + RCPT, for KnownUser     the two replies differ in class (2xx/4xx/5xx):    RFC 5321 §3.5.3, §7.3
//	  → user-enumeration                   (postmaster) and a random user @LOCAL          one finding per command
//	check tls-versions           medium    per version (TLS 1.0, 1.1, 1.2, 1.3) a         TLS 1.0 or 1.1 accepted: one finding per         RFC 8996
//	  → tls-legacy-accepted                connection of its own: implicit TLS, or EHLO   version. Detail lists each version accepted
//	                                       and STARTTLS, that version alone allowed       (with its cipher suite) or refused (why)
//
// RELAY is CheckOptions.RelayDomain (example.net); LOCAL is
// CheckOptions.LocalDomain, or ExpectName, or the banner's or EHLO's
// domain. The certificate findings are made whether or not verification
// stopped the session (with InsecureSkipVerify the run goes on).
//
// The checks connect to the host the session reached (with Options.MX, the
// MX host that answered), with the same port, implicit TLS and Dialer, and
// follow the STARTTLS policy as Run does (under StartTLSIfOffered a refused
// STARTTLS is noted and the check goes on in plaintext; under
// StartTLSRequired it ends the check with ErrNoStartTLS), except
// auth-plaintext and starttls-injection, which are about plaintext, and
// tls-versions, which needs STARTTLS offered (it is skipped otherwise, and
// under StartTLSNever) and leaves judging the certificate to the session.
// smtp-smuggling authenticates when Options carry credentials, as a
// submission server requires. Only smtp-smuggling sends message data, and
// only to the recipient the caller names: it is never part of "all" in
// ParseChecks. A server that answers starttls-injection's NOOP in plaintext,
// before the handshake, read it as a plaintext command: that is noted, not
// a finding. The two pipelining-guard findings are low and info: an early
// talker is no hole in itself, but a server that refuses it (Postfix
// postscreen's pregreet test, Exim's synchronization check) turns away most
// spam bots and blind command injection.
//
// # A domain
//
// Domain scans a mail domain the way a sending MTA sees it: the MX records
// (null MX and implicit MX included), the addresses of every MX host, one
// STARTTLS session per address (no mail is sent), the TLSA records through
// a validating resolver (DANE), the MTA-STS record and policy, the TLS-RPT
// record and REQUIRETLS readiness. The DomainReport has a Verdict for the
// domain, each MX host and each address, and the findings of each part;
// their table stands beside their constants, FindingDomainNotFound to
// FindingRequireTLSUnprotected.
//
//	rep := scan.Domain(ctx, scan.DomainOptions{Domain: "example.com"})
//	fmt.Println(rep.Verdict, rep.Protection) // ok [dane]
//	for _, f := range rep.AllFindings() {
//		fmt.Println(f.Severity, f.ID, f.Summary)
//	}
//
// # Standards
//
//   - RFC 5321 §5: MX resolution (ResolveMX), and the SMTP session
//   - RFC 7505: null MX
//   - RFC 3207: STARTTLS; RFC 8314: implicit TLS
//   - RFC 4954: AUTH, and AUTH before TLS
//   - RFC 2920: PIPELINING, and unsynchronised pipelining
//   - RFC 5280, RFC 6125: certificate validity and names
//   - RFC 8996: TLS older than 1.2
//   - RFC 7672: DANE for SMTP
//   - RFC 6698, RFC 7671: TLSA records and their operation (package policy)
//   - RFC 4035: DNSSEC validation, through the resolver's AD bit
//   - RFC 8461: MTA-STS
//   - RFC 8460: TLS-RPT
//   - RFC 8689: REQUIRETLS
//   - RFC 2505: anti-relay advice
package scan
