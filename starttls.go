package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// TLSError reports that the TLS handshake failed, or the verification of
// what the server presented. The Conn is closed.
type TLSError struct {
	Step string   // "STARTTLS handshake", "STARTTLS verify", "TLS handshake", "TLS verify"
	Info *TLSInfo // when verification failed, which stops the handshake before a client certificate goes
	// Err is the crypto/tls error, the x509 errors behind the failed
	// verdicts (each found by errors.As), or the config's Verify hook's.
	Err error
}

func (e *TLSError) Error() string {
	if e.Err == nil {
		return "smtp " + e.Step + ": TLS failed"
	}
	return "smtp " + e.Step + ": " + clean(e.Err.Error())
}

// Unwrap returns the cause.
func (e *TLSError) Unwrap() error { return e.Err }

// Timeout reports whether the handshake ran out of time (a cancelled
// context is no timeout).
func (e *TLSError) Timeout() bool { return deadlinePassed(e.Err) }

// ErrTLSActive is wrapped by the error of StartTLS or Handshake on a Conn
// already in TLS; nothing is written.
var ErrTLSActive = errors.New("smtp: STARTTLS refused: TLS is already active")

// StartTLS sends STARTTLS, advertised or not, and on 220 runs the handshake
// within Timeouts.Handshake, with cfg (nil: the Dialer's TLSConfig) cloned;
// ServerName defaults to the dialled host unless an IP. The TLSInfo has the
// verdicts even under InsecureSkipVerify. On success the Conn forgets what
// it learned in plaintext (RFC 3207 §4.2), Capabilities until the next EHLO.
//
// A 4xx or 5xx is a *ReplyError, and plaintext goes on. Bytes after the 220
// are a *ProtocolError, never read as a reply; a failed handshake or
// verification is a *TLSError. Already in TLS, it writes nothing and
// returns an *OpError wrapping ErrTLSActive.
func (c *Conn) StartTLS(ctx context.Context, cfg *tls.Config) (*TLSInfo, error) {
	const step = "STARTTLS"
	if c.tls != nil {
		return nil, &OpError{Op: step, Err: ErrTLSActive}
	}
	r, err := c.exchange(ctx, step, c.d.Timeouts.Command, []outLine{{text: step}})
	if err != nil {
		return nil, err
	}
	if err := c.check(step, r, 220); err != nil {
		return nil, err
	}
	if extra := c.lr.buffered(); len(extra) > 0 {
		return nil, c.injection(step, extra)
	}
	return c.handshake(ctx, step, cfg)
}

// DialTLS is Dial with implicit TLS (RFC 8314; port 465 by default): the
// handshake with TLSConfig, errors as for StartTLS, then the banner.
func (d *Dialer) DialTLS(ctx context.Context, addr string) (*Conn, error) {
	c, err := d.open(ctx, addr, "465")
	if err != nil {
		return nil, err
	}
	if _, err := c.handshake(ctx, "TLS", nil); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.ReadBanner(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DialTLS calls Dialer.DialTLS with cfg as TLSConfig.
func DialTLS(ctx context.Context, addr string, cfg *tls.Config) (*Conn, error) {
	d := Dialer{TLSConfig: cfg}
	return d.DialTLS(ctx, addr)
}

// Handshake runs TLS on the connection as it stands, as StartTLS does after
// its 220: after Connect for implicit TLS, or after a STARTTLS sent by hand.
// Bytes received and not read belong to plaintext and are discarded.
func (c *Conn) Handshake(ctx context.Context, cfg *tls.Config) (*TLSInfo, error) {
	if c.tls != nil {
		return nil, &OpError{Op: "TLS", Err: ErrTLSActive}
	}
	return c.handshake(ctx, "TLS", cfg)
}

// handshake runs the client handshake on the current connection, judges
// the server's certificates and, if all is well, moves the Conn into TLS.
// phase is "STARTTLS" or "TLS" and names the steps.
//
// crypto/tls never verifies on its own: the handshake runs with
// InsecureSkipVerify so that the report is complete whatever the
// certificate. The certificates are judged inside the handshake instead, by
// a VerifyConnection hook that crypto/tls calls as soon as it has the
// server's certificates, before the client sends anything more: in
// particular before any client certificate and its CertificateVerify, in
// TLS 1.2 as in 1.3. A verdict that must stop the session aborts the
// handshake there, so an unauthenticated server never learns who the
// client is.
func (c *Conn) handshake(ctx context.Context, phase string, cfg *tls.Config) (*TLSInfo, error) {
	want := c.tlsConfig(cfg)
	j := &judgement{c: c, want: want, sni: sniName(want.ServerName)}
	hs := want.Clone()
	hs.InsecureSkipVerify = true
	hs.VerifyPeerCertificate, hs.VerifyConnection = nil, j.check
	raw := &handshakeConn{Conn: c.nc, hold: true}
	tc := tls.Client(raw, hs)

	if err := c.begin(ctx, phase+" handshake", c.d.Timeouts.Handshake); err != nil {
		return nil, err
	}
	start := time.Now()
	// The Conn's own watch of ctx interrupts the handshake through the
	// deadline, as it does every step; a context crypto/tls cannot see
	// cancelled spares it a goroutine per handshake, and keeps ctx's values
	// for the caller's GetClientCertificate.
	err := tc.HandshakeContext(context.WithoutCancel(ctx))
	took := time.Since(start)
	if err != nil || j.fatal != nil {
		raw.release() // the alert crypto/tls wrote, if any, goes out before the close
	}
	raw.hold = false
	if err == nil && j.info == nil {
		j.check(tc.ConnectionState()) // crypto/tls always calls the hook; be safe
	}
	if j.fatal != nil {
		j.info.HandshakeDuration = took
		c.tr.add(Note, summary(j.info, false), true, false)
		tErr := &TLSError{Step: phase + " verify", Info: j.info, Err: j.fatal}
		c.fail(tErr) // closes the raw connection: nothing more is sent
		return nil, tErr
	}
	if err != nil {
		return nil, c.handshakeFailure(ctx, phase, raw.seen, err)
	}
	info := j.report(tc.ConnectionState(), took)
	c.tr.add(Note, summary(info, true), true, false)
	c.nc, c.held = tc, raw
	c.lr.reset(tc)
	c.caps = nil
	c.tls = info
	return info, nil
}

// summary is the transcript note for a completed handshake; goingOn says
// whether the session continues.
func summary(info *TLSInfo, goingOn bool) string {
	s := info.VersionName + " " + info.CipherSuiteName + ", certificate "
	if certs := info.State.PeerCertificates; len(certs) > 0 {
		s += certName(certs[0]) + " "
	}
	if info.Verified {
		return s + "verified"
	}
	s += "NOT trusted: " + strings.Join(info.Problems, "; ")
	if info.InsecureSkipVerify && goingOn {
		s += " (InsecureSkipVerify: going on)"
	}
	return s
}

// tlsConfig returns a copy of cfg, or of the Dialer's config, or a zero
// config, with ServerName defaulting to the dialled host name.
func (c *Conn) tlsConfig(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		cfg = c.d.TLSConfig
	}
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" && !isIPLiteral(c.host) {
		cfg.ServerName = c.host
	}
	return cfg
}

