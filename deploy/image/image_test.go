// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// The image as make image builds it, run by the real Docker Engine: as a
// plain container (vigil is its pid 1) and as the detector a DaemonSet
// runs (the host's pid namespace, the host's root at /host), against an
// event on the host.

const testTag = "vigil:test"

func TestImage(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the Docker Engine and the eBPF probe")
	}
	testenv.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx := context.Background()

	version := fmt.Sprintf("imagetest-%d", time.Now().UnixNano())
	bin := buildVigil(t, version)
	var log strings.Builder
	res, err := buildImage(ctx, cli, spec{Binary: bin, CACerts: defaultCACerts, Version: version, Tags: []string{testTag}, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), testTag, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	t.Logf("image %s (%s): %s", testTag, res.ID, humanSize(res.Size))

	t.Run("version as pid 1", func(t *testing.T) {
		out, info := runToEnd(t, cli, &container.Config{Image: testTag, Cmd: []string{"--version"}},
			&container.HostConfig{NetworkMode: "none"})
		// The entrypoint of a container with its own pid namespace is its
		// pid 1: the case where vigil once started the matrix agent.
		if !info.HostConfig.PidMode.IsPrivate() || info.Path != binaryPath {
			t.Fatalf("container ran %s with pid mode %q; want %s as pid 1 of its own namespace", info.Path, info.HostConfig.PidMode, binaryPath)
		}
		if info.State.ExitCode != 0 || strings.Contains(out, "vigil-agent") || !strings.Contains(out, "vigil version "+version) {
			t.Errorf("vigil --version as the container's pid 1 exited %d and printed:\n%s", info.State.ExitCode, out)
		}
	})

	// The kmod DaemonSet's init container (deploy/kubernetes), with its
	// host mounts and an empty ConfigMap; vigil's state and cache go to
	// directories of the test rather than the host's.
	t.Run("driver install as the init container", func(t *testing.T) {
		testenv.RequireProbe(t)
		state, cache := t.TempDir(), t.TempDir()
		hc := &container.HostConfig{
			PidMode:     "host",
			NetworkMode: "none",
			Binds: []string{"/proc:/host/proc:ro", "/boot:/host/boot:ro", "/lib/modules:/host/lib/modules:ro",
				"/usr:/host/usr:ro", "/etc:/host/etc:ro", state + ":/host/run/vigil", cache + ":/host/var/cache/vigil/driver"},
		}
		privileged(t, hc)
		out, info := runToEnd(t, cli, &container.Config{
			Image: testTag,
			Cmd:   []string{"--log-format", "text", "driver", "install", "--host-root", "/host"},
			Env:   []string{"VIGIL_DRIVER=auto", "VIGIL_DRIVER_REPOS=", "VIGIL_TRUSTED_KEYS="},
		}, hc)
		t.Logf("vigil driver install:\n%s", out)
		if info.State.ExitCode != 0 {
			t.Fatalf("vigil driver install exited %d", info.State.ExitCode)
		}
		// The report the detector and `vigil driver status` read.
		if entries, err := os.ReadDir(state); err != nil || len(entries) == 0 {
			t.Errorf("vigil driver install left nothing in /host/run/vigil (%v)", err)
		}
	})

	t.Run("detects on the host", func(t *testing.T) {
		testenv.RequireProbe(t)
		hc := &container.HostConfig{
			PidMode:     "host", // vigil tells the probe to drop its own pid, as the kernel counts it
			NetworkMode: "none",
			// The host's root, read-only: /proc for processes, /etc for
			// user names, the Docker socket for container metadata. The
			// probe attaches to BTF tracepoints: no tracefs mount needed.
			Binds: []string{"/:/host:ro"},
		}
		privileged(t, hc)
		d := startDetector(t, cli, &container.Config{
			Image: testTag,
			Cmd:   []string{"--log-format", "json", "run", "--output", "json", "--host-root", "/host"},
		}, hc)
		a := d.waitShadowRead(t, 60*time.Second)
		t.Logf("alert: %s", a.Output)
		// root's name comes from the host's /etc/passwd: the scratch image has none.
		if field(a, "fd.name") != "/etc/shadow" || field(a, "proc.name") != "cat" || field(a, "user.name") != "root" {
			t.Errorf("alert fields: fd.name %s, proc.name %s, user.name %s; want /etc/shadow, cat, root (from --host-root)",
				field(a, "fd.name"), field(a, "proc.name"), field(a, "user.name"))
		}
	})
}

// buildVigil builds vigil as make build does, with version linked in.
func buildVigil(t *testing.T, version string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "../../cmd/vigil")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build vigil: %v\n%s", err, out)
	}
	return bin
}

// capNames are the capabilities by number (linux/capability.h), without
// their CAP_ prefix, as the Docker Engine names them.
var capNames = strings.Fields(`CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID
	SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
	SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE
	SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN
	SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE`)

// privileged makes hc a privileged container, or, where the machine's
// capability bounding set lacks some capability (runc then refuses to start
// a privileged container: "unable to apply caps"), the nearest thing the
// machine allows: every other capability, no seccomp, no AppArmor.
func privileged(t *testing.T, hc *container.HostConfig) {
	t.Helper()
	missing, err := missingCaps()
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) == 0 {
		hc.Privileged = true
		return
	}
	var names []string
	for _, c := range missing {
		names = append(names, "CAP_"+capNames[c])
		// Docker 20.10's "ALL" stops at CAP_AUDIT_READ (37); it rejects later names.
		if c <= 37 {
			hc.CapDrop = append(hc.CapDrop, capNames[c])
		}
	}
	hc.CapAdd = []string{"ALL"}
	hc.SecurityOpt = []string{"seccomp=unconfined", "apparmor=unconfined"}
	t.Logf("this machine's capability bounding set lacks %s, so no privileged container starts here; running with every capability it allows, seccomp and AppArmor unconfined", strings.Join(names, ", "))
}

