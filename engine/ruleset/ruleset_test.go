// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ruleset

import (
	"testing"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/rules"
)

// The default rules load with no problem, every rule is enabled, and the
// rules the issue lists are all there.
func TestDefaultRulesLoad(t *testing.T) {
	set, err := rules.Load(Name, Default())
	if err != nil {
		t.Fatalf("default rules: %v", err)
	}
	want := []string{
		"Terminal shell in container", "Privileged shell spawned in container", "Reverse shell",
		"Sensitive file read by untrusted program", "Write below etc", "Write below binary directory",
		"Kernel module load", "Ptrace attach", "Fileless execution via memfd",
		"Container escape via release_agent", "Packet socket in container", "Search for private keys",
	}
	for _, name := range want {
		r := set.Rule(name)
		if r == nil {
			t.Errorf("rule %q missing", name)
			continue
		}
		if !r.Enabled {
			t.Errorf("rule %q disabled", name)
		}
	}
	if n := len(set.Rules()); n != len(want) {
		t.Errorf("%d rules, want %d: update the test with the new rule", n, len(want))
	}
}

// The default rules compile with no error and no warning, and each is
// indexed under the event types it names rather than run on every event.
func TestDefaultRulesCompile(t *testing.T) {
	set, err := rules.Load(Name, Default())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if w := prog.Warnings(); len(w) > 0 {
		t.Fatalf("warnings: %v", w)
	}
	for _, r := range prog.Rules() {
		if r.AllEvents || len(r.EventTypes) == 0 {
			t.Errorf("rule %q runs on every event type (%v)", r.Name, r.EventTypes)
		}
	}
}
