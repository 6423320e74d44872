// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

// This file is the contract between the state tables and the field
// extractors of the rule engine: the extractors read these types, the
// tables fill them. Keep field names stable; add, do not rename.

// Process is what all threads of one thread group share: the image they
// run, their credentials as of the last exec or set*id, and their fds.
// Threads of one process point to the same *Process.
type Process struct {
	PID  uint32 // thread-group id, in the host's pid namespace
	PPID uint32 // parent's thread-group id

	// As seen from inside the process's own pid namespace (container).
	VPID int64
	SID  int64 // session id
	PGID int64 // process group id

	Comm    string   // task name (at most 15 bytes)
	Exe     string   // argv[0] as the process was started (Falco's proc.exe)
	ExePath string   // resolved path of the executable (Falco's proc.exepath)
	Args    []string // argv[1:]
	Cwd     string   // current directory, absolute

	UID, GID, EUID, EGID uint32
	// SUID and SGID are the saved set-user and set-group ids, which decide
	// what an unprivileged set*id call may switch back to.
	SUID, SGID uint32
	LoginUID   uint32 // audit login uid; 0xffffffff when unset
	TTY        uint32 // controlling tty device number; 0 when none

	CapInheritable, CapPermitted, CapEffective uint64

	ExeFlags uint32 // driver.ExeMemfd, driver.ExeUpperLayer
	ExeIno   uint64

	// Cgroup is the process's cgroup path (v2 unified, or the v1 path
	// that names a container); ContainerID is derived from it ("" for the
	// host).
	Cgroup      string
	ContainerID string

	// StartTS is when the process was forked and ExecTS when it last
	// exec'd, in the driver's boot-time nanoseconds; 0 when unknown.
	// Seeded processes get StartTS from /proc's starttime (clock-tick
	// precision) and ExecTS 0. A forked child keeps its parent's ExecTS:
	// it runs the image the parent exec'd.
	StartTS, ExecTS uint64

	FDs *FDTable

	// Env is the environment exec gave the process, once Threads.Env has
	// read it; envRead says it was tried, envOK that it succeeded.
	Env            []string
	envRead, envOK bool

	// threads counts the table's threads that point here; the process
	// leaves the table with its last thread.
	threads int
}

// FDType is the kind of object an fd refers to.
type FDType uint8

// FD types, named as Falco's fd.type values.
const (
	FDUnknown FDType = iota
	FDFile
	FDDirectory
	FDIPv4
	FDIPv6
	FDUnix
	FDPipe
	FDEvent
	FDSignalFD
	FDEventPoll
	FDInotify
	FDTimerFD
	FDNetlink
	FDMemfd
	FDBPF
	FDUserfaultfd
)

// FD is one open file descriptor.
type FD struct {
	Num  int64
	Type FDType
	Name string // path for files, "client:port->server:port" style tuple for sockets
	// NameRaw is the path as the program passed it to the open-family
	// call that made the fd (Thread.OpenRaw); "" for fds made otherwise
	// or seeded from /proc.
	NameRaw string
	Flags   uint32 // open flags
	Dev     uint32
	Ino     uint64

	// For sockets: the local and remote ends (zero when not connected).
	// Proto is "tcp", "udp", "raw" or "".
	Proto            string
	LocalIP, PeerIP  []byte // 4 or 16 bytes
	LocalPort        uint16
	PeerPort         uint16
	Listening        bool
	Domain, SockType uint32
}

// FDTable is the fd table of one process. Threads created with CLONE_FILES
// share it (all threads of a process do).
type FDTable struct {
	m map[int64]*FD
	// refs counts the processes using the table: more than one after a
	// clone with CLONE_FILES but without CLONE_THREAD. exec then unshares
	// it, as the kernel does.
	refs int
	// peak is the most fds m held since it was last rebuilt (see Delete).
	peak int
}

// NewFDTable returns an empty table.
func NewFDTable() *FDTable { return &FDTable{m: make(map[int64]*FD), refs: 1} }

// Get returns fd num, or nil when the table does not know it.
func (t *FDTable) Get(num int64) *FD {
	if t == nil {
		return nil
	}
	return t.m[num]
}

// Set records fd (replacing whatever held its number).
func (t *FDTable) Set(fd *FD) {
	t.m[fd.Num] = fd
	t.peak = max(t.peak, len(t.m))
}

// fdShrinkMin is the table size below which Delete does not rebuild.
const fdShrinkMin = 256

// Delete forgets fd num. A table down to an eighth of its peak is rebuilt:
// a long-lived server that once held many connections would otherwise keep
// the map's buckets for them, since a Go map never shrinks.
func (t *FDTable) Delete(num int64) {
	delete(t.m, num)
	if t.peak >= fdShrinkMin && len(t.m) < t.peak/8 {
		m := make(map[int64]*FD, len(t.m))
		for k, v := range t.m {
			m[k] = v
		}
		t.m, t.peak = m, len(m)
	}
}

// Range calls fn for every fd, in no particular order, until fn returns
// false. fn must not add or delete fds.
func (t *FDTable) Range(fn func(*FD) bool) {
	if t == nil {
		return
	}
	for _, fd := range t.m {
		if !fn(fd) {
			return
		}
	}
}

// clone is the table a forked child gets: the same open files under the
// same numbers. The *FD values are shared because they describe the same
// open file descriptions (a connect seen through either process is the
// socket's); dup, which makes a new number, copies instead.
func (t *FDTable) clone() *FDTable {
	c := &FDTable{m: make(map[int64]*FD, len(t.m)), refs: 1}
	for k, v := range t.m {
		c.m[k] = v
	}
	return c
}

// Len returns the number of fds in the table.
func (t *FDTable) Len() int {
	if t == nil {
		return 0
	}
	return len(t.m)
}

// User is an account of the host (or of the container image, when the
// engine reads the container's files).
type User struct {
	UID   uint32
	Name  string
	Home  string
	Shell string
}

// Group is a group of the host.
type Group struct {
	GID  uint32
	Name string
}
