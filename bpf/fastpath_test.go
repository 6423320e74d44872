// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// hooked lists, from the kernel's own list of links, the names of p's
// programs that are attached: what runs on the syscall paths, whatever p
// believes it attached.
func hooked(t *testing.T, p *Probe) []string {
	t.Helper()
	ours := map[ebpf.ProgramID]string{}
	for _, prog := range p.attachedPrograms() {
		info, err := prog.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		ours[id] = info.Name
	}
	var names []string
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			t.Fatal(err)
		}
		if name, ok := ours[info.Program]; ok {
			names = append(names, name)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func entryHooks(names []string) []string {
	var out []string
	for _, n := range names {
		if n == "vigil_sys_enter" || strings.HasPrefix(n, "vigil_e_") {
			out = append(out, n)
		}
	}
	return out
}

// TestEntryHooksFollowSelection: a syscall that nobody selected runs no
// program at entry. Only the syscalls with entry events (and execveat)
// have an entry hook, attached while selected: their own fentry program,
// or, where the kernel refuses fentry, the one sys_enter program. And
// entry events still come while hooked.
func TestEntryHooksFollowSelection(t *testing.T) {
	testenv.RequireProbe(t)
	none := onlySyscall(t, "getppid")
	p, err := Open(none, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Logf("entry programs: %s", p.entryMode)
	if got := entryHooks(hooked(t, p)); len(got) != 0 {
		t.Fatalf("getppid selected: entry hooks %v attached, want none", got)
	}
	if got := hooked(t, p); !slices.Contains(got, "vigil_sys_exit") {
		t.Fatalf("attached %v: no vigil_sys_exit", got)
	}

	withOpenat, err := selftest.OnlySyscalls(uint32(os.Getpid()), "getppid", "openat")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetConfig(withOpenat); err != nil {
		t.Fatal(err)
	}
	want := []string{"vigil_e_openat"}
	if p.entryMode == entrySysEnter {
		want = []string{"vigil_sys_enter"}
	}
	if got := entryHooks(hooked(t, p)); !slices.Equal(got, want) {
		t.Fatalf("openat selected: entry hooks %v, want %v", got, want)
	}

	cmd, out, err := selftest.StartWorkload("files", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	var enter, exit int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && (enter == 0 || exit == 0); {
		e, err := p.Next()
		if errors.Is(err, driver.ErrTimeout) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.PID != pid {
			continue
		}
		switch e.Type {
		case driver.EvOpenatE:
			enter++
		case driver.EvOpenat:
			exit++
		}
	}
	if enter == 0 || exit == 0 {
		t.Fatalf("files workload: %d openat entry and %d exit events, want both", enter, exit)
	}

	if err := p.SetConfig(none); err != nil {
		t.Fatal(err)
	}
	if got := entryHooks(hooked(t, p)); len(got) != 0 {
		t.Fatalf("openat deselected: entry hooks %v still attached", got)
	}
	// Every syscall selected: every entry hook.
	if err := p.SetConfig(driver.Config{IgnorePID: uint32(os.Getpid())}); err != nil {
		t.Fatal(err)
	}
	want = []string{"vigil_e_connect", "vigil_e_creat", "vigil_e_execveat", "vigil_e_open", "vigil_e_openat", "vigil_e_openat2"}
	if p.entryMode == entrySysEnter {
		want = []string{"vigil_sys_enter"}
	}
	if got := entryHooks(hooked(t, p)); !slices.Equal(got, want) {
		t.Fatalf("every syscall selected: entry hooks %v, want %v", got, want)
	}
}

// TestEntryModeIsFentryWhereTheKernelTakesIt: the probe falls back to
// sys_enter only where the kernel refuses what its fentry programs do
// (attach to a syscall's wrapper and read its pt_regs argument). A fallback
// for any other reason (a loader bug) would silently put a program back on
// every syscall's entry.
func TestEntryModeIsFentryWhereTheKernelTakesIt(t *testing.T) {
	testenv.RequireProbe(t)
	probeProg, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFEntry, AttachTo: "__x64_sys_openat",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.DWord), // the pt_regs pointer
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
		License: "Dual MIT/GPL",
	})
	want := entryFentry
	if err != nil {
		want = entrySysEnter
		t.Logf("the kernel refuses fentry on __x64_sys_openat: %v", err)
	} else {
		probeProg.Close()
	}
	p, err := Open(onlySyscall(t, "getppid"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.entryMode != want {
		t.Fatalf("entry programs: %s, want %s", p.entryMode, want)
	}
}
