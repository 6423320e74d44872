// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package selftest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

// Source is what the checks need of a driver: the event stream and the
// means to reconfigure it.
type Source interface {
	driver.Source
	SetConfig(driver.Config) error
}

// Env is what the checks run against.
type Env struct {
	Src Source
	// Config is the driver's configuration to restore after a check that
	// changes it; IgnorePID must be this process.
	Config driver.Config
	// TempDir is a writable directory for the workloads' files.
	TempDir string
}

// Outcome is what a passing check saw.
type Outcome struct {
	// Events are the events of the workload's process, in order.
	Events []*driver.Event
	// Retried says why the check ran twice, when it did.
	Retried string
}

// Check is one workload with its assertions.
type Check struct {
	Name string
	Run  func(env *Env) (Outcome, error)
}

// Exec runs a check. When it fails and the driver counted lost events
// meanwhile (drops, or probe runs the kernel skipped: on kernels whose
// tracepoint probes are preemptible a probe preempted on a CPU makes the
// kernel skip the same probe for other tasks there), the missing event may
// be among them: the check runs once more, and the error, if any, says so.
func (c Check) Exec(env *Env) (Outcome, error) {
	before := Lost(env.Src)
	out, err := c.Run(env)
	if err == nil {
		return out, nil
	}
	n := Lost(env.Src) - before
	if n == 0 {
		return out, err
	}
	out, err2 := c.Run(env)
	if err2 != nil {
		return out, fmt.Errorf("%w (run again after the driver lost %d events in the first run: %v)", err2, n, err)
	}
	out.Retried = fmt.Sprintf("first run failed while the driver lost %d events: %v", n, err)
	return out, nil
}

// Checks returns every check, in the order they are best run.
func Checks() []Check {
	return []Check{
		{"exec", checkExec},
		{"files", checkFiles},
		{"tcp", checkTCP},
		{"setuid", checkSetuid},
		{"ptrace", checkPtrace},
		{"memfd-exec", checkMemfd},
		{"mount-namespace", checkMount},
		{"dup2-socket-stdin", checkDup2},
		{"snaplen", checkSnaplen},
		{"in-kernel-filter", checkFilter},
		{"ignores-agent", checkIgnoresSelf},
	}
}

// expect gathers mismatches, so that one run reports all of them.
type expect struct{ errs []string }

func (x *expect) errorf(format string, args ...any) {
	x.errs = append(x.errs, fmt.Sprintf(format, args...))
}

func (x *expect) err() error {
	if len(x.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(x.errs, "; "))
}

// param compares one parameter by name, as an integer, string or argv.
func (x *expect) param(e *driver.Event, name string, want any) {
	if e == nil {
		return
	}
	i := e.Type.ParamIndex(name)
	if i < 0 {
		x.errorf("%s has no parameter %s", e.Type, name)
		return
	}
	var got any
	switch w := want.(type) {
	case string:
		got = e.Str(i)
	case int:
		got, want = e.Int(i), int64(w)
	case int64:
		got = e.Int(i)
	case uint32:
		got = uint32(e.Uint(i))
	case uint64:
		got = e.Uint(i)
	case []string:
		got = e.Args(i)
	case []byte:
		got = e.Param(i)
	default:
		x.errorf("param %s: cannot compare a %T", name, want)
		return
	}
	if !reflect.DeepEqual(got, want) {
		x.errorf("%s.%s = %#v, want %#v", e.Type, name, got, want)
	}
}

// find returns the first event of type typ that match accepts.
func (x *expect) find(evs []*driver.Event, typ driver.EventType, match func(e *driver.Event) bool) *driver.Event {
	for _, e := range evs {
		if e.Type == typ && (match == nil || match(e)) {
			return e
		}
	}
	var seen []string
	for _, e := range evs {
		if e.Type != driver.EvGeneric {
			seen = append(seen, e.Type.String())
		}
	}
	x.errorf("no matching %s event among %d (non-generic: %v)", typ, len(evs), seen)
	return nil
}

// Str returns the named string parameter of e.
func Str(e *driver.Event, name string) string { return e.Str(e.Type.ParamIndex(name)) }

// Collect reads the events of cmd's process until it has exited and its
// last events are in, then waits for it.
func Collect(src driver.Source, cmd *exec.Cmd) ([]*driver.Event, error) {
	return collect(src, cmd, true)
}

