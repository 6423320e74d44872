// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Workloads run in a child process (this test binary, re-executed with
// VIGIL_WORKLOAD set), so that every event they cause carries a pid the test
// knows. Each prints facts the test cannot know in advance (fds, ports,
// inodes) as "key=value" lines on stdout.
var workloads = map[string]func(dir string) error{
	"files":     filesWorkload,
	"tcp":       tcpWorkload,
	"setuid":    setuidWorkload,
	"ptrace":    ptraceWorkload,
	"memfd":     memfdWorkload,
	"mount":     mountWorkload,
	"dup2":      dup2Workload,
	"flood":     floodWorkload,
	// 1000 getppid paced so that a one-page buffer never overflows.
	"trickle": func(string) error {
		for i := 0; i < 20; i++ {
			getppidLoop(50)
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	},
}

func runWorkloadChild() {
	name := os.Getenv("VIGIL_WORKLOAD")
	fn, ok := workloads[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown workload %q\n", name)
		os.Exit(2)
	}
	// One thread does the work, so that tid == pid in what the test sees.
	runtime.LockOSThread()
	if err := fn(os.Getenv("VIGIL_DIR")); err != nil {
		fmt.Fprintf(os.Stderr, "workload %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func cstr(s string) *byte { p, _ := unix.BytePtrFromString(s); return p }

func fact(k string, v any) { fmt.Printf("%s=%v\n", k, v) }

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
	sleeper := exec.Command("/bin/sleep", "30")
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

func memfdWorkload(string) error {
	fd, err := unix.MemfdCreate("vigil-fileless", 0)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	src, err := os.Open("/bin/true")
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(fd), "memfd")
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	fact("memfd", fd)
	argv0, _ := unix.BytePtrFromString("fileless-true")
	argv := []*byte{argv0, nil}
	env := []*byte{nil}
	empty, _ := unix.BytePtrFromString("")
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&env[0])), unix.AT_EMPTY_PATH, 0)
	return fmt.Errorf("execveat returned: %v", e)
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
	getppidLoop(n)
	return nil
}

func getppidLoop(n int) {
	for i := 0; i < n; i++ {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
}

// startWorkload starts the named workload and returns it with its stdout.
func startWorkload(name, dir string, env ...string) (*exec.Cmd, *os.File, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "VIGIL_WORKLOAD="+name, "VIGIL_DIR="+dir)...)
	out, err := os.CreateTemp("", "vigil-workload-*")
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	return cmd, out, cmd.Start()
}

// facts parses the key=value lines a workload printed.
func facts(f *os.File) map[string]string {
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
