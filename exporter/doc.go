// Package exporter turns probe/scan into a Prometheus exporter that
// blackbox_exporter users can switch to: an http.Handler a monitoring
// agent embeds, or that "smtpprobe serve" runs.
//
// A scrape of /probe?target=host:port&module=NAME plays one scan.Run with
// the settings of the module NAME from a module file (see Config and
// Module), and answers with its metrics in the Prometheus text format,
// gathered from a registry made for that probe alone, as
// blackbox_exporter does. Where blackbox_exporter has a metric of the same
// meaning this package uses its name and labels (probe_success,
// probe_duration_seconds, probe_ssl_earliest_cert_expiry,
// probe_tls_version_info …), so dashboards and alerts carry over; the
// SMTP ones are named probe_smtp_* (phase durations with a phase label,
// reply codes, the stage reached, STARTTLS offered, AUTH result, findings,
// checks). README has the table.
//
//	modules:
//	  smtp_starttls:
//	    tls: starttls
//	    starttls: required
//	    ehlo: monitor.example.net
//	    timeout: 10s
//
//	e, err := exporter.New(exporter.Options{ConfigFile: "modules.yml"})
//	if err != nil { ... }
//	http.ListenAndServe("127.0.0.1:9125", e)
//
// A probe never outlives its scrape: it is bounded by the
// X-Prometheus-Scrape-Timeout-Seconds header less Options.TimeoutOffset,
// by the module's timeout, and by the request's context, so a scraper
// that goes away cancels its probe. At most Options.MaxConcurrent probes
// run at once; a scrape beyond that is answered 503 at once. A request
// with an unknown module or a malformed target is answered 400, a target
// outside the module file's allowed_targets 403, each with a one-line
// reason and without any connection.
//
// Credentials come from a file or the environment, never from the module
// file, and appear on no page and in no log: the library redacts them
// from transcripts and reports.
package exporter
