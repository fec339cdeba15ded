package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe/scan"
)

// config is what the command line asks for.
type config struct {
	target      string // the one positional argument; "" for the demo
	targetGiven bool   // a positional argument was given, even an empty one
	targets     string // -targets FILE|-
	concurrency int
	batch       batchFlags // the other batch flags (batch_manners.go)

	starttls, starttlsOptional, noStartTLS, implicitTLS bool

	ehlo, auth, user           string
	passwordFlag, passwordFile string
	password                   string // from -password, -password-file or $SMTPPROBE_PASSWORD
	from                       string
	to, headers                listFlag
	body                       string
	quitAfter                  string
	timeout                    time.Duration
	proxy, caFile, serverName  string
	insecure, plaintextAuth    bool
	mx, lmtp, showSecrets      bool
	noPipelining               bool
	jsonOut                    bool
	interactive                bool // -i: a session typed line by line (shell.go)
	checks, smugglingTo        string
	checkIDs                   []scan.CheckID

	version bool

	nagios             bool
	warn, crit         seconds
	certWarn, certCrit int

	set map[string]bool // the flags given on the command line

	connFlags // connflags.go
	tlsFlags  // tlsflags.go
	msgFlags  // msgflags.go
}

// listFlag is a repeatable flag; each use may also hold a comma-separated
// list when split is set.
type listFlag struct {
	values []string
	split  bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }

func (l *listFlag) Set(s string) error {
	if !l.split {
		l.values = append(l.values, s)
		return nil
	}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v == "" {
			return errors.New("an empty address")
		}
		l.values = append(l.values, v)
	}
	return nil
}

// seconds is a time given in seconds, "2" or "1.5", or as a Go duration,
// "750ms" or "1m30s": the -timeout and the -warn/-crit thresholds.
type seconds time.Duration

func (s *seconds) String() string {
	if *s == 0 {
		return "0"
	}
	return strconv.FormatFloat(time.Duration(*s).Seconds(), 'f', -1, 64)
}

