// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package testenv decides what tests do when the machine lacks something
// they need: skip with the reason on a developer's machine, fail in CI,
// where every test must run.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// InCI reports whether the tests run in CI (the CI environment variable is
// set), where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") != "" }

// Unavailable skips the test for reason, or fails it in CI.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s, and CI must run every test", reason)
	}
	t.Skip(reason)
}

// RequireProbe stops the test where the eBPF probe cannot run: not root,
// or no kernel BTF.
func RequireProbe(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root to load BPF programs")
	} else if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		Unavailable(t, "needs kernel BTF (/sys/kernel/btf/vmlinux)")
	}
}

// BuildVigil builds a static vigil binary (the form users run and the QEMU
// matrix boots) into a new temporary directory readable by every user, and
// returns its path. pkgDir is the relative path to cmd/vigil from the
// calling test's package. Remove filepath.Dir(path) when done.
func BuildVigil(pkgDir string) (string, error) {
	dir, err := os.MkdirTemp("", "vigil-test-")
	if err != nil {
		return "", err
	}
	// Tests run it as another user too.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "vigil")
	cmd := exec.Command("go", "build", "-o", bin, pkgDir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build vigil: %v\n%s", err, out)
	}
	return bin, nil
}
