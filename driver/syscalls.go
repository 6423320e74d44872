// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"fmt"
	"sort"
)

// MaxSyscalls bounds syscall numbers on every supported architecture; the
// drivers' interest tables have this many slots.
const MaxSyscalls = 512

// SyscallTable resolves syscall names and numbers for one architecture and
// maps each syscall to the events it produces.
type SyscallTable struct {
	Arch   string
	byName map[string]uint16
	names  [MaxSyscalls]string
	enter  [MaxSyscalls]EventType // EvTypeMax when the syscall has no entry event
	exit   [MaxSyscalls]EventType // EvGeneric when it has no event of its own
}

// NewSyscallTable builds the table for arch (a Go GOARCH name).
func NewSyscallTable(arch string) (*SyscallTable, error) {
	var byName map[string]uint16
	switch arch {
	case "amd64":
		byName = syscallsX86_64
	default:
		return nil, fmt.Errorf("syscall table for %s: %w (vigil supports amd64)", arch, ErrNotSupported)
	}
	t := &SyscallTable{Arch: arch, byName: byName}
	for i := range t.enter {
		t.enter[i] = EvTypeMax
		t.exit[i] = EvGeneric
	}
	for name, nr := range byName {
		t.names[nr] = name
	}
	for et := EventType(0); et < EvTypeMax; et++ {
		info := &Events[et]
		for _, sc := range info.Syscalls {
			nr, ok := byName[sc]
			if !ok {
				// Syscalls missing on an architecture (open, fork, ...
				// on arm64) simply produce nothing there.
				continue
			}
			if info.Dir == Enter {
				t.enter[nr] = et
			} else {
				t.exit[nr] = et
			}
		}
	}
	return t, nil
}

// Nr returns the number of the named syscall.
func (t *SyscallTable) Nr(name string) (uint16, bool) {
	nr, ok := t.byName[name]
	return nr, ok
}

// Name returns the name of syscall nr, or "" when it has none.
func (t *SyscallTable) Name(nr uint16) string {
	if int(nr) >= MaxSyscalls {
		return ""
	}
	return t.names[nr]
}

// ExitEvent returns the event syscall nr produces at exit.
func (t *SyscallTable) ExitEvent(nr uint16) EventType { return t.exit[nr%MaxSyscalls] }

// EnterEvent returns the event syscall nr produces at entry, if any.
func (t *SyscallTable) EnterEvent(nr uint16) (EventType, bool) {
	et := t.enter[nr%MaxSyscalls]
	return et, et != EvTypeMax
}

// Names returns every syscall name of the architecture, sorted.
func (t *SyscallTable) Names() []string {
	out := make([]string, 0, len(t.byName))
	for n := range t.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
