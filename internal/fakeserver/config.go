package fakeserver

import (
	"crypto/tls"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// Default values used when the corresponding Config field is zero.
const (
	DefaultHostname       = "mail.example.test"
	DefaultMaxMessageSize = 256 << 20
	DefaultMaxRecord      = 16 << 20
	// MaxLineLength is the longest command line (including its line ending)
	// the server reads; longer lines are answered with 500 5.5.2.
	MaxLineLength = 64 << 10
)

// HandlerFunc handles one command in the session goroutine. It returns true
// when it has dealt with the command (replied or decided not to), false to
// let the built-in behaviour (Session.Default) run.
type HandlerFunc func(s *Session, cmd Command) (handled bool)

// Config configures a Server. The zero value is a sensible Postfix-like
// ESMTP server for the domain example.test.
type Config struct {
	// Addr is the address to listen on; default "127.0.0.1:0". UnixPrefix
	// and a path ("unix:/tmp/t/lmtp.sock") listen on a unix socket there
	// (the path must not exist; Close removes it); "unix:" alone makes the
	// socket in a new temporary directory that Close removes. Server.Addr
	// and Server.DialAddr tell a client where to connect.
	Addr string
	// Hostname is the server's name in the banner and EHLO reply.
	Hostname string
	// Banner holds the greeting lines; default "<Hostname> ESMTP fakeserver"
	// (or LMTP when LMTP is set). Several lines give a 220- multi-line greeting.
	Banner []string
	// BannerCode is the greeting reply code; default 220. A 554 greeting
	// makes the server answer 503 to everything but QUIT; any other code
	// but 220 closes the connection after the greeting.
	BannerCode int
	// BannerDelay is slept before each banner line is written (and flushed).
	BannerDelay time.Duration

	// EhloLines are the extension lines after the domain line on plaintext.
	// nil means the default (PIPELINING, SIZE 36360000, STARTTLS when TLS is
	// configured, AUTH when AuthBeforeTLS, ENHANCEDSTATUSCODES, 8BITMIME,
	// DSN, SMTPUTF8, CHUNKING); an empty non-nil slice advertises nothing.
	EhloLines []string
	// EhloLinesTLS are the extension lines once TLS is active; nil means
	// the plaintext default without STARTTLS and with AUTH.
	EhloLinesTLS []string
	// Greeting is appended to the domain on the first EHLO/LHLO line.
	Greeting string
	// RefuseEHLO, when non-zero (e.g. 500 or 502), answers EHLO with that
	// code so that only HELO works.
	RefuseEHLO int
	// LMTP makes the server speak LMTP (RFC 2033): LHLO instead of
	// EHLO/HELO, and one reply per accepted recipient after the data.
	LMTP bool

	// ProxyProtocol makes the server read a PROXY protocol header (version
	// 1 or 2, as HAProxy sends it and Postfix's smtpd_upstream_proxy_protocol
	// expects) before anything else, implicit TLS included. A connection
	// whose header is missing, malformed or late (ProxyTimeout) is closed
	// without a word; the header is recorded in SessionRecord.Proxy.
	ProxyProtocol bool
	// ProxyTimeout bounds the wait for the PROXY header; default
	// DefaultProxyTimeout.
	ProxyTimeout time.Duration

	// XClient advertises (XClientLine) and accepts Postfix's XCLIENT
	// command: attributes NAME, ADDR, PORT, PROTO, HELO, LOGIN, DESTADDR and
	// DESTPORT, xtext-encoded, each checked (501 5.5.4 on a bad name or
	// value; Unavailable and TempUnavailable are accepted everywhere).
	// Success starts the session over with a new 220 greeting (EHLO is due
	// again; LOGIN authenticates as that user) and records the attributes
	// (Session.XClient, SessionRecord.XClient, Message.XClient).
	XClient bool
	// XClientHosts, if non-nil, lists the client addresses and CIDR
	// prefixes allowed XCLIENT, like Postfix's
	// smtpd_authorized_xclient_hosts: others are not offered it and get
	// 550 5.7.0. The client address is the PROXY header's source, if any.
	XClientHosts []string
	// XForward advertises (XForwardLine) and accepts Postfix's XFORWARD
	// command: attributes NAME, ADDR, PORT, PROTO, HELO, IDENT and SOURCE,
	// checked like XCLIENT's, answered 250 and recorded
	// (Session.XForward, SessionRecord.XForward, Message.XForward). They
	// apply to the next message only, as in Postfix.
	XForward bool
	// XForwardHosts is XClientHosts for XFORWARD.
	XForwardHosts []string

	// TLSCert enables STARTTLS (and is required by ImplicitTLS).
	TLSCert *tls.Certificate
	// TLSConfig, when set, is used (cloned) instead of one built from TLSCert,
	// e.g. to request client certificates.
	TLSConfig *tls.Config
	// ImplicitTLS starts TLS on the first byte, like port 465.
	ImplicitTLS bool
	// RequireTLS answers MAIL and AUTH before TLS with 530 5.7.0.
	RequireTLS bool
	// AuthBeforeTLS advertises and accepts AUTH on plaintext. Otherwise AUTH
	// before TLS is answered with 538 5.7.11.
	AuthBeforeTLS bool

	// Users maps user names to passwords for the built-in mechanisms.
	Users map[string]string
	// SASL adds (or replaces) mechanisms, keyed by upper-case name. The
	// function is called once per AUTH exchange; the returned server may call
	// Session.SetAuthUser to name the authenticated identity.
	SASL map[string]func(sess *Session) sasl.Server

	// LocalDomains are the domains accepted without authentication; default
	// ["example.test"]. Other recipients get 554 5.7.1 Relay access denied
	// unless the session is authenticated.
	LocalDomains []string
	// MaxRecipients limits recipients per message (452 4.5.3); 0 = no limit.
	MaxRecipients int
	// RejectRecipients rejects recipients (keyed by lower-case address) with
	// the given reply, e.g. {550, "5.1.1 <x>: Recipient address rejected"}.
	RejectRecipients map[string]Reply
	// CheckRecipient, if set, is consulted for each RCPT after
	// RejectRecipients; a non-nil reply rejects the recipient.
	CheckRecipient func(s *Session, addr string, params []string) *Reply
	// CheckSender, if set, is consulted for each MAIL; a non-nil reply
	// rejects the sender.
	CheckSender func(s *Session, addr string, params []string) *Reply
	// MaxMessageSize bounds the message data; default 256 MiB.
	MaxMessageSize int64
	// DataReply, if set, gives the reply at the end of the data. rcpt is ""
	// for SMTP; with LMTP it is called once per accepted recipient. The
	// message is recorded when (any) reply is 2xx.
	DataReply func(s *Session, m *Message, rcpt string) Reply
	// VRFY, if set, answers VRFY; default 252 2.0.0 <arg>.
	VRFY func(s *Session, arg string) Reply

	// Handlers override commands, keyed by upper-case verb.
	Handlers map[string]HandlerFunc
	// OnConnect, if set, replaces the greeting when it returns true.
	OnConnect func(s *Session) (handled bool)
	// Misbehave maps step names to ready-made misbehaviours; see Step.
	Misbehave map[string]Step

	// MaxRecord bounds the bytes recorded per direction per session;
	// default 16 MiB. Further bytes are counted but not kept.
	MaxRecord int
	// NoRecord disables recording of bytes, commands and messages (for
	// benchmarks); counters are still kept.
	NoRecord bool
}

// Reply is an SMTP reply: a code and its text lines (each without the code).
type Reply struct {
	Code  int
	Lines []string
}

// Bytes formats r as it is sent on the wire, with CRLF line endings.
func (r Reply) Bytes() []byte {
	return formatReply(r.Code, r.Lines, "\r\n")
}

func formatReply(code int, lines []string, eol string) []byte {
	c := strconv.Itoa(code)
	if len(lines) == 0 {
		return []byte(c + eol)
	}
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(c)
		if i < len(lines)-1 {
			b.WriteByte('-')
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(l)
		b.WriteString(eol)
	}
	return []byte(b.String())
}

// normalize fills in defaults; the result is private to the server.
func (c Config) normalize() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Hostname == "" {
		c.Hostname = DefaultHostname
	}
	if c.Banner == nil {
		kind := "ESMTP"
		if c.LMTP {
			kind = "LMTP"
		}
		c.Banner = []string{c.Hostname + " " + kind + " fakeserver"}
	}
	if c.BannerCode == 0 {
		c.BannerCode = 220
	}
	if c.LocalDomains == nil {
		c.LocalDomains = []string{"example.test"}
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxRecord <= 0 {
		c.MaxRecord = DefaultMaxRecord
	}
	if c.EhloLines == nil {
		c.EhloLines = c.defaultEhlo(false)
	}
	if c.EhloLinesTLS == nil {
		c.EhloLinesTLS = c.defaultEhlo(true)
	}
	c.Handlers = rekey(c.Handlers, strings.ToUpper)
	c.Misbehave = rekey(c.Misbehave, strings.ToUpper)
	c.RejectRecipients = rekey(c.RejectRecipients, strings.ToLower)
	return c
}

// rekey copies m with its keys passed through f.
func rekey[V any](m map[string]V, f func(string) string) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[f(k)] = v
	}
	return out
}

