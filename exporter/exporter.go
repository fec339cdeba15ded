package exporter

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configures an Exporter. The zero value of each field but one of
// ConfigFile and Config is a sensible default.
type Options struct {
	// ConfigFile is the module file, read by New and again by Reload.
	ConfigFile string
	// Config is used instead of ConfigFile when that is empty (for
	// programs that build their modules in Go); Reload then fails.
	Config *Config
	// Getenv gives the environment for the modules' password_env; nil
	// means os.Getenv.
	Getenv func(string) string
	// TimeoutOffset is taken from the scrape's timeout
	// (X-Prometheus-Scrape-Timeout-Seconds) to leave time for the answer;
	// 0 means 0.5 s, negative none.
	TimeoutOffset time.Duration
	// MaxConcurrent bounds the probes in flight; a scrape beyond it is
	// answered 503 at once. 0 means 64.
	MaxConcurrent int
	// History is how many recent probes the page / keeps, with their
	// transcripts and reports; 0 means 100, negative none.
	History int
	// Logger gets one Debug line per probe, an Info line per reload and a
	// Warn line per failed reload; nil discards.
	Logger *slog.Logger
	// Resolver looks up the targets' names; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// Exporter is an http.Handler serving the probe endpoint and its pages:
//
//	GET  /probe?target=host:port&module=NAME[&debug=true]
//	                 one probe; its metrics in the Prometheus text format
//	                 (with debug=true, the transcript, report and metrics as text)
//	GET  /metrics    the exporter's own metrics (Go runtime, process, probes)
//	GET  /           the modules and the recent probes
//	GET  /logs?id=N  one recent probe: transcript, report and metrics
//	POST /-/reload   reload the module file (as SIGHUP does in smtpprobe serve)
//	GET  /-/healthy  200 while the handler serves
//
// It is safe for concurrent use.
type Exporter struct {
	opts    Options
	log     *slog.Logger
	conf    atomic.Pointer[Config]
	reload  sync.Mutex // one Reload at a time
	sem     chan struct{}
	history *history
	descs   *descs
	self    *selfMetrics
	mux     *http.ServeMux
	page    *template.Template
	offset  time.Duration
	res     resolver
}

// New loads the module file and returns the Exporter.
func New(o Options) (*Exporter, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	e := &Exporter{opts: o, log: o.Logger, descs: newDescs(), self: newSelfMetrics()}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.ConfigFile != "":
		c, err := LoadConfig(o.ConfigFile, o.Getenv)
		if err != nil {
			return nil, err
		}
		e.conf.Store(c)
	case o.Config != nil:
		if err := o.Config.prepare(o.Getenv); err != nil {
			return nil, err
		}
		e.conf.Store(o.Config)
	default:
		return nil, errors.New("exporter: Options need ConfigFile or Config")
	}
	e.self.reloaded(true)
	n := o.MaxConcurrent
	if n <= 0 {
		n = 64
	}
	e.sem = make(chan struct{}, n)
	e.history = newHistory(o.History)
	switch {
	case o.TimeoutOffset == 0:
		e.offset = 500 * time.Millisecond
	case o.TimeoutOffset > 0:
		e.offset = o.TimeoutOffset
	}
	e.res = net.DefaultResolver
	if o.Resolver != nil {
		e.res = o.Resolver
	}
	e.page = indexPage()
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("GET /probe", e.serveProbe)
	e.mux.Handle("GET /metrics", promhttp.HandlerFor(e.self.reg, promhttp.HandlerOpts{}))
	e.mux.HandleFunc("GET /{$}", e.serveIndex)
	e.mux.HandleFunc("GET /logs", e.serveLog)
	e.mux.HandleFunc("POST /-/reload", e.serveReload)
	e.mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	return e, nil
}

// prepare checks a Config built in Go, as ParseConfig checks a file.
func (c *Config) prepare(getenv func(string) string) error {
	if len(c.Modules) == 0 {
		return errors.New("exporter: no modules")
	}
	for name, m := range c.Modules {
		if m == nil {
			return fmt.Errorf("exporter: module %s is nil", name)
		}
		if err := m.prepare(getenv); err != nil {
			return fmt.Errorf("exporter: module %s: %w", name, err)
		}
	}
	if c.AllowedTargets != nil {
		if err := c.AllowedTargets.prepare(); err != nil {
			return fmt.Errorf("exporter: allowed_targets: %w", err)
		}
	}
	return nil
}

// ServeHTTP serves the endpoints listed on Exporter.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// Config returns the configuration in use. It must not be modified.
func (e *Exporter) Config() *Config { return e.conf.Load() }

// Gatherer returns the registry of the exporter's own metrics, for an
// agent that serves them on a /metrics of its own.
func (e *Exporter) Gatherer() prometheus.Gatherer { return e.self.reg }

// Reload reads the module file again. When it fails, the configuration in
// use stays, and the error says why; probes in flight keep the modules
// they started with.
func (e *Exporter) Reload() error {
	e.reload.Lock()
	defer e.reload.Unlock()
	if e.opts.ConfigFile == "" {
		return errors.New("exporter: no module file to reload")
	}
	c, err := LoadConfig(e.opts.ConfigFile, e.opts.Getenv)
	if err != nil {
		e.self.reloaded(false)
		e.log.Warn("reload failed; keeping the modules in use", "err", err)
		return err
	}
	e.conf.Store(c)
	e.self.reloaded(true)
	e.log.Info("module file reloaded", "file", e.opts.ConfigFile, "modules", len(c.Modules))
	return nil
}

func (e *Exporter) serveReload(w http.ResponseWriter, _ *http.Request) {
	if err := e.Reload(); err != nil {
		http.Error(w, "reload failed, the previous modules stay in use: "+oneLine(err.Error()), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "reloaded")
}

// WatchReload reloads on every value of sig (a channel that
// signal.Notify fills with SIGHUP, say) until ctx ends.
func (e *Exporter) WatchReload(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			_ = e.Reload() // logged, and kept in the reload metrics
		}
	}
}
