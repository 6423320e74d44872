// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"testing"

	"github.com/vigil-dev/vigil/driver"
	"golang.org/x/sys/unix"
)

// steadyEvents are events that change no state: what most of the stream
// is (generic syscalls, entry events, failed calls, reads of known
// threads). Update must not allocate for them.
func steadyEvents(t testing.TB) []*driver.Event {
	return []*driver.Event{
		event(t, driver.EvGeneric, 100, 100, 4096, 0), // read
		event(t, driver.EvGeneric, 101, 100, 4096, 1), // write, another thread
		event(t, driver.EvOpenatE, 100, 100, unix.AT_FDCWD, "/etc/hosts", unix.O_RDONLY, 0),
		event(t, driver.EvOpenat, 100, 100, -int(unix.ENOENT), unix.AT_FDCWD, "/nope", unix.O_RDONLY, 0, absent, absent),
		event(t, driver.EvClose, 101, 100, -int(unix.EBADF), 999),
		event(t, driver.EvConnect, 100, 100, -int(unix.ECONNREFUSED), 3, tuple("127.0.0.1:1", "127.0.0.1:2")),
		event(t, driver.EvUnlink, 100, 100, 0, "/tmp/x"),
		event(t, driver.EvSetuid, 100, 100, -int(unix.EPERM), 0),
		event(t, driver.EvClone, 100, 100, -int(unix.EAGAIN), 0, 100, 100),
		event(t, driver.EvExecve, 100, 100, execArgs(t, map[string]any{"res": -2})...),
		event(t, driver.EvChdir, 100, 100, -2, "/nope"),
	}
}

// benchTable is a table with process 100 (threads 100, 101) that has a
// few fds.
func benchTable(t testing.TB) *Threads {
	tab := NewThreads("")
	newProc(t, tab, 1, 100, "app")
	tab.Update(event(t, driver.EvProcFork, 100, 100, 101, 100, 1, "app"))
	tab.Update(event(t, driver.EvSocket, 100, 100, 3, unix.AF_INET, unix.SOCK_STREAM, 0))
	tab.Update(event(t, driver.EvOpen, 100, 100, 4, "/var/log/app.log", unix.O_WRONLY, 0, 0, 0))
	return tab
}

func TestUpdateSteadyDoesNotAllocate(t *testing.T) {
	tab := benchTable(t)
	evs := steadyEvents(t)
	for _, e := range evs {
		e := e
		if a := testing.AllocsPerRun(200, func() { tab.Update(e) }); a != 0 {
			t.Errorf("Update(%s) allocates %.1f times", e.Type, a)
		}
	}
	if th := tab.Update(evs[0]); th == nil || th.Proc.FDs.Len() != 2 {
		t.Fatalf("the steady events changed the table: %+v", th)
	}
}

// BenchmarkUpdate runs Update over a stream: "steady" has only events that
// change nothing; "mix" adds, per 16 events, one open and one close (which
// allocate the new FD and its name) and a fork/exit of a thread.
func BenchmarkUpdate(b *testing.B) {
	steady := steadyEvents(b)
	b.Run("steady", func(b *testing.B) {
		tab := benchTable(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tab.Update(steady[i%len(steady)])
		}
	})
	b.Run("mix", func(b *testing.B) {
		tab := benchTable(b)
		var mix []*driver.Event
		for len(mix) < 12 {
			mix = append(mix, steady...)
		}
		mix = append(mix[:12],
			event(b, driver.EvOpen, 100, 100, 5, "/etc/hosts", unix.O_RDONLY, 0, 0, 0),
			event(b, driver.EvClose, 100, 100, 0, 5),
			event(b, driver.EvProcFork, 100, 100, 102, 100, 1, "app"),
			event(b, driver.EvProcExit, 102, 100, 0),
		)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tab.Update(mix[i%len(mix)])
		}
	})
}
