// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package webserver is vigil run's HTTP endpoints for operators: /healthz
// for liveness and readiness probes, /versions, and /metrics for
// Prometheus.
//
// It never touches the engine's state: everything it serves comes from
// snapshot methods that are safe on any goroutine (engine.Published, the
// driver's and the outputs' counters, which are atomics), read when asked,
// so that the event loop pays nothing for a scrape.
package webserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/output"
)

// Defaults.
const (
	// DefaultListen is loopback: metrics and versions tell an attacker
	// what is watched, so exposing them is the operator's choice.
	DefaultListen = "127.0.0.1:8765"
	// DefaultHealthzPath is Falco's k8s_healthz_endpoint.
	DefaultHealthzPath = "/healthz"
	// DefaultStallTimeout is how long the driver may count events the
	// engine does not read before /healthz fails.
	DefaultStallTimeout = 30 * time.Second
	// sampleEvery is how often progress is sampled for /healthz.
	sampleEvery = time.Second
)

// Config is what a Server reports on.
type Config struct {
	// Engine gives the engine's published counters (*engine.Engine).
	Engine interface{ Published() engine.Published }
	// DriverStats reads the driver's counters (driver.Source.Stats); it
	// must be safe on any goroutine.
	DriverStats func() (driver.Stats, error)
	// DriverKind ("kmod", "bpf") and DriverVersion name the driver.
	DriverKind, DriverVersion string
	// Outputs gives the outputs' counters (output.Dispatcher.Stats).
	Outputs func() []output.Stats
	// Containers gives the container resolver's counters; nil: none.
	Containers func() container.Stats
	// Version is vigil's version; SchemaVersion the event schema's.
	Version, SchemaVersion string
	// Rules reads the rules files' bytes in load order, hashed into the
	// rules sha256 when they are (re)loaded.
	Rules func() ([][]byte, error)
	// HealthzPath is where /healthz is served (Falco's
	// k8s_healthz_endpoint); "" means DefaultHealthzPath.
	HealthzPath string
	// Metrics serves /metrics.
	Metrics bool
	// StallTimeout: 0 means DefaultStallTimeout.
	StallTimeout time.Duration
}

// Server serves the endpoints. Make one with New, give it alerts with
// CountAlert (output.Dispatcher.Observe), then Serve.
type Server struct {
	cfg     Config
	matches sync.Map // matchKey → *atomic.Uint64
	reg     *prometheus.Registry
	mux     *http.ServeMux

	mu       sync.Mutex // guards the fields below
	progress progress
	rules    rulesInfo
}

type matchKey struct{ rule, priority, source, tags string }

// rulesInfo is what is known of the loaded rules.
type rulesInfo struct {
	sha256  string
	reloads uint64 // engine.Published.Reloads the hash was taken for
	at      time.Time
}

// New makes a Server. It hashes the rules at once: call it once they are
// loaded.
func New(cfg Config) *Server {
	if cfg.HealthzPath == "" {
		cfg.HealthzPath = DefaultHealthzPath
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	s := &Server{cfg: cfg, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	s.rules = rulesInfo{sha256: s.hashRules(), at: time.Now()}
	s.reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &collector{s})
	s.mux.HandleFunc(cfg.HealthzPath, s.healthz)
	s.mux.HandleFunc("/versions", s.versions)
	if cfg.Metrics {
		s.mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: nil}))
	}
	return s
}

// Handler returns the endpoints.
func (s *Server) Handler() http.Handler { return s.mux }

// CountAlert counts an alert by rule, priority, source and tags. It runs
// on the engine's goroutine (output.Dispatcher.Observe): after a rule's
// first alert it is a lock-free map load and an atomic add.
func (s *Server) CountAlert(a *output.Alert) {
	k := matchKey{a.Rule, a.Priority, a.Source, strings.Join(a.Tags, ",")}
	c, ok := s.matches.Load(k)
	if !ok {
		c, _ = s.matches.LoadOrStore(k, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

// Serve serves on ln until ctx is done, and samples the engine's progress
// meanwhile for /healthz.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web server: %w", err)
	}
	return nil
}

// hashRules is the sha256 of the rules files' bytes, concatenated in load
// order; "" when they cannot be read.
func (s *Server) hashRules() string {
	if s.cfg.Rules == nil {
		return ""
	}
	files, err := s.cfg.Rules()
	if err != nil {
		return ""
	}
	h := sha256.New()
	for _, f := range files {
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rulesNow returns what is known of the loaded rules, hashing them again
// when the engine took a reloaded program since the last hash.
func (s *Server) rulesNow(pub engine.Published) rulesInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pub.Reloads != s.rules.reloads {
		s.rules = rulesInfo{sha256: s.hashRules(), reloads: pub.Reloads, at: pub.ProgramAt}
	}
	return s.rules
}

func (s *Server) versions(w http.ResponseWriter, _ *http.Request) {
	r := s.rulesNow(s.cfg.Engine.Published())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"vigil_version":  s.cfg.Version,
		"schema_version": s.cfg.SchemaVersion,
		"driver":         map[string]string{"kind": s.cfg.DriverKind, "version": s.cfg.DriverVersion},
		"rules_sha256":   r.sha256,
		"rules_loaded":   r.at.UTC().Format(time.RFC3339Nano),
	})
}
