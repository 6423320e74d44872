// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// tracefsDirs are where tracefs is found, newest place first (the older
// one is its automount under debugfs).
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// syscallTracepoints returns the directory of the running kernel's
// per-syscall tracepoints (tracefs's events/syscalls), which the
// tracepoint entry and exit programs attach to. It mounts tracefs where
// the kernel has it and nobody mounted it (a bare VM, a fresh container
// with /sys from the host).
func syscallTracepoints() (string, error) {
	const events = "events/syscalls"
	const probe = events + "/sys_enter_openat/id"
	for _, dir := range tracefsDirs {
		if _, err := os.Stat(filepath.Join(dir, probe)); err == nil {
			return filepath.Join(dir, events), nil
		}
	}
	dir := tracefsDirs[0]
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type == unix.TRACEFS_MAGIC {
		return "", fmt.Errorf("%s has no %s: the kernel was built without CONFIG_FTRACE_SYSCALLS", dir, events)
	}
	if err := unix.Mount("tracefs", dir, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return "", fmt.Errorf("no tracefs mounted at %s, and mounting it failed: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, probe)); err != nil {
		return "", fmt.Errorf("tracefs (mounted at %s by vigil) has no %s: the kernel was built without CONFIG_FTRACE_SYSCALLS", dir, events)
	}
	return filepath.Join(dir, events), nil
}

// attachSyscallTracepoint attaches prog to a syscall's tracepoint, event
// sys_enter_<name> or sys_exit_<name>.
func attachSyscallTracepoint(event string, prog *ebpf.Program) (link.Link, error) {
	l, err := link.Tracepoint("syscalls", event, prog, nil)
	if err != nil {
		return nil, fmt.Errorf("attach %s to syscalls:%s: %w", prog, event, err)
	}
	return l, nil
}
