// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"os"
	"slices"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// A table seeded from the real /proc, written as snapshot events and read
// back into an empty table, knows the same processes and open files.
func TestSnapshotRoundTrip(t *testing.T) {
	f, err := os.Open("/etc/hostname")
	if err != nil {
		testenv.Unavailable(t, "no /etc/hostname to hold open: "+err.Error())
	}
	defer f.Close()
	live := NewThreads("/proc")
	if err := live.Seed(); err != nil {
		t.Fatal(err)
	}
	evs := live.Snapshot(12345)
	if len(evs) < live.Stats().Processes {
		t.Fatalf("%d snapshot events for %d processes", len(evs), live.Stats().Processes)
	}
	replay := NewThreads("")
	for _, e := range evs {
		replay.Update(e)
	}
	self := uint32(os.Getpid())
	want, got := live.Process(self), replay.Process(self)
	if got == nil {
		t.Fatal("this process is not in the replayed table")
	}
	for name, pair := range map[string][2]any{
		"ExePath": {got.ExePath, want.ExePath}, "Exe": {got.Exe, want.Exe}, "Cwd": {got.Cwd, want.Cwd},
		"Comm": {got.Comm, want.Comm}, "PPID": {got.PPID, want.PPID}, "UID": {got.UID, want.UID},
		"EUID": {got.EUID, want.EUID}, "LoginUID": {got.LoginUID, want.LoginUID}, "Cgroup": {got.Cgroup, want.Cgroup},
		"CapEffective": {got.CapEffective, want.CapEffective}, "SID": {got.SID, want.SID}, "TTY": {got.TTY, want.TTY},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s: replayed %v, live %v", name, pair[0], pair[1])
		}
	}
	if !slices.Equal(got.Args, want.Args) {
		t.Errorf("Args: replayed %q, live %q", got.Args, want.Args)
	}
	fd := got.FDs.Get(int64(f.Fd()))
	if fd == nil || fd.Name != "/etc/hostname" || fd.Type != FDFile {
		t.Errorf("open file fd %d replayed as %+v", f.Fd(), fd)
	}
	// A thread of a snapshot process that the snapshot did not name joins
	// that process at its first event.
	if th := replay.Update(event(t, 0 /* EvGeneric */, 999999, self, -2, 39)); th == nil || th.Proc != got {
		t.Errorf("an unknown thread of a snapshot process: %+v", th)
	}
	if n, m := replay.Stats().Processes, live.Stats().Processes; n != m {
		t.Errorf("replayed table has %d processes, live %d", n, m)
	}
}
