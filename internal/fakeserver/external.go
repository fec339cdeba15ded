package fakeserver

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// External is the SASL EXTERNAL mechanism (RFC 4422 appendix A) for
// Config.SASL["EXTERNAL"], authenticating with the TLS client certificate:
// it succeeds only if the client presented a certificate that was
// verified (see PKI.ServerConfig), and fails with 535 otherwise. The
// identity is the authorization identity the client sent, or the
// certificate's common name when it sent none.
func External(s *Session) sasl.Server {
	return sasl.NewExternalServer(func(authzid string) error {
		st := s.TLSState()
		if st == nil || len(st.PeerCertificates) == 0 || len(st.VerifiedChains) == 0 {
			return errors.New("fakeserver: EXTERNAL without a verified client certificate")
		}
		if authzid == "" {
			authzid = st.PeerCertificates[0].Subject.CommonName
		}
		s.SetAuthUser(authzid)
		return nil
	})
}
