package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
	"golang.org/x/term"
)

// terminal is implemented by writers that know whether they are a
// terminal; tests use it to stand in for one.
type terminal interface {
	IsTerminal() bool
}

// isTerminal reports whether w is a terminal, as golang.org/x/term tells
// for a file (/dev/null, a character device, is none), or a writer that
// says it is one.
func isTerminal(w io.Writer) bool {
	if t, ok := w.(terminal); ok {
		return t.IsTerminal()
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// useColour reports whether output to w is coloured: only on a terminal,
// and never when NO_COLOR is set (https://no-color.org) or TERM is dumb.
func useColour(w io.Writer, getenv func(string) string) bool {
	return isTerminal(w) && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// ANSI styles.
const (
	styleReset  = "\x1b[0m"
	styleBold   = "\x1b[1m"
	styleDim    = "\x1b[2m"
	styleRed    = "\x1b[31m"
	styleGreen  = "\x1b[32m"
	styleYellow = "\x1b[33m"
	styleCyan   = "\x1b[36m"
)

// tlsMark prefixes transcript lines that travelled inside TLS; plaintext
// lines get as many spaces, so that the S:/C: columns line up.
const tlsMark = "[tls] "

// printer writes the human rendering of a Report, keeping the first write
// error.
type printer struct {
	w       io.Writer
	colour  bool
	timings bool // each transcript line with its offset (-timings)
	lmtp    bool // a final reply per recipient (-lmtp)
	werr    error
}

func newPrinter(w io.Writer, colour bool) *printer { return &printer{w: w, colour: colour} }

func (p *printer) err() error { return p.werr }

// style wraps s in an ANSI style when colour is on.
func (p *printer) style(style, s string) string {
	if !p.colour || s == "" {
		return s
	}
	return style + s + styleReset
}

func (p *printer) printf(format string, args ...any) {
	if p.werr == nil {
		_, p.werr = fmt.Fprintf(p.w, format, args...)
	}
}

// note writes a remark of the tool itself, after a blank line.
func (p *printer) note(s string) { p.printf("\n%s\n", p.style(styleBold, s)) }

// report writes the transcript, then the summary.
func (p *printer) report(rep *scan.Report) {
	p.transcript(rep.Transcript)
	p.printf("\n")
	p.summary(rep)
}

// transcript writes every entry, "[tls] " before those inside TLS.
func (p *printer) transcript(t *probe.Transcript) {
	if t == nil {
		return
	}
	for _, e := range t.Entries() {
		p.entry(e, "")
	}
}

// entry writes one transcript entry with its mark, and after it extra,
// which must hold no control bytes.
func (p *printer) entry(e probe.Entry, extra string) {
	p.printf("%s%s%s%s\n", p.offset(e), p.mark(e.TLS), p.entryText(e), extra)
}

// offset is the entry's time since the connect, with -timings.
func (p *printer) offset(e probe.Entry) string {
	if !p.timings {
		return ""
	}
	return p.style(styleDim, fmt.Sprintf("%9.3fs ", e.Offset.Seconds()))
}

// mark is "[tls] " for a line inside TLS, as many spaces otherwise.
func (p *printer) mark(inTLS bool) string {
	if inTLS {
		return p.style(styleGreen, tlsMark)
	}
	return strings.Repeat(" ", len(tlsMark))
}

// entryText renders an entry, styled by who wrote it.
func (p *printer) entryText(e probe.Entry) string {
	line := e.String() // control bytes escaped: a server cannot drive the terminal
	switch e.Kind {
	case probe.Sent:
		return p.style(styleCyan, line)
	case probe.Note:
		return p.style(styleYellow, cliText(line))
	}
	return line
}

// field writes one summary line.
func (p *printer) field(name, value string) {
	p.printf("%s %s\n", p.style(styleBold, fmt.Sprintf("%-10s", name+":")), value)
}

// summary writes the outcome in a few lines.
func (p *printer) summary(rep *scan.Report) {
	target := rep.Target
	if rep.Address != "" && rep.Address != rep.Target {
		target += " (" + rep.Address + ")"
	}
	p.field("Target", escapeControls(target))
	if len(rep.MX) > 0 {
		var hosts []string
		for _, mx := range rep.MX {
			hosts = append(hosts, fmt.Sprintf("%s (%d)", mx.Host, mx.Preference))
		}
		p.field("MX", escapeControls(strings.Join(hosts, ", "))+fmt.Sprintf("; %d attempts", len(rep.Attempts)))
	}
	p.field("Result", p.result(rep))
	if tls := p.tlsLine(rep); tls != "" {
		p.field("TLS", tls)
	}
	if a := rep.Auth; a != nil {
		p.field("Auth", authLine(a))
	}
	for _, rc := range rep.Recipients {
		state := p.style(styleGreen, "accepted")
		if !rc.Accepted() {
			state = p.style(styleRed, "refused")
		}
		line := fmt.Sprintf("<%s> %s %s", escapeControls(rc.Address), state, oneLine(rc.Rcpt))
		if p.lmtp && rc.Final != nil {
			line += "; final: " + oneLine(rc.Final)
		}
		p.field("Recipient", line)
	}
	if caps := rep.Capabilities; caps != nil && rep.Stage == scan.StageEhlo && rep.Error == nil {
		p.field("EHLO", capsLine(caps))
	}
	if rep.QueueID != "" {
		p.field("Queue ID", escapeControls(rep.QueueID))
	}
	p.findings(rep.Findings)
	p.checks(rep.Checks)
	if e := rep.Error; e != nil {
		where := fmt.Sprintf("%s at %s", e.Class, stageName(e.Stage))
		if who := refusedBy(e); who != "" {
			where += " (" + who + ")"
		}
		p.field("Error", p.style(styleRed, where+": "+escapeControls(cliText(e.Message))))
	}
}

func (p *printer) result(rep *scan.Report) string {
	took := rep.Duration.Round(time.Millisecond)
	if rep.Error != nil {
		return p.style(styleRed, fmt.Sprintf("FAILED at %s", stageName(rep.Error.Stage))) +
			fmt.Sprintf(" after %s (exit %d)", took, exitCode(rep))
	}
	return p.style(styleGreen, "OK") + fmt.Sprintf(", reached %s in %s", stageName(rep.Stage), took)
}

// tlsLine is the TLS verdict in one line; "" when no session took place
// to have one (nothing connected, or no greeting was read).
func (p *printer) tlsLine(rep *scan.Report) string {
	switch {
	case rep.TLS == nil && rep.Error != nil && rep.Error.Stage == scan.StageTLS:
		return p.style(styleRed, "not established (see Error)")
	case rep.TLS == nil && rep.Banner == nil:
		return ""
	}
	return p.tlsSummary(rep.TLS)
}

// tlsSummary is the TLS verdict in one line; nil is a plaintext session.
func (p *printer) tlsSummary(t *probe.TLSInfo) string {
	if t == nil {
		return p.style(styleYellow, "none: the session was in plaintext")
	}
	s := t.VersionName + " " + t.CipherSuiteName
	expiryTold := false
	if len(t.Chain) > 0 {
		leaf := t.Chain[0]
		s += fmt.Sprintf(", certificate %s, valid until %s (%s)",
			escapeControls(leaf.Subject), leaf.NotAfter.UTC().Format(time.DateOnly), certDaysPhrase(leaf.DaysLeft))
		expiryTold = leaf.DaysLeft < 0
	}
	problems := certProblems(t, expiryTold)
	verdict := "NOT verified"
	if t.InsecureSkipVerify {
		verdict += " (-insecure)"
	}
	if len(problems) > 0 {
		verdict += ": " + escapeControls(strings.Join(problems, "; "))
	}
	if t.Verified {
		return s + ", " + p.style(styleGreen, "verified for "+t.VerifyName)
	}
	return s + ", " + p.style(styleRed, verdict)
}

// capsLine lists what EHLO announced: its keywords with their parameters.
func capsLine(caps *probe.Capabilities) string {
	var parts []string
	for _, x := range caps.Extensions {
		parts = append(parts, strings.TrimSpace(x.Keyword+" "+strings.Join(x.Params, " ")))
	}
	if len(parts) == 0 {
		return "no extensions"
	}
	return escapeControls(strings.Join(parts, ", "))
}

func authLine(a *scan.AuthResult) string {
	state := "refused"
	if a.Success {
		state = "accepted"
	}
	return strings.TrimSpace(fmt.Sprintf("%s %s %s", a.Mechanism, state, oneLine(a.Reply)))
}

// findings writes each finding with its severity, or "none".
func (p *printer) findings(fs []scan.Finding) {
	if len(fs) == 0 {
		p.field("Findings", "none")
		return
	}
	for i, f := range fs {
		name := ""
		if i == 0 {
			name = "Findings"
		}
		sev := p.style(severityStyle(f.Severity), "["+string(f.Severity)+"]")
		p.printf("%s %s %s: %s\n", p.style(styleBold, fmt.Sprintf("%-10s", name+sep(name))), sev, f.ID, escapeControls(f.Summary))
	}
}

// checks writes how each -checks check went, on one line.
func (p *printer) checks(results []scan.CheckResult) {
	if len(results) == 0 {
		return
	}
	var parts []string
	for _, r := range results {
		s := string(r.ID) + " "
		switch r.Status {
		case scan.CheckPassed:
			s += p.style(styleGreen, string(r.Status))
		case scan.CheckFound:
			s += p.style(styleRed, fmt.Sprintf("found %d", r.Findings))
		case scan.CheckError:
			s += p.style(styleYellow, "error: "+escapeControls(cliText(r.Error.Message)))
		default:
			s += p.style(styleDim, string(r.Status))
		}
		if r.Detail != "" {
			s += " (" + escapeControls(cliText(r.Detail)) + ")"
		}
		parts = append(parts, s)
	}
	p.field("Checks", strings.Join(parts, ", "))
}

func sep(name string) string {
	if name == "" {
		return ""
	}
	return ":"
}

func severityStyle(s scan.Severity) string {
	switch s {
	case scan.SeverityHigh, scan.SeverityCritical:
		return styleRed
	case scan.SeverityMedium:
		return styleYellow
	}
	return styleDim
}

// oneLine is a reply on one line, its lines joined and control bytes
// escaped, or "".
func oneLine(r *probe.Reply) string {
	if r == nil {
		return ""
	}
	return escapeControls(strings.ReplaceAll(r.String(), "\n", " / "))
}

// escapeControls replaces control bytes, which a server could use to
// drive the terminal, by \xNN.
func escapeControls(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			fmt.Fprintf(&b, `\x%02x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// stageName names a stage for people: "EHLO", "TLS", "RCPT" …
func stageName(s scan.Stage) string {
	switch s {
	case "":
		return "start"
	case scan.StageEhlo, scan.StageTLS, scan.StageAuth, scan.StageMail, scan.StageRcpt, scan.StageData:
		return strings.ToUpper(string(s))
	}
	return string(s)
}
