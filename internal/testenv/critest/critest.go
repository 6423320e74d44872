// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package critest runs a containerd of a test's own, with the CRI on, and
// pods and containers in it through the CRI: what the kubelet does, without
// a kubelet or a registry.
package critest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
)

// sleeperSrc sleeps until signalled; given files, it prints them instead
// (the test's `cat`, since the image holds nothing else).
const sleeperSrc = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	for _, f := range os.Args[1:] {
		b, err := os.ReadFile(f)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.Write(b)
	}
	if len(os.Args) > 1 {
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// testContainerd is a containerd of the test's own: root, state and socket
// under a temporary directory, the CRI plugin on, the native snapshotter
// (no overlayfs needed, which nested containers may refuse) unless
// StartWith is told otherwise.
type Containerd struct {
	Sock    string                   // its socket, where the CRI answers
	Runtime cri.RuntimeServiceClient // the CRI's runtime service on Sock
	log     string
}

// Image is the image ImportImage imports, and the pods' sandbox image.
const Image = "localhost/vigil/sleeper:cri-test"

// Start starts containerd with the native snapshotter; it stops when the
// test ends.
func Start(t testing.TB) *Containerd {
	t.Helper()
	return StartWith(t, Options{})
}

// Options are what StartWith may change in the test's containerd.
type Options struct {
	// Snapshotter is the CRI's snapshotter: "" or "native" (plain
	// directories, no overlayfs needed, which nested containers may
	// refuse), or "overlayfs": a container's root is then an overlayfs
	// mount, as on a Kubernetes node, and a file written in the container
	// lands in its upper layer (what proc.is_exe_upper_layer looks for).
	// overlayfs needs a file system that can carry it below the temporary
	// directory (not an overlayfs itself, as in some nested containers).
	// ImportImage's image is unpacked for it by the CRI when a container
	// is first created from it.
	Snapshotter string
	// SandboxImage is the CRI's sandbox_image, what every pod's sandbox
	// (pause) container runs: "" is Image; DebianImage is the Debian
	// image ImportDebian imports (its default command sleeps). The test
	// imports it before it runs a pod: no registry is asked.
	SandboxImage string
}

// StartWith starts containerd as opts say; it stops when the test ends.
func StartWith(t testing.TB, opts Options) *Containerd {
	t.Helper()
	snapshotter := opts.Snapshotter
	if snapshotter == "" {
		snapshotter = "native"
	}
	sandboxImage := opts.SandboxImage
	if sandboxImage == "" {
		sandboxImage = Image
	}
	dir := testenv.DaemonDir(t, "run containerd", "vigil-ctrd-")
	bin, err := exec.LookPath("containerd")
	if err != nil {
		os.RemoveAll(dir)
		testenv.Unavailable(t, "no containerd (scripts/deps test installs it)")
	}
	tc := &Containerd{Sock: filepath.Join(dir, "c.sock"), log: filepath.Join(dir, "containerd.log")}
	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # The sandbox asks for oom_score_adj -998; where the test runs without
  # CAP_SYS_RESOURCE (a container), only containerd's own or higher is allowed.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = %[8]q
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[6]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), tc.Sock, tc.Sock+".ttrpc", sandboxImage, filepath.Join(dir, "cni"), filepath.Join(dir, "runc"), snapshotter)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(tc.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(tc.log)
			t.Logf("containerd log:\n%s", tail(b, 4000))
		}
		// The native snapshotter's files are plain, and RemovePodSandbox
		// undid the sandbox mounts; but overlay mounts of containers
		// still up would make RemoveAll delete through them: whatever
		// is left mounted is unmounted first.
		unmountBelow(dir)
		os.RemoveAll(dir)
	})
	conn, err := grpc.NewClient("unix://"+tc.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tc.Runtime = cri.NewRuntimeServiceClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := tc.Runtime.Version(ctx, &cri.VersionRequest{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(tc.log)
			t.Fatalf("containerd's CRI did not answer within 30s: %v\n%s", err, tail(b, 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return tc
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// ImportImage builds the sleeper (it sleeps until signalled; given files,
// it prints them), with an /etc/shadow to read, as an OCI image archive
// and imports it as Image into the k8s.io namespace (where the CRI looks),
// or into the containerd namespaces given, with ctr: no registry is
// involved.
func (tc *Containerd) ImportImage(t testing.TB, namespaces ...string) {
	t.Helper()
	if len(namespaces) == 0 {
		namespaces = []string{Namespace}
	}
	dir := t.TempDir()
	for name, body := range map[string]string{"main.go": sleeperSrc, "go.mod": "module sleeper\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "sleeper", ".")
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
	lw := tar.NewWriter(&layer)
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if err := lw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := lw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir}, nil)
	add(&tar.Header{Name: "etc/shadow", Mode: 0o640, Typeflag: tar.TypeReg}, []byte("root:*:20000:0:99999:7:::\n"))
	add(&tar.Header{Name: "sleeper", Mode: 0o755, Typeflag: tar.TypeReg}, prog)
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	layerDigest := digest.FromBytes(layer.Bytes())
	config, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config:   ocispec.ImageConfig{Cmd: []string{"/sleeper"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDigest}},
	})
	manifest, _ := json.Marshal(ocispec.Manifest{
		Versioned: specsVersioned,
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: layerDigest, Size: int64(layer.Len())}},
	})
	index, _ := json.Marshal(ocispec.Index{
		Versioned: specsVersioned,
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest)),
			Platform:    &ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
			Annotations: map[string]string{"io.containerd.image.name": Image, ocispec.AnnotationRefName: "cri-test"},
		}},
	})
	archive := filepath.Join(dir, "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	aw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		body []byte
	}{
		{ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(config), config},
		{blobPath(manifest), manifest},
		{blobPath(layer.Bytes()), layer.Bytes()},
	} {
		if err := aw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := aw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, ns := range namespaces {
		imp := exec.Command("ctr", "--address", tc.Sock, "-n", ns, "images", "import", "--snapshotter", "native", archive)
		if out, err := imp.CombinedOutput(); err != nil {
			t.Fatalf("ctr -n %s images import: %v\n%s", ns, err, out)
		}
	}
}

