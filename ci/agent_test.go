// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import "testing"

// Only the kernel's /init is the agent; a container's entrypoint is pid 1
// too and must run its command.
func TestIsAgent(t *testing.T) {
	t.Setenv(AgentEnv, "")
	for _, c := range []struct {
		argv0 string
		pid   int
		want  bool
	}{
		{"/init", 1, true},
		{"/vigil", 1, false},
		{"vigil", 1, false},
		{"/init", 42, false},
	} {
		if got := IsAgent(c.argv0, c.pid); got != c.want {
			t.Errorf("IsAgent(%q, %d) = %v, want %v", c.argv0, c.pid, got, c.want)
		}
	}
	t.Setenv(AgentEnv, "1")
	if !IsAgent("vigil", 4242) {
		t.Errorf("%s=1 did not start the agent", AgentEnv)
	}
}
