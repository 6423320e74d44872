// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted: the
// probe names a process's container from its path there.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" {
				return f[4]
			}
		}
	}
	testenv.Unavailable(t, "no cgroup v2 hierarchy mounted (the probe reads container ids from it)")
	return ""
}

// fakeCgroup makes the cgroup rel (a path such as a runtime gives its
// containers) below the v2 hierarchy and returns a descriptor of it for
// clone3's CLONE_INTO_CGROUP; the directories made are removed when the
// test ends (after the processes in them have exited).
func fakeCgroup(t *testing.T, rel string) int {
	t.Helper()
	root := cgroup2Mount(t)
	var made []string
	dir := root
	for _, c := range strings.Split(strings.Trim(rel, "/"), "/") {
		dir = filepath.Join(dir, c)
		if err := os.Mkdir(dir, 0o755); err == nil {
			made = append(made, dir)
		} else if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("make cgroup %s: %v", dir, err)
		}
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open cgroup %s: %v", dir, err)
	}
	t.Cleanup(func() {
		syscall.Close(fd)
		for i := len(made) - 1; i >= 0; i-- {
			// The reader may take a moment to be reaped from the cgroup.
			for try := 0; try < 50 && os.Remove(made[i]) != nil; try++ {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return fd
}

// readShadowIn runs vigil's cat workload on /etc/shadow as a process born
// in the cgroup fd (clone3 with CLONE_INTO_CGROUP: every event of it, its
// exec included, carries the cgroup) and returns its pid. cat is a link to
// vigil's binary: the process is called cat, as the rules see the real one
// (vigil itself is a credential reader to them).
func readShadowIn(t *testing.T, cat string, cgroupFD int) int {
	t.Helper()
	cmd := exec.Command(cat, "/etc/shadow")
	cmd.Env = append(os.Environ(), "VIGIL_WORKLOAD=cat")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroupFD}
	if out, err := cmd.Output(); err != nil || !strings.HasPrefix(string(out), "root:") {
		t.Fatalf("read /etc/shadow in a cgroup: %v (%.40q)", err, out)
	}
	return cmd.Process.Pid
}

func randomID(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// A runtime's socket under the host root, its cgroup layout, and the
// words its warnings use.
type runtimeCase struct {
	rt     string // container.type
	sock   string // relative to the host root: where vigil looks by default
	cgroup func(id, pod string) string
	// What the one warning must say: no socket, and refused.
	missing, missingFix, refused, refusedFix string
}

var runtimeCases = []runtimeCase{
	{
		rt: "docker", sock: "var/run/docker.sock",
		cgroup:  func(id, _ string) string { return "/system.slice/docker-" + id + ".scope" },
		missing: "no Docker socket at ", missingFix: "mount the host's /var/run/docker.sock",
		refused: "no Docker daemon listens on it (dockerd is not running)", refusedFix: "start dockerd on the host",
	},
	{
		rt: "containerd", sock: "run/containerd/containerd.sock",
		cgroup: func(id, pod string) string {
			return "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + pod + ".slice/cri-containerd-" + id + ".scope"
		},
		missing: "no containerd socket at ", missingFix: "mount the host's /run/containerd",
		refused: "no containerd daemon listens on it (containerd is not running)", refusedFix: "start containerd on the host",
	},
	{
		rt: "cri-o", sock: "var/run/crio/crio.sock",
		cgroup: func(id, pod string) string {
			return "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + pod + ".slice/crio-" + id + ".scope"
		},
		missing: "no CRI-O socket at ", missingFix: "mount the host's /var/run/crio",
		refused: "no CRI-O daemon listens on it (crio is not running)", refusedFix: "start crio on the host",
	},
	{
		rt: "podman", sock: "run/podman/podman.sock",
		cgroup:  func(id, _ string) string { return "/machine.slice/libpod-" + id + ".scope" },
		missing: "no Podman socket at ", missingFix: "mount its /run/podman/podman.sock",
		refused: "no Podman daemon listens on it (the podman service is not running)", refusedFix: "start the podman service on the host",
	},
}

// For each runtime, docker, containerd and CRI-O (both over the CRI) and
// podman: processes in cgroups that name containers of it read a
// sensitive file while its socket is missing, or is a socket file no
// daemon listens on. The alerts come with the container's id and <NA> for
// what only the runtime knows, and vigil warns once per runtime, naming
// the socket, the cause and the fix. The sockets are found where vigil
// looks by default, under --host-root: a directory of the test's with the
// host's /proc and /etc linked in.
func TestRunRuntimeSocketWarnings(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the probe and to make cgroups")
	}
	testenv.RequireProbe(t)
	cgroup2Mount(t)
	cat := filepath.Join(t.TempDir(), "cat")
	if err := os.Symlink(vigilBin, cat); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_HOST", "") // it would win over the host root's socket
	extra := appendToShadowAlert(t, "type=%container.type image=%container.image.repository")
	for _, mode := range []string{"missing", "refused"} {
		t.Run(mode, func(t *testing.T) {
			// Short: a unix socket's path has a length limit.
			root, err := os.MkdirTemp("", "vigil-hr-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(root) })
			for _, l := range []string{"proc", "etc"} {
				if err := os.Symlink("/"+l, filepath.Join(root, l)); err != nil {
					t.Fatal(err)
				}
			}
			for _, rc := range runtimeCases {
				sock := filepath.Join(root, rc.sock)
				if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
					t.Fatal(err)
				}
				if mode == "refused" {
					testenv.DeadSocket(t, sock)
				}
			}
			d := startRun(t, "--host-root", root, "-r", "../../engine/ruleset/vigil_rules.yaml", "-r", extra)
			for _, rc := range runtimeCases {
				t.Run(rc.rt, func(t *testing.T) {
					sock := filepath.Join(root, rc.sock)
					// Two containers, two reads each: four lookups, one
					// warning; and a read after the resolver's retry wait
					// (1s), whose fetch fails again: still one.
					check := func(id string, fd int) {
						t.Helper()
						pid := readShadowIn(t, cat, fd)
						a := d.wait(t, "Sensitive file read by untrusted program", func(a alert) bool {
							return field(a, "proc.pid") == fmt.Sprint(pid)
						})
						checkFields(t, a, map[string]string{
							"container.id":               id[:12],
							"container.type":             rc.rt,
							"container.name":             "<NA>",
							"container.image.repository": "<NA>",
						})
						if !strings.Contains(a.Output, "container_name=<NA>") {
							t.Errorf("the output does not show <NA> for the name: %s", a.Output)
						}
					}
					var first string
					var firstFD int
					for i := range 2 {
						id, pod := randomID(t), randomID(t)[:32]
						fd := fakeCgroup(t, rc.cgroup(id, pod))
						if i == 0 {
							first, firstFD = id, fd
						}
						check(id, fd)
						check(id, fd)
					}
					time.Sleep(1500 * time.Millisecond)
					check(first, firstFD)
					// The warning is given by the worker that failed the
					// first fetch: wait for it, then for any more.
					var warnings []string
					for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
						warnings = runtimeWarnings(d.logs(), rc.rt)
						if len(warnings) > 0 || time.Now().After(deadline) {
							break
						}
					}
					time.Sleep(time.Second)
					warnings = runtimeWarnings(d.logs(), rc.rt)
					if len(warnings) != 1 {
						t.Fatalf("%d %s warnings, want 1:\n%s", len(warnings), rc.rt, strings.Join(warnings, "\n"))
					}
					w := warnings[0]
					cause, fix := rc.missing+sock, rc.missingFix
					if mode == "refused" {
						cause, fix = "connection refused: "+sock+" is a socket file, but "+rc.refused, rc.refusedFix
					}
					if !strings.Contains(w, cause) || !strings.Contains(w, fix) {
						t.Errorf("the %s warning does not say %q and %q:\n%s", rc.rt, cause, fix, w)
					}
				})
			}
		})
	}
}

// runtimeWarnings returns vigil's warnings about rt's metadata.
func runtimeWarnings(logs, rt string) []string {
	return warningsWith(logs, `"msg":"`+rt+" container metadata unavailable")
}