var specsVersioned = specs.Versioned{SchemaVersion: 2}

// DebianImage is the image ImportDebian imports: Debian bookworm as
// vigil's builder makes it (debootstrap; no registry), its default
// command /bin/sleep infinity, so that it serves as a pod's sandbox
// image as well as a container's.
const DebianImage = "localhost/vigil/debian:cri-test"

var (
	debianOnce sync.Once
	debianTag  string
	debianErr  error
)

// debianSleeping returns (once per test binary) the Docker Engine's tag of
// builder.Images' bookworm image with a default command that sleeps: a
// docker-imported image has none, and a sandbox must stay up. The
// derived image is kept, named after the image it derives from, for the
// next run.
func debianSleeping(ctx context.Context, d *builder.Docker) (string, error) {
	debianOnce.Do(func() {
		cat, err := kernels.NewDebian(kernels.Options{})
		if err != nil {
			debianErr = err
			return
		}
		im := builder.NewImages(d, cat.Mirror(), cat.Keyring(), filepath.Join(cat.CacheDir(), "builder"), io.Discard)
		base, err := im.Ensure(ctx, builder.RecipeFor("bookworm", "gcc-12"))
		if err != nil {
			debianErr = fmt.Errorf("debootstrap image: %w", err)
			return
		}
		tag := "localhost/vigil-cri:bookworm-" + strings.TrimPrefix(base, "sha256:")[:12]
		cli := d.Client()
		if _, err := cli.ImageInspect(ctx, tag); err == nil {
			debianTag = tag
			return
		}
		// docker commit --change 'CMD [...]' of a container created
		// (never started) from the image; docker create itself wants
		// a command, which the image lacks.
		sleep := []string{"/bin/sleep", "infinity"}
		created, err := cli.ContainerCreate(ctx, &container.Config{Image: base, Cmd: sleep}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
		if err != nil {
			debianErr = fmt.Errorf("docker create %s: %w", base, err)
			return
		}
		defer cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
		if _, err := cli.ContainerCommit(ctx, created.ID, container.CommitOptions{
			Reference: tag, Changes: []string{`CMD ["/bin/sleep","infinity"]`},
			Comment: "vigil's CRI tests: the debootstrap image, sleeping by default",
		}); err != nil {
			debianErr = fmt.Errorf("docker commit %s: %w", created.ID, err)
			return
		}
		debianTag = tag
	})
	return debianTag, debianErr
}

// ImportDebian imports DebianImage (docker save from the Docker Engine,
// which it needs; ctr images import) into the k8s.io namespace, or into
// the containerd namespaces given, named by tag (DebianImage) and by
// digest as a pulled image is, and returns that digest (the manifest's, as
// containerd lists it).
func (tc *Containerd) ImportDebian(t testing.TB, namespaces ...string) (imageDigest string) {
	t.Helper()
	if len(namespaces) == 0 {
		namespaces = []string{Namespace}
	}
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	d, err := builder.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tag, err := debianSleeping(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := d.Client().ImageSave(ctx, []string{tag})
	if err != nil {
		t.Fatalf("docker save %s: %v", tag, err)
	}
	archive := filepath.Join(t.TempDir(), "debian.tar")
	f, err := os.Create(archive)
	if err != nil {
		rc.Close()
		t.Fatal(err)
	}
	_, err = io.Copy(f, rc)
	rc.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("docker save %s: %v", tag, err)
	}
	// The archive names the image by its Docker tag: it is renamed
	// DebianImage, its only name by tag (the CRI would report either).
	// Removing a name keeps the content and snapshots another name holds.
	imported := tag
	for _, ns := range namespaces {
		tc.CtrIn(t, ns, "images", "import", "--snapshotter", "native", archive)
		tc.CtrIn(t, ns, "images", "tag", "--force", imported, DebianImage)
		tc.CtrIn(t, ns, "images", "rm", imported)
		// `ctr images ls`: REF TYPE DIGEST SIZE PLATFORMS LABELS.
		for _, line := range strings.Split(string(tc.CtrIn(t, ns, "images", "ls", "name=="+DebianImage)), "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[0] == DebianImage {
				imageDigest = f[2]
			}
		}
		if !strings.HasPrefix(imageDigest, "sha256:") {
			t.Fatalf("ctr -n %s images ls lists no %s after the import", ns, DebianImage)
		}
		// A pulled image has a name by digest too, which the CRI
		// reports as its repo digest: so has this one.
		repo, _, _ := strings.Cut(DebianImage, ":")
		tc.CtrIn(t, ns, "images", "tag", "--force", DebianImage, repo+"@"+imageDigest)
	}
	return imageDigest
}

