package scan

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smtpprobe/probe"
)

// CheckID names an active check: one that sends what a correctly
// configured server must refuse, to prove that it does. Run performs the
// checks Options.Checks lists after its own session, each on connections
// of its own opened with the same Dialer, and adds their findings to
// Report.Findings; Report.Checks says how each went. The package doc's
// table says what each check sends and how it judges the replies.
type CheckID string

// The checks; see CheckID.
const (
	CheckOpenRelay         CheckID = "open-relay"
	CheckAuthPlaintext     CheckID = "auth-plaintext"
	CheckStartTLSInjection CheckID = "starttls-injection"
	CheckSMTPSmuggling     CheckID = "smtp-smuggling"
	CheckPipeliningGuard   CheckID = "pipelining-guard"
	CheckUserEnumeration   CheckID = "user-enumeration"
	CheckTLSVersions       CheckID = "tls-versions"
)

// The findings the checks make; see the package doc's table.
const (
	FindingOpenRelay             FindingID = "open-relay"
	FindingAuthPlaintextAccepted FindingID = "auth-plaintext-accepted"
	FindingStartTLSInjection     FindingID = "starttls-injection"
	FindingSMTPSmuggling         FindingID = "smtp-smuggling"
	FindingPregreetAccepted      FindingID = "pregreet-accepted"
	FindingUnsyncPipelining      FindingID = "unsync-pipelining-accepted"
	FindingUserEnumeration       FindingID = "user-enumeration"
	FindingTLSLegacyAccepted     FindingID = "tls-legacy-accepted"
)

// registeredCheck is a check and the method that performs it.
type registeredCheck struct {
	id  CheckID
	run func(*checker, context.Context) error
}

// checkRegistry lists every check in the order Run performs them.
func checkRegistry() []registeredCheck {
	return []registeredCheck{
		{CheckOpenRelay, (*checker).openRelay},
		{CheckAuthPlaintext, (*checker).authPlaintext},
		{CheckStartTLSInjection, (*checker).startTLSInjection},
		{CheckPipeliningGuard, (*checker).pipeliningGuard},
		{CheckUserEnumeration, (*checker).userEnumeration},
		{CheckTLSVersions, (*checker).tlsVersions},
		{CheckSMTPSmuggling, (*checker).smuggling},
	}
}

// AllChecks returns every check, in the order Run performs them.
func AllChecks() []CheckID {
	reg := checkRegistry()
	out := make([]CheckID, len(reg))
	for i, c := range reg {
		out[i] = c.id
	}
	return out
}

// ParseChecks parses a comma-separated list of check IDs ("open-relay,
// starttls-injection"), as a command line gives it. Case and spaces around
// the names do not matter; duplicates are dropped. "all" stands for every
// check that sends no message, that is all but smtp-smuggling, which must
// be named. An empty string gives no checks; an unknown name is an error
// that lists the known ones.
func ParseChecks(s string) ([]CheckID, error) {
	var out []CheckID
	add := func(id CheckID) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
		case name == "all":
			for _, id := range AllChecks() {
				if id != CheckSMTPSmuggling {
					add(id)
				}
			}
		case knownCheck(CheckID(name)):
			add(CheckID(name))
		default:
			return nil, fmt.Errorf("probe: unknown check %q (known: all, %s)", name, joinChecks(AllChecks()))
		}
	}
	return out, nil
}

func knownCheck(id CheckID) bool { return slices.Contains(AllChecks(), id) }

func joinChecks(ids []CheckID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}

// CheckOptions tunes the checks of Options.Checks. Its zero value works
// for every check but smtp-smuggling, which needs SmugglingRecipient.
type CheckOptions struct {
	// RelayDomain is the foreign domain open-relay tries to relay to:
	// example.net when empty (RFC 2606, never a real destination).
	RelayDomain string
	// LocalDomain is a domain the server receives mail for: the LOCAL of
	// the relay variants and the domain of the users user-enumeration
	// compares. Empty means Options.ExpectName, else the banner's domain,
	// else the EHLO domain.
	LocalDomain string
	// SmugglingRecipient receives the test messages of smtp-smuggling (and
	// the smuggled ones, on a vulnerable server). It must be set for that
	// check: pick a mailbox that stays on the server under test.
	SmugglingRecipient string
	// KnownUser is the local part user-enumeration expects to exist:
	// postmaster when empty (RFC 5321 §4.5.1). UnknownUser is the one it
	// expects not to exist: a random one when empty.
	KnownUser, UnknownUser string
	// Wait is how long a check waits for a reply that a safe server never
	// sends (starttls-injection, smtp-smuggling): 1 s when zero.
	Wait time.Duration
}

const (
	defaultRelayDomain = "example.net"
	defaultCheckWait   = time.Second
)

// CheckStatus says how a check went.
type CheckStatus string

