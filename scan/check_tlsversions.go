package scan

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"

	"github.com/smtpprobe/probe"
)

// sweptVersions are the TLS versions tls-versions tries, oldest first.
var sweptVersions = [...]uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

// tlsVersions tries each of TLS 1.0, 1.1, 1.2 and 1.3 on a connection of
// its own (implicit TLS, or STARTTLS after EHLO), with that version alone
// allowed, and says in Detail which the server accepts and with which
// cipher suite. An accepted 1.0 or 1.1 is a finding (RFC 8996).
func (k *checker) tlsVersions(ctx context.Context) error {
	if !k.o.ImplicitTLS && k.o.StartTLS == StartTLSNever {
		return skip("the STARTTLS policy is never: no TLS to try")
	}
	for _, v := range sweptVersions {
		if err := k.tryVersion(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// tryVersion starts TLS with version v alone on a connection of its own
// and notes the outcome. A handshake that fails is the server's refusal of
// v; any other failure ends the check.
func (k *checker) tryVersion(ctx context.Context, v uint16) error {
	name := tls.VersionName(v)
	c, info, err := k.startVersion(ctx, k.versionConfig(v))
	if c != nil {
		defer hangUp(ctx, c)
	}
	var te *probe.TLSError
	switch {
	case errors.As(err, &te) && !te.Timeout():
		k.note(name + " refused (" + tlsFailure(te) + ")")
		return nil
	case err != nil:
		return err
	}
	k.note(name + " accepted (" + info.CipherSuiteName + ")")
	if v < tls.VersionTLS12 {
		k.find(FindingTLSLegacyAccepted, SeverityMedium,
			"the server accepts "+name+" ("+info.CipherSuiteName+"), deprecated since 2021",
			"RFC 8996", since(c, 0))
	}
	return nil
}

// versionConfig is the Dialer's TLS config, cloned, with version v alone
// and the certificate not judged (the main session does that). Go's
// client allows TLS 1.0 and 1.1 when MinVersion names them.
func (k *checker) versionConfig(v uint16) *tls.Config {
	cfg := &tls.Config{}
	if k.o.Dialer.TLSConfig != nil {
		cfg = k.o.Dialer.TLSConfig.Clone()
	}
	cfg.MinVersion, cfg.MaxVersion = v, v
	cfg.InsecureSkipVerify = true
	return cfg
}

// startVersion opens a connection and starts TLS on it with cfg: from the
// first byte for implicit TLS (then the banner), else after the banner
// and EHLO with STARTTLS, which the server must offer. The Conn is nil
// when the connect failed.
func (k *checker) startVersion(ctx context.Context, cfg *tls.Config) (*probe.Conn, *probe.TLSInfo, error) {
	c, err := k.open(ctx, cfg)
	switch {
	case err != nil:
		return nil, nil, err // the connection, if any, is closed with the check's
	case k.o.ImplicitTLS:
		_, err = c.ReadBanner(ctx)
		return c, c.TLS(), err
	}
	if _, err := c.ReadBanner(ctx); err != nil {
		return c, nil, err
	}
	caps, err := c.Hello(ctx, "")
	if err != nil {
		return c, nil, err
	}
	if !caps.StartTLS {
		return c, nil, skip("the server does not offer STARTTLS")
	}
	info, err := c.StartTLS(ctx, cfg)
	return c, info, err
}

// tlsFailure is the reason a handshake failed, without the step's prefix.
func tlsFailure(te *probe.TLSError) string {
	if te.Err == nil {
		return te.Error()
	}
	return strings.TrimPrefix(te.Err.Error(), "tls: ")
}
