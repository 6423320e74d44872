// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-dev/vigil/driver"
)

// TestRunWebServer runs vigil run configured by a file (rules, driver,
// web server on a free loopback port), reads a marker file under the
// probe, and checks what /metrics, /healthz and /versions say of it.
func TestRunWebServer(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "web-marker")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	const rule = "Web test marker read"
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(fmt.Sprintf(`- rule: %s
  desc: the web server test reads its marker
  condition: evt.type in (open, openat, openat2) and fd.name = %s
  output: marker read (proc.name=%%proc.name file=%%fd.name)
  priority: WARNING
  tags: [test, web]
`, rule, marker)), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`rules_files: [%s]
driver: {kind: bpf}
webserver: {enabled: true, listen_port: %d}
`, rulesFile, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startRun(t, "--config", cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	// Ready once an event went through: the probe sees plenty.
	var status int
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if status, body = get(t, base+"/healthz"); status == http.StatusOK {
			break
		}
	}
	if status != http.StatusOK {
		t.Fatalf("/healthz: %d %s", status, body)
	}

	before := scrape(t, base)
	for range 3 {
		if out, err := exec.Command("cat", marker).CombinedOutput(); err != nil {
			t.Fatalf("cat: %v: %s", err, out)
		}
	}
	d.wait(t, rule, nil)
	// The outputs count a send once stdout took it, a moment after.
	var after map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		after = scrape(t, base)
		if value(after, "vigil_outputs_sent_total", map[string]string{"output": "stdout"}) > value(before, "vigil_outputs_sent_total", map[string]string{"output": "stdout"}) &&
			value(after, "vigil_engine_events_total", nil) > value(before, "vigil_engine_events_total", nil) {
			break
		}
	}
	ruleLabels := map[string]string{"rule_name": rule, "priority": "Warning", "source": "syscall", "tags": "test,web"}
	for _, m := range []struct {
		name   string
		labels map[string]string
	}{
		{"falcosecurity_scap_n_evts_total", map[string]string{"driver": "bpf"}},
		{"vigil_engine_events_total", nil},
		{"falcosecurity_falco_rules_matches_total", ruleLabels},
		{"vigil_outputs_sent_total", map[string]string{"output": "stdout"}},
	} {
		if b, a := value(before, m.name, m.labels), value(after, m.name, m.labels); a <= b {
			t.Errorf("%s%v did not rise: %v then %v", m.name, m.labels, b, a)
		}
	}
	for _, name := range []string{"falcosecurity_scap_n_evts_cpu_total", "vigil_state_threads", "vigil_state_processes", "vigil_rules_info",
		"vigil_container_lookups_total", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if after[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	status, body = get(t, base+"/versions")
	var v struct {
		Version string `json:"vigil_version"`
		Schema  string `json:"schema_version"`
		Driver  struct{ Kind, Version string }
		Rules   string `json:"rules_sha256"`
	}
	if err := json.Unmarshal([]byte(body), &v); status != http.StatusOK || err != nil {
		t.Fatalf("/versions: %d %s (%v)", status, body, err)
	}
	if v.Version == "" || v.Schema != driver.SchemaVersion || v.Driver.Kind != "bpf" || v.Driver.Version == "" || len(v.Rules) != 64 {
		t.Errorf("/versions: %s", body)
	}
	if got := labelOf(after, "vigil_rules_info", "sha256"); got != v.Rules {
		t.Errorf("vigil_rules_info sha256 %q, /versions says %q", got, v.Rules)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value sums the samples of a family whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	sum := 0.0
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			ok = ok && have[k] == v
		}
		if ok {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func labelOf(fams map[string]*dto.MetricFamily, name, label string) string {
	var vals []string
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				vals = append(vals, l.GetValue())
			}
		}
	}
	return strings.Join(vals, ",")
}
