package main

import (
	"strconv"
	"strings"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// libraryTerms are the library's words for its own Go fields, as they
// appear in error texts, check details and transcript notes, with what
// smtpprobe's user knows instead: the flag, or nothing when no flag sets
// the field. TestLibraryTerms checks that the library still says them.
var libraryTerms = [...]struct{ lib, cli string }{
	{"(see Dialer.AllowInsecureAuth)", "(-plaintext-auth allows it)"},
	{"needs Username, Password and Dialer.AllowInsecureAuth", "needs -user, a password and -plaintext-auth"},
	{"(InsecureSkipVerify: going on)", "(-insecure: going on)"},
	{"(policy if-offered)", "(-starttls-optional)"},
	{" (set CheckOptions.LocalDomain or ExpectName)", ""},
	{" (Limits.MaxLineLength)", " (smtpprobe's limit)"},
	{" (Limits.MaxReplyLines)", " (smtpprobe's limit)"},
	{" (Limits.MaxReplyBytes)", " (smtpprobe's limit)"},
	{" (Limits.MaxAuthRounds)", " (smtpprobe's limit)"},
}

// optionTerms translate the errors of Options that Run refused. The
// command line is checked before Run, so these are a safety net.
var optionTerms = [...]struct{ lib, cli string }{
	{"probe: invalid options: ", "invalid input: "},
	{"Target is empty", "the target is empty"},
	{"Target ", "target "},
	{"QuitAfter ", "-quit-after "},
	{" needs MX", " needs -mx"},
	{" needs recipients", " needs -to"},
	{"From: ", "-from: "},
	{"To: ", "-to: "},
	{"CheckOptions.SmugglingRecipient", "-smuggling-to"},
	{"AuthMechanism ", "-auth "},
	{"is not one Run knows; use Options.SASL", "is not a mechanism smtpprobe knows"},
}

// cliText is a message of the library in smtpprobe's words: flags where
// the library names its Go fields.
func cliText(s string) string {
	if strings.HasPrefix(s, optionTerms[0].lib) {
		for _, t := range optionTerms {
			s = strings.Replace(s, t.lib, t.cli, 1)
		}
	}
	for _, t := range libraryTerms {
		s = strings.ReplaceAll(s, t.lib, t.cli)
	}
	return s
}

// refusedBy says who refused, for the errors that are a refusal: the
// server (a reply, a missing extension) or smtpprobe itself (its own
// checks, a certificate that does not verify); "" for the others.
func refusedBy(e *scan.RunError) string {
	switch e.Class {
	case scan.ClassInsecureAuth, scan.ClassInvalidInput:
		return "refused by smtpprobe, not the server"
	case scan.ClassTLSUntrusted:
		return "smtpprobe refused the certificate"
	case scan.ClassAuthUnavailable:
		return "not offered by the server"
	case scan.ClassStartTLSUnavailable:
		if e.Code == 0 {
			return "not offered by the server"
		}
		return "refused by the server"
	case scan.ClassAuthFailed:
		if e.Code == 0 {
			return "smtpprobe refused the server's proof" // a SCRAM server signature that does not verify
		}
		return "refused by the server"
	case scan.ClassReply:
		return "refused by the server"
	}
	return ""
}

// plural is n and the word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return strconv.Itoa(n) + " " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// certDaysPhrase says when a certificate expires, days from now:
// "expires in 30 days", "expires today", "expired 1 day ago".
func certDaysPhrase(days int) string {
	switch {
	case days < 0:
		return "expired " + plural(-days, "day") + " ago"
	case days == 0:
		return "expires today"
	}
	return "expires in " + plural(days, "day")
}

// certProblems are the verification problems of t, without the one that
// says the certificate expired when the expiry is told already.
func certProblems(t *probe.TLSInfo, expiryTold bool) []string {
	var out []string
	for _, p := range t.Problems {
		if expiryTold && t.Expired && p == t.ValidityError {
			continue
		}
		out = append(out, cliText(p))
	}
	return out
}

// startTLSHint explains a certificate refused after an optional STARTTLS:
// -starttls-optional makes STARTTLS optional, not the certificate's
// verification. It is "" for every other outcome.
func startTLSHint(rep *scan.Report, c *config) string {
	e := rep.Error
	if e == nil || e.Class != scan.ClassTLSUntrusted || c.implicitTLS || c.starttls || c.insecure {
		return ""
	}
	return "STARTTLS is optional (-starttls-optional, the default), the certificate's verification is not: " +
		"-insecure goes on with this certificate and still reports it, -cafile trusts its CA, -no-starttls stays in plaintext"
}
