package exporter

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"
)

// promSample is one element of an instant vector from Prometheus's API.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) value(t *testing.T) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("sample %v: %v", s.Value, err)
	}
	return v
}

// promQuery runs an instant query through /api/v1/query.
func promQuery(t *testing.T, client *http.Client, base, q string) []promSample {
	t.Helper()
	resp, err := client.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" || r.Data.ResultType != "vector" {
		t.Fatalf("query %s: %v %s %s", q, err, r.Status, body)
	}
	return r.Data.Result
}

// TestIntegrationPrometheus asks the Prometheus that .ci/prom-up started
// (scraping "smtpprobe serve" with blackbox-style relabelling) what it
// recorded for the three targets: Postfix with STARTTLS, a server whose
// certificate has expired, and a closed port.
func TestIntegrationPrometheus(t *testing.T) {
	base := os.Getenv("PROBE_PROMETHEUS_URL")
	good, expired, closed := os.Getenv("PROBE_PROM_GOOD"), os.Getenv("PROBE_PROM_EXPIRED"), os.Getenv("PROBE_PROM_CLOSED")
	if base == "" || good == "" || expired == "" || closed == "" {
		t.Skip("no Prometheus: run .ci/prom-up and . testdata/prom/run/env (PROBE_PROMETHEUS_URL)")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	sel := func(metric, instance string) string {
		return fmt.Sprintf(`%s{job="smtp",instance=%q}`, metric, instance)
	}

	// A few scrape intervals: every target has been probed at least twice.
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := promQuery(t, client, base, `count_over_time(probe_success{job="smtp"}[1m]) >= 2`)
		if len(n) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s, %d of the 3 targets have two scrapes: %+v", len(n), n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, tc := range []struct {
		instance string
		want     float64
	}{{good, 1}, {expired, 0}, {closed, 0}} {
		got := promQuery(t, client, base, sel("probe_success", tc.instance))
		if len(got) != 1 || got[0].value(t) != tc.want {
			t.Errorf("probe_success for %s: %+v, want %v", tc.instance, got, tc.want)
		}
		if up := promQuery(t, client, base, sel("up", tc.instance)); len(up) != 1 || up[0].value(t) != 1 {
			t.Errorf("up for %s: %+v: the exporter must answer even when the probe fails", tc.instance, up)
		}
	}

	phases := map[string]bool{}
	for _, s := range promQuery(t, client, base, sel("probe_smtp_phase_duration_seconds", good)) {
		if s.value(t) <= 0 {
			t.Errorf("phase %s took %v", s.Metric["phase"], s.value(t))
		}
		phases[s.Metric["phase"]] = true
	}
	for _, p := range []string{"connect", "banner", "ehlo", "tls", "ehlo_tls", "quit"} {
		if !phases[p] {
			t.Errorf("no probe_smtp_phase_duration_seconds{phase=%q} for %s (have %v)", p, good, phases)
		}
	}
	if v := promQuery(t, client, base, sel("probe_smtp_starttls_offered", good)); len(v) != 1 || v[0].value(t) != 1 {
		t.Errorf("probe_smtp_starttls_offered for %s: %+v", good, v)
	}

	left := promQuery(t, client, base, sel("probe_ssl_earliest_cert_expiry", expired)+" - time()")
	if len(left) != 1 || left[0].value(t) >= 0 {
		t.Errorf("probe_ssl_earliest_cert_expiry - time() for %s: %+v, want a certificate expired in the past", expired, left)
	}
	if v := promQuery(t, client, base, sel("probe_ssl_earliest_cert_expiry", good)+" - time()"); len(v) != 1 || v[0].value(t) <= 0 {
		t.Errorf("probe_ssl_earliest_cert_expiry - time() for %s: %+v, want the future", good, v)
	}
	if v := promQuery(t, client, base, sel("probe_smtp_error_info", closed)); len(v) != 1 || v[0].Metric["class"] != "connection-refused" {
		t.Errorf("probe_smtp_error_info for %s: %+v", closed, v)
	}
	// The exporter's own metrics, scraped as a job of their own, catch up
	// with the probes (two per target at least) within a scrape or two.
	for own := `sum by (result) (smtpprobe_exporter_probes_total{job="smtpprobe_exporter",module="smtp_starttls"})`; ; {
		v := promQuery(t, client, base, own)
		byResult := map[string]float64{}
		for _, s := range v {
			byResult[s.Metric["result"]] = s.value(t)
		}
		if byResult["success"] >= 2 && byResult["failure"] >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exporter's own probes_total by result: %v", byResult)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
