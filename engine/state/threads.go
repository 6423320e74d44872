// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package state keeps what the event stream alone does not say: for each
// thread, the process it belongs to, and for each process its image,
// credentials, cwd, container and open fds. It is seeded from /proc and
// then kept current by the driver's events.
//
// The model follows the kernel's: threads → a shared process → an fd
// table. A Thread is keyed by tid (the only id every event carries) and
// points to a *Process that all threads of its thread group share, because
// exec, set*id (as glibc broadcasts it), chdir and open change what every
// thread sees; one update then reaches them all, and a field extractor
// reads one pointer. The Process points to an *FDTable that fork copies
// and clone(CLONE_FILES) shares, so an fd opened by one thread is known
// to its siblings, and a forked child inherits its parent's sockets.
//
// Update is on the hot path (every event) and allocates only when an event
// changes the state; /proc is read only to seed, on a miss, for ancestry
// and to purge threads whose exit was missed.
package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/vigil-dev/vigil/driver"
	"golang.org/x/sys/unix"
)

// Thread is what the table knows of one thread.
type Thread struct {
	TID  uint32
	PID  uint32 // thread-group id
	PPID uint32 // parent process's thread-group id (Proc.PPID as of the last event)
	Comm string
	VTID int64 // tid in the thread's own pid namespace; 0 when unknown
	// Proc is shared by the threads of one process; never nil for a
	// thread the table returns.
	Proc *Process

	// lastChild is the child of this thread's last proc_fork, which the
	// clone exit event that follows refers to (its res is the child's pid
	// in our namespace, which may not be the host's).
	lastChild uint32

	// enterType and enterName are the thread's last open-family entry
	// event and its path exactly as the program passed it, held until the
	// exit event: the exit event's path is already resolved against the
	// dirfd or cwd, so only the entry event has the raw one.
	enterType driver.EventType
	enterName []byte
	// openRaw is the raw path of the open-family exit event being applied
	// (see OpenRaw); nil for any other event.
	openRaw []byte
	// renamedFD: the current event renamed an fd (see FDRenamed).
	renamedFD bool
}

// FDRenamed reports whether the thread's current event changed the name of
// an fd the table already had: a connect or bind that gave a socket its
// address (Falco's fd.name_changed). A new fd is not a renamed one.
func (th *Thread) FDRenamed() bool { return th.renamedFD }

// OpenRaw returns, while the thread's current event is an open-family exit
// event, the path as the program passed it (Falco's fd.nameraw): from the
// entry event, or, when that was not seen, the exit event's path before
// cleaning ("." and ".." kept). Repeated slashes are folded, as Falco
// does. nil for other events. The bytes are the thread's, valid until its
// next event.
func (th *Thread) OpenRaw() []byte { return th.openRaw }

// DefaultMaxThreads bounds a table made by NewThreads: well above any real
// host's thread count (pid_max is at most 4M, and rarely above 32K), low
// enough that a flood of forks whose exits are lost cannot take the
// agent's memory.
const DefaultMaxThreads = 1 << 20

// Stats counts what the table did that a person may want to know.
type Stats struct {
	Threads, Processes int
	Full               uint64 // threads not added because the table held Max
	Purged             uint64 // threads removed by Purge: their exit was missed
	ProcLoads          uint64 // threads read from /proc on a miss
	ProcMalformed      uint64 // /proc lines that could not be read while seeding
}

