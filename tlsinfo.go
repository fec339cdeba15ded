package probe

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// TLSInfo reports on the TLS layer of a Conn as data, the way openssl
// s_client does: what was negotiated, the chain the server presented and
// whether it deserves trust, with the reason when it does not. The verdicts
// are computed on every handshake, even under InsecureSkipVerify, so a probe
// of a self-signed or mismatched certificate still says what is wrong.
type TLSInfo struct {
	Version            uint16        `json:"version"`                        // tls.VersionTLS13 …
	VersionName        string        `json:"version_name"`                   // "TLS 1.3"
	CipherSuite        uint16        `json:"cipher_suite"`                   // tls.TLS_AES_128_GCM_SHA256 …
	CipherSuiteName    string        `json:"cipher_suite_name"`              // "TLS_AES_128_GCM_SHA256"
	KeyExchange        string        `json:"key_exchange,omitempty"`         // "X25519MLKEM768", "X25519" …; "" when none
	ServerName         string        `json:"server_name,omitempty"`          // sent as SNI; "" when none (an IP literal)
	ALPN               string        `json:"alpn,omitempty"`                 // usually "" for SMTP
	Resumed            bool          `json:"resumed"`                        // resumed from an earlier session
	HandshakeTime      time.Time     `json:"handshake_time"`                 // when the certificates were judged (or the config's Time)
	HandshakeDuration  time.Duration `json:"handshake_duration_ns"`          // until it ended, or was stopped
	Chain              []CertInfo    `json:"chain"`                          // as presented, leaf first
	OCSPStapled        bool          `json:"ocsp_stapled"`                   // an OCSP response was stapled
	SCTs               int           `json:"scts,omitempty"`                 // signed certificate timestamps sent
	VerifyName         string        `json:"verify_name"`                    // the name checked: the config's ServerName, else the dialled host
	Trusted            bool          `json:"trusted"`                        // chain leads to RootCAs or the system pool (dates aside)
	TrustError         string        `json:"trust_error,omitempty"`          // why not
	HostnameMatch      bool          `json:"hostname_match"`                 // leaf valid for VerifyName
	HostnameError      string        `json:"hostname_error,omitempty"`       // why not
	Expired            bool          `json:"expired"`                        // a certificate had expired at HandshakeTime
	NotYetValid        bool          `json:"not_yet_valid"`                  // a certificate was not yet valid then
	ValidityError      string        `json:"validity_error,omitempty"`       // which, and by how much
	InsecureSkipVerify bool          `json:"insecure_skip_verify,omitempty"` // the config asked not to verify: the verdicts did not stop the session
	Verified           bool          `json:"verified"`                       // trusted, name matches, in date, and the config's VerifyPeerCertificate/VerifyConnection accepted
	Problems           []string      `json:"problems,omitempty"`             // each failure's reason: trust, hostname, validity, caller's checks

	State tls.ConnectionState `json:"-"` // as crypto/tls reports it
}

// CertInfo describes one certificate of the chain a server presented.
type CertInfo struct {
	Subject            string    `json:"subject"` // RFC 2253 form
	Issuer             string    `json:"issuer"`
	DNSNames           []string  `json:"dns_names,omitempty"` // subject alternative names
	IPAddresses        []string  `json:"ip_addresses,omitempty"`
	Serial             string    `json:"serial"` // lower-case hexadecimal
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	DaysLeft           int       `json:"days_left"`             // whole days from HandshakeTime to NotAfter; < 0 once expired
	KeyType            string    `json:"key_type"`              // "RSA", "ECDSA", "Ed25519"
	KeyBits            int       `json:"key_bits"`              // RSA modulus, ECDSA curve size, 256 for Ed25519
	Curve              string    `json:"curve,omitempty"`       // ECDSA: "P-256" …
	SignatureAlgorithm string    `json:"signature_algorithm"`   // "SHA256-RSA", "ECDSA-SHA256" …
	SHA256             string    `json:"sha256"`                // fingerprint of the DER, lower-case hex
	IsCA               bool      `json:"is_ca,omitempty"`       // basic constraints CA flag
	SelfSigned         bool      `json:"self_signed,omitempty"` // issued by itself, signature verifies with its own key
}

