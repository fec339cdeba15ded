package main

import (
	"fmt"
	"io"

	"github.com/smtpprobe/probe/scan"
)

// The exit codes of smtpprobe outside -nagios mode. They are part of the
// tool's interface: scripts test them, so they do not change.
const (
	exitOK      = 0  // every stage played succeeded
	exitError   = 1  // an error outside the probe: reading input, writing output, interrupted
	exitBatch   = 2  // batch mode: at least one target failed (its JSON line says why)
	exitUsage   = 3  // bad flags or arguments, nothing was sent; in batch mode also a list line that is no target
	exitFound   = 4  // the session passed, but a -checks check made a finding of medium severity or more
	exitResolve = 10 // the MX lookup failed (-mx), or the domain has a null MX
	exitConnect = 11 // TCP or proxy connect failed
	exitBanner  = 12 // no 220 greeting
	exitEHLO    = 13 // EHLO (and HELO) refused
	exitTLS     = 14 // STARTTLS unavailable with -starttls, handshake or certificate failed
	exitAuth    = 15 // AUTH failed or was impossible
	exitMail    = 16 // MAIL FROM refused
	exitRcpt    = 17 // no recipient accepted
	exitData    = 18 // DATA refused, or the message was refused at its end
)

// The exit codes of -nagios mode, as monitoring plugins use them.
const (
	nagiosOK       = 0
	nagiosWarning  = 1
	nagiosCritical = 2
	nagiosUnknown  = 3
)

// exitCodes is the table of exit codes shown by -h and kept in the README.
var exitCodes = [...]struct {
	code    int
	meaning string
}{
	{exitOK, "success: every stage played passed"},
	{exitError, "error outside the probe: reading input, writing output, interrupted"},
	{exitBatch, "batch mode (-targets): at least one target failed"},
	{exitUsage, "usage: bad flags or arguments, nothing sent; with -targets, a line that is no valid target (the others are probed)"},
	{exitFound, "the session passed, but a -checks check found a medium, high or critical problem"},
	{exitResolve, "resolve: MX lookup failed or null MX (-mx)"},
	{exitConnect, "connect: TCP or proxy connect failed"},
	{exitBanner, "banner: no 220 greeting"},
	{exitEHLO, "EHLO (and HELO) refused"},
	{exitTLS, "TLS: STARTTLS missing/refused with -starttls, handshake or certificate failed"},
	{exitAuth, "AUTH failed or impossible"},
	{exitMail, "MAIL FROM refused"},
	{exitRcpt, "RCPT TO: no recipient accepted"},
	{exitData, "DATA refused, or the message refused at its end"},
}

// writeExitCodes prints the table of exit codes.
func writeExitCodes(w io.Writer) {
	fmt.Fprintln(w, "Exit codes:")
	for _, e := range exitCodes {
		fmt.Fprintf(w, "  %3d  %s\n", e.code, e.meaning)
	}
	fmt.Fprintln(w, "  with -nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
	fmt.Fprintln(w, "  with -i: 0 last reply 2xx or 3xx, 4 a 4xx, 5 a 5xx (QUIT's aside); 1, 3, 11, 12, 14 as above")
}

// exitCode is the exit code of a finished probe: the failing stage, with
// every TLS failure counted as the TLS stage (implicit TLS fails while
// connecting); or, when the session passed, whether a check found a
// problem of medium severity or more.
func exitCode(rep *scan.Report) int {
	e := rep.Error
	if e == nil {
		for _, f := range rep.Findings {
			if f.Check != "" && f.Severity != scan.SeverityLow && f.Severity != scan.SeverityInfo {
				return exitFound
			}
		}
		return exitOK
	}
	switch e.Class {
	case scan.ClassTLSUntrusted, scan.ClassTLSHandshake, scan.ClassStartTLSUnavailable:
		return exitTLS
	case scan.ClassNullMX:
		return exitResolve
	case scan.ClassCanceled:
		return exitError
	}
	switch e.Stage {
	case scan.StageResolve:
		return exitResolve
	case scan.StageConnect:
		return exitConnect
	case scan.StageBanner:
		return exitBanner
	case scan.StageEhlo:
		return exitEHLO
	case scan.StageTLS:
		return exitTLS
	case scan.StageAuth:
		return exitAuth
	case scan.StageMail:
		return exitMail
	case scan.StageRcpt:
		return exitRcpt
	case scan.StageData:
		return exitData
	case "":
		return exitUsage // Options refused before anything was sent
	}
	return exitError
}
