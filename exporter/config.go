package exporter

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// Config is a module file: the modules a scrape may name, and who may be
// probed. It is read with LoadConfig or ParseConfig, which refuse unknown
// keys and bad values with the line they are on.
type Config struct {
	// Modules maps a module name, the module= parameter of /probe, to its
	// settings.
	Modules map[string]*Module `yaml:"modules"`
	// AllowedTargets, when set, limits the targets /probe accepts; nil
	// accepts any.
	AllowedTargets *AllowList `yaml:"allowed_targets"`
}

// Module is how one probe is played: the settings of scan.Options that a
// monitoring job chooses, in YAML.
type Module struct {
	// Port is dialled when the target has none; 0 means 25, or 465 with
	// implicit TLS, or 24 with LMTP.
	Port int `yaml:"port"`
	// TLS is the TLS mode: "starttls" (the default: STARTTLS by the
	// StartTLS policy), "implicit" (TLS from the first byte, RFC 8314) or
	// "none" (plaintext only).
	TLS string `yaml:"tls"`
	// StartTLS is the STARTTLS policy under TLS "starttls": "if-offered"
	// (the default) or "required".
	StartTLS string `yaml:"starttls"`
	// TLSConfig says how the server's certificate is checked.
	TLSConfig TLSConfig `yaml:"tls_config"`
	// EHLO is the name sent with EHLO; empty means the library's default.
	EHLO string `yaml:"ehlo"`
	// LMTP speaks LMTP (LHLO) instead of SMTP.
	LMTP bool `yaml:"lmtp"`
	// Auth, when set, authenticates after EHLO (and STARTTLS).
	Auth *Auth `yaml:"auth"`
	// MailFrom and RcptTo are the envelope; without recipients no message
	// is sent. A message is a short generated test message.
	MailFrom string   `yaml:"mail_from"`
	RcptTo   []string `yaml:"rcpt_to"`
	// QuitAfter ends the session after that stage (then QUIT): connect,
	// banner, ehlo, tls, auth, mail, rcpt or data.
	QuitAfter string `yaml:"quit_after"`
	// Checks lists the active checks of package scan to run after the
	// session ("all" for every one but smtp-smuggling).
	Checks []string `yaml:"checks"`
	// SmugglingTo is the recipient of the smtp-smuggling check's messages.
	SmugglingTo string `yaml:"smuggling_to"`
	// Timeout bounds the whole probe; the scrape's own timeout, less the
	// exporter's offset, bounds it too. 0 leaves the scrape's alone, or
	// 10 s for a request without X-Prometheus-Scrape-Timeout-Seconds.
	Timeout time.Duration `yaml:"timeout"`
	// StepTimeout bounds each step (connect, banner, each command, the
	// handshake); 0 leaves the library's per-step defaults.
	StepTimeout time.Duration `yaml:"step_timeout"`
	// CertWarnDays: a certificate expiring within so many days is the
	// finding cert-expiring; 0 means 14, negative never.
	CertWarnDays int `yaml:"cert_warn_days"`
	// ExpectBanner is a regular expression the greeting must match, as
	// the server sent it (lines "220-…" / "220 …" joined by "\n"); a
	// mismatch fails the probe. Empty: no check.
	ExpectBanner string `yaml:"expect_banner"`
	// ExpectName is the name the server should give in its banner and EHLO
	// reply; another one is the finding name-mismatch.
	ExpectName string `yaml:"expect_name"`
	// PreferredIPProtocol is "ip6" (the default, as blackbox_exporter) or
	// "ip4": the family tried first when the target's name resolves to
	// both. IPProtocolFallback (default true) allows the other one.
	PreferredIPProtocol string `yaml:"preferred_ip_protocol"`
	IPProtocolFallback  *bool  `yaml:"ip_protocol_fallback"`

	// The parsed forms, filled by the loader.
	banner   *regexp.Regexp
	checks   []scan.CheckID
	tlsConf  *tls.Config
	password string // from Auth.PasswordFile or Auth.PasswordEnv, never from the file
}

