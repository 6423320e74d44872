// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

// A process the table never saw is looked up in /proc on first use, with
// its whole Process.
func TestGetReadsProcOnMiss(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		testenv.Unavailable(t, "cannot start sleep (coreutils): "+err.Error())
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	tab := NewThreads("/proc")
	pid := uint32(cmd.Process.Pid)
	// The child may not have exec'd yet: wait until /proc shows sleep.
	waitComm(t, pid, "sleep")
	th := tab.Get(pid, pid)
	if th == nil || th.PPID != uint32(os.Getpid()) || th.Comm != "sleep" {
		t.Fatalf("child = %+v, want ppid %d comm sleep", th, os.Getpid())
	}
	p := th.Proc
	want, _ := filepath.EvalSymlinks(cmd.Path)
	if p.Exe != "sleep" || !slices.Equal(p.Args, []string{"10"}) || p.ExePath != want {
		t.Errorf("exe %q args %q exepath %q, want sleep [10] %s", p.Exe, p.Args, p.ExePath, want)
	}
	if p.Comm != "sleep" || p.PID != pid || p.UID != uint32(os.Getuid()) {
		t.Errorf("process = %+v", p)
	}
	if tab.Get(pid+1<<20, pid+1<<20) != nil {
		t.Error("a tid that does not exist was found")
	}
	if got := tab.Process(pid); got != p {
		t.Errorf("Process(%d) = %p, want the thread's %p", pid, got, p)
	}
}

