// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package podmantest runs a podman API service of a test's own (Debian's
// podman, `podman system service`), with its own storage, state and
// configuration under a temporary directory, and containers in it through
// that socket: the machine's podman storage and configuration are never
// read or written, and no registry is involved.
package podmantest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
)

// Image is the Debian image LoadImage loads (made with debootstrap), as
// podman names it: a name without a registry is given "localhost/".
const Image = "localhost/vigil-podman:bookworm"

// Podman is a podman API service of the test's own.
type Podman struct {
	Sock string // the service's Docker-compatible (and libpod) API socket
	bin  string
	dir  string
	log  string
	pid  int // the service's
	mu   sync.Mutex
	ids  []string // the containers Run started
	env  []string
	args []string // global options: the storage and state under dir
}

// Start starts the service; it stops, and its containers and storage go,
// when the test ends.
//
// The cgroup manager is cgroupfs: the test's containers then never become
// units of the machine's systemd, and it works where no systemd runs (a
// test VM, a CI container). The OCI runtime is runc: crun (podman's
// default) refuses a hybrid cgroup v1/v2 host, and runc runs on every
// layout.
func Start(t testing.TB) *Podman {
	t.Helper()
	dir := testenv.DaemonDir(t, "run podman's service (rootful)", "vigil-podman-")
	bin, err := exec.LookPath("podman")
	if err != nil {
		os.RemoveAll(dir)
		testenv.Unavailable(t, "no podman (scripts/deps test installs Debian's podman)")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		os.RemoveAll(dir)
		testenv.Unavailable(t, "no runc (scripts/deps test installs it)")
	}
	p := &Podman{bin: bin, dir: dir, Sock: filepath.Join(dir, "p.sock"), log: filepath.Join(dir, "service.log")}
	if err := p.configure(runc); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(append([]string(nil), p.args...), "system", "service", "--time=0", "unix://"+p.Sock)...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		t.Fatalf("start podman system service: %v", err)
	}
	p.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// Containers first, through the service: it stops them and
		// unmounts their storage and /dev/shm.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if out, err := p.cli(ctx, nil, "rm", "--all", "--force", "--time", "0"); err != nil {
			t.Logf("podman rm --all: %v\n%s", err, out)
		}
		cancel()
		_ = cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("podman service log:\n%s", tail(b, 4000))
		}
		// conmon stays for minutes after an exec (to keep its exit code
		// for the API): it and anything else of this service goes now.
		killUsing(dir)
		p.mu.Lock()
		removeCgroups(p.ids)
		p.mu.Unlock()
		// The overlay driver bind-mounts its home on itself; what a
		// crash left mounted goes too.
		unmountBelow(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("remove podman's directory: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !testenv.APIAnswers(p.Sock) {
		select {
		case <-exited:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("podman system service exited: %s", tail(b, 4000))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("podman's API did not answer on %s within 30s:\n%s", p.Sock, tail(b, 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// configure writes the service's own containers.conf, storage.conf and an
// empty registries.conf (short names never resolve to a registry), and
// sets the global options that keep every file under p.dir.
func (p *Podman) configure(runc string) error {
	driver := "overlay"
	var st unix.Statfs_t
	if err := unix.Statfs(p.dir, &st); err == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		// overlayfs on overlayfs is refused: copy layers instead.
		driver = "vfs"
	}
	files := map[string]string{
		"containers.conf": fmt.Sprintf(`[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = %q

[engine.runtimes]
runc = [%q]

[network]
network_config_dir = %q
`, filepath.Join(p.dir, "tmp"), runc, filepath.Join(p.dir, "net")),
		"storage.conf": fmt.Sprintf(`[storage]
driver = %q
graphroot = %q
runroot = %q
`, driver, filepath.Join(p.dir, "root"), filepath.Join(p.dir, "run")),
		"registries.conf": "unqualified-search-registries = []\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	p.env = append(os.Environ(),
		"CONTAINERS_CONF="+filepath.Join(p.dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(p.dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(p.dir, "registries.conf"))
	p.args = []string{"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "run"),
		"--tmpdir", filepath.Join(p.dir, "tmp"), "--cgroup-manager", "cgroupfs", "--runtime", runc,
		// runc's state, too, is the test's own (not /run/runc).
		"--runtime-flag", "root=" + filepath.Join(p.dir, "runc")}
	return nil
}

// cli runs podman's remote client against the service.
func (p *Podman) cli(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, p.bin, append([]string{"--remote", "--url", "unix://" + p.Sock}, args...)...)
	cmd.Env = p.env
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("podman %s: %w", strings.Join(args, " "), err)
	}
	return out.Bytes(), err
}

// CLI runs `podman --remote` with args against the service and returns its
// output (stdout and stderr); a failure fails the test.
func (p *Podman) CLI(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := p.cli(ctx, nil, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

var (
	imageOnce sync.Once
	imageID   string
	imageErr  error
)

// debianImage makes (once per test binary) the Debian image vigil's other
// container tests use: builder.Images' debootstrap image, in dockerd.
func debianImage(t testing.TB) (*builder.Docker, string) {
	t.Helper()
	testenv.RequireDocker(t)
	ctx := context.Background()
	d, err := builder.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	imageOnce.Do(func() {
		cat, err := kernels.NewDebian(kernels.Options{})
		if err != nil {
			imageErr = err
			return
		}
		im := builder.NewImages(d, cat.Mirror(), cat.Keyring(), filepath.Join(cat.CacheDir(), "builder"), io.Discard)
		imageID, imageErr = im.Ensure(ctx, builder.RecipeFor("bookworm", "gcc-12"))
	})
	if imageErr != nil {
		d.Close()
		t.Fatalf("debootstrap image: %v", imageErr)
	}
	return d, imageID
}

// LoadImage loads the Debian image vigil's builder makes with debootstrap
// (docker save from the Docker Engine, podman load into the service) and
// names it Image.
func (p *Podman) LoadImage(t testing.TB) {
	t.Helper()
	d, id := debianImage(t)
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rc, err := d.Client().ImageSave(ctx, []string{id})
	if err != nil {
		t.Fatalf("docker save %s: %v", id, err)
	}
	defer rc.Close()
	archive := filepath.Join(p.dir, "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("docker save %s: %v", id, err)
	}
	defer os.Remove(archive)
	if out, err := p.cli(ctx, nil, "load", "--input", archive); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Saved by id, the archive names no image: name it here.
	if out, err := p.cli(ctx, nil, "tag", strings.TrimPrefix(id, "sha256:"), strings.TrimPrefix(Image, "localhost/")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// Container is a container Run started.
type Container struct {
	ID   string // the full id
	Name string
	Pid  int // its init process, on the host
}

// Run starts a container of Image on the host's network (no CNI or
// netavark needed), sleeping until removed when the test ends; opts are
// more `podman run` options (--label, --privileged, -v).
func (p *Podman) Run(t testing.TB, name string, opts ...string) Container {
	t.Helper()
	return p.RunImage(t, name, Image, opts...)
}

// RunImage is Run with another name of the image (podman tag), or its id.
func (p *Podman) RunImage(t testing.TB, name, image string, opts ...string) Container {
	t.Helper()
	args := append(append([]string{"run", "--detach", "--network", "host", "--name", name}, p.ulimits(t)...), opts...)
	args = append(args, image, "sleep", "infinity")
	id := strings.TrimSpace(string(p.CLI(t, args...)))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := p.cli(ctx, nil, "rm", "--force", "--time", "0", id); err != nil &&
			!bytes.Contains(out, []byte("no such container")) {
			t.Logf("%v\n%s", err, out)
		}
	})
	if len(id) != 64 {
		t.Fatalf("podman run printed %q, not a container id", id)
	}
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
	var pid int
	out := p.CLI(t, "inspect", "--format", "{{.State.Pid}}", id)
	if _, err := fmt.Sscan(string(out), &pid); err != nil || pid <= 0 {
		t.Fatalf("container %s: no pid in %q", name, out)
	}
	return Container{ID: id, Name: name, Pid: pid}
}

// ulimits are the service's hard limits on open files and processes, for
// the container. Without CAP_SYS_RESOURCE (vigil's tests may run in a
// container) a hard limit cannot be raised, and podman asks for more than
// its own (it lowers its process limit as it starts), which runc then
// fails to set.
func (p *Podman) ulimits(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.pid))
	if err != nil {
		t.Fatalf("podman service's limits: %v", err)
	}
	var opts []string
	for _, line := range strings.Split(string(b), "\n") {
		for prefix, name := range map[string]string{"Max open files": "nofile", "Max processes": "nproc"} {
			rest, ok := strings.CutPrefix(line, prefix)
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) < 2 {
				t.Fatalf("podman service's limits: %q", line)
			}
			if f[1] != "unlimited" {
				opts = append(opts, "--ulimit", fmt.Sprintf("%s=%s:%s", name, f[1], f[1]))
			}
		}
	}
	return opts
}

// Exec runs cmd in the container and returns its output.
func (p *Podman) Exec(t testing.TB, id string, cmd ...string) []byte {
	t.Helper()
	return p.CLI(t, append([]string{"exec", id}, cmd...)...)
}

// killUsing kills the conmon monitors and podman processes (a container's
// cleanup) whose command line names dir: what the service started for its
// containers and execs.
func killUsing(dir string) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == self {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if c := string(bytes.TrimSpace(comm)); err != nil || c != "conmon" && c != "podman" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(dir+"/")) {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// removeCgroups removes the cgroupfs cgroups of the containers
// (libpod_parent/libpod-<id> in every hierarchy) that podman left behind:
// runc's delete sometimes finds one busy while the container's last
// process is torn down (seen on a hybrid v1/v2 host after an exec), and
// no one tries again. rmdir removes only empty ones.
func removeCgroups(ids []string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && (f[i+1] == "cgroup" || f[i+1] == "cgroup2") {
				for _, id := range ids {
					_ = unix.Rmdir(filepath.Join(f[4], "libpod_parent", "libpod-"+id))
				}
			}
		}
	}
}

// unmountBelow detaches every mount under dir, deepest first.
func unmountBelow(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, mp := range points {
		_ = unix.Unmount(mp, unix.MNT_DETACH)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