func (s *seconds) Set(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err == nil {
		switch {
		case math.IsNaN(f):
			return errors.New("want seconds such as 2.5, or a duration such as 750ms")
		case f < 0:
			return errors.New("must not be negative")
		case f > maxSeconds:
			return fmt.Errorf("more than %d seconds", int64(maxSeconds))
		}
		*s = seconds(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return errors.New("want seconds such as 2.5, or a duration such as 750ms")
	}
	*s = seconds(d)
	return nil
}

// maxSeconds bounds a time in seconds: a week is more than any probe needs,
// and far from the limit of time.Duration.
const maxSeconds = 7 * 24 * 3600

// newFlagSet defines every flag on c.
func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("smtpprobe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.to.split = true
	c.timeout = 60 * time.Second

	fs.BoolVar(&c.starttls, "starttls", false, "require STARTTLS: fail (exit 14) if it is not offered or fails")
	fs.BoolVar(&c.starttlsOptional, "starttls-optional", false, "use STARTTLS when offered, go on in plaintext when not (the default); "+
		"the certificate must still verify: -insecure goes on with one that does not")
	fs.BoolVar(&c.noStartTLS, "no-starttls", false, "never send STARTTLS")
	fs.BoolVar(&c.implicitTLS, "tls", false, "implicit TLS from the first byte (default port 465)")
	fs.StringVar(&c.ehlo, "ehlo", "", "the EHLO `name` (default: the address literal of the local address, such as [192.0.2.1])")
	fs.StringVar(&c.auth, "auth", "", "AUTH `mechanism`: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256, XOAUTH2, OAUTHBEARER, EXTERNAL (with -cert), ANONYMOUS (default: the best offered)")
	fs.StringVar(&c.user, "user", "", "AUTH user `name`")
	fs.StringVar(&c.passwordFlag, "password", "", "AUTH `password` (visible in the process list: prefer -password-file or $SMTPPROBE_PASSWORD)")
	fs.StringVar(&c.passwordFile, "password-file", "", "read the AUTH password from this `file` (first line)")
	fs.BoolVar(&c.plaintextAuth, "plaintext-auth", false, "allow AUTH without TLS")
	fs.StringVar(&c.from, "from", "", "MAIL FROM `address`; \"\" or \"<>\" is the null sender (the default)")
	fs.Var(&c.to, "to", "RCPT TO `address`; repeat it or separate with commas; without it no mail is sent")
	fs.StringVar(&c.body, "body", "", "message to send, from a `file` or - for stdin (default: a generated test message)")
	fs.Var(&c.headers, "header", "`header` (\"Name: value\") replacing the message's field of that name, or on top; repeatable")
	fs.StringVar(&c.quitAfter, "quit-after", "", "stop after a `stage` (then QUIT): connect, banner, ehlo, tls, auth, mail, rcpt, data (resolve with -mx)")
	fs.Var((*seconds)(&c.timeout), "timeout", "bound on the whole probe, in `seconds` (30, 2.5 or 1m30s; per target in batch mode)")
	fs.StringVar(&c.proxy, "proxy", "", "SOCKS5 proxy `URL`: socks5://[user:pass@]host:port or socks5h://…")
	fs.StringVar(&c.caFile, "cafile", "", "PEM `file` of CA certificates to trust instead of the system's")
	fs.StringVar(&c.serverName, "server-name", "", "TLS server `name` (SNI and certificate check; default: the host)")
	fs.BoolVar(&c.insecure, "insecure", false, "go on whatever the certificate; its verdict is still reported")
	fs.BoolVar(&c.noPipelining, "no-pipelining", false, "send MAIL, RCPT and DATA one at a time even when PIPELINING is offered")
	fs.BoolVar(&c.mx, "mx", false, "the target is a mail domain: probe its MX hosts in order")
	fs.BoolVar(&c.lmtp, "lmtp", false, "speak LMTP (LHLO; default port 24)")
	fs.BoolVar(&c.showSecrets, "show-secrets", false, "show credentials in the transcript instead of redacting them")
	fs.StringVar(&c.checks, "checks", "", "active security checks after the session, on connections of their own: `list` of "+
		checkNames()+"; all = every one but smtp-smuggling")
	fs.StringVar(&c.smugglingTo, "smuggling-to", "", "-checks smtp-smuggling: the `address` its test messages go to (a mailbox on the server under test)")
	fs.BoolVar(&c.jsonOut, "json", false, "print the Report as JSON")
	fs.BoolVar(&c.nagios, "nagios", false, "monitoring plugin output: one status line with perfdata, exit 0/1/2/3")
	fs.Var(&c.warn, "warn", "-nagios: WARNING when the probe takes longer than these `seconds` (2.5 or 2500ms; 0 none)")
	fs.Var(&c.crit, "crit", "-nagios: CRITICAL when the probe takes longer than these `seconds` (0 none)")
	fs.IntVar(&c.certWarn, "cert-warn", 14, "-nagios: WARNING when the certificate expires within these `days`")
	fs.IntVar(&c.certCrit, "cert-crit", 7, "-nagios: CRITICAL when the certificate expires within these `days`")
	fs.StringVar(&c.targets, "targets", "", "batch mode: read targets from a `file`, or - for stdin; JSON Lines out")
	fs.IntVar(&c.concurrency, "concurrency", 16, "batch mode: `N` probes at a time")
	c.batch.define(fs)
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	fs.BoolVar(&c.interactive, "i", false, "interactive session: send the lines you type, with built-in .starttls, .auth, .data … (.help lists them)")
	c.connFlags.define(fs)
	c.tlsFlags.define(fs)
	c.msgFlags.define(fs)
	return fs
}

// flagGroups orders the flags in the help text.
var flagGroups = [...]struct {
	title string
	names []string
}{
	{"Connection", []string{"ehlo", "quit-after", "lmtp", "mx", "timeout", "proxy", "4", "6", "bind", "proxy-header", "proxy-source", "proxy-dest", "xclient", "xforward"}},
	{"TLS", []string{"starttls", "starttls-optional", "no-starttls", "tls", "cafile", "server-name", "insecure", "tls-min", "tls-max", "ciphers", "cert", "key", "save-chain"}},
	{"Auth", []string{"auth", "user", "password-file", "password", "plaintext-auth"}},
	{"Message", []string{"from", "to", "body", "header", "attach", "bdat", "no-pipelining"}},
	{"Security checks", []string{"checks", "smuggling-to"}},
	{"Output", []string{"json", "show-secrets", "show-body", "timings"}},
	{"Monitoring", []string{"nagios", "warn", "crit", "cert-warn", "cert-crit"}},
	{"Batch", append([]string{"targets", "concurrency"}, batchFlagNames[:]...)},
	{"Other", []string{"version"}},
	{"Interactive", []string{"i"}},
}

// usage writes the help text: synopsis, flags by group, exit codes.
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage:
  smtpprobe                      without any argument: probe a built-in test server (a demo of every stage)
  smtpprobe [flags] host[:port]  probe a server: banner, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT
  smtpprobe -domain DOMAIN [flags] scan a mail domain: every MX and address, DANE, MTA-STS (-domain x -h)
  smtpprobe -targets FILE|- [flags]
                                 probe many targets, one Report a line as JSON
  smtpprobe -version             print the version
  smtpprobe -i [flags] [host[:port]]
                                 type a session: your lines go to the server, .help for built-ins

The password comes from -password-file or $SMTPPROBE_PASSWORD. Without -proxy,
$ALL_PROXY (socks5://…) is used for the hosts $NO_PROXY does not name.
`)
	for _, g := range flagGroups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.names {
			f := fs.Lookup(name)
			arg, help := flag.UnquoteUsage(f)
			head := "-" + name
			if arg != "" {
				head += " " + arg
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				help += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(w, "  %-26s %s\n", head, help)
		}
	}
	fmt.Fprintln(w)
	writeExitCodes(w)
}

// parseArgs parses flags and positional arguments in any order ("--" ends
// the flags).
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseConfig parses args into a config and checks it; getenv gives the
// environment.
func parseConfig(args []string, getenv func(string) string) (*config, *flag.FlagSet, error) {
	c := &config{set: map[string]bool{}}
	fs := newFlagSet(c)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, fs, err
	}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
	if c.version {
		if len(args) > 1 {
			return nil, fs, errors.New("-version takes no other flags or arguments")
		}
		return c, fs, nil
	}
	switch len(pos) {
	case 0:
	case 1:
		c.target, c.targetGiven = pos[0], true
	default:
		return nil, fs, fmt.Errorf("one target at a time (got %q); use -targets for many", pos)
	}
	if err := checkEmptyFlags(fs); err != nil {
		return nil, fs, err
	}
	if err := c.check(); err != nil {
		return nil, fs, err
	}
	if err := c.readPassword(getenv); err != nil {
		return nil, fs, err
	}
	if err := c.checkUnused(); err != nil {
		return nil, fs, err
	}
	return c, fs, nil
}

// demo reports that no target was given: the built-in server is probed.
// Only a command line without any argument that is not a flag runs it; an
// empty argument ("$HOST" unset) is an error.
func (c *config) demo() bool { return !c.targetGiven && c.targets == "" }

// check refuses contradictory or malformed flags.
func (c *config) check() error {
	for _, check := range [...]func() error{c.checkModes, c.checkTLS, c.checkSession, c.checkChecks, c.checkNagios, c.checkInteractive,
		c.checkConn, c.checkTLSFlags, c.checkMessage, c.checkBatch} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *config) checkModes() error {
	switch {
	case c.targets != "" && c.targetGiven:
		return errors.New("give a target or -targets, not both")
	case c.targets != "" && c.nagios:
		return errors.New("-nagios checks one target; it does not go with -targets")
	case c.nagios && c.jsonOut:
		return errors.New("-nagios and -json are different outputs: choose one")
	case c.set["concurrency"] && c.targets == "":
		return errors.New("-concurrency needs -targets")
	case c.concurrency < 1 || c.concurrency > 4096:
		return fmt.Errorf("-concurrency %d: want 1 to 4096", c.concurrency)
	case c.targets == "-" && c.body == "-":
		return errors.New("-targets - and -body - cannot both read stdin")
	case c.mx && c.demo():
		return errors.New("-mx needs a mail domain as target")
	case c.timeout <= 0:
		return fmt.Errorf("-timeout %v: want more than 0 seconds", (*seconds)(&c.timeout))
	}
	if c.targetGiven {
		return checkTarget(c.target, c.mx)
	}
	return nil
}

func (c *config) checkTLS() error {
	n := 0
	for _, b := range [...]bool{c.starttls, c.starttlsOptional, c.noStartTLS, c.implicitTLS} {
		if b {
			n++
		}
	}
	if n > 1 {
		return errors.New("choose one of -starttls, -starttls-optional, -no-starttls and -tls")
	}
	if c.proxy != "" {
		u, err := url.Parse(c.proxy)
		if err != nil || (u.Scheme != "socks5" && u.Scheme != "socks5h") || u.Host == "" {
			return fmt.Errorf("-proxy %q: want socks5://host:port or socks5h://host:port", redactURL(u))
		}
	}
	return nil
}

// knownMechanisms are the -auth values Run can play.
var knownMechanisms = [...]string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
	"XOAUTH2", "OAUTHBEARER", "EXTERNAL", "ANONYMOUS"}

func (c *config) checkSession() error {
	if c.auth != "" && !knownMechanism(c.auth) {
		return fmt.Errorf("-auth %q: want one of %s", c.auth, strings.Join(knownMechanisms[:], ", "))
	}
	for _, f := range [...]struct{ name, value string }{{"ehlo", c.ehlo}, {"user", c.user}, {"server-name", c.serverName}} {
		if strings.ContainsFunc(f.value, isSpaceOrControl) {
			return fmt.Errorf("-%s %q: no spaces or control characters", f.name, f.value)
		}
	}
	if err := c.checkAddresses(); err != nil {
		return err
	}
	for _, h := range c.headers.values {
		if err := checkHeader(h); err != nil {
			return err
		}
	}
	if (c.body != "" || len(c.headers.values) > 0) && len(c.to.values) == 0 && !c.demo() {
		return errors.New("-body and -header need a recipient (-to)")
	}
	return c.checkQuitAfter()
}

func knownMechanism(m string) bool {
	for _, k := range knownMechanisms {
		if strings.EqualFold(m, k) {
			return true
		}
	}
	return false
}

// checkHeader accepts "Name: value" with a printable name and no line break.
func checkHeader(h string) error {
	name, _, ok := strings.Cut(h, ":")
	if !ok || name == "" || strings.ContainsAny(h, "\r\n\x00") {
		return fmt.Errorf("-header %q: want \"Name: value\" on one line", h)
	}
	for _, r := range name {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("-header %q: the name may hold only printable ASCII without spaces", h)
		}
	}
	return nil
}

func (c *config) checkQuitAfter() error {
	if c.quitAfter == "" {
		return nil
	}
	switch s := scan.Stage(strings.ToLower(c.quitAfter)); s {
	case scan.StageResolve:
		if !c.mx {
			return errors.New("-quit-after resolve needs -mx")
		}
	case scan.StageRcpt, scan.StageData:
		if len(c.to.values) == 0 && !c.demo() {
			return fmt.Errorf("-quit-after %s needs a recipient (-to)", s)
		}
	case scan.StageConnect, scan.StageBanner, scan.StageEhlo, scan.StageTLS, scan.StageAuth, scan.StageMail:
	default:
		return fmt.Errorf("-quit-after %q: want connect, banner, ehlo, tls, auth, mail, rcpt or data", c.quitAfter)
	}
	return nil
}

// checkNames lists the checks, comma-separated.
func checkNames() string {
	var names []string
	for _, id := range scan.AllChecks() {
		names = append(names, string(id))
	}
	return strings.Join(names, ", ")
}

// checkChecks parses -checks; smtp-smuggling sends messages, so it needs
// -smuggling-to.
func (c *config) checkChecks() error {
	ids, err := scan.ParseChecks(c.checks)
	if err != nil {
		return fmt.Errorf("-checks: %w", err)
	}
	c.checkIDs = ids
	smuggling := slices.Contains(ids, scan.CheckSMTPSmuggling)
	switch {
	case smuggling && c.smugglingTo == "":
		return errors.New("-checks smtp-smuggling sends test messages: name their recipient with -smuggling-to")
	case !smuggling && c.smugglingTo != "":
		return errors.New("-smuggling-to needs -checks smtp-smuggling")
	case strings.ContainsAny(c.smugglingTo, " \t\r\n\x00<>"):
		return fmt.Errorf("-smuggling-to %q: want a bare address", c.smugglingTo)
	}
	return checkAddress("-smuggling-to", c.smugglingTo)
}

func (c *config) checkNagios() error {
	if !c.nagios {
		for _, f := range [...]string{"warn", "crit", "cert-warn", "cert-crit"} {
			if c.set[f] {
				return fmt.Errorf("-%s needs -nagios", f)
			}
		}
		return nil
	}
	switch {
	case c.warn != 0 && c.crit != 0 && c.warn > c.crit:
		return fmt.Errorf("-warn %v is above -crit %v", &c.warn, &c.crit)
	case c.certWarn < c.certCrit:
		return fmt.Errorf("-cert-warn %d is below -cert-crit %d", c.certWarn, c.certCrit)
	case c.certCrit < 0:
		return fmt.Errorf("-cert-crit %d: want 0 or more days", c.certCrit)
	}
	return nil
}

// readPassword takes the password from -password, -password-file or
// $SMTPPROBE_PASSWORD, in that order.
func (c *config) readPassword(getenv func(string) string) error {
	switch {
	case c.set["password"] && c.passwordFile != "":
		return errors.New("give -password or -password-file, not both")
	case c.set["password"]:
		c.password = c.passwordFlag
	case c.passwordFile != "":
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return fmt.Errorf("-password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		c.password = strings.TrimSuffix(line, "\r")
	default:
		c.password = getenv("SMTPPROBE_PASSWORD")
	}
	if c.password != "" && c.user == "" && c.auth == "" {
		return nil // a password in the environment alone does not start AUTH
	}
	if c.auth != "" && c.user == "" && needsPassword(c.auth) && !c.demo() && !c.interactive {
		return fmt.Errorf("-auth %s needs -user", c.auth)
	}
	if c.user != "" && c.password == "" && needsPassword(c.auth) && !c.demo() && !c.interactive {
		return errors.New("-user needs a password: -password-file FILE or $SMTPPROBE_PASSWORD")
	}
	return nil
}

// needsPassword reports whether the mechanism (or the default choice)
// needs a password or token.
func needsPassword(mech string) bool {
	m := strings.ToUpper(mech)
	return m != "EXTERNAL" && m != "ANONYMOUS"
}

// redactURL shows a URL without its password.
func redactURL(u *url.URL) string {
	if u == nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