// Threads is a table of live threads keyed by tid. It is not safe for
// concurrent use: one goroutine reads the event stream and owns it.
type Threads struct {
	// ContainerOf names the container of a cgroup path ("" for the host).
	// The engine sets it before Seed; nil leaves every ContainerID empty.
	// It is called whenever a process's Cgroup is set or changes (seed,
	// miss, exec); a forked child inherits its parent's ContainerID.
	ContainerOf func(cgroup string) string
	// Max bounds the number of threads; see DefaultMaxThreads.
	Max int
	// NoFDs keeps Update from tracking fds and the paths they were opened
	// with, for a reader that needs only whose event it is (vigil events
	// and capture name an event's command): an open or a socket then costs
	// a type switch instead of an allocation. Processes keep the fd tables
	// Seed read; forks and execs leave them as they are. Set it before the
	// first Update.
	NoFDs bool

	m     map[uint32]*Thread
	procs map[uint32]*Process // by pid, while the process has a thread here
	// proc is the /proc to consult for a thread the table has not seen
	// (started before the table was seeded, or whose fork was dropped).
	// Empty when the events do not come from this host (a capture file).
	proc string
	// exited is the thread of the last proc_exit event: removed on the next
	// Update, so that the exit event itself still finds its thread.
	exited uint32
	// last is the thread Get returned last, or nil: a burst of events from
	// one thread (the usual case) then costs no map lookup. It is always a
	// thread of m under its own tid; remove clears it.
	last *Thread
	// mPeak and procsPeak are the most entries the maps held since they
	// were last rebuilt: Go maps keep their size after deletes, so a fork
	// flood would otherwise hold its peak memory for good (see shrink).
	mPeak, procsPeak int
	stats            Stats
}

// NewThreads returns an empty table. procRoot is the /proc of the host the
// events come from ("/proc", or "/host/proc" in a container), or "" when
// they come from elsewhere.
func NewThreads(procRoot string) *Threads {
	return &Threads{
		Max:   DefaultMaxThreads,
		m:     make(map[uint32]*Thread),
		procs: make(map[uint32]*Process),
		proc:  procRoot,
	}
}

// Len returns the number of threads in the table.
func (t *Threads) Len() int { return len(t.m) }

// Stats returns the table's counters.
func (t *Threads) Stats() Stats {
	s := t.stats
	s.Threads, s.Processes = len(t.m), len(t.procs)
	return s
}

// Seed reads every thread under the table's /proc, with its process and
// the process's fds.
func (t *Threads) Seed() error {
	if t.proc == "" {
		return nil
	}
	pids, err := os.ReadDir(t.proc)
	if err != nil {
		return fmt.Errorf("seed thread table from %s: %w", t.proc, err)
	}
	s := seeder{t: t, nets: make(map[string]*sockIndex)}
	for _, d := range pids {
		pid, err := strconv.ParseUint(d.Name(), 10, 32)
		if err != nil || pid == 0 {
			continue
		}
		p := s.readProcess(uint32(pid))
		if p == nil {
			continue // exited while we read
		}
		tasks, err := os.ReadDir(t.pidDir(uint32(pid)) + "/task")
		if err != nil {
			continue
		}
		for _, task := range tasks {
			if tid, err := strconv.ParseUint(task.Name(), 10, 32); err == nil {
				if th := s.readThread(uint32(tid), p); th != nil {
					t.add(th)
				}
			}
		}
	}
	return nil
}

// Get returns the thread tid of process pid, consulting /proc when the
// table does not know it; nil when nobody does.
func (t *Threads) Get(tid, pid uint32) *Thread {
	if th := t.last; th != nil && th.TID == tid && (th.PID == pid || pid == 0) {
		return th
	}
	if th, ok := t.m[tid]; ok {
		if th.PID == pid || pid == 0 {
			t.last = th
			return th
		}
		// The tid now belongs to another process: we missed the exit of
		// the thread we knew under it.
		t.remove(tid)
	}
	return t.load(tid, pid)
}

// Process returns the process pid, consulting /proc when the table does
// not know it; nil when nobody does.
func (t *Threads) Process(pid uint32) *Process {
	if p := t.procs[pid]; p != nil {
		return p
	}
	if th := t.load(pid, pid); th != nil {
		return th.Proc
	}
	return nil
}

// load reads thread tid of process pid from /proc into the table. The
// thread is returned even when the table is full and cannot keep it.
func (t *Threads) load(tid, pid uint32) *Thread {
	if t.proc == "" || tid == 0 || pid == 0 {
		return nil
	}
	t.stats.ProcLoads++
	s := seeder{t: t}
	p := t.procs[pid]
	if p == nil {
		if p = s.readProcess(pid); p == nil {
			return nil
		}
	}
	th := s.readThread(tid, p)
	if th == nil {
		return nil
	}
	t.add(th)
	return th
}

