// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"testing"

	"github.com/vigil-dev/vigil/driver"
)

// commWorkload is a stream of events from several processes whose names
// change under the filter's feet: a shell forks children that exec other
// programs, threads come and go, a pid is reused after an exit, and plain
// syscalls of each run in between, as in a flood.
func commWorkload(t testing.TB) []*driver.Event {
	tab, err := driver.NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	getppid, _ := tab.Nr("getppid")
	var evs []*driver.Event
	add := func(typ driver.EventType, tid, pid uint32, set map[string]any) {
		evs = append(evs, buildEvent(t, typ, tid, pid, set))
	}
	syscalls := func(tid, pid uint32, n int) {
		for i := 0; i < n; i++ {
			add(driver.EvGeneric, tid, pid, map[string]any{"res": int(pid), "id": int(getppid)})
		}
	}
	add(driver.EvExecve, 100, 100, map[string]any{"res": 0, "comm": "sh", "args": "sh"})
	syscalls(100, 100, 3)
	for i, prog := range []string{"flood", "cat", "sh", "flood"} {
		child := uint32(200 + i)
		if i == 3 {
			child = 200 // the first child's pid, reused
		}
		add(driver.EvProcFork, 100, 100, map[string]any{"child_tid": int(child), "child_pid": int(child), "parent_pid": 100, "comm": "sh"})
		add(driver.EvClone, 100, 100, map[string]any{"res": int(child)})
		syscalls(child, child, 2)
		syscalls(100, 100, 1)
		add(driver.EvExecve, child, child, map[string]any{"res": 0, "comm": prog, "args": prog})
		syscalls(child, child, 3)
		// A thread of the child, then its exit.
		add(driver.EvProcFork, child, child, map[string]any{"child_tid": int(child + 50), "child_pid": int(child), "parent_pid": 100, "comm": prog})
		syscalls(child+50, child, 2)
		syscalls(child, child, 1)
		add(driver.EvProcExit, child+50, child, map[string]any{"exit_code": 0})
		syscalls(child, child, 2)
		// A failed exec changes nothing.
		add(driver.EvExecve, child, child, map[string]any{"res": -2, "comm": "nope", "args": "nope"})
		syscalls(child, child, 1)
		if i != 2 {
			add(driver.EvProcExit, child, child, map[string]any{"exit_code": 0})
		}
		syscalls(100, 100, 2)
	}
	// The shell execs with nothing between its own events: a kept "no"
	// for it must not outlive the exec.
	syscalls(100, 100, 2)
	add(driver.EvExecve, 100, 100, map[string]any{"res": 0, "comm": "cat", "args": "cat"})
	syscalls(100, 100, 2)
	// An unknown process (started before the table looked): its events
	// match no command until its exec says who it is.
	syscalls(900, 900, 2)
	add(driver.EvExecve, 900, 900, map[string]any{"res": 0, "comm": "flood", "args": "flood"})
	syscalls(900, 900, 2)
	return evs
}

