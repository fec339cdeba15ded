package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smtpprobe/probe/internal/polite"
	"github.com/smtpprobe/probe/scan"
)

// exitDomainFail is the exit code of -domain when the domain's verdict is
// fail (see domainUsage); warning gives exitFound, ok and untested
// exitOK.
const exitDomainFail = 5

// domainConfig is what "smtpprobe -domain" asks for.
type domainConfig struct {
	domain, resolver, caFile, ehlo string
	port, httpsPort, concurrency   int
	timeout, dnsTimeout            time.Duration
	jsonOut, nagios, transcripts   bool
	limitFlags                     // per MX host and per network (domainManners)
}

// wantsDomain reports -domain among the flags (before any "--"): the
// command then scans a mail domain instead of probing one server.
func wantsDomain(args []string) bool {
	_, _, found := flagBeforeParse(args, "domain")
	return found
}

func newDomainFlags(c *domainConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("smtpprobe -domain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.domain, "domain", "", "the mail `domain` to scan: every MX, every address, DANE, MTA-STS, TLS-RPT, REQUIRETLS")
	fs.StringVar(&c.resolver, "resolver", "", "validating DNS resolver `ip[:port]` (default: the first nameserver of /etc/resolv.conf)")
	fs.IntVar(&c.port, "port", 25, "SMTP `port` to connect to, and of the TLSA records (_port._tcp)")
	fs.IntVar(&c.httpsPort, "https-port", 443, "`port` to fetch the MTA-STS policy from (the URL and certificate name stay mta-sts.<domain>)")
	fs.StringVar(&c.caFile, "cafile", "", "PEM `file` of CA certificates to trust for WebPKI (MTA-STS) instead of the system's")
	fs.StringVar(&c.ehlo, "ehlo", "", "the EHLO `name` (default localhost)")
	fs.IntVar(&c.concurrency, "concurrency", 4, "`N` SMTP sessions at a time")
	c.limitFlags.define(fs)
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "bound on the whole scan")
	fs.DurationVar(&c.dnsTimeout, "dns-timeout", 5*time.Second, "bound on each DNS question")
	fs.BoolVar(&c.jsonOut, "json", false, "print the DomainReport as JSON")
	fs.BoolVar(&c.nagios, "nagios", false, "monitoring plugin output: the worst verdict as one status line, exit 0/1/2/3")
	fs.BoolVar(&c.transcripts, "transcripts", false, "also print the transcript of every session")
	return fs
}

// domainUsage writes the help of -domain.
func domainUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage:
  smtpprobe -domain example.com [flags]
                                 is mail to this domain protected? Every MX, every address
                                 (STARTTLS, no mail sent), DANE, MTA-STS, TLS-RPT, REQUIRETLS

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		arg, help := flag.UnquoteUsage(f)
		head := "-" + f.Name
		if arg != "" {
			head += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			help += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  %-26s %s\n", head, help)
	})
	fmt.Fprintf(w, `
Exit codes: 0 verdict ok (or nothing could be tested), %d warning, %d fail,
%d bad arguments, %d the scan could not run; with -nagios 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN.
`, exitFound, exitDomainFail, exitUsage, exitError)
}

// parseDomainConfig parses the flags of a domain scan.
func parseDomainConfig(args []string) (*domainConfig, *flag.FlagSet, error) {
	c := &domainConfig{}
	fs := newDomainFlags(c)
	pos, err := parseArgs(fs, args)
	switch {
	case err != nil:
		return nil, fs, err
	case len(pos) > 0:
		return nil, fs, fmt.Errorf("-domain takes no other argument (got %q)", pos)
	case c.domain == "":
		return nil, fs, errors.New("-domain needs a mail domain")
	case c.jsonOut && c.nagios:
		return nil, fs, errors.New("-nagios and -json are different outputs: choose one")
	case c.port < 1 || c.port > 65535 || c.httpsPort < 1 || c.httpsPort > 65535:
		return nil, fs, fmt.Errorf("-port %d, -https-port %d: want 1 to 65535", c.port, c.httpsPort)
	case c.concurrency < 1 || c.concurrency > 256:
		return nil, fs, fmt.Errorf("-concurrency %d: want 1 to 256", c.concurrency)
	case c.timeout <= 0 || c.dnsTimeout <= 0:
		return nil, fs, errors.New("-timeout and -dns-timeout want a positive duration")
	case strings.ContainsAny(c.ehlo, " \t\r\n\x00"):
		return nil, fs, fmt.Errorf("-ehlo %q: no spaces or control characters", c.ehlo)
	}
	if err := c.limitFlags.check(); err != nil {
		return nil, fs, err
	}
	return c, fs, nil
}

