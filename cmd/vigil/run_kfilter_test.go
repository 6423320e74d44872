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

// vigil run derives the kernel filter from the rules, says so, and the
// rules still fire: a sensitive file read, and a traversal read, which
// the filter keeps by its entry path. --kernel-filter=false turns it off.
func TestRunKernelFilter(t *testing.T) {
	stable := "../../../shared/fixtures/falco-rules/falco_rules.yaml"
	if _, err := os.Stat(stable); err != nil {
		testenv.Unavailable(t, "upstream Falco rules fixture missing (expected beside the repository in ../shared/fixtures/falco-rules): "+err.Error())
	}
	t.Run("on", func(t *testing.T) {
		d := startRun(t, "--rules", stable)
		if logs := d.logs(); !strings.Contains(logs, `"msg":"kernel filter derived from the rules"`) || !strings.Contains(logs, `/etc/shadow[ok,r]`) {
			t.Fatalf("no kernel filter in the startup log:\n%s", logs)
		}
		if out, err := exec.Command("cat", "/etc/shadow").CombinedOutput(); err != nil {
			t.Fatalf("cat /etc/shadow: %v %s", err, out)
		}
		a := d.wait(t, "Read sensitive file untrusted", func(a alert) bool { return field(a, "fd.name") == "/etc/shadow" })
		if field(a, "proc.name") != "cat" {
			t.Errorf("alert: %s", a.Output)
		}
		c := exec.Command("cat", "../../etc/passwd")
		c.Dir = "/usr/share"
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("cat ../../etc/passwd: %v %s", err, out)
		}
		d.wait(t, "Directory traversal monitored file read", func(a alert) bool { return field(a, "fd.nameraw") == "../../etc/passwd" })
	})
	t.Run("off", func(t *testing.T) {
		d := startRun(t, "--rules", stable, "--kernel-filter=false")
		if logs := d.logs(); strings.Contains(logs, "kernel filter") {
			t.Fatalf("a kernel filter with --kernel-filter=false:\n%s", logs)
		}
	})
}
