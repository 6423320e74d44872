// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// The socket testenv.RequireDocker makes answer.
const testDockerSock = "/var/run/docker.sock"

const sleeperSrc = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// importSleeper builds a static program that sleeps until signalled and
// imports it as the whole file system of image ref; it returns the image id.
func importSleeper(t *testing.T, cli *client.Client, ref string) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	for name, body := range map[string]string{"main.go": sleeperSrc, "go.mod": "module sleeper\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Unavailable(t, "no go command to build the test image's program")
	}
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", "sleeper", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the sleeper: %v\n%s", err, out)
	}
	prog, err := os.ReadFile(filepath.Join(dir, "sleeper"))
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "sleeper", Mode: 0o755, Size: int64(len(prog)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(prog); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: &layer, SourceName: "-"}, ref,
		image.ImportOptions{Changes: []string{`CMD ["/sleeper"]`}})
	if err != nil {
		t.Fatalf("import %s: %v", ref, err)
	}
	msgs, _ := io.ReadAll(rc)
	rc.Close()
	if bytes.Contains(msgs, []byte(`"error"`)) {
		t.Fatalf("import %s: %s", ref, msgs)
	}
	// The import's last message carries the image id.
	idx := bytes.LastIndex(msgs, []byte("sha256:"))
	if idx < 0 || len(msgs) < idx+71 {
		t.Fatalf("import %s: no image id in %s", ref, msgs)
	}
	id := string(msgs[idx : idx+71])
	t.Cleanup(func() {
		if _, err := cli.ImageRemove(context.Background(), id, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", id, err)
		}
	})
	if ref != "" {
		img, err := cli.ImageInspect(ctx, ref)
		if err != nil || img.ID != id {
			t.Fatalf("inspect %s: %v (id %s, import said %s)", ref, err, img.ID, id)
		}
	}
	return id
}

// createSleeper creates a container (removed when the test ends) and
// returns its id.
func createSleeper(t *testing.T, cli *client.Client, name string, cfg *dcontainer.Config, hc *dcontainer.HostConfig) string {
	t.Helper()
	hc.NetworkMode = "none"
	created, err := cli.ContainerCreate(context.Background(), cfg, hc, nil, nil, name)
	if err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := cli.ContainerRemove(context.Background(), created.ID, dcontainer.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove container %s: %v", name, err)
		}
	})
	return created.ID
}

// runSleeper starts a container and returns its id and the host pid of its
// process.
func runSleeper(t *testing.T, cli *client.Client, name string, cfg *dcontainer.Config, hc *dcontainer.HostConfig) (string, int) {
	t.Helper()
	ctx := context.Background()
	id := createSleeper(t, cli, name, cfg, hc)
	if err := cli.ContainerStart(ctx, id, dcontainer.StartOptions{}); err != nil {
		t.Fatalf("start container %s: %v", name, err)
	}
	c, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.State == nil || c.State.Pid == 0 {
		t.Fatalf("container %s has no process: %+v", name, c.State)
	}
	return id, c.State.Pid
}

// cgroupContainer names the container of a process from its real
// /proc/<pid>/cgroup: every line that names one must name the same.
func cgroupContainer(t *testing.T, pid int) (Runtime, string) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rt Runtime
	var id string
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		// hierarchy-id:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			t.Fatalf("cgroup line %q", line)
		}
		r, i := ParseCgroup(parts[2])
		if r == Host {
			continue
		}
		if id != "" && (r != rt || i != id) {
			t.Fatalf("cgroup lines name two containers: %s %s and %s %s", rt, id, r, i)
		}
		rt, id = r, i
	}
	if id == "" {
		t.Fatalf("no container in /proc/%d/cgroup:\n%s", pid, strings.Join(lines, "\n"))
	}
	return rt, id
}

