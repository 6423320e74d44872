// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"

	"golang.org/x/sys/unix"
)

// TestLibbpfLoadsTheObject proves the committed object is not tied to
// cilium/ebpf: libbpf (through Debian's bpftool) loads and verifies every
// program in it on the running kernel.
func TestLibbpfLoadsTheObject(t *testing.T) {
	testenv.RequireProbe(t)
	bpftool, err := exec.LookPath("bpftool")
	if err != nil {
		testenv.Unavailable(t, "bpftool not installed (`make deps` installs it)")
	}
	fs := t.TempDir()
	if err := unix.Mount("bpf", fs, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	defer unix.Unmount(fs, 0)
	out, err := exec.Command(bpftool, "prog", "loadall", "probe_x86_bpfel.o", fs+"/vigil").CombinedOutput()
	if err != nil {
		t.Fatalf("bpftool prog loadall: %v\n%s", err, out)
	}
	ents, err := os.ReadDir(fs + "/vigil")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	// Every program the Go loader knows, the attached ones and the
	// per-syscall ones reached by tail calls.
	spec, err := loadProbe()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for name := range spec.Programs {
		want = append(want, name)
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") || len(want) < 6 {
		t.Fatalf("libbpf pinned %v, want %v", got, want)
	}
}