// isIPLiteral reports whether host is an IP address. A name ending in a
// letter is none; it is told apart without parsing (and the error a
// failed parse allocates).
func isIPLiteral(host string) bool {
	if host == "" || !strings.ContainsRune(host, ':') && !isDigit(host[len(host)-1]) {
		return false
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// handshakeFailure ends the session after a failed handshake. When the
// server answered with plaintext instead of TLS, after a STARTTLS 220 that
// is response injection and a *ProtocolError; otherwise a *TLSError.
func (c *Conn) handshakeFailure(ctx context.Context, phase string, seen []byte, err error) error {
	if !looksLikeTLS(seen) {
		if rerr := c.closedInPlaintext(phase, seen); rerr != nil {
			return rerr
		}
		if phase == "STARTTLS" {
			return c.injection(phase+" handshake", seen)
		}
		first, _, _ := strings.Cut(string(seen), "\n")
		c.tr.add(Note, "server sent plaintext instead of a TLS handshake: "+strings.TrimSuffix(first, "\r"), false, false)
	}
	err = withCtxCause(ctx, err)
	tErr := &TLSError{Step: phase + " handshake", Err: err}
	c.tr.add(Note, "TLS handshake failed: "+err.Error(), false, false)
	c.fail(tErr)
	return tErr
}

// closedInPlaintext recognises a server that answered the ClientHello
// with a 421 in plaintext, as a server does that gives up on the
// handshake (RFC 5321 §3.8): a refusal that ends the session, not
// response injection. It records the reply and returns its *ReplyError,
// or nil when seen is no such reply.
func (c *Conn) closedInPlaintext(phase string, seen []byte) error {
	line, _, complete := strings.Cut(string(seen), "\n")
	line = strings.TrimSuffix(line, "\r")
	rl, err := parseReplyLine(line)
	if !complete || err != nil || rl.code != 421 || rl.more {
		return nil
	}
	c.tr.add(Received, line, false, false)
	r := &Reply{Code: rl.code, Lines: []string{rl.text}}
	r.Enhanced = parseEnhanced(r.Code, r.Lines)
	rerr := &ReplyError{Command: phase + " handshake", Reply: r}
	c.tr.add(Note, "server answered the TLS ClientHello with 421 in plaintext and closed", false, false)
	c.fail(rerr)
	return rerr
}

// withCtxCause joins the context's error to err when the context ended
// the step: cancelled, or past its deadline (the connection's deadline may
// fire a moment before the context's own timer).
func withCtxCause(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(d) && errors.Is(err, os.ErrDeadlineExceeded) {
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr == nil || errors.Is(err, ctxErr) {
		return err
	}
	return &ctxError{ctx: ctxErr, io: err}
}

// injection ends the session because the server sent b after its
// STARTTLS 220, before the handshake.
func (c *Conn) injection(step string, b []byte) error {
	text := truncate(string(b), sniffLimit)
	c.note("server sent " + strconv.Itoa(len(b)) + " bytes after its 220, before the TLS handshake: " + text)
	return c.protocolFailure(step, &ProtocolError{
		Reason: "data after the STARTTLS 220, before the TLS handshake (response injection)",
		Line:   text,
	})
}

// looksLikeTLS reports whether b can start a TLS record from a server: an
// alert (0x15) or a handshake (0x16) with a major version of 3. Nothing at
// all also passes: the failure is then not about plaintext.
func looksLikeTLS(b []byte) bool {
	switch {
	case len(b) > 0 && b[0] != 0x15 && b[0] != 0x16:
		return false
	case len(b) > 1 && b[1] != 0x03:
		return false
	case len(b) > 2 && b[2] > 0x0f:
		return false
	}
	return true
}