// TLSConfig is how a module checks the server's certificate.
type TLSConfig struct {
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system's.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the certificate is checked against (and SNI);
	// empty means the target's host.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify lets the session go on whatever the certificate;
	// its verdicts are still reported (probe_smtp_tls_verified, findings).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Auth holds the credentials of a module. The secret is never in the
// module file: it comes from PasswordFile or the environment variable
// PasswordEnv, read when the file is loaded (and reloaded).
type Auth struct {
	// Mechanism is the SASL mechanism; empty means the best offered.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// PasswordFile is a file whose first line is the password or token.
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names the environment variable holding it.
	PasswordEnv string `yaml:"password_env"`
	// AllowPlaintext permits AUTH without TLS.
	AllowPlaintext bool `yaml:"allow_plaintext"`
}

// LoadConfig reads and checks the module file at path. getenv gives the
// environment for Auth.PasswordEnv (nil: os.Getenv).
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("module file: %w", err)
	}
	c, err := ParseConfig(b, getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and checks a module file. Errors name the line:
// "line 7: module smtp: tls "startls": want starttls, implicit or none".
func ParseConfig(data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty module file: want a modules: map")
		}
		return nil, yamlError(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(err)
	}
	lines := positions(&root)
	if len(c.Modules) == 0 {
		return nil, errors.New("no modules: want a modules: map with at least one module")
	}
	for name, m := range c.Modules {
		at := lines.of("modules", name)
		if m == nil {
			return nil, fmt.Errorf("line %d: module %s is empty", at, name)
		}
		if err := m.prepare(getenv); err != nil {
			return nil, fmt.Errorf("line %d: module %s: %w", lines.near(at, err), name, err)
		}
	}
	if c.AllowedTargets != nil {
		if err := c.AllowedTargets.prepare(); err != nil {
			return nil, fmt.Errorf("line %d: allowed_targets: %w", lines.near(lines.of("allowed_targets"), err), err)
		}
	}
	return &c, nil
}

// yamlError puts the errors of the YAML decoder on one line, each with
// its line number.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return oneLineTypeError{te}
	}
	return err
}

// oneLineTypeError is a *yaml.TypeError on one line.
type oneLineTypeError struct{ *yaml.TypeError }

func (e oneLineTypeError) Error() string { return strings.Join(e.Errors, "; ") }
func (e oneLineTypeError) Unwrap() error { return e.TypeError }

// fieldError is a bad value of one key; the loader turns the key into the
// line it is on.
type fieldError struct {
	key string // as in the YAML: "tls", "auth.password_env"
	err error
}

func (e *fieldError) Error() string { return e.key + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func bad(key, format string, args ...any) error {
	return &fieldError{key: key, err: fmt.Errorf(format, args...)}
}

// lineIndex maps key paths of the document to their lines.
type lineIndex map[string]int

// positions walks the mapping keys of the document.
func positions(root *yaml.Node) lineIndex {
	idx := lineIndex{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "\x00" + p
				}
				idx[p] = n.Content[i].Line
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(root, "")
	return idx
}

func (idx lineIndex) of(path ...string) int { return idx[strings.Join(path, "\x00")] }

// near is the line of the key err names inside the mapping whose key is
// on line at, or at itself.
func (idx lineIndex) near(at int, err error) int {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return at
	}
	for path, line := range idx {
		parts := strings.Split(path, "\x00")
		keys := strings.Split(fe.key, ".")
		if len(parts) > len(keys) && slices.Equal(parts[len(parts)-len(keys):], keys) && idx.of(parts[:len(parts)-len(keys)]...) == at {
			return line
		}
	}
	return at
}

// prepare checks a module and computes its parsed forms.
func (m *Module) prepare(getenv func(string) string) error {
	for _, check := range [...]func() error{m.checkTLS, m.checkSession, m.checkLimits} {
		if err := check(); err != nil {
			return err
		}
	}
	if err := m.loadTLS(); err != nil {
		return err
	}
	return m.loadAuth(getenv)
}

func (m *Module) checkTLS() error {
	switch m.TLS {
	case "", "starttls", "implicit", "none":
	default:
		return bad("tls", "%q: want starttls, implicit or none", m.TLS)
	}
	switch m.StartTLS {
	case "", "if-offered", "required":
	default:
		return bad("starttls", "%q: want if-offered or required", m.StartTLS)
	}
	if m.StartTLS != "" && m.TLS != "" && m.TLS != "starttls" {
		return bad("starttls", "a STARTTLS policy needs tls: starttls (tls is %q)", m.TLS)
	}
	switch m.PreferredIPProtocol {
	case "", "ip4", "ip6":
	default:
		return bad("preferred_ip_protocol", "%q: want ip4 or ip6", m.PreferredIPProtocol)
	}
	return nil
}

// noControl refuses spaces and control characters in names and addresses.
func noControl(key, v string) error {
	if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bad(key, "%q: no spaces or control characters", v)
	}
	return nil
}