func (c Config) tlsEnabled() bool {
	return c.TLSCert != nil || c.TLSConfig != nil
}

func (c Config) defaultEhlo(tlsActive bool) []string {
	l := []string{"PIPELINING", "SIZE 36360000"}
	if !tlsActive && c.tlsEnabled() {
		l = append(l, "STARTTLS")
	}
	if tlsActive || c.AuthBeforeTLS {
		l = append(l, "AUTH "+strings.Join(c.mechanisms(), " "))
	}
	if c.XClient {
		l = append(l, XClientLine)
	}
	if c.XForward {
		l = append(l, XForwardLine)
	}
	return append(l, "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING")
}

// mechanisms lists the built-in mechanisms followed by the plugged-in ones.
func (c Config) mechanisms() []string {
	l := []string{"PLAIN", "LOGIN", "CRAM-MD5"}
	var extra []string
	for name := range c.SASL {
		n := strings.ToUpper(name)
		if n != "PLAIN" && n != "LOGIN" && n != "CRAM-MD5" {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	return append(l, extra...)
}

// tlsConfig returns the server-side TLS configuration, or nil.
func (c Config) tlsConfig() *tls.Config {
	if c.TLSConfig != nil {
		return c.TLSConfig.Clone()
	}
	if c.TLSCert == nil {
		return nil
	}
	return &tls.Config{Certificates: []tls.Certificate{*c.TLSCert}, MinVersion: tls.VersionTLS10}
}
