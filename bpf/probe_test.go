// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_WORKLOAD") != "" {
		runWorkloadChild()
	}
	if os.Getenv("VIGIL_OPEN_HELPER") != "" {
		openHelper()
	}
	os.Exit(m.Run())
}

// requireProbe skips where the probe cannot run (not root, no BTF), except
// in CI, where every test must run.
func requireProbe(t testing.TB) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root to load BPF programs"
	} else if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		reason = "needs kernel BTF (/sys/kernel/btf/vmlinux)"
	}
	if reason == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI must run every test", reason)
	}
	t.Skip(reason)
}

var (
	sharedOnce  sync.Once
	sharedProbe *Probe
	sharedErr   error
)

// probe returns one probe shared by the tests: loading takes ~0.5 s.
func probe(t *testing.T) *Probe {
	requireProbe(t)
	sharedOnce.Do(func() {
		sharedProbe, sharedErr = Open(driver.Config{IgnorePID: uint32(os.Getpid())}, Options{})
	})
	if sharedErr != nil {
		t.Fatalf("open probe: %v", sharedErr)
	}
	return sharedProbe
}

// collect reads events of pid until it has exited and its stragglers are in.
func collect(t *testing.T, p *Probe, cmd *exec.Cmd) []*driver.Event {
	t.Helper()
	pid := uint32(cmd.Process.Pid)
	var evs []*driver.Event
	exited := false
	deadline := time.Now().Add(20 * time.Second)
	var drainUntil time.Time
	for {
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("pid %d: no proc_exit within 20s (%d events)", pid, len(evs))
		}
		if exited && now.After(drainUntil) {
			break
		}
		e, err := p.Next()
		if errors.Is(err, driver.ErrTimeout) {
			continue
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if e.PID != pid {
			continue
		}
		evs = append(evs, e.Copy())
		if e.Type == driver.EvProcExit && e.TID == pid && !exited {
			exited = true
			drainUntil = time.Now().Add(300 * time.Millisecond)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("workload failed: %v", err)
	}
	return evs
}

func runWorkload(t *testing.T, name string, env ...string) ([]*driver.Event, map[string]string, string) {
	t.Helper()
	p := probe(t)
	dir := t.TempDir()
	cmd, out, err := startWorkload(name, dir, env...)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	evs := collect(t, p, cmd)
	real, _ := filepath.EvalSymlinks(dir)
	return evs, facts(out), real
}

// find returns the first event of type typ for which match holds.
func find(t *testing.T, evs []*driver.Event, typ driver.EventType, match func(e *driver.Event) bool) *driver.Event {
	t.Helper()
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
	t.Fatalf("no matching %s event among %d (non-generic: %v)", typ, len(evs), seen)
	return nil
}

// param checks one parameter by name, as an integer or a string.
func param(t *testing.T, e *driver.Event, name string, want any) {
	t.Helper()
	i := e.Type.ParamIndex(name)
	if i < 0 {
		t.Fatalf("%s has no parameter %s", e.Type, name)
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
		got, want = uint32(e.Uint(i)), w
	case uint64:
		got = e.Uint(i)
	case []string:
		got = e.Args(i)
	default:
		t.Fatalf("param %s: unsupported want type %T", name, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s.%s = %#v, want %#v", e.Type, name, got, want)
	}
}

func strParam(e *driver.Event, name string) string { return e.Str(e.Type.ParamIndex(name)) }

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("workload fact %q: %v", s, err)
	}
	return n
}

func TestExec(t *testing.T) {
	p := probe(t)
	dir := t.TempDir()
	cmd := exec.Command("/bin/echo", "vigil-marker", "two words")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, p, cmd)
	e := find(t, evs, driver.EvExecve, nil)

	exe, _ := filepath.EvalSymlinks("/bin/echo")
	cwd, _ := filepath.EvalSymlinks(dir)
	var st unix.Stat_t
	if err := unix.Stat(exe, &st); err != nil {
		t.Fatal(err)
	}
	param(t, e, "res", 0)
	param(t, e, "exe", exe)
	param(t, e, "args", []string{"/bin/echo", "vigil-marker", "two words"})
	param(t, e, "cwd", cwd)
	param(t, e, "comm", "echo")
	param(t, e, "ppid", os.Getpid())
	param(t, e, "vpid", int64(cmd.Process.Pid))
	param(t, e, "uid", uint32(os.Getuid()))
	param(t, e, "euid", uint32(os.Geteuid()))
	param(t, e, "gid", uint32(os.Getgid()))
	param(t, e, "exe_flags", uint32(0))
	param(t, e, "ino", st.Ino)
	param(t, e, "loginuid", uint32(procLoginUID(t)))
	param(t, e, "cgroup", procCgroup(t))
	param(t, e, "cap_effective", procCapEff(t))
	param(t, e, "sid", int64(mustSid(t)))

	// The scheduler's view of the same exec.
	pe := find(t, evs, driver.EvProcExec, nil)
	param(t, pe, "filename", exe)
	param(t, pe, "old_tid", int64(cmd.Process.Pid))
}

