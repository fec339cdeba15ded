package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/smtpprobe/probe/exporter"
)

// serveConfig is what "smtpprobe serve" is asked for.
type serveConfig struct {
	config, listen, webConfig string
	offset                    time.Duration
	maxConcurrent, history    int
	debug                     bool
}

const serveUsage = `Usage:
  smtpprobe serve -config modules.yml [-web.listen-address 127.0.0.1:9125] [-web.config.file web.yml]

Runs a Prometheus exporter: GET /probe?target=host:port&module=NAME plays one
probe with the settings of module NAME from the module file and answers its
metrics; /metrics has the exporter's own, / the modules and the recent probes.
SIGHUP or POST /-/reload reloads the module file. The web configuration file
(Prometheus exporter-toolkit format) adds TLS and basic auth to the HTTP side.

Flags:
`

func parseServe(args []string, out io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("smtpprobe serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprint(out, serveUsage); fs.PrintDefaults() }
	fs.StringVar(&c.config, "config", "", "the module `file` (YAML)")
	fs.StringVar(&c.listen, "web.listen-address", "127.0.0.1:9125", "the `address` to listen on")
	fs.StringVar(&c.webConfig, "web.config.file", "", "exporter-toolkit web configuration `file`: TLS and basic auth")
	fs.DurationVar(&c.offset, "timeout-offset", 500*time.Millisecond, "taken from the scrape's timeout to leave time for the answer")
	fs.IntVar(&c.maxConcurrent, "max-concurrent", 64, "probes at a time; more are answered 503")
	fs.IntVar(&c.history, "history", 100, "recent probes kept for the page / (0: none)")
	fs.BoolVar(&c.debug, "debug", false, "log every probe")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("serve takes no arguments (got %q)", fs.Args())
	case c.config == "":
		return nil, errors.New("serve needs -config FILE, the module file")
	case c.maxConcurrent < 1:
		return nil, fmt.Errorf("-max-concurrent %d: want 1 or more", c.maxConcurrent)
	case c.offset < 0:
		return nil, fmt.Errorf("-timeout-offset %v: want 0 or more", c.offset)
	}
	if c.history == 0 {
		c.history = -1 // the exporter's "none"
	}
	if c.webConfig != "" {
		if err := web.Validate(c.webConfig); err != nil {
			return nil, fmt.Errorf("-web.config.file: %w", err)
		}
	}
	return c, nil
}

// serve is "smtpprobe serve": it runs until ctx ends (an interrupt).
func serve(ctx context.Context, args []string, sys stdio) int {
	c, err := parseServe(args, sys.err)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(sys.err, "smtpprobe serve: %v\nRun 'smtpprobe serve -h' for the flags.\n", err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		fmt.Fprintln(sys.err, "smtpprobe serve:", err)
		return exitError
	}
	return serveOn(ctx, ln, c, sys)
}

// serveOn serves the exporter on ln until ctx ends, reloading the module
// file on SIGHUP.
func serveOn(ctx context.Context, ln net.Listener, c *serveConfig, sys stdio) int {
	level := slog.LevelInfo
	if c.debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(sys.err, &slog.HandlerOptions{Level: level}))
	e, err := exporter.New(exporter.Options{ConfigFile: c.config, Getenv: sys.getenv, TimeoutOffset: c.offset,
		MaxConcurrent: c.maxConcurrent, History: c.history, Logger: logger})
	if err != nil {
		ln.Close()
		fmt.Fprintln(sys.err, "smtpprobe serve:", err)
		return exitUsage
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloads := make(chan struct{})
	go func() {
		defer close(reloads)
		e.WatchReload(ctx, hup)
	}()

	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	systemd := false
	addrs := []string{ln.Addr().String()}
	flags := &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &c.webConfig}
	served := make(chan error, 1)
	go func() { served <- web.Serve(ln, srv, flags, logger) }()
	code := exitOK
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(shutdown)
		cancel()
		<-served
	case err := <-served:
		fmt.Fprintln(sys.err, "smtpprobe serve:", err)
		code = exitError
	}
	stop()
	<-reloads
	return code
}