// add puts th in the table, replacing a thread of the same tid, and
// registers its process. It reports false when the table is full.
func (t *Threads) add(th *Thread) bool {
	if _, ok := t.m[th.TID]; ok {
		t.remove(th.TID)
	}
	if t.Max > 0 && len(t.m) >= t.Max {
		t.stats.Full++
		return false
	}
	t.m[th.TID] = th
	p := th.Proc
	p.threads++
	// A different process under this pid is one whose exit we missed; its
	// remaining threads keep it until they are purged.
	t.procs[p.PID] = p
	t.mPeak, t.procsPeak = max(t.mPeak, len(t.m)), max(t.procsPeak, len(t.procs))
	return true
}

// remove drops thread tid, and its process with its last thread.
func (t *Threads) remove(tid uint32) {
	th, ok := t.m[tid]
	if !ok {
		return
	}
	delete(t.m, tid)
	if t.last == th {
		t.last = nil
	}
	p := th.Proc
	if p.threads--; p.threads <= 0 {
		if t.procs[p.PID] == p {
			delete(t.procs, p.PID)
		}
		if p.FDs != nil {
			p.FDs.refs--
		}
	}
}

// Changes says whether Update may change the table for an event of type
// typ beyond finding (or adopting) its thread. For the other types, Update
// reads no parameter of the event (a header-only event will do, see
// driver.Event.DecodeHeader), and returns a thread already found
// unchanged, so a caller that keeps what it derived from the thread (a
// filter's verdict) may skip Update for the next events of that thread
// until one of a type that Changes.
func (t *Threads) Changes(typ driver.EventType) bool {
	if !t.NoFDs {
		return true
	}
	switch typ {
	case driver.EvProcFork, driver.EvProcExec, driver.EvProcExit,
		driver.EvExecve, driver.EvExecveat,
		driver.EvClone, driver.EvFork, driver.EvVfork, driver.EvClone3,
		driver.EvSetuid, driver.EvSetgid, driver.EvSetreuid, driver.EvSetregid,
		driver.EvSetresuid, driver.EvSetresgid, driver.EvCapset:
		return true
	}
	return false
}

// Update applies one event to the table and returns the event's thread
// (nil when unknown). Call it for every event, in order, before reading the
// table for that event.
func (t *Threads) Update(e *driver.Event) *Thread {
	if t.exited != 0 {
		t.remove(t.exited)
		t.exited = 0
		t.shrink()
	}
	switch e.Type {
	case driver.EvProcFork:
		t.fork(e)
	case driver.EvProcExec:
		t.procExec(e)
	case driver.EvProcExit:
		t.exited = e.TID
	}
	th := t.Get(e.TID, e.PID)
	if th == nil {
		if th = t.adopt(e); th == nil {
			return nil
		}
	}
	t.apply(th, e)
	th.PPID = th.Proc.PPID
	return th
}

// adopt makes a thread of an unknown process from a successful exec event,
// which says all there is to know about it: what its fork event would
// have said had it not been missed (a forking parent the driver ignores, a
// capture begun after the fork, no /proc to ask).
//
// An event of an unknown thread of a known process (started before the
// table could see it: a capture's snapshot knows processes, not their
// threads) makes a thread of that process.
func (t *Threads) adopt(e *driver.Event) *Thread {
	if p := t.procs[e.PID]; p != nil && e.PID != 0 && e.Type != driver.EvProcExit {
		th := &Thread{TID: e.TID, PID: e.PID, PPID: p.PPID, Comm: p.Comm, Proc: p}
		if !t.add(th) {
			return nil
		}
		return th
	}
	if e.Type != driver.EvExecve && e.Type != driver.EvExecveat {
		return nil
	}
	if res, _ := e.Res(); res != 0 {
		return nil
	}
	th := &Thread{TID: e.TID, PID: e.PID, Proc: &Process{PID: e.PID, LoginUID: 0xffffffff, StartTS: e.TS, FDs: NewFDTable()}}
	if !t.add(th) {
		return nil
	}
	return th
}

