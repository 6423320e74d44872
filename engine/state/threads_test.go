// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"os"
	"os/exec"
	"testing"

	"github.com/vigil-dev/vigil/driver"
)

func TestSeedFindsThisProcess(t *testing.T) {
	tab := NewThreads("/proc")
	if err := tab.Seed(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(os.Getpid())
	th := tab.Get(pid, pid)
	if th == nil {
		t.Fatalf("own pid %d not in a table of %d threads", pid, tab.Len())
	}
	if th.PPID != uint32(os.Getppid()) || th.PID != pid {
		t.Errorf("own thread = %+v, want pid %d ppid %d", th, pid, os.Getppid())
	}
	b, _ := os.ReadFile("/proc/self/comm")
	if want := string(b[:len(b)-1]); th.Comm != want {
		t.Errorf("comm = %q, want %q", th.Comm, want)
	}
}

// A process the table never saw is looked up in /proc on first use.
func TestGetReadsProcOnMiss(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep binary: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	tab := NewThreads("/proc")
	pid := uint32(cmd.Process.Pid)
	th := tab.Get(pid, pid)
	if th == nil || th.PPID != uint32(os.Getpid()) || th.Comm != "sleep" {
		t.Fatalf("child = %+v, want ppid %d comm sleep", th, os.Getpid())
	}
	if tab.Get(pid+1<<20, pid+1<<20) != nil {
		t.Error("a tid that does not exist was found")
	}
}

func event(t *testing.T, typ driver.EventType, tid, pid uint32, params ...any) *driver.Event {
	t.Helper()
	var b driver.Builder
	b.Begin(nil, typ, 1, tid, pid)
	for _, p := range params {
		switch v := p.(type) {
		case int:
			b.Int(int64(v))
		case string:
			b.Str(v)
		default:
			t.Fatalf("param type %T", p)
		}
	}
	var e driver.Event
	if err := e.Decode(b.End()); err != nil {
		t.Fatal(err)
	}
	return &e
}

func TestLifecycle(t *testing.T) {
	tab := NewThreads("") // events from elsewhere: no /proc lookups
	// 100 forks 200; 200 starts thread 201; 201 execs (taking tid 200).
	tab.Update(event(t, driver.EvProcFork, 100, 100, 200, 200, 100, "sh"))
	th := tab.Update(event(t, driver.EvProcFork, 200, 200, 201, 200, 100, "sh"))
	if th == nil || th.TID != 200 || th.PPID != 100 {
		t.Fatalf("forking thread = %+v", th)
	}
	if got := tab.Get(201, 200); got == nil || got.PPID != 100 || got.PID != 200 {
		t.Fatalf("new thread = %+v, want pid 200 ppid 100", got)
	}
	th = tab.Update(event(t, driver.EvProcExec, 200, 200, "/usr/bin/a-very-long-program-name", 201))
	if th == nil || th.Comm != "a-very-long-pro" {
		t.Fatalf("after exec = %+v, want comm cut to 15 bytes", th)
	}
	if tab.Get(201, 200) != nil {
		t.Error("the exec'ing thread's old tid is still in the table")
	}
	// The execve exit event carries the exact comm.
	args := []any{0, "/usr/bin/x", "x\x00", "/", "exact-comm"}
	for range driver.EvExecve.Info().Params[5:] {
		args = append(args, 0)
	}
	args[driver.EvExecve.ParamIndex("cgroup")] = "/"
	if th = tab.Update(event(t, driver.EvExecve, 200, 200, args...)); th == nil || th.Comm != "exact-comm" {
		t.Fatalf("after execve = %+v", th)
	}
	// The exit event still sees its thread; the next event does not.
	if th = tab.Update(event(t, driver.EvProcExit, 200, 200, 0)); th == nil || th.PPID != 100 {
		t.Fatalf("exit event's thread = %+v", th)
	}
	if th = tab.Update(event(t, driver.EvProcExit, 100, 100, 0)); th != nil {
		t.Fatalf("thread 100 was never forked here but is known: %+v", th)
	}
	if tab.Get(200, 200) != nil {
		t.Error("exited thread 200 is still in the table")
	}
}
