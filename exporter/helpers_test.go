package exporter

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/smtpprobe/probe/internal/fakeserver"
)

// newExporter writes the module file yml (with {{.Dir}} standing for a
// temporary folder holding ca.pem when pki is set) and returns an
// Exporter on it.
func newExporter(t testing.TB, yml string, pki *fakeserver.PKI, o Options) *Exporter {
	t.Helper()
	dir := t.TempDir()
	if pki != nil {
		if err := pki.WriteCAFile(filepath.Join(dir, "ca.pem")); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "modules.yml")
	writeFile(t, path, strings.ReplaceAll(yml, "{{.Dir}}", dir))
	o.ConfigFile = path
	e, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// get serves one request on e and returns the recorder.
func get(t testing.TB, e http.Handler, url string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w
}

// scrape probes target with module and returns the metric families of
// the answer, failing unless it is 200.
func scrape(t testing.TB, e http.Handler, module, target string) map[string]*dto.MetricFamily {
	t.Helper()
	w := get(t, e, "/probe?module="+module+"&target="+target)
	if w.Code != http.StatusOK {
		t.Fatalf("/probe: %d %s", w.Code, w.Body)
	}
	return parse(t, w.Body)
}

func parse(t testing.TB, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the answer is not in the text format: %v", err)
	}
	return mfs
}

// compareGolden compares the named metrics of mfs with the golden file
// testdata/name.prom, a text/template filled with vars.
func compareGolden(t *testing.T, mfs map[string]*dto.MetricFamily, name string, vars any, metrics ...string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".prom"))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := template.Must(template.New(name).Parse(string(raw))).Execute(&want, vars); err != nil {
		t.Fatal(err)
	}
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		out := make([]*dto.MetricFamily, 0, len(mfs))
		for _, mf := range mfs {
			out = append(out, mf)
		}
		slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
		return out, nil
	})
	if err := testutil.GatherAndCompare(g, &want, metrics...); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// value returns the value of the one series of metric whose labels
// include the given pairs, and whether there is one.
func value(mfs map[string]*dto.MetricFamily, metric string, labels ...string) (float64, bool) {
	mf := mfs[metric]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}
