// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// TestExitModesGiveTheSameEvents: two probes watch the same workloads at
// once, one with its exit events from the raw sys_exit tracepoint, the
// other from each selected syscall's own exit tracepoint. Both must tell
// the same events, byte for byte but the time stamp: syscalls with exit
// events of their own (files, sockets, setuid, clone, execve, and the
// execveat that a successful exec reports through execve's tracepoint),
// and generic ones.
func TestExitModesGiveTheSameEvents(t *testing.T) {
	testenv.RequireProbe(t)
	cfg, err := selftest.OnlySyscalls(uint32(os.Getpid()),
		"execve", "execveat", "openat", "open", "creat", "close", "rename", "unlink", "unlinkat",
		"mkdirat", "socket", "bind", "listen", "accept", "accept4", "connect", "setuid",
		"memfd_create", "clone", "clone3", "dup", "dup3", "getppid", "getpid", "fstat", "newfstatat")
	if err != nil {
		t.Fatal(err)
	}
	forceRawExit = true
	raw, err := Open(cfg, Options{})
	forceRawExit = false
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tp, err := Open(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if raw.exitRaw == nil || raw.exitTP != nil {
		t.Fatal("the probe opened with forceRawExit does not use the raw sys_exit tracepoint")
	}
	if tp.exitTP == nil || tp.exitRaw != nil {
		testenv.Unavailable(t, fmt.Sprintf("the kernel cannot serve exits from the syscalls' tracepoints: %v", tp.exitTPErr))
	}

	pids := map[uint32]bool{}
	for _, w := range []string{"files", "tcp", "setuid", "memfd"} {
		cmd, out, err := selftest.StartWorkload(w, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(out.Name())
		if err := cmd.Wait(); err != nil {
			t.Fatalf("workload %s: %v", w, err)
		}
		pids[uint32(cmd.Process.Pid)] = true
	}
	a, b := eventsOf(t, raw, pids), eventsOf(t, tp, pids)
	types := map[driver.EventType]int{}
	for _, e := range a {
		var typ driver.EventType
		fmt.Sscanf(e, "type %d", &typ)
		types[typ]++
	}
	for _, want := range []driver.EventType{driver.EvExecveat, driver.EvOpenat, driver.EvConnect, driver.EvSetuid, driver.EvGeneric} {
		if types[want] == 0 {
			t.Errorf("the workloads made no event of type %d: the comparison misses it", want)
		}
	}
	if !slices.Equal(a, b) {
		t.Fatalf("the exit modes disagree:\nraw sys_exit (%d events):\n%s\nsyscall tracepoints (%d events):\n%s",
			len(a), strings.Join(a, "\n"), len(b), strings.Join(b, "\n"))
	}
	t.Logf("raw sys_exit and the syscalls' own tracepoints: the same %d events, %d types", len(a), len(types))
}

// eventsOf returns the events of pids in p, sorted: the two probes
// stamp the same events each with its own clock, and may merge events
// from two CPUs in another order.
func eventsOf(t *testing.T, p *Probe, pids map[uint32]bool) []string {
	out := drainText(t, p, true, func(e *driver.Event) bool { return pids[e.PID] })
	slices.Sort(out)
	return out
}
