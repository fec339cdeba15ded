package exporter

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// defaultTimeout bounds a probe when neither the scrape nor the module
// gives a timeout.
const defaultTimeout = 10 * time.Second

// outcome is one probe: what was asked, what happened.
type outcome struct {
	module  string
	mod     *Module
	target  target
	timeout time.Duration
	start   time.Time
	dur     time.Duration
	dns     time.Duration // the lookup of the target's name; 0 for a literal
	rep     *scan.Report  // nil when the name did not resolve
	// errStage and errClass say why the probe failed ("" when it
	// succeeded); reason says it in a sentence.
	errStage scan.Stage
	errClass scan.ErrorClass
	reason   string
	banner   *bool // whether the greeting matched expect_banner; nil: no pattern or no greeting
}

func (o *outcome) success() bool { return o.reason == "" }

// classBannerMismatch is the error class of a greeting that does not
// match the module's expect_banner.
const classBannerMismatch scan.ErrorClass = "banner-mismatch"

// refuse answers a request that runs no probe, with a one-line reason.
func (e *Exporter) refuse(w http.ResponseWriter, code int, reason, msg string) {
	e.self.refused.WithLabelValues(reason).Inc()
	http.Error(w, oneLine(msg), code)
}

func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	conf := e.conf.Load()
	name := q.Get("module")
	mod := conf.Modules[name]
	switch {
	case name == "":
		e.refuse(w, http.StatusBadRequest, refusedBadRequest, "missing module parameter: want module=NAME")
		return
	case mod == nil:
		e.refuse(w, http.StatusBadRequest, refusedBadRequest, fmt.Sprintf("unknown module %q", name))
		return
	}
	t, err := parseTarget(q.Get("target"), mod.port())
	if err != nil {
		e.refuse(w, http.StatusBadRequest, refusedBadRequest, err.Error())
		return
	}
	allow := conf.AllowedTargets
	if allow != nil && (!allow.allowsPort(t.port) || len(allow.prefixes) == 0 && !allow.allowsName(t.host)) {
		e.refuse(w, http.StatusForbidden, refusedForbidden, fmt.Sprintf("target %s is not in allowed_targets", t))
		return
	}
	timeout, err := e.timeout(r, mod)
	if err != nil {
		e.refuse(w, http.StatusBadRequest, refusedBadRequest, err.Error())
		return
	}
	out, busy, err := e.bounded(r.Context(), name, mod, t, timeout, allow)
	switch {
	case busy:
		e.refuse(w, http.StatusServiceUnavailable, refusedOverload,
			fmt.Sprintf("%d probes in flight, the most this exporter runs at once: try again later", cap(e.sem)))
		return
	case err != nil:
		e.refuse(w, http.StatusForbidden, refusedForbidden, err.Error())
		return
	}
	e.self.probed(name, out.success(), out.dur)
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{d: e.descs, o: out})
	mfs, gatherErr := reg.Gather() // once, for the answer and the history
	e.log.Debug("probe", "module", name, "target", t.String(), "success", out.success(),
		"duration", out.dur, "reason", out.reason)
	debug := q.Get("debug") == "true"
	if debug || e.history.max > 0 {
		text := debugText(out, mfs, gatherErr)
		e.history.add(out, text)
		if debug {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(text))
			return
		}
	}
	if gatherErr != nil {
		http.Error(w, "the metrics did not gather: "+oneLine(gatherErr.Error()), http.StatusInternalServerError)
		return
	}
	format := expfmt.Negotiate(r.Header)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return // the scraper went away
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close()
	}
}

// bounded runs the probe if fewer than MaxConcurrent are in flight, and
// reports busy otherwise.
func (e *Exporter) bounded(ctx context.Context, name string, mod *Module, t target, timeout time.Duration, allow *AllowList) (out *outcome, busy bool, err error) {
	select {
	case e.sem <- struct{}{}:
	default:
		return nil, true, nil
	}
	e.self.inFlight.Inc()
	defer func() {
		e.self.inFlight.Dec()
		<-e.sem
	}()
	out, err = e.probe(ctx, name, mod, t, timeout, allow)
	return out, false, err
}

// timeout is the time the probe may take: the scrape's timeout less the
// offset, or the module's timeout, whichever is shorter.
func (e *Exporter) timeout(r *http.Request, mod *Module) (time.Duration, error) {
	d := mod.Timeout
	if d <= 0 {
		d = defaultTimeout
	}
	h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if h == "" {
		return d, nil
	}
	secs, err := strconv.ParseFloat(h, 64)
	if err != nil || secs <= 0 || secs > 1e6 {
		return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds %q: want a positive number of seconds", h)
	}
	scrape := time.Duration(secs * float64(time.Second))
	if scrape > e.offset {
		scrape -= e.offset
	}
	if mod.Timeout > 0 && mod.Timeout < scrape {
		return mod.Timeout, nil
	}
	return scrape, nil
}