// waitComm waits until process pid has exec'd comm, its arguments in
// place: the kernel renames the task before it sets up the new image's
// argv, so /proc shows the new comm with an empty cmdline for a moment.
func waitComm(t *testing.T, pid uint32, comm string) {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(int(pid))
	for i := 0; i < 200; i++ {
		b, _ := os.ReadFile(dir + "/comm")
		args, _ := os.ReadFile(dir + "/cmdline")
		if strings.TrimSpace(string(b)) == comm && len(args) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never became %s", pid, comm)
}

func TestLifecycle(t *testing.T) {
	tab := NewThreads("") // events from elsewhere: no /proc lookups
	// 100 forks 200; 200 starts thread 201; 201 execs (taking tid 200).
	tab.Update(event(t, driver.EvProcFork, 100, 100, 200, 200, 100, "sh"))
	th := tab.Update(event(t, driver.EvProcFork, 200, 200, 201, 200, 100, "sh"))
	if th == nil || th.TID != 200 || th.PPID != 100 {
		t.Fatalf("forking thread = %+v", th)
	}
	leader, thread := tab.Get(200, 200), tab.Get(201, 200)
	if thread == nil || thread.PPID != 100 || thread.PID != 200 {
		t.Fatalf("new thread = %+v, want pid 200 ppid 100", thread)
	}
	if thread.Proc != leader.Proc {
		t.Fatal("the threads of process 200 do not share their Process")
	}
	// The leader exits first (de_thread kills it), then 201 execs.
	tab.Update(event(t, driver.EvProcExit, 200, 200, 0))
	th = tab.Update(event(t, driver.EvProcExec, 200, 200, "/usr/bin/a-very-long-program-name", 201))
	if th == nil || th.Comm != "a-very-long-pro" || th.Proc != leader.Proc {
		t.Fatalf("after exec = %+v, want comm cut to 15 bytes, same process", th)
	}
	if tab.Get(201, 200) != nil {
		t.Error("the exec'ing thread's old tid is still in the table")
	}
	// The execve exit event carries the exact comm.
	if th = tab.Update(event(t, driver.EvExecve, 200, 200, execArgs(t, map[string]any{"comm": "exact-comm", "ppid": 100})...)); th == nil || th.Comm != "exact-comm" {
		t.Fatalf("after execve = %+v", th)
	}
	// The exit event still sees its thread; the next event does not.
	if th = tab.Update(event(t, driver.EvProcExit, 200, 200, 0)); th == nil || th.PPID != 100 {
		t.Fatalf("exit event's thread = %+v", th)
	}
	if th = tab.Update(event(t, driver.EvProcExit, 100, 100, 0)); th != nil {
		t.Fatalf("thread 100 was never forked here but is known: %+v", th)
	}
	if tab.Get(200, 200) != nil || tab.Process(200) != nil {
		t.Error("exited process 200 is still in the table")
	}
	if s := tab.Stats(); s.Threads != 0 || s.Processes != 0 {
		t.Errorf("stats after every exit = %+v", s)
	}
}

func TestForkCopiesProcessAndFDs(t *testing.T) {
	tab := NewThreads("")
	parent := newProc(t, tab, 1, 100, "sh")
	tab.Update(eventAt(t, 150, driver.EvExecve, 100, 100, execArgs(t, map[string]any{
		"exe": "/bin/bash", "args": []byte("bash\x00-c\x00x"), "cwd": "/work", "comm": "bash", "ppid": 1, "vpid": 100, "vtid": 100,
		"uid": 1000, "euid": 1000, "gid": 100, "egid": 100, "cgroup": "/docker/abc",
	})...))
	tab.Update(event(t, driver.EvOpenat, 100, 100, 3, unix.AT_FDCWD, "/etc/hosts", unix.O_RDONLY, 0, 0x800001, 77))
	tab.Update(eventAt(t, 200, driver.EvProcFork, 100, 100, 300, 300, 100, "bash"))
	child := tab.Get(300, 300)
	if child == nil || child.Proc == parent.Proc {
		t.Fatalf("child = %+v: want a Process of its own", child)
	}
	c, p := child.Proc, parent.Proc
	if c.PID != 300 || c.PPID != 100 || c.StartTS != 200 || c.ExecTS != 150 {
		t.Errorf("child pid %d ppid %d start %d exec %d, want 300 100 200 150", c.PID, c.PPID, c.StartTS, c.ExecTS)
	}
	if c.Exe != "bash" || c.ExePath != "/bin/bash" || !slices.Equal(c.Args, []string{"-c", "x"}) ||
		c.Cwd != "/work" || c.UID != 1000 || c.Cgroup != "/docker/abc" {
		t.Errorf("child did not inherit the parent's image and creds: %+v", c)
	}
	if c.VPID != 300 || child.VTID != 300 {
		t.Errorf("host child vpid %d vtid %d, want 300 300", c.VPID, child.VTID)
	}
	tab.Update(event(t, driver.EvProcFork, 300, 300, 301, 300, 100, "bash"))
	if th := tab.Get(301, 300); th == nil || th.VTID != 301 || th.Proc != c {
		t.Errorf("host child's thread = %+v, want vtid 301 in the child's process", th)
	}
	if fd := c.FDs.Get(3); fd == nil || fd.Name != "/etc/hosts" || fd.Ino != 77 {
		t.Fatalf("child fd 3 = %+v, want the parent's /etc/hosts", fd)
	}
	if c.FDs == p.FDs {
		t.Fatal("fork shares the fd table; it must copy it")
	}
	// After fork the tables are separate.
	tab.Update(event(t, driver.EvClose, 100, 100, 0, 3))
	tab.Update(event(t, driver.EvOpen, 300, 300, 4, "/tmp/x", unix.O_WRONLY|unix.O_CREAT, 0o644, 0, 0))
	if c.FDs.Get(3) == nil || p.FDs.Get(4) != nil || c.FDs.Get(4) == nil {
		t.Errorf("parent close or child open leaked across the fork: parent %d fds, child %d", p.FDs.Len(), c.FDs.Len())
	}
}

func TestThreadSharesProcess(t *testing.T) {
	tab := NewThreads("")
	leader := newProc(t, tab, 1, 100, "app")
	tab.Update(event(t, driver.EvProcFork, 100, 100, 101, 100, 1, "worker"))
	th := tab.Get(101, 100)
	if th == nil || th.Proc != leader.Proc || th.Comm != "worker" || th.PPID != 1 {
		t.Fatalf("thread 101 = %+v; want the leader's Process", th)
	}
	// An fd the thread opens is the process's.
	tab.Update(event(t, driver.EvOpen, 101, 100, 5, "/var/log/app.log", unix.O_WRONLY|unix.O_APPEND, 0, 0, 0))
	if fd := leader.Proc.FDs.Get(5); fd == nil || fd.Name != "/var/log/app.log" {
		t.Errorf("the leader does not see the thread's fd: %+v", fd)
	}
	// The thread exits: the process stays with its leader.
	tab.Update(event(t, driver.EvProcExit, 101, 100, 0))
	tab.Update(event(t, driver.EvGeneric, 100, 100, 0, 0))
	if tab.Get(101, 100) != nil || tab.Process(100) != leader.Proc {
		t.Fatal("thread exit removed the process or kept the thread")
	}
	tab.Update(event(t, driver.EvProcExit, 100, 100, 0))
	tab.Update(event(t, driver.EvGeneric, 1, 1, 0, 0))
	if tab.Process(100) != nil {
		t.Error("the process outlived its last thread")
	}
}

func TestExecFillsProcessAndDropsCloexec(t *testing.T) {
	tab := NewThreads("")
	var asked []string
	tab.ContainerOf = func(cg string) string {
		asked = append(asked, cg)
		if strings.HasPrefix(cg, "/docker/") {
			return cg[len("/docker/"):][:12]
		}
		return ""
	}
	th := newProc(t, tab, 1, 100, "sh")
	tab.Update(event(t, driver.EvOpen, 100, 100, 3, "/keep", unix.O_RDONLY, 0, 0, 0))
	tab.Update(event(t, driver.EvOpen, 100, 100, 4, "/drop", unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0))
	tab.Update(event(t, driver.EvSocket, 100, 100, 5, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0))
	tab.Update(event(t, driver.EvPipe2, 100, 100, 0, 6, 7, unix.O_CLOEXEC))
	tab.Update(event(t, driver.EvDup3, 100, 100, 8, 3, 8, unix.O_CLOEXEC))
	// A failed execve changes nothing.
	tab.Update(event(t, driver.EvExecve, 100, 100, execArgs(t, map[string]any{"res": -2, "exe": "/nope"})...))
	if th.Proc.ExePath == "/nope" || th.Proc.FDs.Len() != 6 {
		t.Fatalf("failed execve changed the process: %+v, %d fds", th.Proc, th.Proc.FDs.Len())
	}
	id := strings.Repeat("ab", 32)
	tab.Update(eventAt(t, 5000, driver.EvExecve, 100, 100, execArgs(t, map[string]any{
		"exe": "/usr/bin/python3.12", "args": []byte("python3\x00-m\x00http.server\x00"), "cwd": "/srv",
		"comm": "python3", "ppid": 42, "vpid": 7, "vtid": 7, "sid": 5, "pgid": 6,
		"uid": 1000, "gid": 1001, "euid": 0, "egid": 1003, "loginuid": 1000, "tty": 136<<20 | 2,
		"cgroup": "/docker/" + id, "cap_inheritable": 1, "cap_permitted": 0x1ff, "cap_effective": 0xff,
		"exe_flags": driver.ExeUpperLayer, "ino": 999,
	})...))
	p := th.Proc
	checks := []struct {
		name      string
		got, want any
	}{
		{"Exe", p.Exe, "python3"},
		{"Args", strings.Join(p.Args, " "), "-m http.server"},
		{"ExePath", p.ExePath, "/usr/bin/python3.12"},
		{"Cwd", p.Cwd, "/srv"},
		{"Comm", p.Comm, "python3"},
		{"thread Comm", th.Comm, "python3"},
		{"PPID", p.PPID, uint32(42)},
		{"thread PPID", tab.Get(100, 100).PPID, uint32(42)},
		{"VPID", p.VPID, int64(7)},
		{"VTID", th.VTID, int64(7)},
		{"SID", p.SID, int64(5)},
		{"PGID", p.PGID, int64(6)},
		{"UID", p.UID, uint32(1000)},
		{"GID", p.GID, uint32(1001)},
		{"EUID", p.EUID, uint32(0)},
		{"EGID", p.EGID, uint32(1003)},
		{"SUID", p.SUID, uint32(0)},
		{"SGID", p.SGID, uint32(1003)},
		{"LoginUID", p.LoginUID, uint32(1000)},
		{"TTY", p.TTY, uint32(136<<20 | 2)},
		{"Cgroup", p.Cgroup, "/docker/" + id},
		{"ContainerID", p.ContainerID, "abababababab"},
		{"CapInheritable", p.CapInheritable, uint64(1)},
		{"CapPermitted", p.CapPermitted, uint64(0x1ff)},
		{"CapEffective", p.CapEffective, uint64(0xff)},
		{"ExeFlags", p.ExeFlags, uint32(driver.ExeUpperLayer)},
		{"ExeIno", p.ExeIno, uint64(999)},
		{"ExecTS", p.ExecTS, uint64(5000)},
		{"StartTS", p.StartTS, uint64(100)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var kept []int64
	p.FDs.Range(func(fd *FD) bool { kept = append(kept, fd.Num); return true })
	slices.Sort(kept)
	if !slices.Equal(kept, []int64{3}) {
		t.Errorf("fds after exec = %v, want [3]: 4-8 were close-on-exec", kept)
	}
	if !slices.Contains(asked, "/docker/"+id) {
		t.Errorf("ContainerOf was asked %q, not the new cgroup", asked)
	}
	// A parameter the driver could not read keeps the old value.
	tab.Update(event(t, driver.EvExecve, 100, 100, execArgs(t, map[string]any{"cgroup": absent, "cwd": absent, "uid": absent})...))
	if p.Cgroup != "/docker/"+id || p.Cwd != "/srv" || p.UID != 1000 || p.ExePath != "/usr/bin/true" {
		t.Errorf("absent params overwrote: cgroup %q cwd %q uid %d exe %q", p.Cgroup, p.Cwd, p.UID, p.ExePath)
	}
}

const cloneFilesFlags = unix.CLONE_VM | unix.CLONE_FILES | unix.CLONE_FS | unix.CLONE_VFORK

func TestCloneFilesSharesUntilExec(t *testing.T) {
	tab := NewThreads("")
	parent := newProc(t, tab, 1, 100, "sh")
	tab.Update(event(t, driver.EvOpen, 100, 100, 3, "/a", unix.O_RDONLY, 0, 0, 0))
	tab.Update(event(t, driver.EvProcFork, 100, 100, 200, 200, 100, "sh"))
	// The child runs before the parent's clone returns.
	tab.Update(event(t, driver.EvOpen, 200, 200, 4, "/b", unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0))
	tab.Update(event(t, driver.EvClone, 200, 200, 0, uint64(cloneFilesFlags), 1, 1))
	child := tab.Get(200, 200)
	if child.Proc.VPID != 1 || child.VTID != 1 {
		t.Errorf("child's clone exit gave vpid %d vtid %d, want 1 1 (CLONE_NEWPID-style)", child.Proc.VPID, child.VTID)
	}
	if child.Proc.FDs == parent.Proc.FDs {
		t.Fatal("table shared before the parent's clone exit showed CLONE_FILES")
	}
	tab.Update(event(t, driver.EvClone, 100, 100, 200, uint64(cloneFilesFlags), 100, 100))
	if child.Proc.FDs != parent.Proc.FDs {
		t.Fatal("CLONE_FILES did not share the fd table")
	}
	if parent.Proc.FDs.Get(4) == nil {
		t.Error("what the child opened before the share is not in the shared table")
	}
	tab.Update(event(t, driver.EvOpen, 200, 200, 5, "/c", unix.O_RDONLY, 0, 0, 0))
	if parent.Proc.FDs.Get(5) == nil {
		t.Error("shared table: the parent does not see the child's open")
	}
	// exec unshares (and drops the child's copy of close-on-exec fds only).
	tab.Update(event(t, driver.EvExecve, 200, 200, execArgs(t, nil)...))
	if child.Proc.FDs == parent.Proc.FDs {
		t.Fatal("exec kept the table shared")
	}
	if child.Proc.FDs.Get(4) != nil || parent.Proc.FDs.Get(4) == nil {
		t.Error("exec's close-on-exec must drop fd 4 in the child only")
	}
	tab.Update(event(t, driver.EvOpen, 200, 200, 6, "/d", unix.O_RDONLY, 0, 0, 0))
	if parent.Proc.FDs.Get(6) != nil {
		t.Error("after exec the child's opens still reach the parent")
	}
	// A plain fork (no CLONE_FILES) keeps its copy.
	tab.Update(event(t, driver.EvProcFork, 100, 100, 300, 300, 100, "sh"))
	tab.Update(event(t, driver.EvFork, 100, 100, 300, uint64(unix.SIGCHLD), 100, 100))
	if tab.Get(300, 300).Proc.FDs == parent.Proc.FDs {
		t.Error("fork without CLONE_FILES shares the table")
	}
}

func TestFDLifecycle(t *testing.T) {
	tab := NewThreads("")
	th := newProc(t, tab, 1, 100, "sh")
	fds := func() *FDTable { return th.Proc.FDs }
	up := func(typ driver.EventType, params ...any) { t.Helper(); tab.Update(event(t, typ, 100, 100, params...)) }

	up(driver.EvChdir, 0, "/home/u")
	up(driver.EvOpenat, 3, unix.AT_FDCWD, "/home/u/./a/../b.txt", unix.O_RDWR, 0, 0x800001, 12)
	if fd := fds().Get(3); fd == nil || fd.Type != FDFile || fd.Name != "/home/u/b.txt" || fd.Dev != 0x800001 || fd.Ino != 12 || fd.Flags != unix.O_RDWR {
		t.Fatalf("openat fd = %+v", fd)
	}
	up(driver.EvOpenat2, 4, unix.AT_FDCWD, "/etc", unix.O_RDONLY|unix.O_DIRECTORY, 0, 0, 0, 0)
	if fd := fds().Get(4); fd == nil || fd.Type != FDDirectory {
		t.Fatalf("O_DIRECTORY fd = %+v", fd)
	}
	// A path the driver could not resolve is taken against the dirfd.
	up(driver.EvOpenat, 5, 4, "passwd", unix.O_RDONLY, 0, 0, 0)
	if fd := fds().Get(5); fd == nil || fd.Name != "/etc/passwd" {
		t.Errorf("relative openat = %+v, want /etc/passwd", fd)
	}
	up(driver.EvCreat, 6, "/tmp/new", 0o600, 0, 0)
	if fd := fds().Get(6); fd == nil || fd.Flags != unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC {
		t.Errorf("creat fd = %+v", fd)
	}
	// Failures add nothing.
	up(driver.EvOpen, -int(unix.ENOENT), "/missing", unix.O_RDONLY, 0, absent, absent)
	if fds().Len() != 4 {
		t.Fatalf("a failed open added an fd: %d fds", fds().Len())
	}
	// dup copies under the new number and clears close-on-exec.
	up(driver.EvOpen, 7, "/cloexec", unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	up(driver.EvDup, 8, 7)
	if fd := fds().Get(8); fd == nil || fd.Name != "/cloexec" || fd.Flags&unix.O_CLOEXEC != 0 || fd.Num != 8 || fd == fds().Get(7) {
		t.Errorf("dup fd = %+v", fd)
	}
	up(driver.EvDup2, 1, 3, 1)
	if fd := fds().Get(1); fd == nil || fd.Name != "/home/u/b.txt" {
		t.Errorf("dup2 onto 1 = %+v", fd)
	}
	up(driver.EvDup3, 9, 3, 9, unix.O_CLOEXEC)
	if fd := fds().Get(9); fd == nil || fd.Flags&unix.O_CLOEXEC == 0 {
		t.Errorf("dup3 O_CLOEXEC fd = %+v", fd)
	}
	// dup2 from an fd the table does not know: the target is no longer
	// what the table thought.
	up(driver.EvDup2, 9, 55, 9)
	if fds().Get(9) != nil {
		t.Error("dup2 from an unknown fd left the old fd 9")
	}
	up(driver.EvClose, 0, 8)
	if fds().Get(8) != nil || fds().Get(7) == nil {
		t.Error("close 8 did not remove it, or removed its original")
	}
	up(driver.EvPipe, 0, 10, 11)
	if r, w := fds().Get(10), fds().Get(11); r == nil || w == nil || r.Type != FDPipe || w.Type != FDPipe || w.Flags != unix.O_WRONLY {
		t.Errorf("pipe fds = %+v %+v", r, w)
	}
	up(driver.EvMemfdCreate, 12, "payload", unix.MFD_CLOEXEC)
	if fd := fds().Get(12); fd == nil || fd.Type != FDMemfd || fd.Name != "memfd:payload" || fd.Flags&unix.O_CLOEXEC == 0 {
		t.Errorf("memfd = %+v", fd)
	}
	// chdir: relative to the cwd; fchdir: via the fd table.
	up(driver.EvChdir, 0, "../v")
	if th.Proc.Cwd != "/home/v" {
		t.Errorf("cwd after chdir ../v = %q", th.Proc.Cwd)
	}
	up(driver.EvFchdir, 0, 4)
	if th.Proc.Cwd != "/etc" {
		t.Errorf("cwd after fchdir(4) = %q, want /etc", th.Proc.Cwd)
	}
	up(driver.EvChdir, -int(unix.ENOENT), "/nope")
	if th.Proc.Cwd != "/etc" {
		t.Errorf("failed chdir changed the cwd to %q", th.Proc.Cwd)
	}
}

func TestSockets(t *testing.T) {
	tab := NewThreads("")
	th := newProc(t, tab, 1, 100, "curl")
	fds := th.Proc.FDs
	up := func(typ driver.EventType, params ...any) { t.Helper(); tab.Update(event(t, typ, 100, 100, params...)) }

	for _, c := range []struct {
		domain, typ int
		want        FDType
		proto       string
	}{
		{unix.AF_INET, unix.SOCK_STREAM, FDIPv4, "tcp"},
		{unix.AF_INET6, unix.SOCK_DGRAM | unix.SOCK_NONBLOCK, FDIPv6, "udp"},
		{unix.AF_INET, unix.SOCK_RAW, FDIPv4, "raw"},
		{unix.AF_UNIX, unix.SOCK_STREAM, FDUnix, ""},
		{unix.AF_NETLINK, unix.SOCK_RAW, FDNetlink, ""},
		{unix.AF_PACKET, unix.SOCK_RAW, FDUnknown, ""},
	} {
		up(driver.EvSocket, 3, c.domain, c.typ, 0)
		if fd := fds.Get(3); fd == nil || fd.Type != c.want || fd.Proto != c.proto || fd.Domain != uint32(c.domain) {
			t.Errorf("socket(%d, %#x) = %+v, want type %d proto %q", c.domain, c.typ, fd, c.want, c.proto)
		}
	}

	// Client: connect fills the tuple, local end first.
	up(driver.EvSocket, 4, unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	up(driver.EvConnect, 0, 4, tuple("10.0.0.5:41000", "93.184.216.34:443"))
	fd := fds.Get(4)
	if fd.Name != "10.0.0.5:41000->93.184.216.34:443" || fd.LocalPort != 41000 || fd.PeerPort != 443 ||
		fd.Local().Addr().String() != "10.0.0.5" || fd.Peer().Addr().String() != "93.184.216.34" {
		t.Errorf("connected fd = %+v", fd)
	}
	// A non-blocking connect under way has its tuple too.
	up(driver.EvSocket, 5, unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	up(driver.EvConnect, -int(unix.EINPROGRESS), 5, tuple("[fd00::1]:50000", "[2001:db8::2]:80"))
	if fd := fds.Get(5); fd.Name != "fd00::1:50000->2001:db8::2:80" || len(fd.PeerIP) != 16 {
		t.Errorf("EINPROGRESS connect fd = %+v", fd)
	}
	up(driver.EvConnect, -int(unix.ECONNREFUSED), 4, tuple("10.0.0.5:41001", "10.0.0.9:1"))
	if fds.Get(4).PeerPort != 443 {
		t.Error("a refused connect changed the socket")
	}

	// Server: bind, listen, accept.
	up(driver.EvSocket, 6, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	up(driver.EvBind, 0, 6, sockaddr("0.0.0.0:8080"))
	up(driver.EvListen, 0, 6, 128)
	l := fds.Get(6)
	if !l.Listening || l.LocalPort != 8080 || l.Name != "0.0.0.0:8080" || l.Flags&unix.O_CLOEXEC == 0 {
		t.Errorf("listening fd = %+v", l)
	}
	up(driver.EvAccept4, 7, 6, tuple("10.0.0.5:8080", "10.0.0.77:53000"), unix.SOCK_CLOEXEC)
	a := fds.Get(7)
	if a == nil || a.Type != FDIPv4 || a.Proto != "tcp" || a.Name != "10.0.0.77:53000->10.0.0.5:8080" ||
		a.LocalPort != 8080 || a.PeerPort != 53000 || a.Flags&unix.O_CLOEXEC == 0 || a.Listening {
		t.Errorf("accepted fd = %+v, want client first, the listener's proto", a)
	}
	up(driver.EvAccept, 8, 6, tuple("10.0.0.5:8080", "10.0.0.78:53001"))
	if a := fds.Get(8); a == nil || a.Flags&unix.O_CLOEXEC != 0 || a.Name != "10.0.0.78:53001->10.0.0.5:8080" {
		t.Errorf("accept fd = %+v", a)
	}

	// Unix sockets are named by path.
	up(driver.EvSocket, 9, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	up(driver.EvConnect, 0, 9, unixAddr("/run/docker.sock"))
	if fd := fds.Get(9); fd.Name != "/run/docker.sock" || fd.Type != FDUnix {
		t.Errorf("unix connect fd = %+v", fd)
	}
	// connect on an fd the table never saw (opened before seeding).
	up(driver.EvConnect, 0, 20, tuple("127.0.0.1:1000", "127.0.0.1:2000"))
	if fd := fds.Get(20); fd == nil || fd.Type != FDIPv4 || fd.Name != "127.0.0.1:1000->127.0.0.1:2000" {
		t.Errorf("connect on an unknown fd = %+v", fd)
	}
}

func TestCredentials(t *testing.T) {
	const all = 0x1ffffffffff
	cases := []struct {
		name             string
		uid, euid, suid  uint32
		capPrm, capEff   uint64
		typ              driver.EventType
		args             []any
		wantR, wantE     uint32
		wantS            uint32
		wantPrm, wantEff uint64
	}{
		{"root setuid drops all and caps", 0, 0, 0, all, all, driver.EvSetuid, []any{0, 1000}, 1000, 1000, 1000, 0, 0},
		{"user setuid sets euid only", 1000, 0x3e9, 1000, 0, 0, driver.EvSetuid, []any{0, 1000}, 1000, 1000, 1000, 0, 0},
		{"setuid-root binary back to saved", 1000, 1000, 0, all, 0, driver.EvSetuid, []any{0, 0}, 1000, 0, 0, all, all},
		{"failed setuid", 0, 0, 0, all, all, driver.EvSetuid, []any{-1, 1000}, 0, 0, 0, all, all},
		{"seteuid from root keeps permitted", 0, 0, 0, all, all, driver.EvSetresuid, []any{0, unchanged, 1000, unchanged}, 0, 1000, 0, all, 0},
		{"setresuid all", 0, 0, 0, all, all, driver.EvSetresuid, []any{0, 1, 2, 3}, 1, 2, 3, 0, 0},
		{"setreuid real sets saved", 1000, 1000, 1000, 0, 0, driver.EvSetreuid, []any{0, 1001, unchanged}, 1001, 1000, 1000, 0, 0},
		{"setreuid euid != ruid sets saved", 0, 0, 0, all, all, driver.EvSetreuid, []any{0, unchanged, 5}, 0, 5, 5, all, 0},
		{"setreuid euid == ruid keeps saved", 7, 8, 9, 0, 0, driver.EvSetreuid, []any{0, unchanged, 7}, 7, 7, 9, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab := NewThreads("")
			p := newProc(t, tab, 1, 100, "x").Proc
			p.UID, p.EUID, p.SUID, p.CapPermitted, p.CapEffective = c.uid, c.euid, c.suid, c.capPrm, c.capEff
			tab.Update(event(t, c.typ, 100, 100, c.args...))
			if p.UID != c.wantR || p.EUID != c.wantE || p.SUID != c.wantS || p.CapPermitted != c.wantPrm || p.CapEffective != c.wantEff {
				t.Errorf("ids %d/%d/%d caps %#x/%#x, want %d/%d/%d %#x/%#x",
					p.UID, p.EUID, p.SUID, p.CapPermitted, p.CapEffective, c.wantR, c.wantE, c.wantS, c.wantPrm, c.wantEff)
			}
		})
	}
	t.Run("gids", func(t *testing.T) {
		tab := NewThreads("")
		p := newProc(t, tab, 1, 100, "x").Proc
		tab.Update(event(t, driver.EvSetgid, 100, 100, 0, 50))
		if p.GID != 50 || p.EGID != 50 || p.SGID != 50 {
			t.Errorf("root setgid: %d/%d/%d", p.GID, p.EGID, p.SGID)
		}
		p.EUID = 1000
		tab.Update(event(t, driver.EvSetregid, 100, 100, 0, unchanged, 60))
		if p.GID != 50 || p.EGID != 60 || p.SGID != 60 {
			t.Errorf("setregid(-1, 60): %d/%d/%d", p.GID, p.EGID, p.SGID)
		}
		tab.Update(event(t, driver.EvSetresgid, 100, 100, 0, 1, unchanged, 3))
		if p.GID != 1 || p.EGID != 60 || p.SGID != 3 {
			t.Errorf("setresgid(1, -1, 3): %d/%d/%d", p.GID, p.EGID, p.SGID)
		}
		tab.Update(event(t, driver.EvSetgid, 100, 100, 0, 70))
		if p.GID != 1 || p.EGID != 70 {
			t.Errorf("unprivileged setgid: %d/%d", p.GID, p.EGID)
		}
	})
	t.Run("capset", func(t *testing.T) {
		tab := NewThreads("")
		p := newProc(t, tab, 1, 100, "x").Proc
		tab.Update(event(t, driver.EvCapset, 100, 100, 0, 1, 0x3, 0x2))
		if p.CapInheritable != 1 || p.CapPermitted != 3 || p.CapEffective != 2 {
			t.Errorf("caps %#x %#x %#x", p.CapInheritable, p.CapPermitted, p.CapEffective)
		}
	})
}

func TestMaxBoundsTheTable(t *testing.T) {
	tab := NewThreads("")
	tab.Max = 3
	newProc(t, tab, 1, 100, "a")
	for tid := 101; tid < 106; tid++ {
		tab.Update(event(t, driver.EvProcFork, 100, 100, tid, 100, 1, "a"))
	}
	if s := tab.Stats(); tab.Len() != 3 || s.Full != 3 {
		t.Errorf("len %d, stats %+v: want 3 threads and 3 refused", tab.Len(), s)
	}
}

// The test's own process, seeded from the real /proc, against what the
// kernel tells us by other means.
func TestSeedOwnProcess(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	memfd, err := unix.MemfdCreate("seedtest", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(memfd)
	srv, cli, acc := tcpPair(t)
	defer srv.Close()
	defer cli.Close()
	defer acc.Close()
	sockPath := filepath.Join(dir, "s.sock")
	us := listenUnix(t, sockPath)
	defer unix.Close(us)

	tab := NewThreads("/proc")
	if err := tab.Seed(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(os.Getpid())
	th := tab.Get(pid, pid)
	if th == nil {
		t.Fatalf("own pid %d not in a table of %d threads", pid, tab.Len())
	}
	p := th.Proc
	exe, _ := os.Executable()
	wd, _ := os.Getwd()
	comm, _ := os.ReadFile("/proc/self/comm")
	sid, _ := unix.Getsid(0)
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		t.Fatal(err)
	}
	capOf := func(f func(unix.CapUserData) uint32) uint64 { return uint64(f(caps[1]))<<32 | uint64(f(caps[0])) }
	checks := []struct {
		name      string
		got, want any
	}{
		{"PID", p.PID, pid},
		{"PPID", p.PPID, uint32(os.Getppid())},
		{"thread PPID", th.PPID, uint32(os.Getppid())},
		{"VPID", p.VPID, int64(os.Getpid())},
		{"VTID", th.VTID, int64(pid)},
		{"SID", p.SID, int64(sid)},
		{"PGID", p.PGID, int64(unix.Getpgrp())},
		{"Comm", p.Comm, strings.TrimSuffix(string(comm), "\n")},
		{"Exe", p.Exe, os.Args[0]},
		{"Args", strings.Join(p.Args, "\x00"), strings.Join(os.Args[1:], "\x00")},
		{"ExePath", p.ExePath, exe},
		{"Cwd", p.Cwd, wd},
		{"UID", p.UID, uint32(os.Getuid())},
		{"EUID", p.EUID, uint32(os.Geteuid())},
		{"GID", p.GID, uint32(os.Getgid())},
		{"EGID", p.EGID, uint32(os.Getegid())},
		{"CapEffective", p.CapEffective, capOf(func(c unix.CapUserData) uint32 { return c.Effective })},
		{"CapPermitted", p.CapPermitted, capOf(func(c unix.CapUserData) uint32 { return c.Permitted })},
		{"CapInheritable", p.CapInheritable, capOf(func(c unix.CapUserData) uint32 { return c.Inheritable })},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(exe, &st); err == nil && p.ExeIno != st.Ino {
		t.Errorf("ExeIno = %d, want %d", p.ExeIno, st.Ino)
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	if now := uint64(ts.Nano()); p.StartTS == 0 || p.StartTS > now {
		t.Errorf("StartTS %d not in (0, boot time now %d]", p.StartTS, now)
	}
	// Every Go runtime thread shares the process.
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		tid, _ := strconv.ParseUint(task.Name(), 10, 32)
		if o := tab.Get(uint32(tid), pid); o == nil || o.Proc != p {
			// A thread started after Seed is read on the miss, with
			// the process the table has.
			t.Errorf("thread %d does not share the process: %+v", tid, o)
		}
	}

	// The fds, as opened above.
	fds := p.FDs
	if fd := fds.Get(int64(f.Fd())); fd == nil || fd.Type != FDFile || fd.Name != f.Name() || fd.Flags&unix.O_CLOEXEC == 0 {
		t.Errorf("file fd = %+v, want %s close-on-exec", fd, f.Name())
	} else if unix.Fstat(int(f.Fd()), &st) == nil && (fd.Ino != st.Ino || fd.Dev != devFromStat(st.Dev)) {
		t.Errorf("file fd dev/ino = %#x/%d, want %#x/%d", fd.Dev, fd.Ino, devFromStat(st.Dev), st.Ino)
	}
	if fd := fds.Get(int64(d.Fd())); fd == nil || fd.Type != FDDirectory || fd.Name != dir {
		t.Errorf("directory fd = %+v", fd)
	}
	if fd := fds.Get(int64(pipe[1])); fd == nil || fd.Type != FDPipe || fd.Flags&unix.O_WRONLY == 0 {
		t.Errorf("pipe fd = %+v", fd)
	}
	if fd := fds.Get(int64(memfd)); fd == nil || fd.Type != FDMemfd || fd.Name != "memfd:seedtest" {
		t.Errorf("memfd = %+v", fd)
	}
	checkTCP(t, fds, srv, cli, acc)
	if fd := fds.Get(int64(us)); fd == nil || fd.Type != FDUnix || fd.Name != sockPath || !fd.Listening {
		t.Errorf("unix listener fd = %+v, want %s listening", fd, sockPath)
	}
}

// Parent walks up through /proc, and sees reparenting after the parent
// exits.
func TestParentAndReparenting(t *testing.T) {
	tab := NewThreads("/proc")
	self := tab.Process(uint32(os.Getpid()))
	if self == nil {
		t.Fatal("own process not found")
	}
	pp := tab.Parent(self)
	if pp == nil || pp.PID != uint32(os.Getppid()) {
		t.Fatalf("Parent = %+v, want pid %d", pp, os.Getppid())
	}
	if a := tab.Ancestor(self, 1); a != pp {
		t.Errorf("Ancestor(1) = %+v, want the parent", a)
	}
	if a := tab.Ancestor(self, 2); a != nil && a != tab.Parent(pp) {
		t.Errorf("Ancestor(2) = %+v, want the grandparent", a)
	}

	// sh starts sleep in the background and waits on its stdin; when it
	// exits, sleep is reparented.
	sh := exec.Command("sh", "-c", "sleep 30 >/dev/null & echo $!; read x")
	in, _ := sh.StdinPipe()
	out, _ := sh.StdoutPipe()
	if err := sh.Start(); err != nil {
		testenv.Unavailable(t, "cannot start sh: "+err.Error())
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	sleepPID, _ := strconv.Atoi(strings.TrimSpace(line))
	defer unix.Kill(sleepPID, unix.SIGKILL)
	sleep := tab.Process(uint32(sleepPID))
	if sleep == nil || sleep.PPID != uint32(sh.Process.Pid) {
		t.Fatalf("sleep = %+v, want ppid %d", sleep, sh.Process.Pid)
	}
	in.Close()
	_, _ = io.Copy(io.Discard, out)
	_ = sh.Wait()
	// The table never knew sh as a process: Parent asks /proc, which now
	// names the new parent.
	b, _ := os.ReadFile("/proc/" + line[:len(line)-1] + "/stat")
	st, err := parseProcStat(b)
	if err != nil {
		t.Fatal(err)
	}
	got := tab.Parent(sleep)
	if uint32(st.PPID) == uint32(sh.Process.Pid) {
		t.Fatalf("sleep was not reparented (stat %q)", b)
	}
	if got == nil || got.PID != uint32(st.PPID) {
		t.Errorf("Parent(sleep) = %+v, want the new parent %d", got, st.PPID)
	}

	// A cycle in the table's view ends the walk.
	loop := NewThreads("")
	a := newProc(t, loop, 1, 10, "a").Proc
	b2 := newProc(t, loop, 1, 11, "b").Proc
	a.PPID, b2.PPID = 11, 10
	a.StartTS, b2.StartTS = 0, 0
	if got := loop.Ancestor(a, 5); got != nil {
		t.Errorf("Ancestor through a cycle = %+v, want nil", got)
	}
}

func TestPurgeRemovesThreadsGoneFromProc(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		testenv.Unavailable(t, "cannot start sleep (coreutils): "+err.Error())
	}
	tab := NewThreads("/proc")
	pid := uint32(cmd.Process.Pid)
	if tab.Get(pid, pid) == nil {
		t.Fatal("child not found")
	}
	self := uint32(os.Getpid())
	tab.Get(self, self)
	_ = cmd.Process.Kill()
	_ = cmd.Wait() // reaped: /proc/<pid> is gone
	if n := tab.Purge(); n != 1 {
		t.Errorf("Purge removed %d threads, want 1", n)
	}
	if _, ok := tab.m[pid]; ok || tab.procs[pid] != nil {
		t.Error("the reaped child is still in the table")
	}
	if tab.m[self] == nil {
		t.Error("Purge removed a live thread")
	}
	if s := tab.Stats(); s.Purged != 1 {
		t.Errorf("stats = %+v", s)
	}
}

// A process in a pid namespace of its own: the table keeps the host pid
// and learns the namespace's from /proc (NStgid, NSpid).
func TestSeedPidNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root to make a pid namespace")
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		testenv.Unavailable(t, "cannot start a process in a new pid namespace: "+err.Error())
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := uint32(cmd.Process.Pid)
	waitComm(t, pid, "sleep")
	tab := NewThreads("/proc")
	if err := tab.Seed(); err != nil {
		t.Fatal(err)
	}
	th := tab.Get(pid, pid)
	if th == nil {
		t.Fatal("namespaced process not seeded")
	}
	if th.Proc.PID != pid || th.Proc.VPID != 1 || th.VTID != 1 {
		t.Errorf("pid %d vpid %d vtid %d, want %d 1 1", th.Proc.PID, th.Proc.VPID, th.VTID, pid)
	}
}

func TestSeedBadProcRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-proc")
	err := NewThreads(dir).Seed()
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Seed of a missing /proc: %v, want an error naming %s", err, dir)
	}
}

// A pid the table knows as a process younger than the child is a reused
// pid, not the child's parent.
func TestParentRejectsReusedPID(t *testing.T) {
	tab := NewThreads("")
	young := newProc(t, tab, 1, 10, "new-owner-of-10").Proc
	child := newProc(t, tab, 1, 20, "orphan").Proc
	child.PPID = 10
	young.StartTS, child.StartTS = 5_000_000_000, 1_000_000_000
	if got := tab.Parent(child); got != nil {
		t.Errorf("Parent = %+v: a process 4s younger than the child", got)
	}
	young.StartTS = 900_000_000
	if got := tab.Parent(child); got != young {
		t.Errorf("Parent = %+v, want pid 10", got)
	}
}

// A successful exec of a process the table never heard of (its fork was
// missed, and there is no /proc to ask) makes the process from the exec
// event; other events of unknown threads still find nothing.
func TestExecAdoptsUnknownProcess(t *testing.T) {
	tab := NewThreads("")
	if th := tab.Update(event(t, driver.EvClose, 300, 300, 0, 3)); th != nil {
		t.Fatalf("a close of an unknown thread made %+v", th)
	}
	if th := tab.Update(event(t, driver.EvExecve, 300, 300, execArgs(t, map[string]any{"res": -2, "exe": "/nope"})...)); th != nil {
		t.Fatalf("a failed exec of an unknown thread made %+v", th)
	}
	th := tab.Update(eventAt(t, 77, driver.EvExecve, 300, 300, execArgs(t, map[string]any{
		"exe": "/usr/bin/ls", "args": []byte("ls\x00-l\x00"), "comm": "ls", "ppid": 12, "cwd": "/tmp",
	})...))
	if th == nil {
		t.Fatal("a successful exec of an unknown process left it unknown")
	}
	p := th.Proc
	if p.PID != 300 || p.PPID != 12 || p.ExePath != "/usr/bin/ls" || p.Comm != "ls" || strings.Join(p.Args, " ") != "-l" || p.Cwd != "/tmp" || p.StartTS != 77 {
		t.Fatalf("adopted process: %+v", p)
	}
	if got := tab.Get(300, 300); got != th {
		t.Fatalf("the table does not return the adopted thread")
	}
	if tab.Update(event(t, driver.EvOpen, 300, 300, 3, "/etc/hosts", unix.O_RDONLY, 0, 0, 0)); p.FDs.Get(3) == nil {
		t.Fatal("the adopted process does not track its fds")
	}
}

// fd.nameraw: the path as the program passed it comes from the open
// family's entry event (the exit event's path is already resolved against
// the cwd); without the entry event, the exit event's path before cleaning.
func TestOpenRawPath(t *testing.T) {
	tab := NewThreads("")
	th := newProc(t, tab, 1, 100, "cat")
	up := func(typ driver.EventType, params ...any) { t.Helper(); tab.Update(event(t, typ, 100, 100, params...)) }
	up(driver.EvChdir, 0, "/home/u")

	up(driver.EvOpenatE, unix.AT_FDCWD, "../..//etc/passwd", unix.O_RDONLY, 0)
	if th.OpenRaw() != nil {
		t.Errorf("OpenRaw on an entry event = %q, want nil", th.OpenRaw())
	}
	up(driver.EvOpenat, 3, unix.AT_FDCWD, "/home/u/../../etc/passwd", unix.O_RDONLY, 0, 0, 0)
	if got := string(th.OpenRaw()); got != "../../etc/passwd" {
		t.Errorf("OpenRaw on the exit event = %q, want ../../etc/passwd (slashes folded)", got)
	}
	if fd := th.Proc.FDs.Get(3); fd == nil || fd.Name != "/etc/passwd" || fd.NameRaw != "../../etc/passwd" {
		t.Fatalf("fd 3 = %+v, want Name /etc/passwd and NameRaw ../../etc/passwd", fd)
	}
	// The next event of the thread no longer has an open's raw path.
	up(driver.EvClose, 0, 3)
	if th.OpenRaw() != nil {
		t.Errorf("OpenRaw after close = %q, want nil", th.OpenRaw())
	}

	// A failed open keeps the raw path for the event (Falco's
	// open_file_failed still names the file).
	up(driver.EvOpenE, "./x/../../../etc/shadow", unix.O_RDONLY, 0)
	up(driver.EvOpen, -int(unix.EACCES), "/home/u/x/../../../etc/shadow", unix.O_RDONLY, 0, absent, absent)
	if got := string(th.OpenRaw()); got != "./x/../../../etc/shadow" {
		t.Errorf("OpenRaw of a failed open = %q", got)
	}

	// The exit whose entry was lost does not take the previous entry's
	// path: it falls back to its own, uncleaned.
	up(driver.EvCreatE, "a/../b", 0o600)
	up(driver.EvCreat, 4, "/home/u/a/../b", 0o600, 0, 0)
	up(driver.EvOpenat, 5, unix.AT_FDCWD, "/home/u/c/../d", unix.O_RDONLY, 0, 0, 0)
	if fd := th.Proc.FDs.Get(4); fd == nil || fd.NameRaw != "a/../b" {
		t.Errorf("creat fd = %+v, want NameRaw a/../b", fd)
	}
	if fd := th.Proc.FDs.Get(5); fd == nil || fd.NameRaw != "/home/u/c/../d" || fd.Name != "/home/u/d" {
		t.Errorf("openat without its entry event = %+v, want NameRaw /home/u/c/../d", fd)
	}
	// An entry event of another call type is not taken either.
	up(driver.EvOpenE, "/etc/hosts", unix.O_RDONLY, 0)
	up(driver.EvOpenat2, 6, unix.AT_FDCWD, "/etc/../etc/group", unix.O_RDONLY, 0, 0, 0, 0)
	if fd := th.Proc.FDs.Get(6); fd == nil || fd.NameRaw != "/etc/../etc/group" {
		t.Errorf("openat2 after an open entry = %+v, want its own path", fd)
	}
	// dup keeps it.
	up(driver.EvDup, 7, 4)
	if fd := th.Proc.FDs.Get(7); fd == nil || fd.NameRaw != "a/../b" {
		t.Errorf("dup of fd 4 = %+v", fd)
	}
}
