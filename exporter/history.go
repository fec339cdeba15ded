package exporter

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// maxDebug bounds the text kept for one probe in the history.
const maxDebug = 64 << 10

// entry is one recent probe.
type entry struct {
	ID       uint64
	Time     time.Time
	Module   string
	Target   string
	Success  bool
	Duration time.Duration
	Reason   string
	text     string
}

// history is a bounded ring of recent probes.
type history struct {
	mu   sync.Mutex
	ring []entry
	max  int    // the ring's size, fixed
	next int    // where the next entry goes
	seq  uint64 // ids given so far
}

func newHistory(n int) *history {
	switch {
	case n == 0:
		n = 100
	case n < 0:
		n = 0
	}
	return &history{ring: make([]entry, 0, n), max: n}
}

func (h *history) add(o *outcome, text string) {
	if h.max == 0 {
		return
	}
	if len(text) > maxDebug {
		text = text[:maxDebug] + "\n[… cut at 64 KiB]\n"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e := entry{ID: h.seq, Time: o.start, Module: o.module, Target: o.target.String(),
		Success: o.success(), Duration: o.dur, Reason: o.reason, text: text}
	if len(h.ring) < h.max {
		h.ring = append(h.ring, e)
		return
	}
	h.ring[h.next] = e
	h.next = (h.next + 1) % len(h.ring)
}

// list returns the entries, newest first.
func (h *history) list() []entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]entry, 0, len(h.ring))
	out = append(append(out, h.ring[h.next:]...), h.ring[:h.next]...)
	slices.Reverse(out)
	return out
}

func (h *history) get(id uint64) (entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.ring {
		if e.ID == id {
			return e, true
		}
	}
	return entry{}, false
}

// debugText is what debug=true answers and the history keeps: the
// outcome, the transcript, the report as JSON and the metrics. The
// library redacts credentials from transcripts and reports.
func debugText(o *outcome, mfs []*dto.MetricFamily, gatherErr error) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Module: %s\nTarget: %s\n", o.module, o.target)
	if o.target.ip.IsValid() {
		fmt.Fprintf(&b, "Address: %s\n", o.target.addr())
	}
	fmt.Fprintf(&b, "Timeout: %v\nDuration: %v\n", o.timeout, o.dur.Round(time.Microsecond))
	if o.success() {
		b.WriteString("Result: success\n")
	} else {
		fmt.Fprintf(&b, "Result: failure: %s\n", o.reason)
	}
	if o.rep != nil {
		b.WriteString("\nTranscript:\n")
		if o.rep.Transcript != nil {
			_, _ = o.rep.Transcript.WriteTo(&b)
		}
		b.WriteString("\nReport:\n")
		j, err := json.MarshalIndent(o.rep, "", "  ")
		if err != nil {
			j = []byte("(the report did not marshal: " + err.Error() + ")")
		}
		b.Write(j)
		b.WriteString("\n")
	}
	b.WriteString("\nMetrics:\n")
	if gatherErr != nil {
		fmt.Fprintf(&b, "(gathering failed: %v)\n", gatherErr)
	}
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		_ = enc.Encode(mf)
	}
	return b.String()
}

func (e *Exporter) serveLog(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		http.Error(w, "want id=N, a probe listed on /", http.StatusBadRequest)
		return
	}
	ent, ok := e.history.get(id)
	if !ok {
		http.Error(w, "no probe "+strconv.FormatUint(id, 10)+" among the recent ones", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(ent.text))
}

// moduleRow is one module as the page shows it: no secret, no file path.
type moduleRow struct {
	Name, TLS, StartTLS, Auth, QuitAfter string
	Port                                 int
	Timeout                              time.Duration
	Checks                               []string
}

func (e *Exporter) serveIndex(w http.ResponseWriter, _ *http.Request) {
	conf := e.conf.Load()
	var mods []moduleRow
	for name, m := range conf.Modules {
		row := moduleRow{Name: name, TLS: m.TLS, StartTLS: m.StartTLS, Port: m.port(), QuitAfter: m.QuitAfter, Timeout: m.Timeout}
		if row.TLS == "" {
			row.TLS = "starttls"
		}
		if row.StartTLS == "" && row.TLS == "starttls" {
			row.StartTLS = "if-offered"
		}
		if m.Auth != nil {
			row.Auth = m.Auth.Username
			if m.Auth.Mechanism != "" {
				row.Auth += " (" + m.Auth.Mechanism + ")"
			}
		}
		for _, id := range m.checks {
			row.Checks = append(row.Checks, string(id))
		}
		mods = append(mods, row)
	}
	slices.SortFunc(mods, func(a, b moduleRow) int { return cmp.Compare(a.Name, b.Name) })
	data := struct {
		Modules []moduleRow
		Probes  []entry
		Allow   bool
	}{mods, e.history.list(), conf.AllowedTargets != nil}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b bytes.Buffer
	if err := e.page.Execute(&b, data); err != nil {
		http.Error(w, "the page did not render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b.Bytes())
}

func indexPage() *template.Template {
	return template.Must(template.New("index").Funcs(template.FuncMap{
		"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") },
		"secs":  func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) },
	}).Parse(indexHTML))
}

const indexHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>smtpprobe exporter</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}.fail{color:#a00}.ok{color:#070}</style>
</head><body>
<h1>smtpprobe exporter</h1>
<p><a href="/metrics">Metrics</a> · probe with <code>/probe?target=host:port&amp;module=NAME</code> (add <code>&amp;debug=true</code> for the transcript){{if .Allow}} · targets are limited by allowed_targets{{end}}</p>
<h2>Modules</h2>
<table><tr><th>Name</th><th>Port</th><th>TLS</th><th>STARTTLS</th><th>AUTH user</th><th>Quit after</th><th>Timeout</th><th>Checks</th></tr>
{{range .Modules}}<tr><td>{{.Name}}</td><td>{{.Port}}</td><td>{{.TLS}}</td><td>{{.StartTLS}}</td><td>{{.Auth}}</td><td>{{.QuitAfter}}</td><td>{{if .Timeout}}{{.Timeout}}{{end}}</td><td>{{range $i, $c := .Checks}}{{if $i}}, {{end}}{{$c}}{{end}}</td></tr>
{{end}}</table>
<h2>Recent probes</h2>
<table><tr><th>Time</th><th>Module</th><th>Target</th><th>Result</th><th>Seconds</th><th>Details</th></tr>
{{range .Probes}}<tr><td>{{stamp .Time}}</td><td>{{.Module}}</td><td>{{.Target}}</td><td>{{if .Success}}<span class="ok">success</span>{{else}}<span class="fail">failure</span>: {{.Reason}}{{end}}</td><td>{{secs .Duration}}</td><td><a href="logs?id={{.ID}}">transcript and report</a></td></tr>
{{else}}<tr><td colspan="6">none yet</td></tr>
{{end}}</table>
</body></html>
`
