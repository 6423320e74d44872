// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"runtime"
	"testing"

	"github.com/vigil-dev/vigil/driver"
	"golang.org/x/sys/unix"
)

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestTablesShrinkAfterExits: a burst of short-lived processes (a build, a
// fork flood) fills the thread and process tables; once they have exited
// the memory must come back, or an agent that saw one burst keeps its peak
// for good. 100k live processes hold megabytes of map buckets.
func TestTablesShrinkAfterExits(t *testing.T) {
	tab := NewThreads("")
	newProc(t, tab, 1, 1, "init")
	const n = 100_000
	exit := make([]*driver.Event, n)
	fork := make([]*driver.Event, n)
	for i := range n {
		pid := uint32(1000 + i)
		fork[i] = eventAt(t, 100, driver.EvProcFork, 1, 1, int(pid), int(pid), 1, "short")
		exit[i] = eventAt(t, 200, driver.EvProcExit, pid, pid, 0)
	}
	tick := event(t, driver.EvGeneric, 1, 1, 0, 39)
	before := liveHeap()
	for _, e := range fork {
		tab.Update(e)
	}
	if got := tab.Len(); got != n+1 {
		t.Fatalf("%d threads after %d forks, want %d", got, n, n+1)
	}
	peak := liveHeap()
	for _, e := range exit {
		tab.Update(e)
	}
	tab.Update(tick) // the last exit is applied on the next event
	after := liveHeap()
	if st := tab.Stats(); st.Threads != 1 || st.Processes != 1 {
		t.Fatalf("after every exit: %d threads, %d processes; want init alone", st.Threads, st.Processes)
	}
	t.Logf("heap: %d KiB before, %d KiB with %d processes, %d KiB after they exited", before>>10, peak>>10, n, after>>10)
	if peak < before+n*100 {
		t.Fatalf("the table's peak (%d bytes over the start) is too small to tell a shrink from none", peak-before)
	}
	if after > before+256<<10 {
		t.Errorf("the tables keep %d KiB after all %d processes exited (at the peak: %d KiB): want under 256 KiB",
			(after-before)>>10, n, (peak-before)>>10)
	}
	// The table still works after the rebuild.
	th := newProc(t, tab, 1, 7, "again")
	if got := tab.Get(7, 7); got != th || got.Comm != "again" {
		t.Errorf("after the shrink Get(7) = %+v, want the new process", got)
	}
	runtime.KeepAlive(fork)
	runtime.KeepAlive(exit)
}

// TestFDTableShrinks: a long-lived process that once held many fds (a
// server under a burst of connections) gives the table's memory back once
// they are closed.
func TestFDTableShrinks(t *testing.T) {
	tab := NewThreads("")
	th := newProc(t, tab, 1, 50, "server")
	const n = 50_000
	closes := make([]*driver.Event, n)
	for i := range n {
		closes[i] = event(t, driver.EvClose, 50, 50, 0, int64(10+i))
	}
	before := liveHeap()
	for i := range n {
		tab.Update(event(t, driver.EvSocket, 50, 50, int64(10+i), unix.AF_INET, unix.SOCK_STREAM, 0))
	}
	if got := th.Proc.FDs.Len(); got != n {
		t.Fatalf("%d fds after %d sockets", got, n)
	}
	peak := liveHeap()
	for _, e := range closes {
		tab.Update(e)
	}
	after := liveHeap()
	runtime.KeepAlive(closes)
	if got := th.Proc.FDs.Len(); got != 0 {
		t.Fatalf("%d fds left after closing them all", got)
	}
	t.Logf("heap: %d KiB before, %d KiB with %d fds, %d KiB after closing them", before>>10, peak>>10, n, after>>10)
	if after > before+128<<10 {
		t.Errorf("the fd table keeps %d KiB after all %d fds were closed (at the peak: %d KiB): want under 128 KiB",
			(after-before)>>10, n, (peak-before)>>10)
	}
}

// TestNoFDs: a table that does not track fds still follows processes
// (fork, exec, exit, names), and leaves fd tables alone.
func TestNoFDs(t *testing.T) {
	tab := NewThreads("")
	tab.NoFDs = true
	parent := newProc(t, tab, 1, 60, "sh")
	tab.Update(event(t, driver.EvOpenat, 60, 60, 3, atFDCWD, "/etc/passwd", 0, 0, 0, 0))
	if n := parent.Proc.FDs.Len(); n != 0 {
		t.Errorf("NoFDs: an open made %d fds", n)
	}
	if raw := parent.OpenRaw(); raw != nil {
		t.Errorf("NoFDs: OpenRaw %q", raw)
	}
	child := newProc(t, tab, 60, 61, "sh")
	tab.Update(event(t, driver.EvExecve, 61, 61, execArgs(t, map[string]any{"comm": "cat", "ppid": 60, "exe": "/bin/cat", "args": []byte("cat\x00x\x00")})...))
	if child.Comm != "cat" || child.Proc.Exe != "cat" || child.Proc.PPID != 60 {
		t.Errorf("NoFDs: after exec comm %q exe %q ppid %d; want cat, cat, 60", child.Comm, child.Proc.Exe, child.Proc.PPID)
	}
	tab.Update(event(t, driver.EvProcExit, 61, 61, 0))
	tab.Update(event(t, driver.EvGeneric, 60, 60, 0, 39))
	if tab.Get(61, 61) != nil {
		t.Errorf("NoFDs: exited process 61 still in the table")
	}
}

// TestGetAfterLeaderReplaced: Get remembers the thread it returned last.
// When a non-leader thread execs it takes over the leader's tid and the
// old leader is dropped; the remembered leader must not be returned for
// that tid afterwards.
func TestGetAfterLeaderReplaced(t *testing.T) {
	tab := NewThreads("")
	newProc(t, tab, 1, 1, "init")
	leader := newProc(t, tab, 1, 100, "sh")
	tab.Update(eventAt(t, 110, driver.EvProcFork, 100, 100, 101, 100, 1, "sh")) // thread 101 of 100
	if tab.Get(101, 100) == nil {
		t.Fatal("thread 101 not in the table")
	}
	if th := tab.Update(event(t, driver.EvGeneric, 100, 100, 0, 39)); th != leader {
		t.Fatalf("event of 100: thread %+v, want the leader", th)
	}
	// Thread 101 execs: it becomes 100, the old leader is gone.
	th := tab.Update(event(t, driver.EvProcExec, 100, 100, "/usr/bin/cat", 101))
	if th == leader || th == nil || th.Comm != "cat" {
		t.Fatalf("after thread 101's exec, tid 100 is %+v (the old leader: %v), want the exec'ing thread named cat", th, th == leader)
	}
	if got := tab.Get(100, 100); got != th {
		t.Errorf("Get(100) after the exec = %p, want %p", got, th)
	}
}
