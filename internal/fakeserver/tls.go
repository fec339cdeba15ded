package fakeserver

import (
	"bytes"
	"crypto/tls"
	"errors"
)

func (s *Session) cmdStartTLS(cmd Command) {
	switch {
	case !s.cfg.tlsEnabled():
		s.Reply(502, "5.5.1 Error: command not implemented")
	case s.TLS():
		s.Reply(554, "5.5.1 Error: TLS already active")
	case cmd.Arg != "":
		s.Reply(501, "5.5.4 Syntax: STARTTLS")
	default:
		s.Reply(220, "2.0.0 Ready to start TLS")
		if s.isClosed() {
			return
		}
		if err := s.StartTLS(); err != nil {
			s.setErr(err)
			s.closeConn()
		}
	}
}

// StartTLS flushes pending replies, throws away any plaintext the client
// sent after its STARTTLS command (recording it in Discarded), performs the
// server side of the TLS handshake, and forgets the plaintext state (EHLO,
// transaction, authentication), as RFC 3207 requires.
func (s *Session) StartTLS() error {
	if s.TLS() {
		return errors.New("fakeserver: TLS already active")
	}
	if err := s.Flush(); err != nil {
		return err
	}
	if s.isClosed() {
		return ErrClosed
	}
	if n := s.br.Buffered(); n > 0 {
		b, _ := s.br.Peek(n)
		s.mu.Lock()
		s.rec.Discarded = append(s.rec.Discarded, bytes.Clone(b)...)
		s.mu.Unlock()
		_, _ = s.br.Discard(n)
	}
	if err := s.handshake(); err != nil {
		return err
	}
	s.helo, s.esmtp, s.tx = "", false, nil
	s.authUser, s.authed = "", false
	s.mu.Lock()
	s.rec.AuthUser = ""
	s.mu.Unlock()
	return nil
}

// handshake runs the server TLS handshake on the raw connection and
// switches the session's reads and writes to it.
func (s *Session) handshake() error {
	cfg := s.cfg.tlsConfig()
	if cfg == nil {
		return errors.New("fakeserver: no TLS certificate configured")
	}
	s.mu.Lock()
	s.rec.ClientTLSOffset = len(s.rec.ClientBytes)
	s.rec.ServerTLSOffset = len(s.rec.ServerBytes)
	s.mu.Unlock()
	tc := tls.Server(s.raw, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	st := tc.ConnectionState()
	s.tlsState = &st
	s.tap.c = tc
	s.mu.Lock()
	s.rec.TLS = true
	s.rec.TLSVersion = st.Version
	s.rec.CipherSuite = st.CipherSuite
	s.rec.ServerName = st.ServerName
	if len(st.PeerCertificates) > 0 {
		s.rec.ClientCert = st.PeerCertificates[0]
		s.rec.ClientCertVerified = len(st.VerifiedChains) > 0
	}
	s.mu.Unlock()
	return nil
}
