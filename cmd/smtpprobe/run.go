package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/smtpprobe/probe/scan"
	"golang.org/x/net/proxy"
)

// stdio is the world run talks to.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	getenv   func(string) string
	// resolver answers the DNS questions of -mx; nil means the system's.
	resolver scan.Resolver
	// dialer opens the connections, and so resolves the names of the
	// targets, in tests; nil means the Dialer's own (direct, or -proxy).
	dialer proxy.ContextDialer
	// files reads and sets the open-file limit in batch mode; its zero
	// value means the process's (batch_manners.go).
	files fileLimits
}

// run is the whole command: it parses args, probes, prints, and returns
// the exit code. The environment comes from the process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdio{in: stdin, out: stdout, err: stderr, getenv: os.Getenv})
}

// runContext is run bounded by ctx (cancelled on an interrupt).
func runContext(ctx context.Context, args []string, sys stdio) int {
	if len(args) > 0 && args[0] == "serve" {
		return serve(ctx, args[1:], sys) // serve.go: the Prometheus exporter
	}
	if wantsDomain(args) {
		return runDomain(ctx, args, sys) // a domain scan has flags of its own (domain.go)
	}
	c, fs, err := parseConfig(args, sys.getenv)
	if errors.Is(err, flag.ErrHelp) {
		usage(sys.out, fs)
		return exitOK
	}
	if err != nil {
		return usageError(sys, wantsNagios(args), err)
	}
	if c.version {
		fmt.Fprintln(sys.out, "smtpprobe", version())
		return exitOK
	}
	if c.set["password"] {
		fmt.Fprintln(sys.err, "smtpprobe: warning: -password is visible in the process list; prefer -password-file or $SMTPPROBE_PASSWORD")
	}
	var d *demo
	if c.demo() {
		if d, err = startDemo(c); err != nil {
			fmt.Fprintln(sys.err, "smtpprobe: the built-in test server did not start:", err)
			return exitError
		}
		defer d.close()
		d.fill(c)
	}
	p, err := newPlan(c, sys.in, sys.resolver)
	if err != nil {
		return usageError(sys, c.nagios, err)
	}
	if d != nil {
		d.trust(c, p)
	}
	if sys.dialer != nil {
		p.base.Dialer.NetDialer = sys.dialer
	}
	if c.targets != "" {
		return runBatch(ctx, c, p, sys)
	}
	if c.interactive {
		return runShell(ctx, c, p, d, sys)
	}
	return probeOne(ctx, c, p, d, sys)
}

// usageError reports a bad command line in one line: on stderr with a
// pointer to -h, or as an UNKNOWN status line in -nagios mode. Either way
// the exit code is 3.
func usageError(sys stdio, nagios bool, err error) int {
	if nagios {
		fmt.Fprintln(sys.out, "SMTP UNKNOWN - bad arguments: "+nagiosText(err.Error()))
		return nagiosUnknown
	}
	fmt.Fprintf(sys.err, "smtpprobe: %s. Run 'smtpprobe -h' for the flags.\n", escapeControls(err.Error()))
	return exitUsage
}

// wantsNagios reports -nagios among the flags, before they are parsed, so
// that a bad command line gets the plugin's UNKNOWN status.
func wantsNagios(args []string) bool {
	val, hasVal, found := flagBeforeParse(args, "nagios")
	return found && (!hasVal || val == "true" || val == "1" || val == "t" || val == "TRUE" || val == "True")
}

// flagBeforeParse finds the flag name among args (before any "--") as
// -name, --name or -name=value, before the flags are parsed.
func flagBeforeParse(args []string, name string) (val string, hasVal, found bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		n, v, has := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && n == name {
			return v, has, true
		}
	}
	return "", false, false
}

// probeOne probes the single target and prints the outcome as asked.
func probeOne(ctx context.Context, c *config, p *plan, d *demo, sys stdio) int {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rep := scan.Run(ctx, p.options(c.target))
	if err := c.saveChainOf(rep); err != nil {
		fmt.Fprintln(sys.err, "smtpprobe:", err)
	}
	switch {
	case c.nagios:
		code, line := nagiosStatus(rep, c)
		fmt.Fprintln(sys.out, line)
		if d != nil {
			fmt.Fprintln(sys.err, d.note())
		}
		return code
	case c.jsonOut:
		if err := writeJSON(sys.out, rep); err != nil {
			fmt.Fprintln(sys.err, "smtpprobe:", err)
			return exitError
		}
		if d != nil {
			fmt.Fprintln(sys.err, d.note())
		}
	default:
		pr := newPrinter(sys.out, useColour(sys.out, sys.getenv))
		pr.timings, pr.lmtp = c.timings, c.lmtp
		pr.report(rep)
		if h := startTLSHint(rep, c); h != "" {
			pr.field("Hint", h)
		}
		if d != nil {
			pr.note(d.note())
		}
		if err := pr.err(); err != nil {
			fmt.Fprintln(sys.err, "smtpprobe:", err)
			return exitError
		}
	}
	return exitCode(rep)
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