// apply makes the changes a syscall event of th brings.
func (t *Threads) apply(th *Thread, e *driver.Event) {
	th.openRaw, th.renamedFD = nil, false
	if t.NoFDs {
		// Changes lists these types: keep the two in step.
		switch e.Type {
		case driver.EvExecve, driver.EvExecveat:
			if res, _ := e.Res(); res == 0 {
				t.exec(th, e)
			}
		case driver.EvClone, driver.EvFork, driver.EvVfork, driver.EvClone3:
			t.cloneExit(th, e)
		case driver.EvSetuid, driver.EvSetgid, driver.EvSetreuid, driver.EvSetregid,
			driver.EvSetresuid, driver.EvSetresgid, driver.EvCapset:
			setCreds(th.Proc, e)
		}
		return
	}
	switch e.Type {
	case driver.EvOpenE, driver.EvOpenatE, driver.EvOpenat2E, driver.EvCreatE:
		th.enterType = e.Type
		th.enterName = append(th.enterName[:0], e.Bytes(enterNameIdx[e.Type])...)
		return
	case driver.EvOpen, driver.EvOpenat, driver.EvOpenat2, driver.EvCreat:
		th.openRaw = th.rawOpenPath(e)
	}
	switch e.Type {
	case driver.EvExecve, driver.EvExecveat:
		if res, _ := e.Res(); res == 0 {
			t.exec(th, e)
		}
	case driver.EvClone, driver.EvFork, driver.EvVfork, driver.EvClone3:
		t.cloneExit(th, e)
	case driver.EvSetuid, driver.EvSetgid, driver.EvSetreuid, driver.EvSetregid,
		driver.EvSetresuid, driver.EvSetresgid, driver.EvCapset:
		setCreds(th.Proc, e)
	case driver.EvOpen, driver.EvOpenat, driver.EvOpenat2, driver.EvCreat, driver.EvMemfdCreate,
		driver.EvSocket, driver.EvConnect, driver.EvAccept, driver.EvAccept4, driver.EvBind, driver.EvListen,
		driver.EvDup, driver.EvDup2, driver.EvDup3, driver.EvClose, driver.EvPipe, driver.EvPipe2,
		driver.EvChdir, driver.EvFchdir:
		th.renamedFD = applyFD(th.Proc, e, th.openRaw)
	}
}

// fork handles proc_fork, emitted by the forking thread (e.TID) and
// describing the child.
func (t *Threads) fork(e *driver.Event) {
	ctid, cpid, ppid := uint32(e.Int(0)), uint32(e.Int(1)), uint32(e.Int(2))
	if ctid == 0 || cpid == 0 {
		return
	}
	parent := t.Get(e.TID, e.PID)
	child := &Thread{TID: ctid, PID: cpid, Comm: e.Str(3)}
	if ctid == cpid {
		// A new process: fork copies the parent's image, credentials, cwd
		// and fd table. A clone with CLONE_FILES gets the table shared when
		// its exit event in the parent shows the flag (cloneExit).
		p := &Process{LoginUID: 0xffffffff}
		if parent != nil {
			*p = *parent.Proc
			p.threads = 0
			p.FDs = nil
			if !t.NoFDs {
				p.FDs = parent.Proc.FDs.clone()
			}
			// In the parent's pid namespace the child's vpid is unknown
			// here; on the host it is its pid. The child's own clone exit
			// event says it either way (and sees CLONE_NEWPID).
			if p.VPID == int64(parent.Proc.PID) {
				p.VPID = int64(cpid)
			} else {
				p.VPID = 0
			}
		} else if !t.NoFDs {
			p.FDs = NewFDTable()
		}
		p.PID, p.PPID, p.StartTS, p.Comm = cpid, ppid, e.TS, child.Comm
		child.Proc = p
	} else {
		// A new thread of an existing process: it shares the *Process.
		switch {
		case parent != nil && parent.PID == cpid:
			child.Proc = parent.Proc
		case t.procs[cpid] != nil:
			child.Proc = t.procs[cpid]
		default:
			child.Proc = &Process{PID: cpid, PPID: ppid, Comm: child.Comm, LoginUID: 0xffffffff, FDs: NewFDTable()}
		}
	}
	if p := child.Proc; p.VPID != 0 && p.VPID == int64(p.PID) {
		child.VTID = int64(ctid)
	}
	child.PPID = child.Proc.PPID
	if t.add(child) && parent != nil {
		parent.lastChild = ctid
	}
}

