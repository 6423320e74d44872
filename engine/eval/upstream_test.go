// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"testing"

	"github.com/vigil-dev/vigil/engine/rules"
)

const upstreamRules = "../../../shared/fixtures/falco-rules/falco_rules.yaml"

func loadUpstream(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.LoadFiles(upstreamRules)
	if err != nil {
		t.Fatalf("load upstream rules: %v", err)
	}
	return set
}

func TestUpstreamCompiles(t *testing.T) {
	set := loadUpstream(t)
	p, err := Compile(set, Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if w := p.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if got := len(p.Rules()); got != len(set.Rules()) || got != 25 {
		t.Errorf("compiled %d rules of %d, want 25", got, len(set.Rules()))
	}
	for _, r := range p.Rules() {
		if r.AllEvents || len(r.EventTypes) == 0 {
			t.Errorf("rule %q is not restricted to event types", r.Name)
		}
		t.Logf("%s: %v", r.Name, r.EventTypes)
	}
	t.Log(p.Syscalls())
}
