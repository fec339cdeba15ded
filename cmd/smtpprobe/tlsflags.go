package main

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/smtpprobe/probe/scan"
)

// tlsFlags are the flags that shape the TLS handshake: the versions, the
// cipher suites, a client certificate, and where the chain is saved.
type tlsFlags struct {
	tlsMin, tlsMax    string // "1.0" … "1.3"
	ciphers           string // comma-separated crypto/tls names
	certFile, keyFile string
	saveChain         string

	minVersion, maxVersion uint16
	suites                 []uint16
}

func (f *tlsFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.tlsMin, "tls-min", "", "the oldest TLS `version` to offer: 1.0, 1.1, 1.2 or 1.3 (default 1.2)")
	fs.StringVar(&f.tlsMax, "tls-max", "", "the newest TLS `version` to offer: 1.0, 1.1, 1.2 or 1.3 (default 1.3)")
	fs.StringVar(&f.ciphers, "ciphers", "", "TLS 1.0-1.2 cipher `suites`, comma-separated crypto/tls names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,…)")
	fs.StringVar(&f.certFile, "cert", "", "client certificate PEM `file` (with -key), for servers that ask and for -auth EXTERNAL")
	fs.StringVar(&f.keyFile, "key", "", "the client certificate's private key, PEM `file`")
	fs.StringVar(&f.saveChain, "save-chain", "", "write the certificate chain the server presented to this `file`, as PEM")
}

// tlsVersions maps the -tls-min and -tls-max values to crypto/tls.
var tlsVersions = map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// checkTLSFlags parses the TLS flags and refuses contradictions.
func (c *config) checkTLSFlags() error {
	f := &c.tlsFlags
	for _, v := range [...]struct {
		name, value string
		to          *uint16
	}{{"-tls-min", f.tlsMin, &f.minVersion}, {"-tls-max", f.tlsMax, &f.maxVersion}} {
		if v.value == "" {
			continue
		}
		n, ok := tlsVersions[strings.TrimPrefix(strings.ToLower(v.value), "tls")]
		if !ok {
			return fmt.Errorf("%s %q: want 1.0, 1.1, 1.2 or 1.3", v.name, v.value)
		}
		*v.to = n
	}
	switch {
	case f.minVersion != 0 && f.maxVersion != 0 && f.minVersion > f.maxVersion:
		return fmt.Errorf("-tls-min %s is above -tls-max %s", f.tlsMin, f.tlsMax)
	case (f.certFile == "") != (f.keyFile == ""):
		return errors.New("-cert and -key go together: the certificate and its private key")
	case strings.EqualFold(c.auth, "EXTERNAL") && f.certFile == "" && !c.demo():
		return errors.New("-auth EXTERNAL needs -cert and -key: the client certificate is the credential")
	case c.noStartTLS && (f.tlsMin != "" || f.tlsMax != "" || f.ciphers != "" || f.certFile != "" || f.saveChain != ""):
		return errors.New("-tls-min, -tls-max, -ciphers, -cert and -save-chain do nothing with -no-starttls: no TLS is started")
	}
	return f.parseCiphers()
}

// parseCiphers reads -ciphers: names of TLS 1.0-1.2 suites crypto/tls
// knows (Go does not let TLS 1.3's be chosen).
func (f *tlsFlags) parseCiphers() error {
	if f.ciphers == "" {
		return nil
	}
	known := map[string]uint16{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS13) {
			known[s.Name] = s.ID
		}
	}
	for _, name := range strings.Split(f.ciphers, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		id, ok := known[name]
		if !ok {
			return fmt.Errorf("-ciphers: %q is not a TLS 1.0-1.2 cipher suite of crypto/tls (TLS 1.3's cannot be chosen), such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", name)
		}
		f.suites = append(f.suites, id)
	}
	return nil
}

// wantsTLSConfig reports whether the TLS flags change the default config.
func (f *tlsFlags) wantsTLSConfig() bool {
	return f.minVersion != 0 || f.maxVersion != 0 || f.suites != nil || f.certFile != ""
}

// applyTLS puts the TLS flags on cfg, loading the client certificate.
func (f *tlsFlags) applyTLS(cfg *tls.Config) error {
	cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = f.minVersion, f.maxVersion, f.suites
	if f.certFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("-cert %s, -key %s: %w", f.certFile, f.keyFile, err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return nil
}

// saveChainOf writes the chain the server presented, leaf first, as PEM
// (mode 0644: certificates are public). Without a TLS session it writes
// nothing and says so.
func (f *tlsFlags) saveChainOf(rep *scan.Report) error {
	if f.saveChain == "" {
		return nil
	}
	if rep.TLS == nil || len(rep.TLS.State.PeerCertificates) == 0 {
		return fmt.Errorf("-save-chain %s: no certificate to save: the session had no TLS", f.saveChain)
	}
	var b []byte
	for _, cert := range rep.TLS.State.PeerCertificates {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	if err := os.WriteFile(f.saveChain, b, 0o644); err != nil {
		return fmt.Errorf("-save-chain: %w", err)
	}
	return nil
}