// newTLSInfo describes a handshake, without the verdicts. at is the moment
// the certificates are judged at: when crypto/tls presented them, or what
// the config's Time says.
func newTLSInfo(st tls.ConnectionState, sni string, at time.Time, took time.Duration) *TLSInfo {
	info := &TLSInfo{
		ServerName:        sni,
		HandshakeTime:     at.Round(0), // wall clock only
		HandshakeDuration: took,
	}
	info.setState(st)
	for _, cert := range st.PeerCertificates {
		info.Chain = append(info.Chain, newCertInfo(cert, at))
	}
	return info
}

// setState sets State and what is read from it, all but the chain.
func (info *TLSInfo) setState(st tls.ConnectionState) {
	info.State = st
	info.Version, info.VersionName = st.Version, tls.VersionName(st.Version)
	info.CipherSuite, info.CipherSuiteName = st.CipherSuite, cipherSuiteName(st.CipherSuite)
	info.KeyExchange = ""
	if st.CurveID != 0 {
		info.KeyExchange = st.CurveID.String()
	}
	info.ALPN = st.NegotiatedProtocol
	info.Resumed = st.DidResume
	info.OCSPStapled = len(st.OCSPResponse) > 0
	info.SCTs = len(st.SignedCertificateTimestamps)
}

// cipherSuiteName is tls.CipherSuiteName, without building crypto/tls's
// list of every suite for the TLS 1.3 ones, which nearly every handshake
// uses.
func cipherSuiteName(id uint16) string {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256:
		return "TLS_AES_128_GCM_SHA256"
	case tls.TLS_AES_256_GCM_SHA384:
		return "TLS_AES_256_GCM_SHA384"
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		return "TLS_CHACHA20_POLY1305_SHA256"
	}
	return tls.CipherSuiteName(id)
}

func newCertInfo(cert *x509.Certificate, now time.Time) CertInfo {
	sum := sha256.Sum256(cert.Raw)
	ci := CertInfo{
		Subject:            cert.Subject.String(),
		Issuer:             cert.Issuer.String(),
		DNSNames:           cert.DNSNames,
		NotBefore:          cert.NotBefore,
		NotAfter:           cert.NotAfter,
		DaysLeft:           int(cert.NotAfter.Sub(now) / (24 * time.Hour)),
		KeyType:            cert.PublicKeyAlgorithm.String(),
		SignatureAlgorithm: cert.SignatureAlgorithm.String(),
		SHA256:             hex.EncodeToString(sum[:]),
		IsCA:               cert.IsCA,
		SelfSigned:         isSelfSigned(cert),
	}
	if cert.SerialNumber != nil {
		ci.Serial = cert.SerialNumber.Text(16)
	}
	for _, ip := range cert.IPAddresses {
		ci.IPAddresses = append(ci.IPAddresses, ip.String())
	}
	ci.KeyBits, ci.Curve = keySize(cert.PublicKey)
	return ci
}

// keySize returns the size of a public key in bits and, for ECDSA, the
// name of its curve.
func keySize(pub any) (bits int, curve string) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N != nil {
			return k.N.BitLen(), ""
		}
	case *ecdsa.PublicKey:
		if k.Curve != nil {
			p := k.Curve.Params()
			return p.BitSize, p.Name
		}
	case ed25519.PublicKey:
		return 256, ""
	}
	return 0, ""
}

func isSelfSigned(cert *x509.Certificate) bool {
	return string(cert.RawIssuer) == string(cert.RawSubject) &&
		cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
}

// certName is the short name of a certificate for the transcript: its
// common name, else its first DNS or IP subject alternative name.
func certName(cert *x509.Certificate) string {
	switch {
	case cert.Subject.CommonName != "":
		return cert.Subject.CommonName
	case len(cert.DNSNames) > 0:
		return cert.DNSNames[0]
	case len(cert.IPAddresses) > 0:
		return cert.IPAddresses[0].String()
	}
	return cert.Subject.String()
}

// sniName is the name a client sends in SNI: none for an IP literal.
func sniName(serverName string) string {
	if isIPLiteral(serverName) {
		return ""
	}
	return serverName
}
