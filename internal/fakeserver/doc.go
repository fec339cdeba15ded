// Package fakeserver is a scriptable SMTP/LMTP server for tests, hostile
// server tests, benchmarks and demos. It listens on 127.0.0.1 (or on a
// unix socket) only.
//
// The zero Config gives a Postfix-like ESMTP server: a 220 banner, EHLO with
// the usual extensions, MAIL/RCPT/DATA/BDAT, RSET, NOOP, VRFY, EXPN, HELP and
// QUIT. Setting TLSCert (see NewPKI for test certificates) enables STARTTLS,
// ImplicitTLS gives a port-465 style server, and Users enables AUTH PLAIN,
// LOGIN and CRAM-MD5 (after TLS unless AuthBeforeTLS is set). More SASL
// mechanisms can be plugged in with Config.SASL.
//
//	pki, _ := fakeserver.NewPKI("mail.example.test")
//	srv, err := fakeserver.Start(fakeserver.Config{
//		TLSCert: &pki.Valid,
//		Users:   map[string]string{"alice": "secret"},
//	})
//	if err != nil { ... }
//	defer srv.Close()
//	// dial srv.Addr(), trust pki.CAPool() ...
//	recs, _ := srv.WaitSessions(1, 5*time.Second)
//
// Everything a client does is recorded: the exact bytes each side sent
// (after TLS decryption, with the offsets at which TLS began), the commands,
// and the accepted messages (Server.Messages). Recording is safe to read
// while sessions run; Server.WaitSessions and Server.WaitMessages let a test
// wait without sleeping.
//
// The server buffers its replies and flushes them only when it is about to
// block on reading from the client, as Postfix does for PIPELINING. The
// number of writes to the connection (SessionRecord.Flushes) and of reads
// that returned data (SessionRecord.ClientReads) are counted, so a test can
// prove how many round trips a client needed.
//
// Behaviour can be changed per command with Config.Handlers (a function per
// verb that may answer itself, or fall back to Session.Default), with
// Config.OnConnect for the greeting, and with Config.Misbehave, a map from a
// step name ("CONNECT", a verb, "EOD" for the end-of-data reply, "*" for
// any step, optionally suffixed "#n" for the n-th occurrence only) to a Step
// describing a ready-made misbehaviour: raw bytes instead of the reply,
// delays, dropped connections, injected bytes after a reply, endless
// replies, replies written one byte at a time, bare LF or CR line endings,
// and so on.
//
// Step.Code and Step.Echo change only the first reply of a step (any code
// for any command, the argument echoed back) and keep its behaviour. For
// servers out of step or careless with secrets there are handlers:
// EarlyDataReply answers while the body is still streaming, ExtraChallenge
// sends a 334 after the mechanism finished, EchoAuth and QuoteAuth repeat
// the client's base64 lines, AnswerClientHello answers the TLS ClientHello
// with a plaintext 421.
//
// Beyond plain SMTP: Addr "unix:/path" (or "unix:" for a temporary path)
// listens on a unix socket, e.g. for LMTP; ProxyProtocol requires a PROXY
// protocol header (v1 or v2) before the greeting and records it; XClient
// and XForward offer Postfix's XCLIENT and XFORWARD, optionally only to
// the hosts in XClientHosts and XForwardHosts. With a TLSConfig that asks
// for client certificates (PKI.ServerConfig, PKI.ClientCert) the client's
// certificate is recorded, and External is the SASL EXTERNAL mechanism
// that accepts a verified one. TLSConfig also pins TLS versions.
//
// Close stops the listener, closes every session and waits for all the
// server's goroutines to exit. The package does not depend on the testing
// package except for the NewTB convenience.
//
// Protocols followed: RFC 5321 (SMTP), RFC 2033 (LMTP), RFC 3207
// (STARTTLS), RFC 4954 and RFC 4422 (AUTH, SASL EXTERNAL), RFC 2920
// (PIPELINING), RFC 3030 (CHUNKING), RFC 3461 (xtext), Postfix's
// XCLIENT_README and XFORWARD_README, and HAProxy's PROXY protocol
// versions 1 and 2.
package fakeserver