func collect(src driver.Source, cmd *exec.Cmd, onlyChild bool) ([]*driver.Event, error) {
	pid := uint32(cmd.Process.Pid)
	var evs []*driver.Event
	deadline := time.Now().Add(30 * time.Second)
	var drainUntil time.Time
	exited := false
	for {
		now := time.Now()
		if now.After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return evs, fmt.Errorf("pid %d: no proc_exit event within 30s (%d events seen)", pid, len(evs))
		}
		if exited && now.After(drainUntil) {
			break
		}
		e, err := src.Next()
		if errors.Is(err, driver.ErrTimeout) {
			continue
		}
		if err != nil {
			return evs, fmt.Errorf("read events: %w", err)
		}
		if onlyChild && e.PID != pid {
			continue
		}
		evs = append(evs, e.Copy())
		if e.Type == driver.EvProcExit && e.TID == pid && !exited {
			exited = true
			// Events of other CPUs may still be on their way.
			drainUntil = time.Now().Add(300 * time.Millisecond)
			if !onlyChild {
				drainUntil = time.Now()
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return evs, fmt.Errorf("workload failed: %w", err)
	}
	return evs, nil
}

// runWorkload runs a named workload to completion and returns its events,
// its facts and its directory (symlinks resolved, as the kernel reports it).
func runWorkload(env *Env, name string, extra ...string) ([]*driver.Event, map[string]string, string, error) {
	dir, err := os.MkdirTemp(env.TempDir, name+"-")
	if err != nil {
		return nil, nil, "", err
	}
	defer os.RemoveAll(dir)
	cmd, out, err := StartWorkload(name, dir, extra...)
	if err != nil {
		return nil, nil, "", err
	}
	defer os.Remove(out.Name())
	evs, err := Collect(env.Src, cmd)
	real, _ := filepath.EvalSymlinks(dir)
	return evs, Facts(out), real, err
}

func atoi(x *expect, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		x.errorf("workload fact %q is not a number", s)
	}
	return n
}

func checkExec(env *Env) (Outcome, error) {
	self, err := os.Executable()
	if err != nil {
		return Outcome{}, err
	}
	exe, _ := filepath.EvalSymlinks(self)
	dir, err := os.MkdirTemp(env.TempDir, "exec-")
	if err != nil {
		return Outcome{}, err
	}
	defer os.RemoveAll(dir)
	cwd, _ := filepath.EvalSymlinks(dir)
	cmd := exec.Command(self, "vigil-marker", "two words")
	cmd.Args[0] = "vigil-selftest"
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VIGIL_WORKLOAD=noop")
	if err := cmd.Start(); err != nil {
		return Outcome{}, err
	}
	evs, err := Collect(env.Src, cmd)
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	var st unix.Stat_t
	if err := unix.Stat(exe, &st); err != nil {
		return Outcome{}, err
	}
	comm := filepath.Base(exe)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	e := x.find(evs, driver.EvExecve, nil)
	x.param(e, "res", 0)
	x.param(e, "exe", exe)
	x.param(e, "args", []string{"vigil-selftest", "vigil-marker", "two words"})
	x.param(e, "cwd", cwd)
	x.param(e, "comm", comm)
	x.param(e, "ppid", os.Getpid())
	x.param(e, "vpid", int64(cmd.Process.Pid))
	x.param(e, "vtid", int64(cmd.Process.Pid))
	x.param(e, "uid", uint32(os.Getuid()))
	x.param(e, "euid", uint32(os.Geteuid()))
	x.param(e, "gid", uint32(os.Getgid()))
	x.param(e, "egid", uint32(os.Getegid()))
	x.param(e, "exe_flags", uint32(0))
	x.param(e, "ino", st.Ino)
	if sid, err := unix.Getsid(0); err == nil {
		x.param(e, "sid", int64(sid))
	}
	if v, err := procLoginUID(); err == nil {
		x.param(e, "loginuid", v)
	}
	if v, err := procCgroup(); err == nil {
		x.param(e, "cgroup", v)
	}
	if v, err := procCapEff(); err == nil {
		x.param(e, "cap_effective", v)
	}
	// The scheduler's view of the same exec.
	pe := x.find(evs, driver.EvProcExec, nil)
	x.param(pe, "filename", exe)
	x.param(pe, "old_tid", int64(cmd.Process.Pid))
	// The Go runtime of the child starts threads: their parent process is
	// ours, not the child's.
	pid := int64(cmd.Process.Pid)
	fe := x.find(evs, driver.EvProcFork, func(e *driver.Event) bool {
		return e.Int(e.Type.ParamIndex("child_pid")) == pid && e.Int(e.Type.ParamIndex("child_tid")) != pid
	})
	x.param(fe, "parent_pid", int64(os.Getpid()))
	x.param(fe, "comm", comm)
	return Outcome{Events: evs}, x.err()
}

