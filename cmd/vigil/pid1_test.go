// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// As a container's entrypoint vigil is pid 1 of its pid namespace, and
// must run the command it was given, not the QEMU matrix's agent.
func TestPid1RunsTheCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for a new pid namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testenv.Unavailable(t, "unshare (util-linux) not installed")
	}
	out, err := exec.Command(unshare, "--pid", "--fork", "--mount-proc", vigilBin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("vigil --version as pid 1: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "vigil-agent") || !strings.Contains(string(out), "vigil version") {
		t.Errorf("vigil --version as pid 1 printed:\n%s", out)
	}
}
