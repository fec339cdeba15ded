package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// nagiosNames are the status words of the plugin exit codes.
var nagiosNames = [...]string{nagiosOK: "OK", nagiosWarning: "WARNING", nagiosCritical: "CRITICAL", nagiosUnknown: "UNKNOWN"}

// verdict collects the reasons for a status; the worst one wins.
type verdict struct {
	code    int
	reasons []string
}

func (v *verdict) add(code int, reason string) {
	v.code = max(v.code, code)
	v.reasons = append(v.reasons, reason)
}

// nagiosStatus judges a Report as a monitoring plugin does and returns the
// exit code and the status line:
//
//	SMTP OK - host:25 reached DATA in 0.042s, certificate 364 days, TLS 1.3 verified | connect=0.001s;;;0 … total=0.042s;2;5;0 cert_days=364;14:;7:;;
//
// CRITICAL: the probe failed, took longer than -crit, or the certificate
// has expired or expires within -cert-crit days. WARNING: it took longer
// than -warn, the certificate expires within -cert-warn days, or it did
// not verify and -insecure let the probe go on. UNKNOWN: the probe could
// not be attempted (bad flags, Options refused, interrupted).
func nagiosStatus(rep *scan.Report, c *config) (int, string) {
	var v verdict
	if e := rep.Error; e != nil {
		code := nagiosCritical
		if e.Stage == "" || e.Class == scan.ClassCanceled {
			code = nagiosUnknown
		}
		msg := ": " + cliText(e.Message)
		if e.Class == scan.ClassTLSUntrusted && rep.TLS != nil {
			msg = "" // judgeCert says what is wrong with the certificate
		}
		class := string(e.Class)
		if who := refusedBy(e); who != "" {
			class += "; " + who
		}
		v.add(code, fmt.Sprintf("%s failed (%s)%s", stageName(e.Stage), class, msg))
	} else {
		v.reasons = append(v.reasons, fmt.Sprintf("%s reached %s in %.3fs", rep.Target, stageName(rep.Stage), rep.Duration.Seconds()))
	}
	judgeTime(&v, rep.Duration, c)
	judgeCert(&v, rep.TLS, c)
	judgeChecks(&v, rep)
	return v.code, "SMTP " + nagiosNames[v.code] + " - " + nagiosText(strings.Join(v.reasons, ", ")) + " | " + perfdata(rep, c)
}

func judgeTime(v *verdict, d time.Duration, c *config) {
	switch {
	case c.crit > 0 && d > time.Duration(c.crit):
		v.add(nagiosCritical, fmt.Sprintf("took %.3fs, over the critical %ss", d.Seconds(), &c.crit))
	case c.warn > 0 && d > time.Duration(c.warn):
		v.add(nagiosWarning, fmt.Sprintf("took %.3fs, over the warning %ss", d.Seconds(), &c.warn))
	}
}

// judgeCert weighs the certificate: its days left against -cert-warn and
// -cert-crit, and its verification. A certificate that did not verify is
// a WARNING when -insecure let the probe go on (the run's failure is
// CRITICAL otherwise); an expiry already told is not told again.
func judgeCert(v *verdict, t *probe.TLSInfo, c *config) {
	if t == nil {
		return
	}
	days, ok := certDays(t)
	switch {
	case !ok:
	case days < 0:
		v.add(nagiosCritical, "certificate "+certDaysPhrase(days))
	case days < c.certCrit:
		v.add(nagiosCritical, "certificate "+certDaysPhrase(days))
	case days < c.certWarn:
		v.add(nagiosWarning, "certificate "+certDaysPhrase(days))
	default:
		v.reasons = append(v.reasons, "certificate "+plural(days, "day"))
	}
	if t.Verified {
		v.reasons = append(v.reasons, t.VersionName+" verified")
		return
	}
	code := nagiosCritical
	if t.InsecureSkipVerify {
		code = nagiosWarning
	}
	if problems := certProblems(t, ok && days < 0); len(problems) > 0 {
		v.add(code, "certificate not verified: "+strings.Join(problems, "; "))
	}
}

// judgeChecks weighs what the -checks found: a high or critical finding is
// CRITICAL, a medium one WARNING, a low or informational one only named;
// a check that could not finish is a WARNING.
func judgeChecks(v *verdict, rep *scan.Report) {
	for _, f := range rep.Findings {
		if f.Check == "" {
			continue
		}
		switch f.Severity {
		case scan.SeverityHigh, scan.SeverityCritical:
			v.add(nagiosCritical, string(f.ID)+": "+f.Summary)
		case scan.SeverityMedium:
			v.add(nagiosWarning, string(f.ID)+": "+f.Summary)
		default:
			v.reasons = append(v.reasons, string(f.ID)+" ("+string(f.Severity)+")")
		}
	}
	for _, c := range rep.Checks {
		if c.Status == scan.CheckError && c.Error != nil {
			v.add(nagiosWarning, "check "+string(c.ID)+" failed: "+cliText(c.Error.Message))
		}
	}
}

// certDays is the number of days left on the certificate of the chain
// that expires first.
func certDays(t *probe.TLSInfo) (int, bool) {
	if len(t.Chain) == 0 {
		return 0, false
	}
	days := t.Chain[0].DaysLeft
	for _, ci := range t.Chain[1:] {
		days = min(days, ci.DaysLeft)
	}
	return days, true
}

// perfdata is the performance data: each phase's time, the total time with
// the -warn/-crit thresholds, and the certificate's days with
// -cert-warn/-cert-crit ('label'=value[unit];warn;crit;min;max). The
// thresholds are ranges of the Monitoring Plugins guidelines: "2" alerts
// above 2 seconds, "14:" below 14 days.
func perfdata(rep *scan.Report, c *config) string {
	var fields []string
	for _, name := range [...]scan.Stage{scan.StageConnect, scan.StageBanner, scan.StageEhlo, scan.StageTLS,
		scan.StageAuth, scan.StageTransaction} {
		if ph := rep.Phase(name); ph != nil {
			fields = append(fields, fmt.Sprintf("%s=%.3fs;;;0", name, ph.Duration.Seconds()))
		}
	}
	fields = append(fields, fmt.Sprintf("total=%.3fs;%s;%s;0", rep.Duration.Seconds(), threshold(c.warn), threshold(c.crit)))
	if rep.TLS != nil {
		if days, ok := certDays(rep.TLS); ok {
			fields = append(fields, fmt.Sprintf("cert_days=%d;%d:;%d:;;", days, c.certWarn, c.certCrit))
		}
	}
	return strings.Join(fields, " ")
}

func threshold(s seconds) string {
	if s == 0 {
		return ""
	}
	return strconv.FormatFloat(time.Duration(s).Seconds(), 'f', -1, 64)
}

// nagiosText makes text fit the status line: one line, no "|" (which
// starts the perfdata), no control bytes.
func nagiosText(s string) string {
	s = strings.NewReplacer("|", "/", "\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return escapeControls(s)
}
