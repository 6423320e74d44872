// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"sort"
	"strings"

	"github.com/vigil-dev/vigil/driver"
)

// Snapshot describes the table as events, for a capture file's snapshot
// block: for each process a successful execve exit event (which says all
// the table knows of a process), and for each of its open files an openat
// exit event. Applied in order to an empty table with Update, they make
// the same processes and fds: a replay then knows the processes that were
// running before the capture began. Events are timestamped ts; processes
// come in pid order, so that parents precede children in the common case.
func (t *Threads) Snapshot(ts uint64) []*driver.Event {
	pids := make([]uint32, 0, len(t.procs))
	for pid := range t.procs {
		pids = append(pids, pid)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	var out []*driver.Event
	var b driver.Builder
	add := func(raw []byte) {
		var e driver.Event
		if e.Decode(raw) == nil {
			out = append(out, e.Copy())
		}
	}
	for _, pid := range pids {
		p := t.procs[pid]
		add(execEvent(&b, p, ts))
		var fds []*FD
		p.FDs.Range(func(fd *FD) bool {
			if fd.Type == FDFile || fd.Type == FDDirectory {
				fds = append(fds, fd)
			}
			return true
		})
		sort.Slice(fds, func(i, j int) bool { return fds[i].Num < fds[j].Num })
		for _, fd := range fds {
			b.Begin(nil, driver.EvOpenat, ts, p.PID, p.PID)
			flags := fd.Flags
			if fd.Type == FDDirectory {
				flags |= oDirectory
			}
			b.Int(fd.Num).Int(atFDCWD).Str(fd.Name).Int(int64(flags)).Int(0).Int(int64(fd.Dev)).Int(int64(fd.Ino))
			add(b.End())
		}
	}
	return out
}

const (
	atFDCWD    = -100
	oDirectory = 0o200000
)

// execEvent is p as the execve exit event that would have made it.
func execEvent(b *driver.Builder, p *Process, ts uint64) []byte {
	b.Begin(nil, driver.EvExecve, ts, p.PID, p.PID)
	argv := append([]string{p.Exe}, p.Args...)
	b.Int(0).Str(p.ExePath).Raw([]byte(strings.Join(argv, "\x00") + "\x00")).Str(p.Cwd).Str(p.Comm).
		Int(int64(p.PPID)).Int(p.VPID).Int(p.VPID).Int(p.SID).Int(p.PGID).
		Int(int64(p.UID)).Int(int64(p.GID)).Int(int64(p.EUID)).Int(int64(p.EGID)).Int(int64(p.LoginUID)).Int(int64(p.TTY)).
		Str(p.Cgroup).Int(int64(p.CapInheritable)).Int(int64(p.CapPermitted)).Int(int64(p.CapEffective)).
		Int(int64(p.ExeFlags)).Int(int64(p.ExeIno))
	return b.End()
}