// Parameters of clone, fork, vfork and clone3 exit events.
const (
	cloneFlags = 1
	cloneVPID  = 2
	cloneVTID  = 3
)

// cloneExit handles the exit of clone/fork/vfork/clone3 in either the
// parent (res > 0) or the child (res == 0): each carries its caller's own
// vpid and vtid, and the parent's carries the flags.
func (t *Threads) cloneExit(th *Thread, e *driver.Event) {
	res, _ := e.Res()
	if res < 0 {
		return
	}
	if e.Has(cloneVPID) && e.Has(cloneVTID) {
		th.Proc.VPID, th.VTID = e.Int(cloneVPID), e.Int(cloneVTID)
	}
	if res == 0 {
		return
	}
	child := t.m[th.lastChild]
	th.lastChild = 0
	if child == nil || child.Proc == th.Proc {
		return
	}
	// CLONE_FILES without CLONE_THREAD: parent and child share one fd
	// table. The child may have run before this event; what it opened is
	// in the shared table too.
	flags := e.Uint(cloneFlags)
	if flags&unix.CLONE_FILES == 0 || flags&unix.CLONE_THREAD != 0 {
		return
	}
	own, shared := child.Proc.FDs, th.Proc.FDs
	if own == shared || own == nil || shared == nil {
		return
	}
	for num, fd := range own.m {
		if shared.m[num] != fd {
			shared.m[num] = fd
		}
	}
	child.Proc.FDs = shared
	shared.refs++
}

// procExec handles proc_exec: the exec'ing thread takes over the leader's
// tid; the other threads of the process are gone (each has its exit event).
func (t *Threads) procExec(e *driver.Event) {
	if old := uint32(e.Int(1)); old != 0 && old != e.TID {
		if th := t.m[old]; th != nil {
			t.remove(e.TID) // the old leader, if its exit was missed
			delete(t.m, old)
			th.TID = e.TID
			t.m[e.TID] = th
			t.procs[th.Proc.PID] = th.Proc
			if th.Proc.VPID != 0 {
				th.VTID = th.Proc.VPID
			}
		}
	}
	if th := t.Get(e.TID, e.PID); th != nil {
		// The kernel names the task after the file's base name; the
		// execve exit event that follows carries the exact comm.
		th.Comm = commOf(e.Bytes(0))
		th.Proc.Comm = th.Comm
	}
}

// execIdx holds the parameter indexes of execve and execveat (the same
// list), looked up once.
var execIdx = func() (x struct {
	exe, args, cwd, comm, ppid, vpid, vtid, sid, pgid, uid, gid, euid, egid,
	loginuid, tty, cgroup, capInh, capPrm, capEff, exeFlags, ino int
}) {
	ix := driver.EvExecve.ParamIndex
	x.exe, x.args, x.cwd, x.comm = ix("exe"), ix("args"), ix("cwd"), ix("comm")
	x.ppid, x.vpid, x.vtid, x.sid, x.pgid = ix("ppid"), ix("vpid"), ix("vtid"), ix("sid"), ix("pgid")
	x.uid, x.gid, x.euid, x.egid = ix("uid"), ix("gid"), ix("euid"), ix("egid")
	x.loginuid, x.tty, x.cgroup = ix("loginuid"), ix("tty"), ix("cgroup")
	x.capInh, x.capPrm, x.capEff = ix("cap_inheritable"), ix("cap_permitted"), ix("cap_effective")
	x.exeFlags, x.ino = ix("exe_flags"), ix("ino")
	return x
}()

