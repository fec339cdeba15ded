// Package bench compares probe with net/smtp and go-smtp on the same
// sessions against the same server. The server is go-smtp's server with a
// backend that discards every message, so that its cost is identical
// whichever client talks to it.
package bench

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The credentials the server accepts with AUTH PLAIN.
const (
	User     = "bench"
	Password = "bench-password"
)

// Server is an SMTP server on 127.0.0.1 that offers STARTTLS, AUTH PLAIN
// and PIPELINING and discards messages, plus a listener that speaks
// implicit TLS for the bare handshake loop. Its replies are batched until
// it next reads (see batchListener).
type Server struct {
	// Addr speaks SMTP with STARTTLS.
	Addr string
	// TLSAddr speaks SMTP over implicit TLS (RFC 8314).
	TLSAddr string
	// CAPEM is the CA the certificate was issued by.
	CAPEM []byte

	srv  *smtp.Server
	wg   sync.WaitGroup
	errs chan error
}

// StartServer starts a Server on two loopback ports.
func StartServer() (*Server, error) {
	pki, err := NewPKI()
	if err != nil {
		return nil, err
	}
	srv := smtp.NewServer(discardBackend{})
	srv.Domain = ServerName
	srv.MaxMessageBytes = 1 << 20
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pki.Leaf}}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	implicit, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		plain.Close()
		return nil, err
	}
	s := &Server{
		Addr:    plain.Addr().String(),
		TLSAddr: implicit.Addr().String(),
		CAPEM:   pki.CAPEM,
		srv:     srv,
		errs:    make(chan error, 2),
	}
	s.serve(batchListener{plain})
	s.serve(tls.NewListener(batchListener{implicit}, srv.TLSConfig))
	return s, nil
}

func (s *Server) serve(l net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.errs <- s.srv.Serve(l)
	}()
}

// Close closes the listeners and every open connection and waits for the
// accept loops to end.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.wg.Wait()
	close(s.errs)
	for e := range s.errs {
		if e != nil && !errors.Is(e, net.ErrClosed) && !errors.Is(e, smtp.ErrServerClosed) {
			err = errors.Join(err, e)
		}
	}
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// discardBackend hands every connection the same stateless session.
type discardBackend struct{}

func (discardBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil }

// discardSession accepts every sender and recipient, reads and drops the
// message, and accepts AUTH PLAIN with User and Password.
type discardSession struct{}

func (discardSession) Reset()                               {}
func (discardSession) Logout() error                        { return nil }
func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) AuthMechanisms() []string             { return []string{sasl.Plain} }
func (discardSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func (discardSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username || username != User || password != Password {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}
