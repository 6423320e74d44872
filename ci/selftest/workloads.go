// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package selftest is the workload and the assertions that prove a driver
// works on a kernel: the host tests run it with `go test`, and the agent
// inside each QEMU guest of the compatibility matrix runs the very same code.
//
// Workloads run in child processes, re-executions of the current binary
// with VIGIL_WORKLOAD set, so that every event they cause carries a pid the
// checks know. Call RunChild first thing in main (or TestMain).
package selftest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Each workload prints facts a check cannot know in advance (fds, ports,
// inodes) as "key=value" lines on stdout.
var workloads = map[string]func(dir string) error{
	"files":      filesWorkload,
	"entry":      entryWorkload,
	"tcp":        tcpWorkload,
	"setuid":     setuidWorkload,
	"ptrace":     ptraceWorkload,
	"memfd":      memfdWorkload,
	"mount":      mountWorkload,
	"dup2":       dup2Workload,
	"packet":     packetWorkload,
	"modload":    modloadWorkload,
	"flood":      floodWorkload,
	"noop":       func(string) error { return nil },
	"cat":        catWorkload,
	"timedloop":  timedLoop,
	"closeloop":  closeLoop,
	"openloop":   openLoop,
	"floodfor":   floodFor,
	"interleave": interleave,
	"spin":       spinAfterCalls,
	"sleep":      func(string) error { time.Sleep(30 * time.Second); return nil },
	// 1000 getppid paced so that a one-page buffer never overflows.
	"trickle": func(string) error {
		for i := 0; i < 20; i++ {
			GetppidLoop(50)
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	},
}

// RunChild runs the workload named by VIGIL_WORKLOAD and exits; it returns
// at once when the variable is not set.
func RunChild() {
	name := os.Getenv("VIGIL_WORKLOAD")
	if name == "" {
		return
	}
	fn, ok := workloads[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown workload %q\n", name)
		os.Exit(2)
	}
	// One thread does the work, so that tid == pid in what the test sees.
	runtime.LockOSThread()
	if err := pinToCPU(os.Getenv("VIGIL_CPU")); err != nil {
		fmt.Fprintf(os.Stderr, "workload %s: %v\n", name, err)
		os.Exit(2)
	}
	if err := fn(os.Getenv("VIGIL_DIR")); err != nil {
		fmt.Fprintf(os.Stderr, "workload %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// catWorkload is cat(1): it copies each file named in its arguments to
// stdout. Started through a link named cat, its process is called cat, as
// a rule sees the real one (the matrix has no other binary to run).
func catWorkload(string) error {
	for _, name := range os.Args[1:] {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := os.Stdout.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func cstr(s string) *byte { p, _ := unix.BytePtrFromString(s); return p }

func fact(k string, v any) { fmt.Printf("%s=%v\n", k, v) }

// entryWorkload makes each syscall with an entry event once, with
// arguments that differ from one argument to the next, so that an entry
// program reading the wrong one shows: open, openat, openat2 and creat of
// files in dir, and a connect to a loopback port nobody listens on.
func entryWorkload(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	fd, _, e := unix.Syscall(unix.SYS_OPEN, uintptr(unsafe.Pointer(cstr("open.txt"))), unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND, 0o640)
	if e != 0 {
		return fmt.Errorf("open: %w", e)
	}
	unix.Close(int(fd))
	ofd, err := unix.Openat(unix.AT_FDCWD, "openat.txt", unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o604)
	if err != nil {
		return fmt.Errorf("openat: %w", err)
	}
	unix.Close(ofd)
	how := unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, Mode: 0o611, Resolve: unix.RESOLVE_NO_SYMLINKS}
	o2, err := unix.Openat2(unix.AT_FDCWD, "openat2.txt", &how)
	if err != nil {
		return fmt.Errorf("openat2: %w", err)
	}
	unix.Close(o2)
	cfd, _, e := unix.Syscall(unix.SYS_CREAT, uintptr(unsafe.Pointer(cstr("creat.txt"))), 0o620, 0)
	if e != 0 {
		return fmt.Errorf("creat: %w", e)
	}
	unix.Close(int(cfd))
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	// Refused: port 1 on loopback has no listener in a test's netns.
	_ = unix.Connect(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 1})
	return nil
}

func filesWorkload(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	fd, err := unix.Openat(unix.AT_FDCWD, "./opened.txt", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o640)
	if err != nil {
		return fmt.Errorf("openat: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	fact("open_fd", fd)
	fact("open_ino", st.Ino)
	unix.Close(fd)

	// x/sys/unix implements Creat, Rename and Unlink with the *at
	// syscalls; the legacy ones have events of their own.
	cfd, _, e := unix.Syscall(unix.SYS_CREAT, uintptr(unsafe.Pointer(cstr("created.txt"))), 0o600, 0)
	if e != 0 {
		return fmt.Errorf("creat: %w", e)
	}
	fact("creat_fd", cfd)
	unix.Close(int(cfd))

	// Relative to a directory fd that is not the cwd.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		return err
	}
	dfd, err := unix.Open(filepath.Join(dir, "sub"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	fact("dirfd", dfd)
	sfd, err := unix.Openat(dfd, "inner.txt", unix.O_CREAT|unix.O_RDWR, 0o604)
	if err != nil {
		return fmt.Errorf("openat dirfd: %w", err)
	}
	unix.Close(sfd)

	if _, _, e := unix.Syscall(unix.SYS_RENAME, uintptr(unsafe.Pointer(cstr("opened.txt"))),
		uintptr(unsafe.Pointer(cstr("renamed.txt"))), 0); e != 0 {
		return fmt.Errorf("rename: %w", e)
	}
	if _, _, e := unix.Syscall(unix.SYS_UNLINK, uintptr(unsafe.Pointer(cstr("renamed.txt"))), 0, 0); e != 0 {
		return fmt.Errorf("unlink: %w", e)
	}
	// And the *at forms, relative to the directory fd.
	if err := unix.Unlinkat(dfd, "inner.txt", 0); err != nil {
		return fmt.Errorf("unlinkat: %w", err)
	}
	// A failing call must be reported with its error.
	if _, err := unix.Open("/nonexistent/vigil", unix.O_RDONLY, 0); err == nil {
		return fmt.Errorf("open of a missing file succeeded")
	}
	return nil
}

func tcpWorkload(string) error {
	ls, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	lo := [4]byte{127, 0, 0, 1}
	if err := unix.Bind(ls, &unix.SockaddrInet4{Addr: lo}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(ls, 8); err != nil {
		return err
	}
	sa, _ := unix.Getsockname(ls)
	port := sa.(*unix.SockaddrInet4).Port
	fact("listen_fd", ls)
	fact("port", port)

	cs, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(cs, &unix.SockaddrInet4{Addr: lo, Port: port}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	csa, _ := unix.Getsockname(cs)
	fact("connect_fd", cs)
	fact("client_port", csa.(*unix.SockaddrInet4).Port)
	as, _, err := unix.Accept4(ls, unix.SOCK_CLOEXEC)
	if err != nil {
		return fmt.Errorf("accept4: %w", err)
	}
	fact("accept_fd", as)
	return nil
}

func setuidWorkload(string) error {
	// The raw syscall changes this thread only; unix.Setuid would run it
	// on every thread of the runtime.
	if _, _, e := unix.RawSyscall(unix.SYS_SETUID, 65534, 0, 0); e != 0 {
		return fmt.Errorf("setuid: %w", e)
	}
	return nil
}

func ptraceWorkload(string) error {
	sleeper, err := selfCommand("sleep")
	if err != nil {
		return err
	}
	if err := sleeper.Start(); err != nil {
		return err
	}
	defer sleeper.Process.Kill()
	fact("tracee", sleeper.Process.Pid)
	if err := unix.PtraceAttach(sleeper.Process.Pid); err != nil {
		return fmt.Errorf("ptrace attach: %w", err)
	}
	var ws unix.WaitStatus
	_, _ = unix.Wait4(sleeper.Process.Pid, &ws, 0, nil)
	return unix.PtraceDetach(sleeper.Process.Pid)
}

// memfdWorkload execs a copy of itself from a memfd, from a thread other
// than the process's leader: the exec'ing thread then takes the leader's
// tid, which drivers that remember execveat by tid must follow.
func memfdWorkload(dir string) error {
	return onOtherThread(func() error { return memfdExec(dir) })
}

// onOtherThread runs fn locked to an OS thread that is not the leader.
func onOtherThread(fn func() error) error {
	res := make(chan error)
	hold := make(chan struct{})
	defer close(hold)
	var try func()
	try = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Keep the leader busy with this goroutine, so that the next
			// one runs on another thread.
			go try()
			<-hold
			return
		}
		res <- fn()
	}
	go try()
	return <-res
}

func memfdExec(string) error {
	fd, err := unix.MemfdCreate("vigil-fileless", 0)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(fd), "memfd")
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	fact("memfd", fd)
	fact("exec", "execveat")
	argv := []*byte{cstr("fileless-true"), nil}
	env := []*byte{cstr("VIGIL_WORKLOAD=noop"), nil}
	empty, _ := unix.BytePtrFromString("")
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&env[0])), unix.AT_EMPTY_PATH, 0)
	// Debian's 5.10 refuses execveat(memfd, "", AT_EMPTY_PATH) with ENOENT
	// where later kernels run it; the same file through /proc still runs,
	// and is still fileless. The facts tell the check which call it was.
	if e == unix.ENOENT {
		fact("exec", "execve")
		p := fmt.Sprintf("/proc/self/fd/%d", fd)
		err := unix.Exec(p, []string{"fileless-true"}, []string{"VIGIL_WORKLOAD=noop"})
		return fmt.Errorf("execveat of the memfd: ENOENT; execve %s: %v", p, err)
	}
	return fmt.Errorf("execveat of the memfd returned: %v", e)
}

func mountWorkload(dir string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	// Keep the new mount out of the parent namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	target := filepath.Join(dir, "mnt")
	if err := os.Mkdir(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("vigil-tmpfs", target, "tmpfs", unix.MS_NOSUID, "size=1m"); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	return unix.Unmount(target, 0)
}

// packetWorkload opens a raw packet socket (needs CAP_NET_RAW), as a
// sniffer or an ARP spoofer would.
func packetWorkload(string) error {
	s, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0x0300) // htons(ETH_P_ALL)
	if err != nil {
		return fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	fact("sock", s)
	return unix.Close(s)
}

// modloadWorkload asks the kernel to load a module from a file that is not
// one: the attempt is what detection sees; the kernel refuses it (ENOEXEC)
// and loads nothing.
func modloadWorkload(string) error {
	fd, err := unix.MemfdCreate("vigil-not-a-module", 0)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("not an ELF module\n")); err != nil {
		return err
	}
	err = unix.FinitModule(fd, "", 0)
	fact("finit_module", err)
	if err == nil {
		return fmt.Errorf("finit_module of junk succeeded")
	}
	return nil
}

func dup2Workload(string) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	fact("sock", s)
	if _, _, e := unix.RawSyscall(unix.SYS_DUP2, uintptr(s), 0, 0); e != 0 {
		return e
	}
	return nil
}

func floodWorkload(string) error {
	n, _ := strconv.Atoi(os.Getenv("VIGIL_N"))
	GetppidLoop(n)
	return nil
}

// GetppidLoop makes n getppid syscalls: the cheapest syscall there is.
func GetppidLoop(n int) {
	for i := 0; i < n; i++ {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
}

// selfCommand prepares a re-execution of this binary as workload name.
func selfCommand(name string, env ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), append(env, "VIGIL_WORKLOAD="+name)...)
	return cmd, nil
}

// StartWorkload starts the named workload in dir and returns it with the
// file its facts go to (remove it when done).
func StartWorkload(name, dir string, env ...string) (*exec.Cmd, *os.File, error) {
	cmd, err := selfCommand(name, append(env, "VIGIL_DIR="+dir)...)
	if err != nil {
		return nil, nil, err
	}
	out, err := os.CreateTemp("", "vigil-workload-*")
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		out.Close()
		os.Remove(out.Name())
		return nil, nil, fmt.Errorf("start workload %s: %w", name, err)
	}
	return cmd, out, nil
}

// Facts parses the key=value lines a workload printed.
func Facts(f *os.File) map[string]string {
	b, _ := os.ReadFile(f.Name())
	m := map[string]string{}
	for _, line := range splitLines(string(b)) {
		for i := 0; i < len(line); i++ {
			if line[i] == '=' {
				m[line[:i]] = line[i+1:]
				break
			}
		}
	}
	return m
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// timedLoop makes VIGIL_N getppid calls and reports the time per call:
// the benchmarks' unit of syscall overhead.
func timedLoop(string) error {
	n, err := strconv.Atoi(os.Getenv("VIGIL_N"))
	if err != nil || n <= 0 {
		return fmt.Errorf("VIGIL_N=%q: want a positive count", os.Getenv("VIGIL_N"))
	}
	start := time.Now()
	GetppidLoop(n)
	fact("ns_per_call", float64(time.Since(start).Nanoseconds())/float64(n))
	return nil
}

// CloseLoopBase is the first fd closeLoop closes: far past any open one,
// so every close fails at once (EBADF) and its event names the call.
const CloseLoopBase = 1 << 20

// closeLoop closes fds CloseLoopBase to CloseLoopBase+VIGIL_N-1, none
// open: a stream of syscalls whose events each say which call they are.
func closeLoop(string) error {
	n, err := strconv.Atoi(os.Getenv("VIGIL_N"))
	if err != nil || n <= 0 {
		return fmt.Errorf("VIGIL_N=%q: want a positive count", os.Getenv("VIGIL_N"))
	}
	for i := 0; i < n; i++ {
		unix.RawSyscall(unix.SYS_CLOSE, uintptr(CloseLoopBase+i), 0, 0)
	}
	return nil
}

// openLoop opens and closes /dev/null VIGIL_N times and reports the time
// per pair: the cost of syscalls that rules select, where timedLoop's
// getppid is one they do not.
func openLoop(string) error {
	n, err := strconv.Atoi(os.Getenv("VIGIL_N"))
	if err != nil || n <= 0 {
		return fmt.Errorf("VIGIL_N=%q: want a positive count", os.Getenv("VIGIL_N"))
	}
	path := cstr("/dev/null")
	fdcwd := unix.AT_FDCWD
	atFDCWD := uintptr(fdcwd)
	start := time.Now()
	for i := 0; i < n; i++ {
		fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(path)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			return fmt.Errorf("open /dev/null: %w", e)
		}
		unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	}
	fact("ns_per_call", float64(time.Since(start).Nanoseconds())/float64(n))
	return nil
}

// pinToCPU binds the calling thread to cpu ("" leaves it free), so that a
// timed loop and the consumer it feeds do not share a CPU.
func pinToCPU(cpu string) error {
	if cpu == "" {
		return nil
	}
	n, err := strconv.Atoi(cpu)
	if err != nil || n < 0 || n >= runtime.NumCPU() {
		return fmt.Errorf("VIGIL_CPU=%q: want a CPU number below %d", cpu, runtime.NumCPU())
	}
	var set unix.CPUSet
	set.Set(n)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", n, err)
	}
	return nil
}

