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

// TLSInfo reports on the TLS layer of a Conn, the way openssl s_client does,
// as data: what was negotiated, the certificates the server presented and
// whether they deserve trust, with the reason when they do not.
//
// The verdicts (Trusted, HostnameMatch, Expired, NotYetValid, Verified,
// Problems) are computed on every handshake, even when the tls.Config has
// InsecureSkipVerify set, so that a probe of a server with a self-signed or
// mismatched certificate still says exactly what is wrong with it.
type TLSInfo struct {
	// Version is the negotiated protocol version (tls.VersionTLS13 …) and
	// VersionName its name: "TLS 1.3".
	Version     uint16 `json:"version"`
	VersionName string `json:"version_name"`
	// CipherSuite is the negotiated cipher suite and CipherSuiteName its
	// name: "TLS_AES_128_GCM_SHA256".
	CipherSuite     uint16 `json:"cipher_suite"`
	CipherSuiteName string `json:"cipher_suite_name"`
	// KeyExchange names the key exchange group ("X25519MLKEM768",
	// "X25519", "CurveP256"), or is empty when none was used.
	KeyExchange string `json:"key_exchange,omitempty"`
	// ServerName is the name sent in the SNI extension; empty when none
	// was sent (the host was an IP literal).
	ServerName string `json:"server_name,omitempty"`
	// ALPN is the negotiated application protocol, usually empty for SMTP.
	ALPN string `json:"alpn,omitempty"`
	// Resumed reports that the session was resumed from an earlier one.
	Resumed bool `json:"resumed"`
	// HandshakeTime is when the server's certificates were judged, during
	// the handshake, or the time the tls.Config's Time function gave; the
	// validity verdicts and DaysLeft are computed against it.
	HandshakeTime time.Time `json:"handshake_time"`
	// HandshakeDuration is how long the handshake took (until it was
	// stopped, when verification failed).
	HandshakeDuration time.Duration `json:"handshake_duration_ns"`
	// Chain is the chain the server presented, leaf first, as sent.
	Chain []CertInfo `json:"chain"`
	// OCSPStapled reports that the server stapled an OCSP response.
	OCSPStapled bool `json:"ocsp_stapled"`
	// SCTs is the number of signed certificate timestamps the server sent
	// in the handshake.
	SCTs int `json:"scts,omitempty"`

	// VerifyName is the name the leaf certificate was checked against:
	// the ServerName of the tls.Config, else the dialled host (which may
	// be an IP address).
	VerifyName string `json:"verify_name"`
	// Trusted reports that the presented chain leads to a trusted root
	// (tls.Config.RootCAs, or the system pool when that is nil). It is
	// judged apart from the validity dates, which Expired and NotYetValid
	// report; TrustError says why not.
	Trusted    bool   `json:"trusted"`
	TrustError string `json:"trust_error,omitempty"`
	// HostnameMatch reports that the leaf certificate is valid for
	// VerifyName; HostnameError says why not.
	HostnameMatch bool   `json:"hostname_match"`
	HostnameError string `json:"hostname_error,omitempty"`
	// Expired and NotYetValid report that a certificate of the chain was
	// outside its validity period at HandshakeTime; ValidityError says
	// which and by how much.
	Expired       bool   `json:"expired"`
	NotYetValid   bool   `json:"not_yet_valid"`
	ValidityError string `json:"validity_error,omitempty"`
	// InsecureSkipVerify reports that the caller's tls.Config asked not to
	// verify: the verdicts were computed but did not stop the session.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// Verified sums the verdicts up: the chain is trusted, matches the
	// name, is within its dates, and the caller's VerifyPeerCertificate
	// and VerifyConnection, if any, accepted it.
	Verified bool `json:"verified"`
	// Problems lists the reason of every failed verdict, in the order
	// trust, hostname, validity, caller's checks.
	Problems []string `json:"problems,omitempty"`

	// State is the connection state crypto/tls reports.
	State tls.ConnectionState `json:"-"`
}

// CertInfo describes one certificate of the chain a server presented.
type CertInfo struct {
	// Subject and Issuer are the distinguished names in RFC 2253 form.
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	// DNSNames and IPAddresses are the subject alternative names.
	DNSNames    []string `json:"dns_names,omitempty"`
	IPAddresses []string `json:"ip_addresses,omitempty"`
	// Serial is the serial number in lower-case hexadecimal.
	Serial string `json:"serial"`
	// NotBefore and NotAfter bound the validity period.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// DaysLeft is the number of whole days from the handshake to NotAfter;
	// negative once the certificate has expired.
	DaysLeft int `json:"days_left"`
	// KeyType is "RSA", "ECDSA" or "Ed25519"; KeyBits the size of the key
	// (the modulus for RSA, the curve for ECDSA, 256 for Ed25519); Curve
	// the ECDSA curve ("P-256").
	KeyType string `json:"key_type"`
	KeyBits int    `json:"key_bits"`
	Curve   string `json:"curve,omitempty"`
	// SignatureAlgorithm is how the issuer signed it: "SHA256-RSA",
	// "ECDSA-SHA256" …
	SignatureAlgorithm string `json:"signature_algorithm"`
	// SHA256 is the SHA-256 fingerprint of the DER encoding, lower-case
	// hexadecimal without separators.
	SHA256 string `json:"sha256"`
	// IsCA reports the basic constraints CA flag.
	IsCA bool `json:"is_ca,omitempty"`
	// SelfSigned reports that the certificate names itself as issuer and
	// its signature verifies with its own key.
	SelfSigned bool `json:"self_signed,omitempty"`
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