// The statuses of a check.
const (
	CheckPassed  CheckStatus = "passed"  // it ran and found nothing
	CheckFound   CheckStatus = "found"   // it made at least one finding
	CheckSkipped CheckStatus = "skipped" // it did not apply (Detail says why)
	CheckError   CheckStatus = "error"   // it could not finish (Error says why)
)

// CheckResult reports one check of Options.Checks. Its findings are in
// Report.Findings; their evidence comes from Transcripts.
type CheckResult struct {
	ID     CheckID     `json:"id"`
	Status CheckStatus `json:"status"`
	// Detail says why a check was skipped, or what it could not test.
	Detail string `json:"detail,omitempty"`
	// Error is why the check stopped early; a check may have made
	// findings before it.
	Error *RunError `json:"error,omitempty"`
	// Findings counts the findings the check made.
	Findings int `json:"findings"`
	// Start is when the check began, from Report.Start; Duration how long
	// it took.
	Start    time.Duration `json:"start_offset_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Transcripts holds the transcript of each connection the check
	// opened, in order.
	Transcripts []*probe.Transcript `json:"transcripts,omitempty"`

	found []Finding
}

// checkChecks refuses check options that cannot work, before anything is
// sent.
func (o *Options) checkChecks() error {
	for _, id := range o.Checks {
		if !knownCheck(id) {
			return invalidOptions("unknown check %q (known: %s)", id, joinChecks(AllChecks()))
		}
	}
	co := &o.CheckOptions
	if slices.Contains(o.Checks, CheckSMTPSmuggling) {
		if co.SmugglingRecipient == "" {
			return invalidOptions("check %s sends messages: it needs CheckOptions.SmugglingRecipient", CheckSMTPSmuggling)
		}
		if err := probe.CheckAddress(co.SmugglingRecipient); err != nil {
			return invalidOptions("CheckOptions.SmugglingRecipient: %v", err)
		}
		if err := probe.CheckAddress(o.From); err != nil {
			return invalidOptions("From: %v", err)
		}
	}
	for _, f := range [...]struct{ name, v string }{
		{"RelayDomain", co.RelayDomain}, {"LocalDomain", co.LocalDomain},
		{"KnownUser", co.KnownUser}, {"UnknownUser", co.UnknownUser},
	} {
		if strings.ContainsAny(f.v, " <>\"\r\n\x00") {
			return invalidOptions("CheckOptions.%s %q holds a space, a quote, an angle bracket or a control character", f.name, f.v)
		}
	}
	if co.Wait < 0 {
		return invalidOptions("CheckOptions.Wait %v is negative", co.Wait)
	}
	return nil
}

// runChecks performs Options.Checks after the main session.
func (r *runner) runChecks(ctx context.Context) {
	if len(r.o.Checks) == 0 || (r.rep.Error != nil && r.rep.Error.Stage == "") {
		return
	}
	target, reached := r.checkTarget()
	for _, entry := range checkRegistry() {
		if !slices.Contains(r.o.Checks, entry.id) {
			continue
		}
		k := &checker{o: &r.o, rep: r.rep, target: target, res: &CheckResult{ID: entry.id}}
		start := time.Now()
		k.res.Start = start.Sub(r.start)
		if reached {
			k.protect(ctx, entry.run)
		} else {
			k.res.Status, k.res.Detail = CheckSkipped, "the main session did not reach the server's 220 greeting"
		}
		k.res.Duration = time.Since(start)
		r.rep.Checks = append(r.rep.Checks, *k.res)
	}
}

// checkTarget is where the main session was greeted, and whether it was.
func (r *runner) checkTarget() (candidate, bool) {
	if b := r.rep.Banner; b == nil || b.Code != 220 {
		return candidate{}, false
	}
	if !r.o.MX {
		return r.o.direct(), true
	}
	for i := len(r.rep.Attempts) - 1; i >= 0; i-- {
		if a := r.rep.Attempts[i]; a.Error == nil && a.Address != "" {
			return candidate{host: a.Host, addr: a.Address}, true
		}
	}
	return candidate{}, false
}

// checkFindings are the findings of the checks, in the order they ran.
func (r *runner) checkFindings() []Finding {
	var out []Finding
	for _, c := range r.rep.Checks {
		out = append(out, c.found...)
	}
	return out
}

// checker runs one check.
type checker struct {
	o      *Options
	rep    *Report // the main session's report: banner, capabilities
	target candidate
	res    *CheckResult
	conns  []*probe.Conn
}

// skip is returned by a check that does not apply.
type skip string

func (s skip) Error() string { return string(s) }

// protect runs a check, turns a panic into its error, closes its
// connections (with QUIT when they can take it) and sets its status.
func (k *checker) protect(ctx context.Context, run func(*checker, context.Context) error) {
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("probe: panic during check %s: %v", k.res.ID, p)
		}
		k.closeAll(ctx)
		k.conclude(err)
	}()
	err = run(k, ctx)
}

func (k *checker) closeAll(ctx context.Context) {
	for _, c := range k.conns {
		hangUp(ctx, c)
		k.res.Transcripts = append(k.res.Transcripts, c.Transcript())
	}
}

// hangUp ends a session: QUIT when it can take it, then close.
func hangUp(ctx context.Context, c *probe.Conn) {
	if c.Err() == nil {
		c.Quit(ctx)
	}
	c.Close()
}

func (k *checker) conclude(err error) {
	res := k.res
	res.Findings = len(res.found)
	var s skip
	switch {
	case errors.As(err, &s):
		res.Status, res.Detail = CheckSkipped, string(s)
	case err != nil:
		res.Error = newRunError("", err)
		res.Status = CheckError
	default:
		res.Status = CheckPassed
	}
	if len(res.found) > 0 {
		res.Status = CheckFound
	}
}

// find records a finding of the check.
func (k *checker) find(id FindingID, sev Severity, summary, ref string, ev []probe.Entry) {
	k.res.found = append(k.res.found, Finding{ID: id, Severity: sev, Summary: summary, Evidence: ev, Reference: ref, Check: k.res.ID})
}

// note adds to the check's Detail.
func (k *checker) note(s string) {
	if k.res.Detail != "" {
		k.res.Detail += "; "
	}
	k.res.Detail += s
}

// open connects to the target like the main session did (and does the
// implicit TLS handshake, with cfg, nil for the Dialer's) without reading
// anything more.
func (k *checker) open(ctx context.Context, cfg *tls.Config) (*probe.Conn, error) {
	c, err := k.o.connect(ctx, k.target)
	if err != nil {
		return nil, err
	}
	k.conns = append(k.conns, c)
	if k.o.ImplicitTLS {
		if _, err := c.Handshake(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// dial is open followed by the banner.
func (k *checker) dial(ctx context.Context) (*probe.Conn, error) {
	c, err := k.open(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := c.ReadBanner(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// session is dial and EHLO; with secure, STARTTLS by the policy of
// Options and EHLO again; with auth, AUTH when Options carry credentials.
func (k *checker) session(ctx context.Context, secure, auth bool) (*probe.Conn, error) {
	c, err := k.dial(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.Hello(ctx, ""); err != nil {
		return nil, err
	}
	if secure {
		started, err := applyStartTLSPolicy(ctx, c, k.o, func(ctx context.Context) error {
			_, err := c.StartTLS(ctx, nil)
			return err
		})
		if err != nil {
			return nil, err
		}
		if started {
			if _, err := c.Hello(ctx, ""); err != nil {
				return nil, err
			}
		}
	}
	if auth && (k.o.Username != "" || k.o.AuthMechanism != "") {
		o := *k.o
		o.SASL = nil
		plan, err := authCall(&o, c, k.target.host)
		if err != nil {
			return nil, err
		}
		if _, err := plan.run(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// localDomain is LOCAL of the table in CheckID, or "".
func (k *checker) localDomain() string {
	switch {
	case k.o.CheckOptions.LocalDomain != "":
		return k.o.CheckOptions.LocalDomain
	case k.o.ExpectName != "":
		return strings.TrimSuffix(k.o.ExpectName, ".")
	}
	var names []string
	if b := k.rep.Banner; b != nil && len(b.Lines) > 0 {
		names = append(names, firstWord(b.Lines[0]))
	}
	for _, caps := range [...]*probe.Capabilities{k.rep.Capabilities, k.rep.CapabilitiesTLS} {
		if caps != nil {
			names = append(names, caps.Domain)
		}
	}
	for _, n := range names {
		if n = strings.TrimSuffix(n, "."); looksLikeDomain(n) {
			return n
		}
	}
	return ""
}

// looksLikeDomain reports whether s can stand after the @ of an address:
// dotted, and without the bytes that would change the address.
func looksLikeDomain(s string) bool {
	return strings.Contains(s, ".") && probe.CheckAddress(s) == nil && !strings.ContainsAny(s, "@\"[]:%!")
}

func (k *checker) wait() time.Duration {
	if k.o.CheckOptions.Wait > 0 {
		return k.o.CheckOptions.Wait
	}
	return defaultCheckWait
}

// since returns the transcript entries of c from entry mark on.
func since(c *probe.Conn, mark int) []probe.Entry {
	entries := c.Transcript().Entries()
	return entries[min(mark, len(entries)):]
}

// randomLocalPart is a local part no server should know.
func randomLocalPart() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "probe-nouser-" + hex.EncodeToString(b)
}

// awaitReply waits up to wait for the server to begin a reply and reads
// it. It returns nil, nil when nothing arrived in time; the Conn then goes
// on as before.
func awaitReply(ctx context.Context, c *probe.Conn, wait time.Duration) (*probe.Reply, error) {
	if b, err := c.Pending(ctx, wait); len(b) == 0 {
		return nil, err
	}
	return c.ReadReply(ctx)
}
