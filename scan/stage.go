package scan

// Stage names a step of a run. Run plays the stages from StageResolve to
// StageData in that order; Options.QuitAfter, Report.Stage and
// RunError.Stage take those nine. Report.Phases times each stage it plays,
// and with the last three constants the parts of a stage timed apart:
// the EHLO after STARTTLS, the mail transaction as a whole (MAIL, RCPT and
// DATA may leave in one write), and QUIT.
type Stage string

// The stages of a run, in the order Run plays them, then the names of the
// phases that time part of one.
const (
	StageResolve Stage = "resolve" // MX and address lookups (Options.MX only)
	StageConnect Stage = "connect" // TCP (and proxy) connect
	StageBanner  Stage = "banner"  // the 220 greeting
	StageEhlo    Stage = "ehlo"    // EHLO, or HELO when EHLO is refused
	StageTLS     Stage = "tls"     // STARTTLS and the handshake (or implicit TLS's), then EHLO again
	StageAuth    Stage = "auth"    // the whole AUTH exchange
	StageMail    Stage = "mail"    // MAIL FROM
	StageRcpt    Stage = "rcpt"    // RCPT TO, for each recipient
	StageData    Stage = "data"    // DATA or BDAT, up to the final reply

	StageEhloTLS     Stage = "ehlo_tls"    // phase: EHLO again after STARTTLS, part of StageTLS
	StageTransaction Stage = "transaction" // phase: MAIL, RCPT…, DATA or BDAT up to the final reply
	StageQuit        Stage = "quit"        // phase: QUIT and its reply
)

// order is the position of s among the stages Run plays, or -1.
func (s Stage) order() int {
	for i, x := range [...]Stage{StageResolve, StageConnect, StageBanner, StageEhlo, StageTLS,
		StageAuth, StageMail, StageRcpt, StageData} {
		if s == x {
			return i
		}
	}
	return -1
}