// floodFor calls getppid for VIGIL_FOR (a duration) as fast as it can.
func floodFor(string) error {
	d, err := time.ParseDuration(os.Getenv("VIGIL_FOR"))
	if err != nil {
		return fmt.Errorf("VIGIL_FOR: %w", err)
	}
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n += 1000 {
		GetppidLoop(1000)
	}
	fact("calls", n)
	return nil
}

func hostArch() string { return runtime.GOARCH }

// InterleaveThreads and InterleaveRounds shape the interleave workload.
const InterleaveThreads, InterleaveRounds = 4, 2000

// interleave runs InterleaveThreads threads that each, InterleaveRounds
// times, make a run of 0 to 10 getppid (generic events, which the probe
// may hold in a batch) and then close an fd that is not open, a
// different one each time (an event of its own), now and then sleeping
// so that threads move between CPUs: each thread's generic events must
// keep their place among its other events.
func interleave(string) error {
	var wg sync.WaitGroup
	for t := 0; t < InterleaveThreads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := 0; i < InterleaveRounds; i++ {
				GetppidLoop(i % 11)
				unix.RawSyscall(unix.SYS_CLOSE, uintptr(CloseLoopBase+t*InterleaveRounds+i), 0, 0)
				if i%50 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}(t)
	}
	wg.Wait()
	return nil
}

// SpinCalls is how many getppid the spin workload makes.
const SpinCalls = 3

// spinAfterCalls makes SpinCalls getppid, says so (calls=N), then spins
// for VIGIL_FOR without a syscall on the same thread: its getppid events
// may wait in a batch that only its leaving the CPU writes out.
func spinAfterCalls(string) error {
	d, err := time.ParseDuration(os.Getenv("VIGIL_FOR"))
	if err != nil {
		return fmt.Errorf("VIGIL_FOR: %w", err)
	}
	runtime.LockOSThread()
	GetppidLoop(SpinCalls)
	fact("calls", SpinCalls)
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
	return nil
}