// options turns the flags into DomainOptions.
func (c *domainConfig) options() (scan.DomainOptions, error) {
	o := scan.DomainOptions{Domain: c.domain, Resolver: c.resolver, DNSTimeout: c.dnsTimeout,
		Port: c.port, HTTPSPort: c.httpsPort, Concurrency: c.concurrency}
	o.Dialer.LocalName = c.ehlo
	if c.caFile != "" {
		pool, err := loadCAFile(c.caFile)
		if err != nil {
			return o, err
		}
		o.RootCAs = pool
		o.Dialer.TLSConfig = &tls.Config{RootCAs: o.RootCAs}
	}
	return o, nil
}

// runDomain is "smtpprobe -domain NAME": it scans, prints as asked, and
// returns the exit code.
func runDomain(ctx context.Context, args []string, sys stdio) int {
	c, fs, err := parseDomainConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		domainUsage(sys.out, fs)
		return exitOK
	}
	var o scan.DomainOptions
	if err == nil {
		o, err = c.options()
	}
	if err != nil {
		return usageError(sys, wantsNagios(args), err)
	}
	note, err := c.domainManners(&o, sys)
	if note != "" {
		fmt.Fprintln(sys.err, "smtpprobe:", note)
	}
	if err != nil {
		fmt.Fprintln(sys.err, "smtpprobe:", err)
		return exitError
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rep := scan.Domain(ctx, o)
	switch {
	case c.nagios:
		code, line := domainNagios(rep)
		fmt.Fprintln(sys.out, line)
		return code
	case c.jsonOut:
		if err := writeJSON(sys.out, rep); err != nil {
			fmt.Fprintln(sys.err, "smtpprobe:", err)
			return exitError
		}
	default:
		if err := writeDomain(sys.out, rep, c.transcripts); err != nil {
			fmt.Fprintln(sys.err, "smtpprobe:", err)
			return exitError
		}
	}
	return domainExit(rep)
}

// domainManners sets the manners of a big scan on o: each session waits,
// before its timeouts start, for -rate-host and -conns-host of its MX host
// and -rate-net and -conns-net of its /24 or /64 (the MX hosts of one
// provider often share one); its connects wait for a file descriptor
// rather than fail; the concurrency is capped to what the open-file limit
// allows, the soft limit raised if it must be. It returns what to say on
// stderr about the limit, if anything.
//
// The scan keeps no DNS cache of its own: every question of one scan is
// a different one, and the validating resolver it asks caches.
func (c *domainConfig) domainManners(o *scan.DomainOptions, sys stdio) (string, error) {
	concurrency, note := sys.files.planFiles(c.concurrency)
	o.Concurrency = concurrency
	fwd, _, err := forwardDialer(sys.dialer, "", nil)
	if err != nil {
		return note, err
	}
	limiter := polite.NewLimiter(c.limits())
	if limiter.Limited() {
		o.Admit = limiter.Admit
	}
	o.Dialer.NetDialer = &polite.Dialer{Forward: fwd, Limiter: limiter}
	return note, nil
}

