// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ruleset

import (
	"testing"

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