func TestDockerEngine(t *testing.T) {
	testenv.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+testDockerSock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	tag := fmt.Sprintf("t%d", time.Now().UnixNano())
	ref := "vigil-test/sleeper:" + tag
	imageID := importSleeper(t, cli, ref)
	// A second tag of the same image: a container keeps the tag its
	// reference names.
	other := "vigil-test/sleeper:a-" + tag
	if err := cli.ImageTag(context.Background(), ref, other); err != nil {
		t.Fatalf("tag %s: %v", other, err)
	}
	t.Cleanup(func() {
		if _, err := cli.ImageRemove(context.Background(), other, image.RemoveOptions{}); err != nil {
			t.Errorf("untag %s: %v", other, err)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		data := t.TempDir()
		name := "vigil-test-meta-" + tag
		labels := map[string]string{
			"io.kubernetes.pod.name":      "web-7d4b9c-x2x7k",
			"io.kubernetes.pod.namespace": "shop",
			"io.kubernetes.pod.uid":       "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
			"vigil.test":                  tag,
		}
		before := time.Now()
		id, pid := runSleeper(t, cli, name,
			&dcontainer.Config{Image: ref, Labels: labels},
			&dcontainer.HostConfig{Binds: []string{data + ":/data:ro"}})

		rt, fullID := cgroupContainer(t, pid)
		if rt != Docker || fullID != id {
			t.Fatalf("cgroup of pid %d names %s %s, want docker %s", pid, rt, fullID, id)
		}

		r, w := newTestResolver(t, Config{DockerSocket: testDockerSock})
		first := r.Lookup(rt, fullID)
		if first.Status != Pending || first.ID != id[:12] || first.FullID != id || first.Runtime != Docker {
			t.Fatalf("first lookup %+v, want Pending with the id", first)
		}
		for range 100 {
			r.Lookup(rt, fullID)
		}
		info := waitStatus(t, r, rt, fullID, 30*time.Second)
		if info.Status != Ready {
			t.Fatalf("%+v (warnings %v)", info, w.list())
		}
		for _, c := range []struct{ field, got, want string }{
			{"Name", info.Name, name},
			{"Image", info.Image, ref},
			{"ImageRepo", info.ImageRepo, "vigil-test/sleeper"},
			{"ImageTag", info.ImageTag, tag},
			{"ImageDigest", info.ImageDigest, ""},
			{"ImageID", info.ImageID, strings.TrimPrefix(imageID, "sha256:")},
			{"PodName", info.PodName, "web-7d4b9c-x2x7k"},
			{"PodNamespace", info.PodNamespace, "shop"},
			{"PodUID", info.PodUID, "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"},
			{"label vigil.test", info.Labels["vigil.test"], tag},
		} {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
			}
		}
		if len(info.ImageID) != 64 {
			t.Errorf("ImageID %q", info.ImageID)
		}
		if info.Privileged {
			t.Error("Privileged = true for a container that is not")
		}
		// The engine's clock and the test's are the host's.
		if info.StartedAt.Before(before.Add(-time.Second)) || info.StartedAt.After(time.Now()) {
			t.Errorf("StartedAt %v, the test started the container after %v", info.StartedAt, before)
		}
		if !info.NamespacesKnown || info.HostPID || info.HostNetwork || info.HostIPC || info.IP != "" {
			t.Errorf("namespaces known %v: host pid %v network %v ipc %v, ip %q; want none shared, no address (network none)",
				info.NamespacesKnown, info.HostPID, info.HostNetwork, info.HostIPC, info.IP)
		}
		var found bool
		for _, m := range info.Mounts {
			if m.Dest == "/data" {
				found = true
				if m.Source != data || m.RW {
					t.Errorf("mount %+v, want %s read-only", m, data)
				}
			}
		}
		if !found {
			t.Errorf("no /data among mounts %+v", info.Mounts)
		}
		if n := r.Stats().Fetches; n != 1 {
			t.Errorf("%d fetches for one container looked up 102 times", n)
		}
		if ws := w.list(); len(ws) != 0 {
			t.Errorf("warnings with a working engine: %v", ws)
		}
		if r.Lookup(rt, fullID) != info {
			t.Error("a Ready container's Info changed")
		}
	})

	// Privileged containers get every capability the kernel knows, and
	// runc cannot start one where vigil's own bounding set lacks some (as
	// on the sandboxes this project runs on, without CAP_SYS_RESOURCE):
	// the flag is read from a container created but not started.
	t.Run("privileged", func(t *testing.T) {
		name := "vigil-test-priv-" + tag
		id := createSleeper(t, cli, name,
			&dcontainer.Config{Image: ref, Labels: map[string]string{"io.kubernetes.pod.name": "priv-pod"}},
			&dcontainer.HostConfig{Privileged: true, PidMode: "host", IpcMode: "host"})
		r, _ := newTestResolver(t, Config{DockerSocket: testDockerSock})
		info := waitStatus(t, r, Docker, id, 30*time.Second)
		if info.Status != Ready || !info.Privileged || info.Name != name || info.PodName != "priv-pod" {
			t.Errorf("%+v, want Ready, privileged, named %s in pod priv-pod", info, name)
		}
		if !info.HostPID || !info.HostIPC || info.HostNetwork || !info.StartedAt.IsZero() {
			t.Errorf("host pid %v ipc %v network %v, started %v: want the host's pid and ipc, not started",
				info.HostPID, info.HostIPC, info.HostNetwork, info.StartedAt)
		}
	})

	t.Run("created from the image id", func(t *testing.T) {
		id, _ := runSleeper(t, cli, "vigil-test-byid-"+tag, &dcontainer.Config{Image: imageID}, &dcontainer.HostConfig{})
		r, _ := newTestResolver(t, Config{DockerSocket: testDockerSock})
		info := waitStatus(t, r, Docker, id, 30*time.Second)
		if info.Status != Ready {
			t.Fatalf("%+v", info)
		}
		// The reference is the id; repository and tag come from the
		// image's RepoTags.
		if info.Image != imageID || info.ImageRepo != "vigil-test/sleeper" || (info.ImageTag != tag && info.ImageTag != "a-"+tag) {
			t.Errorf("image %q repo %q tag %q, want %q vigil-test/sleeper %q", info.Image, info.ImageRepo, info.ImageTag, imageID, tag)
		}
		if info.Privileged || info.PodName != "" || len(info.Labels) != 0 {
			t.Errorf("privileged %v pod %q labels %v for a plain container", info.Privileged, info.PodName, info.Labels)
		}
	})

	t.Run("untagged image", func(t *testing.T) {
		id := importSleeper(t, cli, "")
		cid := createSleeper(t, cli, "vigil-test-untagged-"+tag, &dcontainer.Config{Image: id}, &dcontainer.HostConfig{})
		r, _ := newTestResolver(t, Config{DockerSocket: testDockerSock})
		info := waitStatus(t, r, Docker, cid, 30*time.Second)
		// No repository to be had; the tag reads "latest", as Falco's.
		if info.Status != Ready || info.ImageRepo != "" || info.ImageTag != "latest" || info.ImageID != strings.TrimPrefix(id, "sha256:") {
			t.Errorf("%+v, want no repository, tag latest, image id %s", info, id)
		}
	})

	t.Run("unknown container", func(t *testing.T) {
		r, w := newTestResolver(t, Config{DockerSocket: testDockerSock})
		info := waitStatus(t, r, Docker, testID(42), 30*time.Second)
		if info.Status != Failed || !strings.Contains(info.Reason, "does not know this container") {
			t.Errorf("%+v", info)
		}
		if ws := w.list(); len(ws) != 0 {
			t.Errorf("a runtime warning for one unknown container: %v", ws)
		}
	})

	t.Run("recovery", func(t *testing.T) {
		id, _ := runSleeper(t, cli, "vigil-test-recover-"+tag, &dcontainer.Config{Image: ref}, &dcontainer.HostConfig{})
		sock := filepath.Join(t.TempDir(), "docker.sock")
		r, w := newTestResolver(t, Config{DockerSocket: sock, RetryAfter: 20 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond})
		if info := waitStatus(t, r, Docker, id, 30*time.Second); info.Status != Failed {
			t.Fatalf("%+v with no socket", info)
		}
		// The socket appears (mounted late, dockerd started).
		if err := os.Symlink(testDockerSock, sock); err != nil {
			t.Fatal(err)
		}
		var info *Info
		waitUntil(t, "Ready after the socket appeared", 30*time.Second, func() bool {
			info = r.Lookup(Docker, id)
			return info.Status == Ready
		})
		if info.Name != "vigil-test-recover-"+tag {
			t.Errorf("name %q", info.Name)
		}
		ws, rs := w.list(), w.recoveries()
		if len(ws) != 1 || len(rs) != 1 || rs[0].Socket != sock || !strings.HasPrefix(rs[0].Cause, "no Docker socket") {
			t.Errorf("warnings %v, recoveries %v: want one of each, for %s", ws, rs, sock)
		}
	})
}
