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

// tryVersion opens a connection, starts TLS with version v only, and
// notes the outcome. A handshake that fails is the server's refusal of v;
// any other failure ends the check.
func (k *checker) tryVersion(ctx context.Context, v uint16) error {
	name := tls.VersionName(v)
	c, err := k.preTLS(ctx)
	if err != nil {
		return err
	}
	defer hangUp(ctx, c)
	mark := c.Transcript().Len()
	info, err := k.startVersion(ctx, c, v)
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
			"RFC 8996", since(c, mark))
	}
	return nil
}

// preTLS opens a connection up to where TLS begins: right after the
// connect for implicit TLS, after the banner and EHLO for STARTTLS (which
// the server must offer).
func (k *checker) preTLS(ctx context.Context) (*probe.Conn, error) {
	c, err := k.o.connect(ctx, k.target)
	if err != nil {
		return nil, err
	}
	k.conns = append(k.conns, c)
	if k.o.ImplicitTLS {
		return c, nil
	}
	if _, err := c.ReadBanner(ctx); err != nil {
		return nil, err
	}
	caps, err := c.Hello(ctx, "")
	if err != nil {
		return nil, err
	}
	if !caps.StartTLS {
		return nil, skip("the server does not offer STARTTLS")
	}
	return c, nil
}

// startVersion starts TLS on c with version v alone: the Dialer's TLS
// config, cloned, with the certificate not judged (the main session does
// that). Go's client allows TLS 1.0 and 1.1 when MinVersion names them.
func (k *checker) startVersion(ctx context.Context, c *probe.Conn, v uint16) (*probe.TLSInfo, error) {
	cfg := &tls.Config{}
	if k.o.Dialer.TLSConfig != nil {
		cfg = k.o.Dialer.TLSConfig.Clone()
	}
	cfg.MinVersion, cfg.MaxVersion = v, v
	cfg.InsecureSkipVerify = true
	if k.o.ImplicitTLS {
		info, err := c.Handshake(ctx, cfg)
		if err == nil {
			_, err = c.ReadBanner(ctx)
		}
		return info, err
	}
	return c.StartTLS(ctx, cfg)
}

// tlsFailure is the reason a handshake failed, without the step's prefix.
func tlsFailure(te *probe.TLSError) string {
	if te.Err == nil {
		return te.Error()
	}
	return strings.TrimPrefix(te.Err.Error(), "tls: ")
}
