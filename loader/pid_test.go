// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// In a pid namespace of its own, a process's host pid is what the host's
// proc calls "self", not os.Getpid(): the child prints both.
func TestHostPIDInAPidNamespace(t *testing.T) {
	if os.Getenv("VIGIL_PID_CHILD") != "" {
		return
	}
	if HostPID("/") != uint32(os.Getpid()) {
		t.Errorf("HostPID(/) = %d, os.Getpid() = %d: the same namespace", HostPID("/"), os.Getpid())
	}
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for a new pid namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testenv.Unavailable(t, "unshare (util-linux) not installed")
	}
	self, _ := os.Executable()
	// The child keeps the host's /proc (no --mount-proc): as a container
	// with the host's proc at /host/proc does.
	cmd := exec.Command(unshare, "--pid", "--fork", self, "-test.run=^TestHostPIDChild$", "-test.v")
	cmd.Env = append(os.Environ(), "VIGIL_PID_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var getpid, host int
	for _, l := range strings.Split(string(out), "\n") {
		if _, v, ok := strings.Cut(l, "pids "); ok {
			f := strings.Fields(v)
			getpid, _ = strconv.Atoi(f[0])
			host, _ = strconv.Atoi(f[1])
		}
	}
	if getpid != 1 || host <= 1 {
		t.Errorf("in a new pid namespace: os.Getpid() %d (want 1), HostPID %d (want the host's pid)\n%s", getpid, host, out)
	}
}

func TestHostPIDChild(t *testing.T) {
	if os.Getenv("VIGIL_PID_CHILD") == "" {
		return
	}
	t.Logf("pids %d %d", os.Getpid(), HostPID("/"))
}