// exec fills th's process from a successful execve/execveat exit event.
// A parameter the driver could not read keeps the value the table had.
func (t *Threads) exec(th *Thread, e *driver.Event) {
	p, x := th.Proc, &execIdx
	if e.Has(x.exe) {
		p.ExePath = e.Str(x.exe)
	}
	if argv := e.Args(x.args); len(argv) > 0 {
		p.Exe, p.Args = argv[0], argv[1:]
	} else {
		p.Exe, p.Args = p.ExePath, nil
	}
	if e.Has(x.cwd) {
		p.Cwd = e.Str(x.cwd)
	}
	if e.Has(x.comm) {
		p.Comm = e.Str(x.comm)
		th.Comm = p.Comm
	}
	if e.Has(x.ppid) {
		p.PPID = uint32(e.Int(x.ppid))
	}
	if e.Has(x.vpid) {
		p.VPID = e.Int(x.vpid)
	}
	if e.Has(x.vtid) {
		th.VTID = e.Int(x.vtid)
	}
	if e.Has(x.sid) {
		p.SID = e.Int(x.sid)
	}
	if e.Has(x.pgid) {
		p.PGID = e.Int(x.pgid)
	}
	setU32 := func(dst *uint32, i int) {
		if e.Has(i) {
			*dst = uint32(e.Uint(i))
		}
	}
	setU32(&p.UID, x.uid)
	setU32(&p.GID, x.gid)
	setU32(&p.EUID, x.euid)
	setU32(&p.EGID, x.egid)
	// exec sets the saved ids to the effective ones.
	p.SUID, p.SGID = p.EUID, p.EGID
	setU32(&p.LoginUID, x.loginuid)
	setU32(&p.TTY, x.tty)
	setU32(&p.ExeFlags, x.exeFlags)
	if e.Has(x.cgroup) {
		if cg := e.Bytes(x.cgroup); string(cg) != p.Cgroup {
			p.Cgroup = string(cg)
			p.ContainerID = t.containerOf(p.Cgroup)
		}
	}
	if e.Has(x.capEff) {
		p.CapInheritable, p.CapPermitted, p.CapEffective = e.Uint(x.capInh), e.Uint(x.capPrm), e.Uint(x.capEff)
	}
	if e.Has(x.ino) {
		p.ExeIno = e.Uint(x.ino)
	}
	p.ExecTS = e.TS
	// A new image, a new environment: read again when asked.
	p.Env, p.envRead, p.envOK = nil, false, false
	// exec unshares a shared fd table, then closes the O_CLOEXEC fds.
	if t.NoFDs {
		return
	}
	if p.FDs == nil {
		p.FDs = NewFDTable()
	} else if p.FDs.refs > 1 {
		p.FDs.refs--
		p.FDs = p.FDs.clone()
	}
	for num, fd := range p.FDs.m {
		if fd.Flags&unix.O_CLOEXEC != 0 {
			delete(p.FDs.m, num)
		}
	}
}