func procLoginUID() (uint32, error) {
	b, err := os.ReadFile("/proc/self/loginuid")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	return uint32(n), err
}

func procCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest, nil
		}
	}
	return "", errors.New("no cgroup v2 line")
}

func procCapEff() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line")
}

func checkFiles(env *Env) (Outcome, error) {
	evs, f, dir, err := runWorkload(env, "files")
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	flags := uint32(unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC)
	open := x.find(evs, driver.EvOpenat, func(e *driver.Event) bool {
		return strings.HasSuffix(Str(e, "name"), "/opened.txt")
	})
	x.param(open, "res", atoi(&x, f["open_fd"]))
	x.param(open, "dirfd", unix.AT_FDCWD)
	x.param(open, "name", dir+"/opened.txt")
	x.param(open, "flags", flags)
	x.param(open, "mode", uint32(0o640))
	x.param(open, "ino", uint64(atoi(&x, f["open_ino"])))

	// The entry event records the argument as the caller passed it.
	enter := x.find(evs, driver.EvOpenatE, func(e *driver.Event) bool {
		return Str(e, "name") == "./opened.txt"
	})
	x.param(enter, "flags", flags)
	if enter != nil && open != nil && enter.TS > open.TS {
		x.errorf("entry event (ts %d) after exit event (ts %d)", enter.TS, open.TS)
	}

	creat := x.find(evs, driver.EvCreat, nil)
	x.param(creat, "res", atoi(&x, f["creat_fd"]))
	x.param(creat, "name", dir+"/created.txt")
	x.param(creat, "mode", uint32(0o600))

	inner := x.find(evs, driver.EvOpenat, func(e *driver.Event) bool {
		return strings.HasSuffix(Str(e, "name"), "inner.txt")
	})
	x.param(inner, "dirfd", atoi(&x, f["dirfd"]))
	x.param(inner, "name", dir+"/sub/inner.txt")

	ren := x.find(evs, driver.EvRename, nil)
	x.param(ren, "res", 0)
	x.param(ren, "oldpath", dir+"/opened.txt")
	x.param(ren, "newpath", dir+"/renamed.txt")

	unl := x.find(evs, driver.EvUnlink, nil)
	x.param(unl, "res", 0)
	x.param(unl, "path", dir+"/renamed.txt")

	unlat := x.find(evs, driver.EvUnlinkat, func(e *driver.Event) bool {
		return strings.HasSuffix(Str(e, "name"), "inner.txt")
	})
	x.param(unlat, "res", 0)
	x.param(unlat, "dirfd", atoi(&x, f["dirfd"]))
	x.param(unlat, "name", dir+"/sub/inner.txt")

	// A failed open: the error comes back as -errno, the path as given.
	fail := x.find(evs, driver.EvOpenat, func(e *driver.Event) bool {
		return Str(e, "name") == "/nonexistent/vigil"
	})
	x.param(fail, "res", -int(unix.ENOENT))
	if fail != nil && fail.Has(fail.Type.ParamIndex("ino")) {
		x.errorf("failed open carries an inode")
	}
	return Outcome{Events: evs}, x.err()
}

func checkTCP(env *Env) (Outcome, error) {
	evs, f, _, err := runWorkload(env, "tcp")
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	port := uint16(atoi(&x, f["port"]))
	cport := uint16(atoi(&x, f["client_port"]))
	lo := [4]byte{127, 0, 0, 1}

	sock := x.find(evs, driver.EvSocket, nil)
	x.param(sock, "domain", uint32(unix.AF_INET))
	x.param(sock, "type", uint32(unix.SOCK_STREAM))

	bind := x.find(evs, driver.EvBind, nil)
	x.param(bind, "res", 0)
	x.param(bind, "addr", sockAddr(lo, 0))

	listen := x.find(evs, driver.EvListen, nil)
	x.param(listen, "fd", atoi(&x, f["listen_fd"]))
	x.param(listen, "backlog", 8)

	ce := x.find(evs, driver.EvConnectE, nil)
	x.param(ce, "fd", atoi(&x, f["connect_fd"]))
	x.param(ce, "addr", sockAddr(lo, port))

	cx := x.find(evs, driver.EvConnect, nil)
	x.param(cx, "res", 0)
	x.param(cx, "tuple", tuple(lo, cport, lo, port))

	acc := x.find(evs, driver.EvAccept4, nil)
	x.param(acc, "res", atoi(&x, f["accept_fd"]))
	x.param(acc, "fd", atoi(&x, f["listen_fd"]))
	x.param(acc, "flags", uint32(unix.SOCK_CLOEXEC))
	x.param(acc, "tuple", tuple(lo, port, lo, cport))
	return Outcome{Events: evs}, x.err()
}