func procLoginUID(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/loginuid")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	return int64(uint32(n))
}

func procCgroup(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	t.Skip("no cgroup v2 hierarchy")
	return ""
}

func procCapEff(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return 0
}

func mustSid(t *testing.T) int {
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func TestFiles(t *testing.T) {
	evs, f, dir := runWorkload(t, "files")

	open := find(t, evs, driver.EvOpenat, func(e *driver.Event) bool {
		return strings.HasSuffix(strParam(e, "name"), "/opened.txt")
	})
	param(t, open, "res", atoi(t, f["open_fd"]))
	param(t, open, "dirfd", unix.AT_FDCWD)
	param(t, open, "name", dir+"/opened.txt")
	param(t, open, "flags", uint32(unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC))
	param(t, open, "mode", uint32(0o640))
	param(t, open, "ino", uint64(atoi(t, f["open_ino"])))

	// The entry event records the argument as the caller passed it.
	enter := find(t, evs, driver.EvOpenatE, func(e *driver.Event) bool {
		return strParam(e, "name") == "./opened.txt"
	})
	param(t, enter, "flags", uint32(unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC))
	if enter.TS > open.TS {
		t.Errorf("entry event (ts %d) after exit event (ts %d)", enter.TS, open.TS)
	}

	creat := find(t, evs, driver.EvCreat, nil)
	param(t, creat, "res", atoi(t, f["creat_fd"]))
	param(t, creat, "name", dir+"/created.txt")
	param(t, creat, "mode", uint32(0o600))

	inner := find(t, evs, driver.EvOpenat, func(e *driver.Event) bool {
		return strings.HasSuffix(strParam(e, "name"), "inner.txt")
	})
	param(t, inner, "dirfd", atoi(t, f["dirfd"]))
	param(t, inner, "name", dir+"/sub/inner.txt")

	ren := find(t, evs, driver.EvRename, nil)
	param(t, ren, "res", 0)
	param(t, ren, "oldpath", dir+"/opened.txt")
	param(t, ren, "newpath", dir+"/renamed.txt")

	unl := find(t, evs, driver.EvUnlink, nil)
	param(t, unl, "res", 0)
	param(t, unl, "path", dir+"/renamed.txt")

	unlat := find(t, evs, driver.EvUnlinkat, func(e *driver.Event) bool {
		return strings.HasSuffix(strParam(e, "name"), "inner.txt")
	})
	param(t, unlat, "res", 0)
	param(t, unlat, "dirfd", atoi(t, f["dirfd"]))
	param(t, unlat, "name", dir+"/sub/inner.txt")

	// A failed open: the error comes back as -errno, the path as given.
	fail := find(t, evs, driver.EvOpenat, func(e *driver.Event) bool {
		return strParam(e, "name") == "/nonexistent/vigil"
	})
	param(t, fail, "res", -int(unix.ENOENT))
	if fail.Has(fail.Type.ParamIndex("ino")) {
		t.Error("failed open carries an inode")
	}
}

func TestTCP(t *testing.T) {
	evs, f, _ := runWorkload(t, "tcp")
	port := uint16(atoi(t, f["port"]))
	cport := uint16(atoi(t, f["client_port"]))
	lo := "127.0.0.1"

	sock := find(t, evs, driver.EvSocket, nil)
	param(t, sock, "domain", uint32(unix.AF_INET))
	param(t, sock, "type", uint32(unix.SOCK_STREAM))

	bind := find(t, evs, driver.EvBind, nil)
	param(t, bind, "res", 0)
	checkSockAddr(t, bind.Param(bind.Type.ParamIndex("addr")), lo, 0)

	listen := find(t, evs, driver.EvListen, nil)
	param(t, listen, "fd", atoi(t, f["listen_fd"]))
	param(t, listen, "backlog", 8)

	ce := find(t, evs, driver.EvConnectE, nil)
	param(t, ce, "fd", atoi(t, f["connect_fd"]))
	checkSockAddr(t, ce.Param(ce.Type.ParamIndex("addr")), lo, port)

	cx := find(t, evs, driver.EvConnect, nil)
	param(t, cx, "res", 0)
	checkTuple(t, cx.Param(cx.Type.ParamIndex("tuple")), lo, cport, lo, port)

	acc := find(t, evs, driver.EvAccept4, nil)
	param(t, acc, "res", atoi(t, f["accept_fd"]))
	param(t, acc, "fd", atoi(t, f["listen_fd"]))
	param(t, acc, "flags", uint32(unix.SOCK_CLOEXEC))
	checkTuple(t, acc.Param(acc.Type.ParamIndex("tuple")), lo, port, lo, cport)
}

func checkSockAddr(t *testing.T, p []byte, ip string, port uint16) {
	t.Helper()
	want := append([]byte{unix.AF_INET}, ipBytes(ip)...)
	want = append(want, byte(port), byte(port>>8))
	if !reflect.DeepEqual(p, want) {
		t.Errorf("sockaddr = % x, want % x", p, want)
	}
}

func checkTuple(t *testing.T, p []byte, sip string, sport uint16, dip string, dport uint16) {
	t.Helper()
	want := append([]byte{unix.AF_INET}, ipBytes(sip)...)
	want = append(want, byte(sport), byte(sport>>8))
	want = append(want, ipBytes(dip)...)
	want = append(want, byte(dport), byte(dport>>8))
	if !reflect.DeepEqual(p, want) {
		t.Errorf("tuple = % x, want % x", p, want)
	}
}

func ipBytes(s string) []byte {
	var b [4]byte
	parts := strings.Split(s, ".")
	for i, x := range parts {
		n, _ := strconv.Atoi(x)
		b[i] = byte(n)
	}
	return b[:]
}

func TestSetuid(t *testing.T) {
	evs, _, _ := runWorkload(t, "setuid")
	e := find(t, evs, driver.EvSetuid, nil)
	param(t, e, "res", 0)
	param(t, e, "uid", uint32(65534))
}

func TestPtrace(t *testing.T) {
	evs, f, _ := runWorkload(t, "ptrace")
	e := find(t, evs, driver.EvPtrace, func(e *driver.Event) bool {
		return e.Int(e.Type.ParamIndex("request")) == unix.PTRACE_ATTACH
	})
	param(t, e, "res", 0)
	param(t, e, "pid", atoi(t, f["tracee"]))
}

func TestMemfdExec(t *testing.T) {
	evs, f, _ := runWorkload(t, "memfd")
	mc := find(t, evs, driver.EvMemfdCreate, nil)
	param(t, mc, "name", "vigil-fileless")
	param(t, mc, "res", atoi(t, f["memfd"]))

	ex := find(t, evs, driver.EvExecveat, func(e *driver.Event) bool {
		return e.Int(0) == 0
	})
	param(t, ex, "args", []string{"fileless-true"})
	// The comm of an exec through an fd is the fd number, or since 6.x
	// the dentry name.
	if c := strParam(ex, "comm"); c != f["memfd"] && c != "memfd:vigil-fil" {
		t.Errorf("comm = %q, want %q or memfd:vigil-fil", c, f["memfd"])
	}
	param(t, ex, "exe_flags", uint32(driver.ExeMemfd))
	if exe := strParam(ex, "exe"); !strings.HasPrefix(exe, "/memfd:vigil-fileless") {
		t.Errorf("exe = %q, want /memfd:vigil-fileless...", exe)
	}
}

func TestMountInNamespace(t *testing.T) {
	evs, _, dir := runWorkload(t, "mount")
	un := find(t, evs, driver.EvUnshare, nil)
	param(t, un, "res", 0)
	param(t, un, "flags", uint64(unix.CLONE_NEWNS))

	m := find(t, evs, driver.EvMount, func(e *driver.Event) bool {
		return strParam(e, "type") == "tmpfs"
	})
	param(t, m, "res", 0)
	param(t, m, "dev", "vigil-tmpfs")
	param(t, m, "dir", dir+"/mnt")
	param(t, m, "flags", uint64(unix.MS_NOSUID))

	um := find(t, evs, driver.EvUmount2, nil)
	param(t, um, "res", 0)
	param(t, um, "name", dir+"/mnt")
}

func TestDup2SocketOntoStdin(t *testing.T) {
	evs, f, _ := runWorkload(t, "dup2")
	e := find(t, evs, driver.EvDup2, nil)
	param(t, e, "res", 0)
	param(t, e, "oldfd", atoi(t, f["sock"]))
	param(t, e, "newfd", 0)
}