func (m *Module) checkSession() error {
	if err := noControl("ehlo", m.EHLO); err != nil {
		return err
	}
	if err := noControl("expect_name", m.ExpectName); err != nil {
		return err
	}
	if m.MailFrom != "" {
		if err := probe.CheckAddress(m.MailFrom); err != nil {
			return bad("mail_from", "%v", err)
		}
	}
	for _, to := range m.RcptTo {
		if err := probe.CheckAddress(to); err != nil {
			return bad("rcpt_to", "%v", err)
		}
	}
	switch s := scan.Stage(m.QuitAfter); s {
	case "", scan.StageConnect, scan.StageBanner, scan.StageEhlo, scan.StageTLS, scan.StageAuth, scan.StageMail:
	case scan.StageRcpt, scan.StageData:
		if len(m.RcptTo) == 0 {
			return bad("quit_after", "%s needs rcpt_to", s)
		}
	default:
		return bad("quit_after", "%q: want connect, banner, ehlo, tls, auth, mail, rcpt or data", m.QuitAfter)
	}
	ids, err := scan.ParseChecks(strings.Join(m.Checks, ","))
	if err != nil {
		return bad("checks", "%v", err)
	}
	m.checks = ids
	switch smuggling := slices.Contains(ids, scan.CheckSMTPSmuggling); {
	case smuggling && m.SmugglingTo == "":
		return bad("checks", "smtp-smuggling sends test messages: name their recipient with smuggling_to")
	case !smuggling && m.SmugglingTo != "":
		return bad("smuggling_to", "needs checks: [smtp-smuggling]")
	}
	if m.ExpectBanner != "" {
		re, err := regexp.Compile(m.ExpectBanner)
		if err != nil {
			return bad("expect_banner", "%v", err)
		}
		m.banner = re
	}
	return nil
}

func (m *Module) checkLimits() error {
	switch {
	case m.Port < 0 || m.Port > 65535:
		return bad("port", "%d: want 1 to 65535", m.Port)
	case m.Timeout < 0:
		return bad("timeout", "%v: want a positive duration", m.Timeout)
	case m.StepTimeout < 0:
		return bad("step_timeout", "%v: want a positive duration", m.StepTimeout)
	}
	return nil
}

// loadTLS builds the module's tls.Config, reading the CA file.
func (m *Module) loadTLS() error {
	t := m.TLSConfig
	if err := noControl("tls_config.server_name", t.ServerName); err != nil {
		return err
	}
	if t.CAFile == "" && t.ServerName == "" && !t.InsecureSkipVerify {
		return nil
	}
	cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return bad("tls_config.ca_file", "%w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return bad("tls_config.ca_file", "%s: no PEM certificate in it", t.CAFile)
		}
	}
	m.tlsConf = cfg
	return nil
}

// loadAuth reads the secret from its file or the environment.
func (m *Module) loadAuth(getenv func(string) string) error {
	a := m.Auth
	if a == nil {
		return nil
	}
	if err := noControl("auth.username", a.Username); err != nil {
		return err
	}
	if a.Mechanism != "" && !knownMechanism(a.Mechanism) {
		return bad("auth.mechanism", "%q: want one of %s", a.Mechanism, mechanisms)
	}
	needsSecret := !strings.EqualFold(a.Mechanism, "EXTERNAL") && !strings.EqualFold(a.Mechanism, "ANONYMOUS")
	switch {
	case a.PasswordFile != "" && a.PasswordEnv != "":
		return bad("auth.password_env", "give password_file or password_env, not both")
	case a.PasswordFile != "":
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return bad("auth.password_file", "%w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		m.password = strings.TrimSuffix(line, "\r")
	case a.PasswordEnv != "":
		m.password = getenv(a.PasswordEnv)
		if m.password == "" {
			return bad("auth.password_env", "$%s is empty or not set", a.PasswordEnv)
		}
	case needsSecret:
		return bad("auth", "the secret comes from password_file or password_env (never from this file)")
	}
	if needsSecret && a.Username == "" {
		return bad("auth.username", "missing")
	}
	return nil
}

// mechanisms are the SASL mechanisms scan.Run can play.
const mechanisms = "PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256, XOAUTH2, OAUTHBEARER, EXTERNAL, ANONYMOUS"

func knownMechanism(m string) bool {
	return slices.Contains(strings.Split(mechanisms, ", "), strings.ToUpper(m))
}