// domainExit is the exit code of a verdict outside -nagios.
func domainExit(rep *scan.DomainReport) int {
	switch rep.Verdict {
	case scan.VerdictWarning:
		return exitFound
	case scan.VerdictFail:
		return exitDomainFail
	case scan.VerdictError:
		if rep.Error != nil && rep.Error.Class == scan.ClassInvalidInput {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

// domainNagios is the plugin status line of a domain scan: the worst
// verdict, the reasons (findings of medium severity and above), and
// perfdata.
func domainNagios(rep *scan.DomainReport) (int, string) {
	code := map[scan.Verdict]int{scan.VerdictOK: nagiosOK, scan.VerdictWarning: nagiosWarning,
		scan.VerdictFail: nagiosCritical}[rep.Verdict]
	if rep.Verdict == scan.VerdictUntested || rep.Verdict == scan.VerdictError {
		code = nagiosUnknown
	}
	var reasons []string
	if rep.Error != nil {
		reasons = append(reasons, rep.Error.Message)
	}
	for _, f := range rep.AllFindings() {
		if f.Severity == scan.SeverityMedium || f.Severity == scan.SeverityHigh || f.Severity == scan.SeverityCritical {
			reasons = append(reasons, string(f.ID)+": "+f.Summary)
		}
	}
	tested, total := 0, 0
	for _, mx := range rep.MX {
		for _, a := range mx.Addresses {
			total++
			if a.Verdict != scan.VerdictUntested {
				tested++
			}
		}
	}
	head := fmt.Sprintf("%s %s, %d MX, %d of %d addresses tested, protection %s", rep.Domain, rep.Verdict,
		len(rep.MX), tested, total, protectionText(rep))
	text := nagiosText(strings.Join(append([]string{head}, reasons...), "; "))
	return code, fmt.Sprintf("SMTP-DOMAIN %s - %s | time=%.3fs;;;0 mx=%d;;;0 addresses=%d;;;0 tested=%d;;;0",
		nagiosNames[code], text, rep.Duration.Seconds(), len(rep.MX), total, tested)
}

func protectionText(rep *scan.DomainReport) string {
	if len(rep.Protection) == 0 {
		return "-"
	}
	var s []string
	for _, p := range rep.Protection {
		s = append(s, string(p))
	}
	return strings.Join(s, "+")
}

// writeDomain prints the human rendering: a head, a table per MX host and
// address, the policies, and the findings.
func writeDomain(w io.Writer, rep *scan.DomainReport, transcripts bool) error {
	p := &errWriter{w: w}
	p.printf("Domain %s: %s (protection: %s; resolver %s; %.2fs)\n", rep.Domain, strings.ToUpper(string(rep.Verdict)),
		protectionText(rep), rep.Resolver, rep.Duration.Seconds())
	if rep.Error != nil {
		p.printf("error: %s\n", rep.Error.Message)
		return p.err
	}
	if a := rep.MXLookup; a != nil {
		p.printf("MX lookup: %s %s (%s)%s\n", a.Rcode, strings.Join(a.Records, ", "), a.DNSSEC, map[bool]string{true: ", null MX: accepts no mail", false: ""}[rep.NullMX])
	}
	if len(rep.MX) > 0 {
		p.printf("\n")
		tw := tabwriter.NewWriter(p, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "MX HOST\tPREF\tADDRESS\tTLS\tWEBPKI\tDANE\tMTA-STS\tREQUIRETLS\tVERDICT")
		for _, mx := range rep.MX {
			fmt.Fprintf(tw, "%s\t%d\t\t\t\t%s\t%s\t\t%s\n", mx.Host, mx.Preference, daneHost(mx.DANE), stsMatch(mx.MTASTSMatch), mx.Verdict)
			for _, a := range mx.Addresses {
				fmt.Fprintf(tw, "\t\t%s\t%s\t%s\t%s\t\t%s\t%s\n", a.Address, tlsCell(a), webPKICell(a), daneCell(a), yesNo(a.RequireTLS), a.Verdict)
			}
		}
		_ = tw.Flush()
	}
	writePolicies(p, rep)
	if fs := rep.AllFindings(); len(fs) > 0 {
		p.printf("\nFindings:\n")
		for _, f := range fs {
			ref := ""
			if f.Reference != "" {
				ref = " (" + f.Reference + ")"
			}
			p.printf("  [%s] %s: %s%s\n", f.Severity, f.ID, f.Summary, ref)
		}
	}
	if transcripts {
		for _, mx := range rep.MX {
			for _, a := range mx.Addresses {
				if a.Session != nil && a.Session.Transcript != nil {
					p.printf("\n--- %s [%s]\n%s", mx.Host, a.Address, a.Session.Transcript.String())
				}
			}
		}
	}
	return p.err
}

func writePolicies(p *errWriter, rep *scan.DomainReport) {
	if s := rep.MTASTS; s != nil {
		switch {
		case s.Mode != "":
			p.printf("\nMTA-STS: %s, id %s, mx %s, max_age %d (%s)\n", s.Mode, s.ID, strings.Join(s.MX, " "), s.MaxAge, s.URL)
		case s.Error != "":
			p.printf("\nMTA-STS: %s\n", s.Error)
		default:
			p.printf("\nMTA-STS: no record\n")
		}
	}
	if r := rep.TLSRPT; r != nil {
		if len(r.RUA) > 0 {
			p.printf("TLS-RPT: %s\n", strings.Join(r.RUA, ", "))
		} else {
			p.printf("TLS-RPT: %s\n", r.Error)
		}
	}
	if rt := rep.RequireTLS; rt != nil && len(rep.MX) > 0 {
		p.printf("REQUIRETLS: advertised %s, protected %s, ready %s\n", yesNo(rt.Advertised), yesNo(rt.Protected), yesNo(rt.Ready))
	}
}

func daneHost(d *scan.DANEReport) string {
	if d == nil {
		return "-"
	}
	if d.Status == scan.DANEValidated {
		return strconv.Itoa(len(d.Records)) + " TLSA"
	}
	return string(d.Status)
}

func daneCell(a scan.AddressReport) string {
	switch {
	case a.DANE == nil:
		return "-"
	case a.DANE.Authenticated:
		return "match"
	case len(a.DANE.Mismatched) > 0:
		return "MISMATCH"
	}
	return "no usable"
}

func stsMatch(m *bool) string {
	switch {
	case m == nil:
		return "-"
	case *m:
		return "match"
	}
	return "NO MATCH"
}

func tlsCell(a scan.AddressReport) string {
	switch {
	case a.Verdict == scan.VerdictUntested:
		return "untested"
	case a.TLS != nil:
		return a.TLS.Version
	case slices.ContainsFunc(a.Findings, func(f scan.Finding) bool { return f.ID == scan.FindingSMTPUnreachable }):
		return "unreachable"
	}
	return "NO TLS"
}

func webPKICell(a scan.AddressReport) string {
	switch {
	case a.TLS == nil:
		return "-"
	case a.WebPKIValid:
		return "valid"
	}
	return "invalid"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
