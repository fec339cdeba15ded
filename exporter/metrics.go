package exporter

import (
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtpprobe/probe"
	"github.com/smtpprobe/probe/scan"
)

// descs describe the metrics of one probe; README's metric table lists
// them with their labels.
type descs struct {
	success, duration, timeout, dnsLookup, ipProtocol *prometheus.Desc

	sslEarliest, sslLastChainExpiry, sslLastChainInfo, tlsVersion, tlsCipher *prometheus.Desc

	phaseDuration, phaseReply, stageReached, errorInfo *prometheus.Desc
	startTLSOffered, tlsVerified, authSuccess          *prometheus.Desc
	findings, checkStatus, bannerMatch                 *prometheus.Desc
}

func newDescs() *descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &descs{
		success:    d("probe_success", "Whether the probe succeeded (1) or not (0)."),
		duration:   d("probe_duration_seconds", "How long the probe took, lookup included, in seconds."),
		timeout:    d("probe_timeout_seconds", "The time the probe was allowed, in seconds."),
		dnsLookup:  d("probe_dns_lookup_time_seconds", "How long the lookup of the target's name took, in seconds."),
		ipProtocol: d("probe_ip_protocol", "The IP version of the address probed: 4 or 6."),

		sslEarliest:        d("probe_ssl_earliest_cert_expiry", "The earliest expiry of the certificates the server presented, in seconds since the epoch."),
		sslLastChainExpiry: d("probe_ssl_last_chain_expiry_timestamp_seconds", "The latest expiry among the verified chains (each chain expiring with its earliest certificate), in seconds since the epoch."),
		sslLastChainInfo: d("probe_ssl_last_chain_info", "The leaf certificate the server presented.",
			"fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber"),
		tlsVersion: d("probe_tls_version_info", "The TLS version negotiated.", "version"),
		tlsCipher:  d("probe_tls_cipher_info", "The TLS cipher suite negotiated.", "cipher"),

		phaseDuration: d("probe_smtp_phase_duration_seconds", "How long each phase of the SMTP session took, in seconds.", "phase"),
		phaseReply:    d("probe_smtp_phase_reply_code", "The server's last reply code in each phase.", "phase"),
		stageReached:  d("probe_smtp_stage_reached_info", "The last stage of the session that completed (none before the connection).", "stage"),
		errorInfo:     d("probe_smtp_error_info", "Why the probe failed: the stage and the class of the error.", "stage", "class"),

		startTLSOffered: d("probe_smtp_starttls_offered", "Whether the plaintext EHLO offered STARTTLS (1) or not (0)."),
		tlsVerified:     d("probe_smtp_tls_verified", "Whether the certificate verified: trusted, valid for the name, in its dates (1) or not (0)."),
		authSuccess:     d("probe_smtp_auth_success", "Whether the server accepted the credentials (1) or not (0).", "mechanism"),
		findings:        d("probe_smtp_findings", "Findings of the session and its checks, by id and severity.", "id", "severity"),
		checkStatus:     d("probe_smtp_check_status", "How each active check went: 1 for its status, 0 for the others.", "check", "status"),
		bannerMatch:     d("probe_smtp_banner_matched", "Whether the greeting matched the module's expect_banner (1) or not (0)."),
	}
}

// collector yields the metrics of one outcome. It lives in the registry of
// one probe.
type collector struct {
	d *descs
	o *outcome
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.d
	for _, x := range [...]*prometheus.Desc{d.success, d.duration, d.timeout, d.dnsLookup, d.ipProtocol,
		d.sslEarliest, d.sslLastChainExpiry, d.sslLastChainInfo, d.tlsVersion, d.tlsCipher,
		d.phaseDuration, d.phaseReply, d.stageReached, d.errorInfo,
		d.startTLSOffered, d.tlsVerified, d.authSuccess, d.findings, d.checkStatus, d.bannerMatch} {
		ch <- x
	}
}

// emit sends one gauge; label values are made valid UTF-8 and bounded.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	for i, l := range labels {
		labels[i] = labelValue(l)
	}
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// maxLabel bounds a label value taken from what a server sent.
const maxLabel = 512

func labelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxLabel {
		s = s[:maxLabel]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d, o := c.d, c.o
	emit(ch, d.success, bool01(o.success()))
	emit(ch, d.duration, o.dur.Seconds())
	emit(ch, d.timeout, o.timeout.Seconds())
	emit(ch, d.dnsLookup, o.dns.Seconds())
	if ip := o.target.ip; ip.IsValid() {
		version := 6.0
		if ip.Unmap().Is4() {
			version = 4
		}
		emit(ch, d.ipProtocol, version)
	}
	if o.errStage != "" || o.errClass != "" {
		emit(ch, d.errorInfo, 1, string(o.errStage), string(o.errClass))
	}
	if o.banner != nil {
		emit(ch, d.bannerMatch, bool01(*o.banner))
	}
	if o.rep == nil {
		emit(ch, d.stageReached, 1, "none")
		return
	}
	c.session(ch, o.rep)
	if o.rep.TLS != nil {
		c.tls(ch, o.rep.TLS)
	}
	c.findings(ch, o.rep)
}