// sockAddr and tuple build the wire forms (see driver.ParseSockAddr).
func sockAddr(ip [4]byte, port uint16) []byte {
	b := append([]byte{unix.AF_INET}, ip[:]...)
	return append(b, byte(port), byte(port>>8))
}

func tuple(sip [4]byte, sport uint16, dip [4]byte, dport uint16) []byte {
	b := append([]byte{unix.AF_INET}, sip[:]...)
	b = append(b, byte(sport), byte(sport>>8))
	b = append(b, dip[:]...)
	return append(b, byte(dport), byte(dport>>8))
}

func checkSetuid(env *Env) (Outcome, error) {
	evs, _, _, err := runWorkload(env, "setuid")
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	e := x.find(evs, driver.EvSetuid, nil)
	x.param(e, "res", 0)
	x.param(e, "uid", uint32(65534))
	return Outcome{Events: evs}, x.err()
}

func checkPtrace(env *Env) (Outcome, error) {
	evs, f, _, err := runWorkload(env, "ptrace")
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	e := x.find(evs, driver.EvPtrace, func(e *driver.Event) bool {
		return e.Int(e.Type.ParamIndex("request")) == unix.PTRACE_ATTACH
	})
	x.param(e, "res", 0)
	x.param(e, "pid", atoi(&x, f["tracee"]))
	return Outcome{Events: evs}, x.err()
}

func checkMemfd(env *Env) (Outcome, error) {
	evs, f, _, err := runWorkload(env, "memfd")
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	mc := x.find(evs, driver.EvMemfdCreate, nil)
	x.param(mc, "name", "vigil-fileless")
	x.param(mc, "res", atoi(&x, f["memfd"]))

	// The last "exec" fact names the call that ran the memfd.
	typ := driver.EvExecveat
	if f["exec"] == "execve" {
		typ = driver.EvExecve
	}
	ex := x.find(evs, typ, func(e *driver.Event) bool {
		return e.Int(0) == 0 && strings.HasPrefix(Str(e, "args"), "fileless-true")
	})
	x.param(ex, "args", []string{"fileless-true"})
	x.param(ex, "exe_flags", uint32(driver.ExeMemfd))
	if ex != nil {
		if exe := Str(ex, "exe"); !strings.HasPrefix(exe, "/memfd:vigil-fileless") {
			x.errorf("exe = %q, want /memfd:vigil-fileless...", exe)
		}
		// The comm of an exec through an fd is the fd number, or since
		// 6.14 the dentry name.
		if c := Str(ex, "comm"); c != f["memfd"] && c != "memfd:vigil-fil" {
			x.errorf("comm = %q, want %q or memfd:vigil-fil", c, f["memfd"])
		}
	}
	return Outcome{Events: evs}, x.err()
}

func checkMount(env *Env) (Outcome, error) {
	evs, _, dir, err := runWorkload(env, "mount")
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	un := x.find(evs, driver.EvUnshare, nil)
	x.param(un, "res", 0)
	x.param(un, "flags", uint64(unix.CLONE_NEWNS))

	m := x.find(evs, driver.EvMount, func(e *driver.Event) bool { return Str(e, "type") == "tmpfs" })
	x.param(m, "res", 0)
	x.param(m, "dev", "vigil-tmpfs")
	x.param(m, "dir", dir+"/mnt")
	x.param(m, "flags", uint64(unix.MS_NOSUID))

	um := x.find(evs, driver.EvUmount2, nil)
	x.param(um, "res", 0)
	x.param(um, "name", dir+"/mnt")
	return Outcome{Events: evs}, x.err()
}

func checkDup2(env *Env) (Outcome, error) {
	evs, f, _, err := runWorkload(env, "dup2")
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	e := x.find(evs, driver.EvDup2, nil)
	x.param(e, "res", 0)
	x.param(e, "oldfd", atoi(&x, f["sock"]))
	x.param(e, "newfd", 0)
	return Outcome{Events: evs}, x.err()
}

// withConfig runs fn with the driver reconfigured, then restores env.Config.
func withConfig(env *Env, cfg driver.Config, fn func() (Outcome, error)) (Outcome, error) {
	if err := env.Src.SetConfig(cfg); err != nil {
		return Outcome{}, fmt.Errorf("reconfigure driver: %w", err)
	}
	out, err := fn()
	if rerr := env.Src.SetConfig(env.Config); rerr != nil && err == nil {
		err = fmt.Errorf("restore driver configuration: %w", rerr)
	}
	return out, err
}