// probe resolves the target, checks it against the allow-list and runs
// the session. Its error means the target was not allowed: no connection
// was opened.
func (e *Exporter) probe(ctx context.Context, name string, mod *Module, t target, timeout time.Duration, allow *AllowList) (*outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &outcome{module: name, mod: mod, target: t, timeout: timeout, start: time.Now()}
	defer func() { out.dur = time.Since(out.start) }()
	if !t.ip.IsValid() {
		if err := e.resolve(ctx, out); err != nil {
			if allow != nil && !allow.allowsName(t.host) {
				return nil, fmt.Errorf("target %s is not in allowed_targets (its name did not resolve: %v)", t, err)
			}
			class, _ := scan.Classify(err)
			out.errStage, out.errClass, out.reason = scan.StageResolve, class, "resolve: "+err.Error()
			return out, nil
		}
	}
	if allow != nil && !allow.allowsName(t.host) && !allow.allowsAddr(out.target.ip) {
		return nil, fmt.Errorf("target %s (%s) is not in allowed_targets", t, out.target.ip)
	}
	out.rep = scan.Run(ctx, mod.options(out.target))
	out.judge()
	return out, nil
}

// resolve looks up the target's name and picks the address to dial.
func (e *Exporter) resolve(ctx context.Context, out *outcome) error {
	start := time.Now()
	addrs, err := e.res.LookupNetIP(ctx, "ip", out.target.host)
	out.dns = time.Since(start)
	if err != nil {
		return err
	}
	m := out.mod
	ip, ok := pickAddr(addrs, m.PreferredIPProtocol != "ip4", m.IPProtocolFallback == nil || *m.IPProtocolFallback)
	if !ok {
		return fmt.Errorf("%s has no %s address", out.target.host, m.preferred())
	}
	out.target.ip = ip
	return nil
}

// judge sets the verdict from the report and the banner pattern.
func (o *outcome) judge() {
	rep := o.rep
	if rep.Error != nil {
		o.errStage, o.errClass, o.reason = rep.Error.Stage, rep.Error.Class, rep.Error.Error()
	}
	if o.mod.banner == nil || rep.Banner == nil {
		return
	}
	greeting := rep.Banner.String()
	ok := o.mod.banner.MatchString(greeting)
	o.banner = &ok
	if !ok && rep.Error == nil {
		o.errStage, o.errClass = scan.StageBanner, classBannerMismatch
		o.reason = fmt.Sprintf("banner: the greeting %q does not match expect_banner %q", greeting, o.mod.ExpectBanner)
	}
}

// port is the default port of the module's targets.
func (m *Module) port() int {
	switch {
	case m.Port > 0:
		return m.Port
	case m.TLS == "implicit":
		return 465
	case m.LMTP:
		return 24
	}
	return 25
}

func (m *Module) preferred() string {
	if m.PreferredIPProtocol == "ip4" {
		return "IPv4"
	}
	return "IPv6"
}

// options are the scan.Options of one probe of t, whose address is known.
func (m *Module) options(t target) scan.Options {
	o := scan.Options{
		Target:       t.addr(),
		ImplicitTLS:  m.TLS == "implicit",
		ExpectName:   m.ExpectName,
		CertWarnDays: m.CertWarnDays,
		QuitAfter:    scan.Stage(m.QuitAfter),
		Checks:       m.checks,
		CheckOptions: scan.CheckOptions{SmugglingRecipient: m.SmugglingTo},
		Envelope:     probe.Envelope{From: m.MailFrom, To: append([]string(nil), m.RcptTo...)},
		Dialer: probe.Dialer{
			NetDialer: &guardDialer{addr: t.addr()},
			LocalName: m.EHLO,
			LMTP:      m.LMTP,
			TLSConfig: m.tlsFor(t),
		},
	}
	switch {
	case m.TLS == "none":
		o.StartTLS = scan.StartTLSNever
	case m.StartTLS == "required":
		o.StartTLS = scan.StartTLSRequired
	}
	if s := m.StepTimeout; s > 0 {
		o.Dialer.Timeouts = probe.Timeouts{Connect: s, Greeting: s, Command: s, Handshake: s,
			Mail: s, Rcpt: s, DataInit: s, DataBlock: s, DataEnd: s}
	}
	if a := m.Auth; a != nil {
		o.Username, o.Password = a.Username, m.password
		o.AuthMechanism = strings.ToUpper(a.Mechanism)
		o.Dialer.AllowInsecureAuth = a.AllowPlaintext
	}
	return o
}

// tlsFor is the TLS configuration for t: the module's, with the target's
// name as the name to verify unless the module sets one (the session
// dials the address, not the name).
func (m *Module) tlsFor(t target) *tls.Config {
	var cfg *tls.Config
	if m.tlsConf != nil {
		cfg = m.tlsConf.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" && !t.hostIsIP() {
		cfg.ServerName = strings.TrimSuffix(t.host, ".")
	}
	if cfg.ServerName == "" && m.tlsConf == nil {
		return nil
	}
	return cfg
}

// hostIsIP reports a target named by an IP literal.
func (t target) hostIsIP() bool {
	_, err := netip.ParseAddr(t.host)
	return err == nil
}

// oneLine keeps the first line of s.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}
