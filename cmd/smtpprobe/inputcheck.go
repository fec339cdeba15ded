package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// isSpaceOrControl reports the runes no name on the command line holds.
func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// emptyAllowed are the string flags an empty value means something for:
// -from "" is the null sender, -password "" an empty password.
var emptyAllowed = map[string]bool{"from": true, "password": true}

// checkEmptyFlags refuses a string flag given an empty value (-user "",
// -targets "$LIST" with LIST unset): the flag would be ignored.
func checkEmptyFlags(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok || err != nil || emptyAllowed[f.Name] {
			return
		}
		if s, ok := g.Get().(string); ok && s == "" {
			err = fmt.Errorf("-%s: empty value", f.Name)
		}
	})
	return err
}

// checkAddresses checks -from and -to as MAIL and RCPT
// would, before anything is dialled. "<>" is the null sender, as "" is.
func (c *config) checkAddresses() error {
	if c.from == "<>" {
		c.from = ""
	}
	if err := checkAddress("-from", c.from); err != nil {
		return err
	}
	for _, to := range c.to.values {
		if err := checkAddress("-to", to); err != nil {
			return err
		}
	}
	return nil
}

// checkAddress checks one address of flag name with probe.CheckAddress,
// saying what is wrong in the flag's terms.
func checkAddress(name, addr string) error {
	if addr == "" {
		return nil
	}
	if len(addr) > 2 && strings.HasPrefix(addr, "<") && strings.HasSuffix(addr, ">") {
		return fmt.Errorf("%s %q: give the address without angle brackets", name, addr)
	}
	err := probe.CheckAddress(addr)
	var ae *probe.ArgError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s %q: %s", name, addr, ae.Reason)
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", name, addr, err)
	}
	return nil
}

// checkUnused refuses flags that the rest of the command line would make
// do nothing. Flags for stages after -quit-after are not among them:
// stopping early is what -quit-after is for. The demo fills in the
// credentials and the recipient, so their absence is no error there.
func (c *config) checkUnused() error {
	creds := c.user != "" || c.auth != ""
	password := c.set["password"] || c.passwordFile != ""
	pwFlag := "-password-file"
	if c.set["password"] {
		pwFlag = "-password"
	}
	mech := strings.ToUpper(c.auth)
	proxyCreds := strings.Contains(c.proxy, "@")
	named := c.namedChecks()
	fromUsed := len(c.to.values) > 0 || strings.EqualFold(c.quitAfter, "mail") ||
		slices.Contains(c.checkIDs, scan.CheckOpenRelay) || slices.Contains(c.checkIDs, scan.CheckSMTPSmuggling)
	rules := [...]struct {
		unused bool
		msg    string
	}{
		{c.noStartTLS && c.insecure, "-insecure does nothing with -no-starttls: no TLS is started"},
		{c.noStartTLS && c.caFile != "", "-cafile does nothing with -no-starttls: no TLS is started"},
		{c.noStartTLS && c.serverName != "", "-server-name does nothing with -no-starttls: no TLS is started"},
		{c.noStartTLS && strings.EqualFold(c.quitAfter, "tls"), "-quit-after tls with -no-starttls: no TLS is started"},
		{c.noStartTLS && (c.set["cert-warn"] || c.set["cert-crit"]), "-cert-warn and -cert-crit do nothing with -no-starttls: there is no certificate to judge"},
		{!c.interactive && password && c.user == "", pwFlag + " needs -user: without a user name no AUTH is sent"},
		{password && (mech == "EXTERNAL" || mech == "ANONYMOUS"), pwFlag + " does nothing with -auth " + mech + ": it sends no password"},
		{c.user != "" && mech == "EXTERNAL", "-user does nothing with -auth EXTERNAL: it sends no user name"},
		{!c.demo() && !creds && strings.EqualFold(c.quitAfter, "auth"), "-quit-after auth needs -user (or -auth): without credentials no AUTH is sent"},
		{!c.interactive && !c.demo() && !creds && c.plaintextAuth, "-plaintext-auth needs -user (or -auth): without credentials no AUTH is sent"},
		{c.implicitTLS && c.plaintextAuth, "-plaintext-auth does nothing with -tls: AUTH always runs inside TLS"},
		{c.starttls && c.plaintextAuth && !slices.Contains(c.checkIDs, scan.CheckAuthPlaintext),
			"-plaintext-auth does nothing with -starttls: AUTH runs inside TLS or not at all"},
		{!c.demo() && c.set["from"] && !fromUsed, "-from needs -to (or -quit-after mail): without a recipient no MAIL is sent"},
		{!c.demo() && c.noPipelining && len(c.to.values) == 0, "-no-pipelining needs -to: without a recipient no mail transaction is sent"},
		{c.showSecrets && c.nagios, "-show-secrets does nothing with -nagios: the status line holds no transcript"},
		{!c.interactive && !c.demo() && c.showSecrets && !creds && !proxyCreds, "-show-secrets needs secrets to show: -user, or a -proxy with user:password"},
		{c.jsonOut && c.targets != "", "-json goes without saying with -targets: batch mode always writes JSON Lines"},
		{named[scan.CheckAuthPlaintext] && c.implicitTLS, "-checks auth-plaintext with -tls: the session begins with TLS, there is no plaintext AUTH"},
		{named[scan.CheckAuthPlaintext] && !c.plaintextAuth, "-checks auth-plaintext needs -plaintext-auth: it sends your credentials without TLS"},
		{named[scan.CheckStartTLSInjection] && c.implicitTLS, "-checks starttls-injection with -tls: the session begins with TLS, there is no STARTTLS"},
	}
	for _, r := range rules {
		if r.unused {
			return errors.New(r.msg)
		}
	}
	return nil
}

// namedChecks are the checks -checks names one by one ("all" names none).
func (c *config) namedChecks() map[scan.CheckID]bool {
	named := map[scan.CheckID]bool{}
	for _, name := range strings.Split(c.checks, ",") {
		named[scan.CheckID(strings.ToLower(strings.TrimSpace(name)))] = true
	}
	return named
}
