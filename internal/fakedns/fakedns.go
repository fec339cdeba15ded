// Package fakedns is a validating resolver for tests and examples: it
// answers on 127.0.0.1 from the records it is given, with the AD bit set
// on every answer, as a resolver that validated them would.
package fakedns

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Server is a running resolver; Close stops it.
type Server struct {
	srv  *dns.Server
	addr string
	wg   sync.WaitGroup
}

// Start parses records (zone-file lines) and serves them over UDP on
// 127.0.0.1: the records of the name and type asked, case ignored, none
// for anything else (NOERROR, no data).
func Start(records ...string) (*Server, error) {
	zone := map[string][]dns.RR{}
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			return nil, fmt.Errorf("fakedns: %q: %w", s, err)
		}
		k := key(rr.Header().Name, rr.Header().Rrtype)
		zone[k] = append(zone[k], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{addr: pc.LocalAddr().String()}
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 {
			m.Answer = zone[key(r.Question[0].Name, r.Question[0].Qtype)]
		}
		m.AuthenticatedData = true
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	s.srv.NotifyStartedFunc = func() { close(started) }
	s.wg.Go(func() { _ = s.srv.ActivateAndServe() })
	<-started
	return s, nil
}

func key(name string, qtype uint16) string {
	return strings.ToLower(name) + "/" + strconv.Itoa(int(qtype))
}

// Addr is the resolver's address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// Close stops the resolver and waits for it.
func (s *Server) Close() error {
	err := s.srv.Shutdown()
	s.wg.Wait()
	return err
}
