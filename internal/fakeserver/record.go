package fakeserver

import (
	"bytes"
	"crypto/x509"
	"maps"
	"strings"
	"time"
)

// Command is one command line received from the client.
type Command struct {
	// Verb is the upper-cased first word ("EHLO", "MAIL", ...).
	Verb string
	// Arg is everything after the verb and the space that follows it,
	// without the line ending.
	Arg string
	// Raw is the line exactly as received, with its line ending.
	Raw []byte
	// TLS reports whether the command arrived over TLS.
	TLS bool
}

// parseCommand splits a raw line into a Command.
func parseCommand(raw []byte, tlsActive bool) Command {
	line := string(bytes.TrimSuffix(bytes.TrimSuffix(raw, []byte("\n")), []byte("\r")))
	verb, arg, _ := strings.Cut(line, " ")
	return Command{Verb: strings.ToUpper(verb), Arg: arg, Raw: bytes.Clone(raw), TLS: tlsActive}
}

// Message is a message accepted by the server.
type Message struct {
	// Session is the ID of the session that delivered it.
	Session int
	// Helo is the EHLO/HELO/LHLO argument.
	Helo string
	// From is the reverse path without angle brackets ("" for <>).
	From string
	// MailParams are the ESMTP parameters of MAIL FROM.
	MailParams []string
	// To are the accepted recipients, RcptParams their parameters.
	To         []string
	RcptParams [][]string
	// Data is the message content after dot-unstuffing, without the
	// terminating ".", line endings as received (or the BDAT chunks joined).
	Data []byte
	// TLS reports whether the message was sent over TLS.
	TLS bool
	// AuthUser is the authenticated user, if any.
	AuthUser string
	// BDAT reports whether the message was sent with BDAT (CHUNKING).
	BDAT bool
	// QueueID is the identifier given in the final reply.
	QueueID string
	// Time is when the data was complete.
	Time time.Time
	// XClient and XForward are the XCLIENT and XFORWARD attributes in
	// effect for the message (empty if none).
	XClient  map[string]string
	XForward map[string]string
}

func (m Message) clone() Message {
	m.MailParams = append([]string(nil), m.MailParams...)
	m.To = append([]string(nil), m.To...)
	rp := make([][]string, len(m.RcptParams))
	for i, p := range m.RcptParams {
		rp[i] = append([]string(nil), p...)
	}
	m.RcptParams = rp
	m.Data = bytes.Clone(m.Data)
	m.XClient = maps.Clone(m.XClient)
	m.XForward = maps.Clone(m.XForward)
	return m
}

// SessionRecord is a snapshot of what happened in one session.
type SessionRecord struct {
	// ID numbers sessions from 1 in accept order.
	ID int
	// Remote is the client's address (the connection's peer, even when a
	// PROXY header claimed another; see Proxy).
	Remote string
	// Proxy is the PROXY header the client sent (Config.ProxyProtocol),
	// or nil.
	Proxy *ProxyHeader
	// ClientBytes are the bytes the client sent, exactly, decrypted after
	// TLS began (TLS handshake bytes are not included; a PROXY header is).
	ClientBytes []byte
	// ServerBytes are the bytes the server sent, likewise.
	ServerBytes []byte
	// ClientTLSOffset and ServerTLSOffset are the offsets in ClientBytes and
	// ServerBytes at which TLS began, or -1 if it never did.
	ClientTLSOffset int
	ServerTLSOffset int
	// Discarded holds plaintext bytes that the client had sent after
	// STARTTLS before the handshake; they were thrown away (RFC 3207).
	Discarded []byte
	// Truncated reports that MaxRecord was reached in either direction.
	Truncated bool
	// Commands are the commands received, in order.
	Commands []Command
	// Flushes counts the writes of buffered replies to the connection.
	Flushes int
	// ClientReads counts the reads from the connection that returned data.
	ClientReads int
	// TLS reports whether TLS is (or was at the end) active; TLSVersion,
	// CipherSuite and ServerName (the client's SNI) describe it.
	TLS         bool
	TLSVersion  uint16
	CipherSuite uint16
	ServerName  string
	// ClientCert is the certificate the client presented in the TLS
	// handshake (when TLSConfig asked for one), or nil;
	// ClientCertVerified reports whether it was verified against
	// TLSConfig.ClientCAs.
	ClientCert         *x509.Certificate
	ClientCertVerified bool
	// AuthUser is the authenticated user, if any.
	AuthUser string
	// XClient and XForward hold every attribute the session's XCLIENT and
	// XFORWARD commands set (the last value of each), or nil.
	XClient  map[string]string
	XForward map[string]string
	// Done reports whether the session has ended; Err is why, if not
	// a clean close.
	Done bool
	Err  error
}

// ClientPlain returns the client bytes sent before TLS began.
func (r SessionRecord) ClientPlain() []byte {
	if r.ClientTLSOffset < 0 {
		return r.ClientBytes
	}
	return r.ClientBytes[:r.ClientTLSOffset]
}

// ClientTLS returns the client bytes sent after TLS began.
func (r SessionRecord) ClientTLS() []byte {
	if r.ClientTLSOffset < 0 {
		return nil
	}
	return r.ClientBytes[r.ClientTLSOffset:]
}

// Verbs returns the verbs of the recorded commands.
func (r SessionRecord) Verbs() []string {
	v := make([]string, len(r.Commands))
	for i, c := range r.Commands {
		v[i] = c.Verb
	}
	return v
}

func (r SessionRecord) clone() SessionRecord {
	r.ClientBytes = bytes.Clone(r.ClientBytes)
	r.ServerBytes = bytes.Clone(r.ServerBytes)
	r.Discarded = bytes.Clone(r.Discarded)
	r.Commands = append([]Command(nil), r.Commands...)
	r.Proxy = r.Proxy.clone()
	r.XClient = maps.Clone(r.XClient)
	r.XForward = maps.Clone(r.XForward)
	return r
}

// recordClient appends bytes read from the client.
func (s *Session) recordClient(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.ClientReads++
	if s.cfg.NoRecord {
		return
	}
	s.rec.ClientBytes = s.appendBounded(s.rec.ClientBytes, p)
}

// recordServer appends bytes written to the client.
func (s *Session) recordServer(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.Flushes++
	if s.cfg.NoRecord {
		return
	}
	s.rec.ServerBytes = s.appendBounded(s.rec.ServerBytes, p)
}

func (s *Session) appendBounded(dst, p []byte) []byte {
	room := s.cfg.MaxRecord - len(dst)
	if room < len(p) {
		s.rec.Truncated = true
		if room <= 0 {
			return dst
		}
		p = p[:room]
	}
	return append(dst, p...)
}

func (s *Session) recordCommand(c Command) {
	if s.cfg.NoRecord {
		return
	}
	s.mu.Lock()
	s.rec.Commands = append(s.rec.Commands, c)
	s.mu.Unlock()
}

// Record returns a snapshot of the session's record.
func (s *Session) Record() SessionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.clone()
}

// Flushes returns how many times buffered replies were written so far.
func (s *Session) Flushes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.Flushes
}

// ClientReads returns how many reads from the client returned data so far.
func (s *Session) ClientReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.ClientReads
}
