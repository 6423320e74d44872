// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"os/exec"
	"slices"
	"testing"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// proc.env: the environment of a live process comes from
// /proc/<pid>/environ (the drivers do not capture it), read once; an exec
// forgets it; a capture has none.
func TestEnvOfLiveProcess(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	cmd.Env = []string{"HTTP_PROXY=http://proxy.example:3128", "GLIBC_TUNABLES=  glibc.x=1  ", "PATH=/usr/bin:/bin"}
	if err := cmd.Start(); err != nil {
		testenv.Unavailable(t, "cannot start sleep (coreutils): "+err.Error())
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := uint32(cmd.Process.Pid)
	waitComm(t, pid, "sleep")
	tab := NewThreads("/proc")
	p := tab.Process(pid)
	if p == nil {
		t.Fatal("sleep not found in /proc")
	}
	env, ok := tab.Env(p)
	if !ok || !slices.Equal(env, cmd.Env) {
		t.Fatalf("Env = %q %v, want %q", env, ok, cmd.Env)
	}
	if got := EnvValue(env, "GLIBC_TUNABLES"); got != "glibc.x=1" {
		t.Errorf("EnvValue(GLIBC_TUNABLES) = %q, want the value without its spaces", got)
	}
	if got := EnvValue(env, "HTTP"); got != "" {
		t.Errorf("EnvValue of a prefix = %q, want \"\"", got)
	}
	// Kept: a second call reads nothing (the process is gone, the
	// answer stays).
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if again, ok := tab.Env(p); !ok || !slices.Equal(again, env) {
		t.Errorf("cached Env = %q %v", again, ok)
	}
	// An exec is a new environment: asked again, and now the process is
	// gone, so it is not available.
	tab.Update(event(t, driver.EvExecve, pid, pid, execArgs(t, nil)...))
	if env, ok := tab.Env(p); ok {
		t.Errorf("Env after exec of an exited process = %q, want not available", env)
	}

	// Events from a capture: no /proc to read.
	capture := NewThreads("")
	th := newProc(t, capture, 1, 100, "curl")
	if env, ok := capture.Env(th.Proc); ok {
		t.Errorf("Env in a capture = %q, want not available", env)
	}
}