// TestCommVerdictCache: the stream keeps the --comm verdict of the last
// thread between events that cannot change it. Over a workload where
// names change (forks, execs, exits, a reused pid), it must keep exactly
// the events that looking every event's thread up and comparing its name
// keeps.
func TestCommVerdictCache(t *testing.T) {
	evs := commWorkload(t)
	for _, comm := range []string{"flood", "sh", "cat", "nope", "nomatch"} {
		t.Run(comm, func(t *testing.T) {
			fast := &stream{threads: streamThreads(""), filter: filter{comm: comm}}
			batched := &stream{threads: streamThreads(""), filter: filter{comm: comm}}
			slow := &stream{threads: streamThreads(""), filter: filter{comm: comm}}
			var got, gotBatched, want []string
			keep := func(to *[]string) func(e *driver.Event) error {
				return func(e *driver.Event) error {
					*to = append(*to, fmt.Sprintf("%s %d/%d", e.Type, e.PID, e.TID))
					return nil
				}
			}
			batch := make([]driver.Event, 0, 5)
			for i, e := range evs {
				if _, err := fast.take(e, keep(&got)); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				// The same in batches of 5, as run takes a driver's.
				if batch = append(batch, *e); len(batch) == cap(batch) || i == len(evs)-1 {
					if _, err := batched.takeAll(batch, keep(&gotBatched)); err != nil {
						t.Fatalf("batch ending at event %d: %v", i, err)
					}
					batch = batch[:0]
				}
				if th := slow.threads.Update(e); slow.filter.match(e, th) {
					want = append(want, fmt.Sprintf("%s %d/%d", e.Type, e.PID, e.TID))
				}
			}
			if fmt.Sprint(gotBatched) != fmt.Sprint(got) {
				t.Errorf("--comm %s in batches kept %d events:\n%v\none by one %d:\n%v", comm, len(gotBatched), gotBatched, len(got), got)
			}
			if len(want) == 0 && comm != "nomatch" && comm != "nope" {
				t.Fatalf("the workload has no event of %q: the test proves nothing", comm)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("--comm %s kept %d events:\n%v\nlooking every thread up keeps %d:\n%v", comm, len(got), got, len(want), want)
			}
		})
	}
}

// TestHeaderOnlyVerdicts: a live stream with a filter reads events with
// only their headers decoded and decodes the rest of those it needs. Over
// the workload, for filters on command, process and type, it must keep the
// same events as a stream of fully decoded events, and hand them out
// decoded in full.
func TestHeaderOnlyVerdicts(t *testing.T) {
	tab, err := driver.NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	getppid, _ := tab.Nr("getppid")
	evs := commWorkload(t)
	filters := map[string]filter{
		"comm flood":   {comm: "flood"},
		"comm sh":      {comm: "sh"},
		"comm nomatch": {comm: "nomatch"},
		"pid 200":      {pid: 200},
		"pid 250":      {pid: 250},
		"type getppid": {types: make([]bool, driver.EvTypeMax), generic: make([]bool, driver.MaxSyscalls)},
		"type execve":  {types: make([]bool, driver.EvTypeMax), generic: make([]bool, driver.MaxSyscalls)},
		"comm cat, type execve": {comm: "cat", types: make([]bool, driver.EvTypeMax),
			generic: make([]bool, driver.MaxSyscalls)},
	}
	filters["type getppid"].generic[getppid] = true
	filters["type execve"].types[driver.EvExecve] = true
	filters["comm cat, type execve"].types[driver.EvExecve] = true
	run := func(f filter, headerOnly bool) (kept []string, decoded int) {
		s := &stream{threads: streamThreads(""), filter: f}
		emit := func(e *driver.Event) error {
			if !e.HeaderOnly && e.NParams == len(e.Type.Info().Params) {
				decoded++
			}
			kept = append(kept, fmt.Sprintf("%s %d/%d % x", e.Type, e.PID, e.TID, e.Raw))
			return nil
		}
		for i, src := range evs {
			var e driver.Event
			var err error
			if headerOnly {
				err = e.DecodeHeader(src.Raw)
			} else {
				err = e.Decode(src.Raw)
			}
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			if e.HeaderOnly != headerOnly {
				t.Fatalf("event %d: HeaderOnly %v", i, e.HeaderOnly)
			}
			if _, err := s.take(&e, emit); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		return kept, decoded
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			want, _ := run(f, false)
			got, decoded := run(f, true)
			if len(want) == 0 && name != "comm nomatch" {
				t.Fatalf("the filter keeps no event of the workload: the test proves nothing")
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("header-only events: kept %d:\n%v\ndecoded events: kept %d:\n%v", len(got), got, len(want), want)
			}
			if decoded != len(got) {
				t.Errorf("%d of the %d events kept were handed out decoded in full", decoded, len(got))
			}
		})
	}
}
