// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// entryHookNames are the programs p attaches at the entry of syscalls,
// sorted: their own fentry or tracepoint programs, or the one sys_enter
// program.
func entryHookNames(p *Probe, syscalls ...string) []string {
	prefix := map[string]string{entryFentry: "vigil_e_", entryTracepoint: "vigil_t_"}[p.entryMode]
	if prefix == "" {
		return []string{"vigil_sys_enter"}
	}
	var out []string
	for _, sc := range syscalls {
		out = append(out, prefix+sc)
	}
	slices.Sort(out)
	return out
}

func entryHooks(names []string) []string {
	var out []string
	for _, n := range names {
		if n == "vigil_sys_enter" || strings.HasPrefix(n, "vigil_e_") || strings.HasPrefix(n, "vigil_t_") {
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
	// getppid's exit: its own exit tracepoint, with the generic program,
	// where the kernel has them; else the raw sys_exit tracepoint.
	exitProg := "vigil_sys_exit"
	if p.exitTP != nil {
		exitProg = "vigil_tx_generic"
	} else {
		t.Logf("exits from the raw sys_exit tracepoint: %v", p.exitTPErr)
	}
	if got := hooked(t, p); !slices.Contains(got, exitProg) || slices.Contains(got, "vigil_sys_exit") != (exitProg == "vigil_sys_exit") {
		t.Fatalf("attached %v: want %s on the exit side, alone", got, exitProg)
	}

	withOpenat, err := selftest.OnlySyscalls(uint32(os.Getpid()), "getppid", "openat")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetConfig(withOpenat); err != nil {
		t.Fatal(err)
	}
	want := entryHookNames(p, "openat")
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
	want = entryHookNames(p, "connect", "creat", "execveat", "open", "openat", "openat2")
	if got := entryHooks(hooked(t, p)); !slices.Equal(got, want) {
		t.Fatalf("every syscall selected: entry hooks %v, want %v", got, want)
	}
}

// TestEntryModeIsFentryWhereTheKernelTakesIt: the probe falls back from
// fentry only where the kernel refuses what its fentry programs do (attach
// to a syscall's wrapper and read its pt_regs argument), and then to the
// syscalls' own tracepoints wherever the kernel has them: the sys_enter
// program is the last resort. A fallback for any other reason (a loader
// bug) would silently put a program back on every syscall's entry.
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
		if _, terr := syscallTracepoints(); terr == nil {
			want = entryTracepoint
		} else {
			t.Logf("no syscall tracepoints: %v", terr)
		}
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

// TestEntryModesGiveTheSameEvents: each entry mode the kernel takes
// captures the same entry events, field for field, for the same calls:
// open, openat, openat2 and creat of the same paths with the same flags
// and modes, and connect to the same address.
func TestEntryModesGiveTheSameEvents(t *testing.T) {
	testenv.RequireProbe(t)
	dir := t.TempDir()
	var got [][]string
	var modes []string
	for _, mode := range []string{entryFentry, entryTracepoint, entrySysEnter} {
		defer func(saved []string) { entryModes = saved }(entryModes)
		entryModes = []string{mode}
		cfg, err := selftest.OnlySyscalls(uint32(os.Getpid()), "open", "openat", "openat2", "creat", "connect")
		if err != nil {
			t.Fatal(err)
		}
		// Only the workload's events: the test's own process is ignored.
		p, err := Open(cfg, Options{})
		if err != nil {
			t.Logf("%s: %v", mode, err)
			continue
		}
		if p.entryMode != mode {
			p.Close()
			t.Fatalf("asked for entry mode %s, got %s", mode, p.entryMode)
		}
		cmd, out, err := selftest.StartWorkload("entry", dir)
		if err != nil {
			p.Close()
			t.Fatal(err)
		}
		os.Remove(out.Name())
		if err := cmd.Wait(); err != nil {
			p.Close()
			t.Fatal(err)
		}
		got = append(got, entryEvents(t, p, uint32(cmd.Process.Pid)))
		modes = append(modes, mode)
		p.Close()
	}
	if len(modes) < 2 {
		t.Skipf("the kernel takes only the entry modes %v: nothing to compare", modes)
	}
	if len(got[0]) != 5 {
		t.Fatalf("%s: %d entry events, want the workload's 5:\n%s", modes[0], len(got[0]), strings.Join(got[0], "\n"))
	}
	for i := 1; i < len(got); i++ {
		if !slices.Equal(got[i], got[0]) {
			t.Errorf("entry events differ:\n%s:\n%s\n%s:\n%s", modes[0], strings.Join(got[0], "\n"), modes[i], strings.Join(got[i], "\n"))
		}
	}
	if !t.Failed() {
		t.Logf("entry modes %v: the same %d entry events", modes, len(got[0]))
	}
}

// entryEvents returns the entry events of the entry workload's own calls
// (pid's) in p, as text: type and parameters, not the time or ids, which
// differ from run to run. The runtime's and the dynamic loader's opens
// are left out: they name absolute paths from pages of the binary that
// an entry program may find not yet mapped (it cannot fault them in),
// and which those are differs from run to run.
func entryEvents(t *testing.T, p *Probe, pid uint32) []string {
	return drainText(t, p, false, func(e *driver.Event) bool {
		if e.PID != pid {
			return false
		}
		switch e.Type {
		case driver.EvOpenE, driver.EvCreatE:
			return relative(e.Param(0))
		case driver.EvOpenatE, driver.EvOpenat2E:
			return relative(e.Param(1))
		case driver.EvConnectE:
			return true
		}
		return false
	})
}

// relative says whether a path parameter is a relative path: the entry
// workload's names are.
func relative(path []byte) bool { return len(path) > 0 && path[0] != '/' }

// drainText reads from p the events that came before now (the workloads
// are over: their events are in, and the rest of the machine's keep
// coming, maybe faster than we read) and returns the events keep takes,
// in order, as text: type, ids if withIDs, and parameters; never the
// time stamp. A drop fails the test: the comparison would be void.
func drainText(t *testing.T, p *Probe, withIDs bool, keep func(*driver.Event) bool) []string {
	t.Helper()
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &now); err != nil {
		t.Fatal(err)
	}
	// The merge hands events on oldest first: one this much younger
	// means every older one has been handed on.
	end := uint64(now.Nano()) + uint64(100*time.Millisecond)
	var out []string
	for deadline := time.Now().Add(time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatal("could not read a minute's backlog of events in a minute")
		}
		e, err := p.Next()
		if errors.Is(err, driver.ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.TS > end {
			break
		}
		if !keep(e) {
			continue
		}
		line := fmt.Sprintf("type %d:", e.Type)
		if withIDs {
			line = fmt.Sprintf("type %d tid %d pid %d:", e.Type, e.TID, e.PID)
		}
		for i := 0; i < e.NParams; i++ {
			line += fmt.Sprintf(" %x", e.Param(i))
		}
		out = append(out, line)
	}
	if st, err := p.Stats(); err != nil || st.Drops+st.Missed > 0 {
		t.Fatalf("the probe lost events (%+v, %v): the comparison is void; a machine this busy cannot run it", st, err)
	}
	return out
}
