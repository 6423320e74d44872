// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package state keeps what the event stream alone does not say about a
// thread: its parent process and its command name. It is seeded from /proc
// and then kept current by the driver's process lifecycle events.
package state

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vigil-dev/vigil/driver"
)

// Thread is what the table knows of one thread.
type Thread struct {
	TID  uint32
	PID  uint32 // thread-group id
	PPID uint32 // parent process's thread-group id
	Comm string
	VTID int64 // tid in the thread's own pid namespace; 0 when unknown
	// Proc is shared by the threads of one process; never nil for a
	// thread the table returns.
	Proc *Process
}

// Threads is a table of live threads keyed by tid. It is not safe for
// concurrent use: one goroutine reads the event stream and owns it.
type Threads struct {
	m map[uint32]*Thread
	// proc is the /proc to consult for a thread the table has not seen
	// (started before the table was seeded, or whose fork was dropped).
	// Empty when the events do not come from this host (a capture file).
	proc string
	// exited is the thread of the last proc_exit event: removed on the next
	// Update, so that the exit event itself still finds its thread.
	exited uint32
}

// NewThreads returns an empty table. procRoot is the /proc of the host the
// events come from ("/proc", or "/host/proc" in a container), or "" when
// they come from elsewhere.
func NewThreads(procRoot string) *Threads {
	return &Threads{m: make(map[uint32]*Thread), proc: procRoot}
}

// Len returns the number of threads in the table.
func (t *Threads) Len() int { return len(t.m) }

// Seed reads every thread under the table's /proc.
func (t *Threads) Seed() error {
	if t.proc == "" {
		return nil
	}
	pids, err := os.ReadDir(t.proc)
	if err != nil {
		return fmt.Errorf("seed thread table: %w", err)
	}
	for _, d := range pids {
		if _, err := strconv.ParseUint(d.Name(), 10, 32); err != nil {
			continue
		}
		tasks, err := os.ReadDir(filepath.Join(t.proc, d.Name(), "task"))
		if err != nil {
			continue // exited while we read
		}
		pid, _ := strconv.ParseUint(d.Name(), 10, 32)
		for _, task := range tasks {
			if tid, err := strconv.ParseUint(task.Name(), 10, 32); err == nil {
				t.load(uint32(tid), uint32(pid))
			}
		}
	}
	return nil
}

// load reads thread tid of process pid from /proc into the table.
func (t *Threads) load(tid, pid uint32) *Thread {
	b, err := os.ReadFile(filepath.Join(t.proc, strconv.FormatUint(uint64(pid), 10), "task",
		strconv.FormatUint(uint64(tid), 10), "stat"))
	if err != nil {
		return nil
	}
	th, ok := parseStat(b)
	if !ok {
		return nil
	}
	th.TID, th.PID = tid, pid
	t.m[tid] = th
	return th
}

// parseStat reads the comm and ppid of a /proc/<pid>/task/<tid>/stat line,
// "tid (comm) S ppid …". The comm may itself hold spaces and parentheses,
// hence the last ')'.
func parseStat(b []byte) (*Thread, bool) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return nil, false
	}
	fields := bytes.Fields(b[end+1:]) // state, ppid, pgrp, …
	if len(fields) < 2 {
		return nil, false
	}
	ppid, err := strconv.ParseUint(string(fields[1]), 10, 32)
	if err != nil {
		return nil, false
	}
	return &Thread{PPID: uint32(ppid), Comm: string(b[open+1 : end])}, true
}

// Get returns the thread tid of process pid, consulting /proc when the
// table does not know it; nil when nobody does.
func (t *Threads) Get(tid, pid uint32) *Thread {
	if th, ok := t.m[tid]; ok {
		return th
	}
	if t.proc == "" {
		return nil
	}
	return t.load(tid, pid)
}

// Update applies one event to the table and returns the event's thread
// (nil when unknown). Call it for every event, in order, before reading the
// table for that event.
func (t *Threads) Update(e *driver.Event) *Thread {
	if t.exited != 0 {
		delete(t.m, t.exited)
		t.exited = 0
	}
	switch e.Type {
	case driver.EvProcFork:
		// Emitted by the forking thread; describes the child.
		child := &Thread{
			TID:  uint32(e.Int(0)),
			PID:  uint32(e.Int(1)),
			PPID: uint32(e.Int(2)),
			Comm: e.Str(3),
		}
		t.m[child.TID] = child
	case driver.EvProcExec:
		// The exec'ing thread takes over the leader's tid; other threads of
		// the process are gone.
		if old := uint32(e.Int(1)); old != e.TID {
			if th := t.m[old]; th != nil {
				delete(t.m, old)
				th.TID = e.TID
				t.m[e.TID] = th
			}
		}
		if th := t.Get(e.TID, e.PID); th != nil {
			// The kernel names the task after the file's base name; the
			// execve exit event that follows carries the exact comm.
			th.Comm = commOf(e.Bytes(0))
		}
	case driver.EvExecve, driver.EvExecveat:
		if res, _ := e.Res(); res == 0 {
			if th := t.Get(e.TID, e.PID); th != nil {
				th.Comm = e.Str(e.Type.ParamIndex("comm"))
			}
		}
	case driver.EvProcExit:
		t.exited = e.TID
	}
	th := t.Get(e.TID, e.PID)
	if th != nil {
		th.PID = e.PID
	}
	return th
}

// commOf is the task name the kernel derives from an exec'd path: its base
// name cut to TASK_COMM_LEN-1 bytes.
func commOf(path []byte) string {
	if i := bytes.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	if len(path) > 15 {
		path = path[:15]
	}
	return string(path)
}