func blobPath(b []byte) string { return "blobs/sha256/" + digest.FromBytes(b).Encoded() }

// Pod is what RunPod makes: a pod with one container.
type Pod struct {
	Name, Namespace, UID string
	Labels               map[string]string // the pod's
	Container            string            // the container's name
	ContainerLabels      map[string]string
	// Image is the container's image: "" is Image (the sleeper, its
	// default command); DebianImage runs its default command too,
	// /bin/sleep infinity.
	Image string
}

// RunPod runs a pod (host network: no CNI needed) and one sleeping
// container of p.Image in it, removed when the test ends; it returns the
// container's id and host pid.
func (tc *Containerd) RunPod(t testing.TB, p Pod) (ctrID string, pid int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host := &cri.NamespaceOption{Network: cri.NamespaceMode_NODE, Ipc: cri.NamespaceMode_NODE}
	podCfg := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: p.Name, Namespace: p.Namespace, Uid: p.UID},
		Labels:       p.Labels,
		LogDirectory: t.TempDir(),
		Linux: &cri.LinuxPodSandboxConfig{
			CgroupParent:    "/kubepods/besteffort/pod" + p.UID,
			SecurityContext: &cri.LinuxSandboxSecurityContext{NamespaceOptions: host},
		},
	}
	pod, err := tc.Runtime.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := tc.Runtime.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
			t.Errorf("StopPodSandbox: %v", err)
		}
		if _, err := tc.Runtime.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
			t.Errorf("RemovePodSandbox: %v", err)
		}
	})
	image := p.Image
	if image == "" {
		image = Image
	}
	ctr, err := tc.Runtime.CreateContainer(ctx, &cri.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId,
		Config: &cri.ContainerConfig{
			Metadata: &cri.ContainerMetadata{Name: p.Container},
			Image:    &cri.ImageSpec{Image: image},
			Labels:   p.ContainerLabels,
			LogPath:  p.Container + ".log",
			Linux: &cri.LinuxContainerConfig{
				SecurityContext: &cri.LinuxContainerSecurityContext{NamespaceOptions: host},
			},
		},
		SandboxConfig: podCfg,
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if _, err := tc.Runtime.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: ctr.ContainerId}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	st, err := tc.Runtime.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: ctr.ContainerId, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &v); err != nil || v.Pid == 0 {
		t.Fatalf("no pid in the container's verbose status (%v): %s", err, st.Info["info"])
	}
	return ctr.ContainerId, v.Pid
}