// missingCaps are the capabilities the kernel has (0 to cap_last_cap) that
// this process's bounding set, and so the engine's on the same machine,
// lacks.
func missingCaps() ([]int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil, fmt.Errorf("read the kernel's last capability: %w", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("cap_last_cap %q: %w", b, err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("read the capability bounding set: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		bnd, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("CapBnd %q: %w", hex, err)
		}
		var missing []int
		for c := 0; c <= last && c < len(capNames); c++ {
			if bnd&(1<<c) == 0 {
				missing = append(missing, c)
			}
		}
		return missing, nil
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// runToEnd runs a container to its end and returns its output (stdout and
// stderr) and what the engine says of it.
func runToEnd(t *testing.T, cli *client.Client, cfg *container.Config, hc *container.HostConfig) (string, container.InspectResponse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := create(t, cli, cfg, hc)
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("start container: %v", err)
	}
	waitC, errC := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatalf("wait for container: %v", err)
	}
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("container logs: %v", err)
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		t.Fatalf("container logs: %v", err)
	}
	info, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatalf("inspect container: %v", err)
	}
	return out.String(), info
}

// create creates a container, removed when the test ends.
func create(t *testing.T, cli *client.Client, cfg *container.Config, hc *container.HostConfig) string {
	t.Helper()
	name := fmt.Sprintf("vigil-imagetest-%d", time.Now().UnixNano()%1e9)
	created, err := cli.ContainerCreate(context.Background(), cfg, hc, nil, nil, name)
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	return created.ID
}

// alert is what the test reads of a JSON alert line.
type alert struct {
	Rule         string         `json:"rule"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
}

func field(a alert, name string) string {
	v, ok := a.OutputFields[name]
	if !ok {
		return "(absent)"
	}
	return fmt.Sprint(v)
}

// detector is a container running vigil run --output json.
type detector struct {
	mu     sync.Mutex
	alerts []alert
	bad    []string // stdout lines that are not alerts
	stderr strings.Builder
	more   chan struct{}
}

// startDetector starts the container and returns once vigil logs that it
// is detecting; the container is stopped (SIGTERM) when the test ends.
func startDetector(t *testing.T, cli *client.Client, cfg *container.Config, hc *container.HostConfig) *detector {
	t.Helper()
	ctx := context.Background()
	id := create(t, cli, cfg, hc)
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("start the detector's container: %v", err)
	}
	d := &detector{more: make(chan struct{}, 1)}
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		t.Fatalf("follow the detector's output: %v", err)
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(outW, errW, rc)
		outW.CloseWithError(err)
		errW.CloseWithError(err)
	}()
	go d.readAlerts(outR)
	go d.readLogs(errR)
	t.Cleanup(func() {
		timeout := 10
		_ = cli.ContainerStop(context.Background(), id, container.StopOptions{Timeout: &timeout})
		rc.Close()
		if t.Failed() {
			t.Logf("vigil run's log:\n%s", d.logs())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(d.logs(), `"msg":"detecting"`); {
		if info, err := cli.ContainerInspect(ctx, id); err == nil && !info.State.Running {
			t.Fatalf("vigil run ended (exit %d) before detecting:\n%s", info.State.ExitCode, d.logs())
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil run did not start detecting within 60s:\n%s", d.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return d
}

func (d *detector) readAlerts(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var a alert
		err := json.Unmarshal(sc.Bytes(), &a)
		d.mu.Lock()
		if err != nil {
			d.bad = append(d.bad, sc.Text())
		} else {
			d.alerts = append(d.alerts, a)
		}
		d.mu.Unlock()
		select {
		case d.more <- struct{}{}:
		default:
		}
	}
}

func (d *detector) readLogs(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		d.mu.Lock()
		d.stderr.WriteString(sc.Text() + "\n")
		d.mu.Unlock()
	}
}

func (d *detector) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

const shadowRule = "Sensitive file read by untrusted program"

// waitShadowRead reads /etc/shadow on the host with cat, again every few
// seconds (other tests' processes share the probe; an event lost to a full
// buffer must not fail this one), until an alert names one of those cats.
func (d *detector) waitShadowRead(t *testing.T, within time.Duration) alert {
	t.Helper()
	pids := map[string]bool{}
	trigger := func() {
		cmd := exec.Command("cat", "/etc/shadow") // its output stays in /dev/null
		if err := cmd.Run(); err != nil {
			t.Fatalf("cat /etc/shadow on the host: %v", err)
		}
		pids[strconv.Itoa(cmd.Process.Pid)] = true
	}
	trigger()
	deadline := time.After(within)
	again := time.NewTicker(5 * time.Second)
	defer again.Stop()
	seen := 0
	for {
		d.mu.Lock()
		for _, a := range d.alerts[seen:] {
			if a.Rule == shadowRule && pids[field(a, "proc.pid")] {
				d.mu.Unlock()
				return a
			}
		}
		seen = len(d.alerts)
		bad := d.bad
		d.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("vigil run wrote lines that are not JSON alerts: %q", bad)
		}
		select {
		case <-d.more:
		case <-again.C:
			trigger()
		case <-deadline:
			t.Fatalf("no %q alert for the host's cat /etc/shadow (pids %v) within %s; %d alerts seen", shadowRule, pids, within, seen)
		}
	}
}
