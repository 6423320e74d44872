// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package builder

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds one build.
const DefaultTimeout = 20 * time.Minute

// DefaultCompiler is the gcc package of a suite's kernels, or "".
func DefaultCompiler(suite string) string {
	base, _, _ := strings.Cut(suite, "-")
	return map[string]string{"bullseye": "gcc-10", "bookworm": "gcc-12", "trixie": "gcc-14", "sid": "gcc-16"}[base]
}

// Local runs jobs with this host's toolchain, for targets whose compiler
// the host has. Each job gets private mount and network namespaces
// (util-linux unshare): its mounts are bind mounts there, its tmpfs are
// fresh, and it has no network, as in a container.
type Local struct{}

// Name implements Executor.
func (Local) Name() string { return "local" }

// Run implements Executor.
func (Local) Run(ctx context.Context, j Job) (Result, error) {
	if _, err := exec.LookPath("unshare"); err != nil {
		return Result{}, fmt.Errorf("local executor: %w (install util-linux)", err)
	}
	var setup strings.Builder
	setup.WriteString("set -e\nip link set lo up 2>/dev/null || true\n")
	for _, t := range j.Tmpfs {
		fmt.Fprintf(&setup, "mkdir -p %q && mount -t tmpfs tmpfs %q\n", t, t)
	}
	for _, m := range j.Mounts {
		fmt.Fprintf(&setup, "mkdir -p %q && mount --bind %q %q\n", m.Guest, m.Host, m.Guest)
		if m.ReadOnly {
			fmt.Fprintf(&setup, "mount -o remount,bind,ro %q\n", m.Guest)
		}
	}
	setup.WriteString(`exec "$@"` + "\n")
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"--mount", "--net", "--propagation", "private", "--kill-child",
		"/bin/sh", "-c", setup.String(), "vigil-job"}, j.Cmd...)
	cmd := exec.CommandContext(cctx, "unshare", args...)
	cmd.Env = j.Env
	out := NewLineWriter(j.Log, "["+j.Name+"] ")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	res := Result{Tail: out.Tail()}
	var ee *exec.ExitError
	switch {
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		res.TimedOut, res.ExitCode = true, -1
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
	case err != nil:
		return res, fmt.Errorf("run %s locally: %w", j.Name, err)
	}
	return res, nil
}
