// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build libbpfgo

package libbpf

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

func TestMain(m *testing.M) {
	selftest.RunChild()
	os.Exit(m.Run())
}

// memlockLimit is what libbpfgo sets RLIMIT_MEMLOCK to, soft and hard,
// before opening any object.
const memlockLimit = 512 << 20

// allowLibbpfgoMemlock lets libbpfgo's RLIMIT_MEMLOCK raise "succeed"
// where the hard limit is lower and the process lacks CAP_SYS_RESOURCE
// (root in a container): libbpfgo v0.4.5 makes it a condition of opening
// any object, though kernels since 5.11 charge BPF memory to the cgroup,
// not to the limit (libbpf and cilium/ebpf skip the raise there). A
// seccomp filter answers 0 to that one prlimit64 call, on every thread,
// for the rest of the test binary; nothing else changes.
func allowLibbpfgoMemlock(t *testing.T) {
	t.Helper()
	lim := unix.Rlimit{Cur: memlockLimit, Max: memlockLimit}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err == nil || !errors.Is(err, unix.EPERM) {
		return
	}
	const allow = 12 // index of the allowing return
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.AUDIT_ARCH_X86_64, Jf: allow - 2},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_PRLIMIT64, Jf: allow - 4},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 24}, // args[1], the resource
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.RLIMIT_MEMLOCK, Jf: allow - 6},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 36}, // args[2], the new limit: set, not read
		{Code: unix.BPF_MISC | unix.BPF_TAX},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 32},
		{Code: unix.BPF_ALU | unix.BPF_OR | unix.BPF_X},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0, Jt: allow - 11},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO}, // errno 0: success, nothing done
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&prog))); errno != 0 {
		t.Fatalf("seccomp filter for libbpfgo's RLIMIT_MEMLOCK raise: %v", errno)
	}
	t.Logf("RLIMIT_MEMLOCK cannot be raised to %d MiB here (no CAP_SYS_RESOURCE): libbpfgo's raise is made a no-op", memlockLimit>>20)
}

func agentConfig() driver.Config { return driver.Config{IgnorePID: uint32(os.Getpid())} }

// TestSelftest runs the matrix's workloads and assertions (exec, files,
// tcp, setuid, ... with their paths, pids and arguments) against the probe
// loaded, attached and read through libbpf, on the host's kernel.
func TestSelftest(t *testing.T) {
	testenv.RequireProbe(t)
	allowLibbpfgoMemlock(t)
	p, err := Open(agentConfig(), bpf.Options{BufferSize: 1 << 20})
	if err != nil {
		t.Fatalf("open the probe through libbpf %s: %v", Version(), err)
	}
	defer p.Close()
	env := &selftest.Env{Src: p, Config: agentConfig(), TempDir: t.TempDir()}
	for _, c := range selftest.Checks() {
		t.Run(c.Name, func(t *testing.T) {
			out, err := c.Exec(env)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Events) == 0 {
				t.Fatal("passed without seeing an event")
			}
		})
	}
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Events == 0 || len(st.PerCPU) == 0 {
		t.Fatalf("stats after the workloads: %+v", st)
	}
	t.Logf("libbpf %s, entry programs %s: %d events, %d drops, %d missed", Version(), p.EntryMode(), st.Events, st.Drops, st.Missed)
}

// TestClose: after Close, Next and Stats say so, and a second Close is
// harmless.
func TestClose(t *testing.T) {
	testenv.RequireProbe(t)
	allowLibbpfgoMemlock(t)
	p, err := Open(agentConfig(), bpf.Options{BufferSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Next(); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
	if _, err := p.Stats(); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("Stats after Close: %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestBadBufferSize: a size the rings cannot have is refused before
// anything is loaded, naming what would do.
func TestBadBufferSize(t *testing.T) {
	_, err := Open(agentConfig(), bpf.Options{BufferSize: 3000})
	if err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Fatalf("Open with a 3000-byte ring: %v, want a power-of-two error", err)
	}
}

// TestFallback: where the kernel refuses the entry object, the probe's
// sys_enter program serves the entry events (openat's arguments at entry)
// in its stead.
func TestFallback(t *testing.T) {
	testenv.RequireProbe(t)
	allowLibbpfgoMemlock(t)
	refuseEntry = errors.New("refused for a test")
	defer func() { refuseEntry = nil }()
	p, err := Open(agentConfig(), bpf.Options{BufferSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if bpf.EntryObject() != nil && p.EntryMode() != "sys_enter" {
		t.Fatalf("entry mode %s, want sys_enter", p.EntryMode())
	}
	env := &selftest.Env{Src: p, Config: agentConfig(), TempDir: t.TempDir()}
	for _, c := range selftest.Checks() {
		if c.Name != "files" {
			continue
		}
		if _, err := c.Exec(env); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSelectionAttaches: a hook tied to syscalls is attached only while
// one of them is selected, and SetConfig attaches and detaches it.
func TestSelectionAttaches(t *testing.T) {
	testenv.RequireProbe(t)
	allowLibbpfgoMemlock(t)
	table, err := driver.NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	nr, _ := table.Nr("execve")
	only := agentConfig()
	only.Syscalls = make([]bool, driver.MaxSyscalls)
	only.Syscalls[nr] = true
	p, err := Open(only, bpf.Options{BufferSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	attached := func() (tied, always int) {
		for _, h := range p.hooks {
			switch {
			case h.link != nil && len(h.Syscalls) > 0:
				tied++
			case h.link != nil:
				always++
			}
		}
		return
	}
	if tied, always := attached(); tied != 0 || always == 0 {
		t.Fatalf("execve alone: %d syscall hooks and %d others attached, want none and some", tied, always)
	}
	if err := p.SetConfig(agentConfig()); err != nil {
		t.Fatal(err)
	}
	if tied, _ := attached(); tied == 0 && p.EntryMode() != "probe" {
		t.Fatalf("every syscall: no syscall hook attached (entry mode %s)", p.EntryMode())
	}
	if err := p.SetConfig(only); err != nil {
		t.Fatal(err)
	}
	if tied, _ := attached(); tied != 0 {
		t.Fatalf("execve alone again: %d syscall hooks attached", tied)
	}
}
