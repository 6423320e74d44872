// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package webserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine"
	"github.com/vigil-dev/vigil/engine/output"
)

// fake is an engine and a driver whose counters the test sets.
type fake struct {
	mu  sync.Mutex
	pub engine.Published
	st  driver.Stats
}

func (f *fake) Published() engine.Published  { f.mu.Lock(); defer f.mu.Unlock(); return f.pub }
func (f *fake) Stats() (driver.Stats, error) { f.mu.Lock(); defer f.mu.Unlock(); return f.st, nil }

func (f *fake) set(events, written uint64, beat time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pub.Events, f.pub.At, f.st.Events = events, beat, written
}

func newFake(stall time.Duration) (*fake, *Server) {
	f := &fake{}
	s := New(Config{Engine: f, DriverStats: f.Stats, DriverKind: "bpf", Metrics: true, StallTimeout: stall,
		Outputs: func() []output.Stats { return []output.Stats{{Name: "stdout", Sent: 2}} }})
	return f, s
}

func status(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code, w.Body.String()
}

func TestHealthz(t *testing.T) {
	const stall = 50 * time.Millisecond
	f, s := newFake(stall)
	if code, body := status(t, s, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Errorf("before any event: %d %s", code, body)
	}
	f.set(10, 10, time.Now())
	if code, body := status(t, s, "/healthz"); code != http.StatusOK {
		t.Errorf("after events: %d %s", code, body)
	}
	// A quiet host: no event, the driver counted none, the loop beats.
	time.Sleep(2 * stall)
	f.set(10, 10, time.Now())
	if code, body := status(t, s, "/healthz"); code != http.StatusOK {
		t.Errorf("quiet host: %d %s", code, body)
	}
	// The driver writes, the engine reads nothing, past the timeout.
	f.set(10, 500, time.Now())
	status(t, s, "/healthz")
	time.Sleep(2 * stall)
	f.set(10, 900, time.Now())
	if code, body := status(t, s, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "has not read") {
		t.Errorf("engine behind the driver: %d %s", code, body)
	}
	// The engine catches up.
	f.set(900, 900, time.Now())
	if code, body := status(t, s, "/healthz"); code != http.StatusOK {
		t.Errorf("caught up: %d %s", code, body)
	}
	// The loop stopped beating.
	f.set(901, 901, time.Now().Add(-2*stall))
	if code, body := status(t, s, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "event loop") {
		t.Errorf("loop stuck: %d %s", code, body)
	}
}

func TestMetricsCountAlerts(t *testing.T) {
	f, s := newFake(0)
	f.set(1, 1, time.Now())
	f.mu.Lock()
	f.st.Filtered = 7
	f.mu.Unlock()
	for range 3 {
		s.CountAlert(&output.Alert{Rule: "R", Priority: "Warning", Source: "syscall", Tags: []string{"a", "b"}})
	}
	_, body := status(t, s, "/metrics")
	for _, want := range []string{
		`falcosecurity_falco_rules_matches_total{priority="Warning",rule_name="R",source="syscall",tags="a,b"} 3`,
		`vigil_outputs_sent_total{output="stdout"} 2`,
		`falcosecurity_scap_n_evts_total{driver="bpf"} 1`,
		`vigil_driver_filtered_total{driver="bpf"} 7`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
