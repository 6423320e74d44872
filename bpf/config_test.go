// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

// withConfig runs fn with the shared probe reconfigured, then restores it.
func withConfig(t *testing.T, cfg driver.Config, fn func(p *Probe)) {
	p := probe(t)
	if err := p.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.SetConfig(driver.Config{IgnorePID: uint32(os.Getpid())}); err != nil {
			t.Fatal(err)
		}
	}()
	fn(p)
}

func TestSnaplenBoundsArgv(t *testing.T) {
	withConfig(t, driver.Config{Snaplen: 16, IgnorePID: uint32(os.Getpid())}, func(p *Probe) {
		cmd := exec.Command("/bin/echo", "0123456789", "abcdefghijklmnop")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		e := find(t, collect(t, p, cmd), driver.EvExecve, nil)
		raw := e.Param(e.Type.ParamIndex("args"))
		if len(raw) != 16 || raw[15] != 0 {
			t.Fatalf("args = %q (%d bytes), want 16 bytes ending in NUL", raw, len(raw))
		}
		// "/bin/echo\x00" is 10 bytes; 5 of the next argument fit.
		if got := e.Args(e.Type.ParamIndex("args")); strings.Join(got, "|") != "/bin/echo|01234" {
			t.Errorf("args = %q", got)
		}
		// Paths are not cut by snaplen.
		if exe := strParam(e, "exe"); !strings.HasSuffix(exe, "/echo") {
			t.Errorf("exe = %q", exe)
		}
	})
}

func TestSyscallFilterIsInKernel(t *testing.T) {
	withConfig(t, onlySyscall(t, "unlink"), func(p *Probe) {
		var now unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &now)
		since := uint64(now.Nano()) // events queued before the change are not its business
		dir := t.TempDir()
		cmd, out, err := startWorkload("files", dir)
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(out.Name())
		// Every event from every process: only unlink and lifecycle may
		// reach user space.
		evs := collectAll(t, p, cmd)
		for _, e := range evs {
			if e.TS < since {
				continue
			}
			switch e.Type {
			case driver.EvUnlink, driver.EvProcExec, driver.EvProcExit, driver.EvProcFork:
			default:
				t.Fatalf("the filter let %s (pid %d) through", e.Type, e.PID)
			}
		}
		real, _ := filepath.EvalSymlinks(dir)
		find(t, evs, driver.EvUnlink, func(e *driver.Event) bool {
			return strParam(e, "path") == real+"/renamed.txt"
		})
	})
}

func TestAgentIgnoresItself(t *testing.T) {
	p := probe(t)
	marker := t.TempDir() + "/self-marker"
	f, err := os.Create(marker)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command("/bin/cat", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, p, cmd)
	find(t, evs, driver.EvOpenat, func(e *driver.Event) bool { return strParam(e, "name") == marker })
	// collect() keeps only the child's events; look at everything instead.
	cmd2 := exec.Command("/bin/true")
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	self := uint32(os.Getpid())
	for _, e := range collectAll(t, p, cmd2) {
		if e.PID == self {
			t.Fatalf("the probe reported the agent's own %s", e.Type)
		}
	}
}

// collectAll is collect without the pid filter.
func collectAll(t *testing.T, p *Probe, cmd *exec.Cmd) []*driver.Event {
	t.Helper()
	var all []*driver.Event
	pid := uint32(cmd.Process.Pid)
	seenExit := false
	for !seenExit {
		e, err := p.Next()
		if err == driver.ErrTimeout {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e.Copy())
		seenExit = e.Type == driver.EvProcExit && e.TID == pid
	}
	_ = cmd.Wait()
	return all
}