func (t *Threads) containerOf(cgroup string) string {
	if t.ContainerOf == nil || cgroup == "" {
		return ""
	}
	return t.ContainerOf(cgroup)
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

// maxAncestry bounds Ancestor's walk: Falco's proc.aname[n] goes to a
// handful of levels; a pid cycle (a reused pid that became its own
// ancestor in our view) must not loop.
const maxAncestry = 64

// Parent returns p's parent process (by PPID), reading /proc when the
// table does not know it; nil when unknown, when p is init or a kernel
// thread's root, or when the pid now names a process younger than p (the
// parent exited and its pid was reused).
func (t *Threads) Parent(p *Process) *Process {
	if p == nil || p.PPID == 0 || p.PPID == p.PID {
		return nil
	}
	if pp := t.procs[p.PPID]; pp != nil && olderOrSame(pp, p) {
		return pp
	}
	if t.proc == "" {
		return nil
	}
	// The parent may have exited and p been reparented: /proc says to
	// whom, provided the pid is still p's.
	if b, err := os.ReadFile(t.pidDir(p.PID) + "/stat"); err == nil {
		if st, err := parseProcStat(b); err == nil && samePIDLife(p, st) {
			p.PPID = uint32(st.PPID)
			if p.PPID == 0 || p.PPID == p.PID {
				return nil
			}
			if pp := t.procs[p.PPID]; pp != nil && olderOrSame(pp, p) {
				return pp
			}
		}
	}
	if pp := t.procs[p.PPID]; pp != nil && !olderOrSame(pp, p) {
		return nil // the table knows that pid as a younger process
	}
	pp := t.Process(p.PPID)
	if pp == nil || !olderOrSame(pp, p) {
		return nil
	}
	return pp
}

// Ancestor returns the n-th ancestor of p (1: its parent), nil when the
// chain ends first or loops.
func (t *Threads) Ancestor(p *Process, n int) *Process {
	if n > maxAncestry {
		return nil
	}
	var seen [maxAncestry]uint32
	for i := 0; i < n && p != nil; i++ {
		seen[i] = p.PID
		p = t.Parent(p)
		if p == nil {
			return nil
		}
		for _, s := range seen[:i+1] {
			if s == p.PID {
				return nil
			}
		}
	}
	return p
}

// olderOrSame reports whether parent can be child's parent by start time
// (unknown times do not rule it out). Times seeded from /proc are cut to
// the clock tick while those of fork events are exact, hence the tick of
// slack.
func olderOrSame(parent, child *Process) bool {
	return parent.StartTS == 0 || child.StartTS == 0 || parent.StartTS <= child.StartTS+nsPerTick
}

// nsPerTick converts /proc's clock ticks to nanoseconds. USER_HZ is 100 on
// every architecture Linux exports to user space, whatever CONFIG_HZ is.
const nsPerTick = 10_000_000

// samePIDLife reports whether a stat read now describes p and not a later
// process that reused its pid: its start time matches p's to the tick.
func samePIDLife(p *Process, st procStat) bool {
	if p.StartTS == 0 || !st.HaveStart {
		return true
	}
	d := int64(p.StartTS) - int64(st.StartTicks*nsPerTick)
	return -2*nsPerTick < d && d < 2*nsPerTick
}

// Purge removes the threads whose /proc entry is gone: their exit event
// was dropped. The engine calls it every few seconds, from the goroutine
// that calls Update; it returns how many it removed. A table without /proc
// (a capture) purges nothing. Events of a purged thread still in flight
// find nothing on their miss and get a nil thread, as for any thread that
// left no trace.
func (t *Threads) Purge() int {
	if t.proc == "" {
		return 0
	}
	alive := make(map[uint32]bool, len(t.procs))
	n := 0
	for tid, th := range t.m {
		live, ok := alive[th.PID]
		if !ok {
			live = exists(t.pidDir(th.PID))
			alive[th.PID] = live
		}
		if live && tid != th.PID {
			live = exists(t.pidDir(th.PID) + "/task/" + strconv.FormatUint(uint64(tid), 10))
		}
		if !live {
			t.remove(tid)
			n++
		}
	}
	t.stats.Purged += uint64(n)
	t.shrink()
	return n
}

// shrinkMin is the map size below which shrink does not bother: a few
// hundred threads' worth of buckets is not worth a rebuild.
const shrinkMin = 1024

// shrink rebuilds the thread and process maps once they hold an eighth of
// their peak: a burst of short-lived processes (a build, a fork bomb, a
// flood of forks whose exits were lost until Purge) grows them, and a Go
// map never gives its buckets back. The rebuild costs one pass over what
// is left, paid once per seven eighths of the peak removed.
func (t *Threads) shrink() {
	if t.mPeak >= shrinkMin && len(t.m) < t.mPeak/8 {
		m := make(map[uint32]*Thread, len(t.m))
		for tid, th := range t.m {
			m[tid] = th
		}
		t.m, t.mPeak = m, len(m)
	}
	if t.procsPeak >= shrinkMin && len(t.procs) < t.procsPeak/8 {
		procs := make(map[uint32]*Process, len(t.procs))
		for pid, p := range t.procs {
			procs[pid] = p
		}
		t.procs, t.procsPeak = procs, len(procs)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

func (t *Threads) pidDir(pid uint32) string {
	return t.proc + "/" + strconv.FormatUint(uint64(pid), 10)
}
