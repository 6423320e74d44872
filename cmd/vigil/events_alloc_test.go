// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

// buildEvent encodes an event of type typ: parameters named in set take
// those values (int64 or string), the others zero or a short path.
func buildEvent(t testing.TB, typ driver.EventType, tid, pid uint32, set map[string]any) *driver.Event {
	t.Helper()
	var b driver.Builder
	b.Begin(nil, typ, 1000, tid, pid)
	for _, p := range typ.Info().Params {
		v, ok := set[p.Name]
		switch {
		case !ok && p.Type.FixedSize() > 0:
			b.Int(0)
		case !ok:
			b.Str("/tmp/vigil-alloc/file")
		default:
			switch v := v.(type) {
			case int:
				b.Int(int64(v))
			case string:
				b.Str(v)
			default:
				t.Fatalf("%s %s: value of type %T", typ, p.Name, v)
			}
		}
	}
	e := new(driver.Event)
	if err := e.Decode(b.End()); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return e
}

// TestStreamDiscardDoesNotAllocate: `vigil events --comm X` reads every
// event the kernel sends and keeps none; its cost per event must be the
// thread table's lookup and the filter, never an allocation (at millions
// of events a second the collector would cost more than the reading).
// The events are what a busy process makes: opens, closes, sockets,
// connects, dups, chdirs and plain syscalls. Process lifecycle events
// (fork, exec, exit) change the state and may allocate; they are not here.
func TestStreamDiscardDoesNotAllocate(t *testing.T) {
	s, evs := busyStream(t)
	discardAllocatesNothing(t, s, evs, "events")
}

// discardAllocatesNothing checks that s, which keeps nothing, takes evs
// without an allocation, and sees them all.
func discardAllocatesNothing(t *testing.T, s *stream, evs []*driver.Event, what string) {
	t.Helper()
	emit := func(e *driver.Event) error {
		t.Fatalf("--comm nomatch emitted an event of %d", e.TID)
		return nil
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, e := range evs {
			if done, err := s.take(e, emit); done || err != nil {
				t.Fatalf("take: done %v, err %v", done, err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("discarding %d %s allocated %.1f times (want none)", len(evs), what, allocs)
	}
	if s.kept != 0 || s.seen == 0 {
		t.Errorf("seen %d, kept %d: want every event seen and none kept", s.seen, s.kept)
	}
}

// The same with the events a live stream with --comm reads: their headers
// alone (driver.HeaderSource), decoded in full only when needed.
func TestStreamDiscardHeaderOnlyDoesNotAllocate(t *testing.T) {
	s, full := busyStream(t)
	evs := make([]*driver.Event, len(full))
	for i, e := range full {
		evs[i] = new(driver.Event)
		if err := evs[i].DecodeHeader(e.Raw); err != nil {
			t.Fatal(err)
		}
	}
	discardAllocatesNothing(t, s, evs, "header-only events")
}

// BenchmarkStreamTake is the user-space cost per event of vigil events
// --comm nomatch above the driver: the thread table and the filter.
func BenchmarkStreamTake(b *testing.B) {
	s, evs := busyStream(b)
	emit := func(*driver.Event) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.take(evs[i%len(evs)], emit)
	}
}

// busyStream is a stream that filters on a command no thread has, and
// the events of a busy process it knows.
func busyStream(t testing.TB) (*stream, []*driver.Event) {
	tab, err := driver.NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	getppid, _ := tab.Nr("getppid")
	s := &stream{threads: streamThreads(""), filter: filter{comm: "nomatch"}}
	const pid = 4242
	// The process becomes known from its exec, as in a capture begun
	// after it started.
	s.threads.Update(buildEvent(t, driver.EvExecve, pid, pid, map[string]any{"res": 0, "comm": "flood", "args": "flood"}))
	if th := s.threads.Get(pid, pid); th == nil || th.Comm != "flood" {
		t.Fatalf("thread %d not in the table after its exec: %+v", pid, th)
	}
	return s, []*driver.Event{
		buildEvent(t, driver.EvOpenatE, pid, pid, map[string]any{"dirfd": unix.AT_FDCWD, "name": "/etc//hosts"}),
		buildEvent(t, driver.EvOpenat, pid, pid, map[string]any{"res": 3, "dirfd": unix.AT_FDCWD, "name": "/etc/hosts"}),
		buildEvent(t, driver.EvDup, pid, pid, map[string]any{"res": 4, "oldfd": 3}),
		buildEvent(t, driver.EvClose, pid, pid, map[string]any{"res": 0, "fd": 4}),
		buildEvent(t, driver.EvClose, pid, pid, map[string]any{"res": 0, "fd": 3}),
		buildEvent(t, driver.EvSocket, pid, pid, map[string]any{"res": 5, "domain": unix.AF_INET, "type": unix.SOCK_STREAM}),
		buildEvent(t, driver.EvConnect, pid, pid, map[string]any{"res": 0, "fd": 5}),
		buildEvent(t, driver.EvClose, pid, pid, map[string]any{"res": 0, "fd": 5}),
		buildEvent(t, driver.EvChdir, pid, pid, map[string]any{"res": 0, "path": "/tmp"}),
		buildEvent(t, driver.EvGeneric, pid, pid, map[string]any{"res": 0, "id": int(getppid)}),
	}
}