// OnlySyscalls returns a configuration capturing the named syscalls (and
// lifecycle events), ignoring the given pid.
func OnlySyscalls(ignore uint32, names ...string) (driver.Config, error) {
	tab, err := driver.NewSyscallTable(hostArch())
	if err != nil {
		return driver.Config{}, err
	}
	sc := make([]bool, driver.MaxSyscalls)
	for _, n := range names {
		nr, ok := tab.Nr(n)
		if !ok {
			return driver.Config{}, fmt.Errorf("no syscall %q", n)
		}
		sc[nr] = true
	}
	return driver.Config{Syscalls: sc, IgnorePID: ignore}, nil
}

func checkSnaplen(env *Env) (Outcome, error) {
	cfg := env.Config
	cfg.Snaplen = 16
	return withConfig(env, cfg, func() (Outcome, error) {
		self, err := os.Executable()
		if err != nil {
			return Outcome{}, err
		}
		cmd := exec.Command(self, "0123456789", "abcdefghijklmnop")
		cmd.Args[0] = "/snap/len"
		cmd.Env = append(os.Environ(), "VIGIL_WORKLOAD=noop")
		if err := cmd.Start(); err != nil {
			return Outcome{}, err
		}
		evs, err := Collect(env.Src, cmd)
		if err != nil {
			return Outcome{Events: evs}, err
		}
		var x expect
		e := x.find(evs, driver.EvExecve, nil)
		if e != nil {
			raw := e.Param(e.Type.ParamIndex("args"))
			if len(raw) != 16 || raw[15] != 0 {
				x.errorf("args = %q (%d bytes), want 16 bytes ending in NUL", raw, len(raw))
			}
			// "/snap/len\x00" is 10 bytes; 5 of the next argument fit.
			x.param(e, "args", []string{"/snap/len", "01234"})
			// Paths are not cut by snaplen.
			exe, _ := filepath.EvalSymlinks(self)
			x.param(e, "exe", exe)
		}
		return Outcome{Events: evs}, x.err()
	})
}

func checkFilter(env *Env) (Outcome, error) {
	cfg, err := OnlySyscalls(env.Config.IgnorePID, "unlink")
	if err != nil {
		return Outcome{}, err
	}
	return withConfig(env, cfg, func() (Outcome, error) {
		var now unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &now)
		since := uint64(now.Nano()) // events queued before the change are not its business
		dir, err := os.MkdirTemp(env.TempDir, "filter-")
		if err != nil {
			return Outcome{}, err
		}
		defer os.RemoveAll(dir)
		cmd, out, err := StartWorkload("files", dir)
		if err != nil {
			return Outcome{}, err
		}
		defer os.Remove(out.Name())
		// Every event from every process: only unlink and lifecycle
		// events may reach user space.
		evs, err := collect(env.Src, cmd, false)
		if err != nil {
			return Outcome{Events: evs}, err
		}
		var x expect
		for _, e := range evs {
			if e.TS < since {
				continue
			}
			switch e.Type {
			case driver.EvUnlink, driver.EvProcExec, driver.EvProcExit, driver.EvProcFork:
			default:
				x.errorf("the filter let %s (pid %d) through", e.Type, e.PID)
				return Outcome{Events: evs}, x.err()
			}
		}
		real, _ := filepath.EvalSymlinks(dir)
		x.find(evs, driver.EvUnlink, func(e *driver.Event) bool { return Str(e, "path") == real+"/renamed.txt" })
		return Outcome{Events: evs}, x.err()
	})
}

func checkIgnoresSelf(env *Env) (Outcome, error) {
	// Syscalls of this process happen all along (reading events is
	// syscalls); none may be reported while a child's are.
	cmd, err := selfCommand("noop")
	if err != nil {
		return Outcome{}, err
	}
	if err := cmd.Start(); err != nil {
		return Outcome{}, err
	}
	evs, err := collect(env.Src, cmd, false)
	if err != nil {
		return Outcome{Events: evs}, err
	}
	var x expect
	self := uint32(os.Getpid())
	for _, e := range evs {
		if e.PID == self {
			x.errorf("the driver reported the agent's own %s", e.Type)
			break
		}
	}
	x.find(evs, driver.EvExecve, func(e *driver.Event) bool { return e.PID == uint32(cmd.Process.Pid) })
	return Outcome{Events: evs}, x.err()
}