// session emits the phases, the stage and what the server offered.
func (c *collector) session(ch chan<- prometheus.Metric, rep *scan.Report) {
	d := c.d
	stage := string(rep.Stage)
	if stage == "" {
		stage = "none"
	}
	emit(ch, d.stageReached, 1, stage)
	var order []scan.Stage
	took := map[scan.Stage]time.Duration{}
	code := map[scan.Stage]int{}
	for _, p := range rep.Phases {
		if _, seen := took[p.Name]; !seen {
			order = append(order, p.Name)
		}
		took[p.Name] += p.Duration
		if p.Reply != nil {
			code[p.Name] = p.Reply.Code
		}
	}
	// A completed EHLO was answered 250: its reply lives in Capabilities.
	if rep.Capabilities != nil && code[scan.StageEhlo] == 0 {
		code[scan.StageEhlo] = 250
	}
	if rep.CapabilitiesTLS != nil && code[scan.StageEhloTLS] == 0 {
		code[scan.StageEhloTLS] = 250
	}
	// STARTTLS that led to a handshake was answered 220 (implicit TLS has
	// no reply).
	if p := rep.Phase(scan.StageTLS); p != nil && !rep.ImplicitTLS && rep.TLS != nil && code[scan.StageTLS] == 0 {
		code[scan.StageTLS] = 220
	}
	for _, name := range order {
		emit(ch, d.phaseDuration, took[name].Seconds(), string(name))
		if code[name] != 0 {
			emit(ch, d.phaseReply, float64(code[name]), string(name))
		}
	}
	if rep.Capabilities != nil && !rep.ImplicitTLS {
		emit(ch, d.startTLSOffered, bool01(rep.Capabilities.StartTLS))
	}
	if rep.Auth != nil {
		emit(ch, d.authSuccess, bool01(rep.Auth.Success), rep.Auth.Mechanism)
	}
}

// tls emits what blackbox_exporter's probers say about TLS, and whether
// the certificate verified.
func (c *collector) tls(ch chan<- prometheus.Metric, info *probe.TLSInfo) {
	d := c.d
	emit(ch, d.tlsVerified, bool01(info.Verified))
	if info.VersionName != "" {
		emit(ch, d.tlsVersion, 1, info.VersionName)
	}
	if info.CipherSuiteName != "" {
		emit(ch, d.tlsCipher, 1, info.CipherSuiteName)
	}
	if len(info.Chain) == 0 {
		return
	}
	earliest := info.Chain[0].NotAfter
	for _, cert := range info.Chain[1:] {
		if cert.NotAfter.Before(earliest) {
			earliest = cert.NotAfter
		}
	}
	emit(ch, d.sslEarliest, float64(earliest.Unix()))
	var last time.Time
	for _, chain := range info.State.VerifiedChains {
		var end time.Time
		for _, cert := range chain {
			if end.IsZero() || cert.NotAfter.Before(end) {
				end = cert.NotAfter
			}
		}
		if end.After(last) {
			last = end
		}
	}
	if !last.IsZero() {
		emit(ch, d.sslLastChainExpiry, float64(last.Unix()))
	}
	leaf := info.Chain[0]
	serial := leaf.Serial
	if certs := info.State.PeerCertificates; len(certs) > 0 && certs[0].SerialNumber != nil {
		serial = hex.EncodeToString(certs[0].SerialNumber.Bytes()) // blackbox's form: whole bytes
	}
	emit(ch, d.sslLastChainInfo, 1, leaf.SHA256, leaf.Subject, leaf.Issuer, strings.Join(leaf.DNSNames, ","), serial)
}

// findings emits the findings by id and severity, and each check's status.
func (c *collector) findings(ch chan<- prometheus.Metric, rep *scan.Report) {
	d := c.d
	type key struct {
		id  scan.FindingID
		sev scan.Severity
	}
	var order []key
	count := map[key]int{}
	for _, f := range rep.Findings {
		k := key{f.ID, f.Severity}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	for _, k := range order {
		emit(ch, d.findings, float64(count[k]), string(k.id), string(k.sev))
	}
	for _, res := range rep.Checks {
		for _, s := range [...]scan.CheckStatus{scan.CheckPassed, scan.CheckFound, scan.CheckSkipped, scan.CheckError} {
			emit(ch, d.checkStatus, bool01(res.Status == s), string(res.ID), string(s))
		}
	}
}