// ExecSync runs cmd in the container and returns its output.
func (tc *Containerd) ExecSync(t testing.TB, id string, cmd ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := tc.Runtime.ExecSync(ctx, &cri.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 30})
	if err != nil {
		t.Fatalf("ExecSync %v: %v", cmd, err)
	}
	if resp.ExitCode != 0 {
		t.Fatalf("ExecSync %v: exit %d: %s", cmd, resp.ExitCode, resp.Stderr)
	}
	return resp.Stdout
}

// Namespace is the containerd namespace RunCtr's containers go in unless
// told otherwise: the CRI's, where ImportImage puts Image.
const Namespace = "k8s.io"

// Ctr runs ctr on the test's containerd in Namespace and returns its
// output.
func (tc *Containerd) Ctr(t testing.TB, args ...string) []byte {
	t.Helper()
	return tc.CtrIn(t, Namespace, args...)
}

// CtrIn runs ctr on the test's containerd in namespace ns.
func (tc *Containerd) CtrIn(t testing.TB, ns string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", tc.Sock, "-n", ns}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ctr -n %s %v: %v\n%s", ns, args, err, out)
	}
	return out
}

// CtrContainer is what RunCtr makes: a container of containerd's own API,
// as ctr makes it (no CRI, no pod).
type CtrContainer struct {
	Namespace  string            // containerd's namespace; "": Namespace
	ID         string            // containerd's id: a name, not hex
	Labels     map[string]string // the container's
	Privileged bool
	// Mounts are host paths bind-mounted read-only at the same path.
	Mounts []string
}

// RunCtr runs a sleeper container of Image with `ctr run -d`, host
// network (no CNI needed), its cgroup where ctr puts it by default
// (/<namespace>/<id>), removed when the test ends. It returns the
// container's host pid.
func (tc *Containerd) RunCtr(t testing.TB, c CtrContainer) (pid int) {
	t.Helper()
	ns := c.Namespace
	if ns == "" {
		ns = Namespace
	}
	args := []string{"run", "-d", "--net-host", "--snapshotter", "native"}
	if c.Privileged {
		args = append(args, "--privileged")
	}
	for k, v := range c.Labels {
		args = append(args, "--label", k+"="+v)
	}
	for _, m := range c.Mounts {
		args = append(args, "--mount", "type=bind,src="+m+",dst="+m+",options=rbind:ro")
	}
	tc.CtrIn(t, ns, append(args, Image, c.ID)...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ctr := func(args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, "ctr", append([]string{"--address", tc.Sock, "-n", ns}, args...)...).CombinedOutput()
		}
		if out, err := ctr("task", "delete", "--force", c.ID); err != nil {
			t.Errorf("ctr task delete %s: %v\n%s", c.ID, err, out)
		}
		if out, err := ctr("containers", "delete", c.ID); err != nil {
			t.Errorf("ctr containers delete %s: %v\n%s", c.ID, err, out)
		}
	})
	// `ctr task ls`: TASK PID STATUS.
	for _, line := range strings.Split(string(tc.CtrIn(t, ns, "task", "ls")), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == c.ID {
			if pid, err := strconv.Atoi(f[1]); err == nil && pid > 0 {
				return pid
			}
		}
	}
	t.Fatalf("ctr -n %s task ls has no running task %s", ns, c.ID)
	return 0
}

// CtrExec runs cmd in a RunCtr container and returns its output.
func (tc *Containerd) CtrExec(t testing.TB, id string, cmd ...string) []byte {
	t.Helper()
	execID := fmt.Sprintf("exec-%d", time.Now().UnixNano())
	return tc.Ctr(t, append([]string{"task", "exec", "--exec-id", execID, id}, cmd...)...)
}

// unmountBelow detaches every mount under dir, deepest first.
func unmountBelow(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = unix.Unmount(points[i], unix.MNT_DETACH)
	}
}
