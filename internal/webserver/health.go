// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package webserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/vigil-dev/vigil/driver"
)

// progress is what /healthz compares: whether the engine reads what the
// driver writes.
//
// A quiet host must not look stalled: no event for a minute is fine when
// the driver counted none either. So the engine is stalled only when the
// driver's counters (events written, and drops once the buffers are full)
// moved on since the engine last read an event, and the engine has not
// read one for longer than the stall timeout since; or when the engine's loop itself stopped
// publishing (it does on every idle poll too).
type progress struct {
	events  uint64    // the engine's event count at the last sample
	since   time.Time // when that count last changed
	written uint64    // the driver's events+drops when it last changed
	behind  uint64    // events+drops the driver counted since
	// behindAt is when the driver was first seen ahead: the stall clock
	// starts there, not at the engine's last event, so that the first
	// events after a long quiet spell are not taken for a stall.
	behindAt time.Time
}

func written(st driver.Stats) uint64 { return st.Events + st.Drops }

// sample updates the progress; /healthz and the sampler call it.
func (s *Server) sample() (progress, error) {
	pub := s.cfg.Engine.Published()
	st, err := s.cfg.DriverStats()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.progress
	now := time.Now()
	if p.since.IsZero() || pub.Events != p.events {
		p.events, p.since, p.behind, p.behindAt = pub.Events, now, 0, time.Time{}
		if err == nil {
			p.written = written(st)
		}
	} else if err == nil && written(st) > p.written {
		if p.behindAt.IsZero() {
			p.behindAt = now
		}
		p.behind = written(st) - p.written
	}
	return *p, err
}

// health says whether detection works, and why not.
func (s *Server) health() (ok bool, status, reason string) {
	p, err := s.sample()
	pub := s.cfg.Engine.Published()
	stall := s.cfg.StallTimeout
	switch {
	case err != nil:
		return false, "driver", fmt.Sprintf("the driver's counters cannot be read: %v", err)
	case pub.Events == 0:
		return false, "starting", "no event from the driver yet"
	case time.Since(pub.At) > stall:
		return false, "stalled", fmt.Sprintf("the event loop has not run for %s", time.Since(pub.At).Round(time.Second))
	case p.behind > 0 && time.Since(p.behindAt) > stall:
		return false, "stalled", fmt.Sprintf("the driver counted %d events the engine has not read in %s", p.behind, time.Since(p.behindAt).Round(time.Second))
	}
	return true, "ok", ""
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	ok, status, reason := s.health()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	pub := s.cfg.Engine.Published()
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "reason": reason, "events": pub.Events})
}
