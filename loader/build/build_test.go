// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/modinfo"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/loader"
)

// env is what the build tests share: the real catalogue, the newest
// bookworm cloud kernel in it, and the Docker Engine.
type env struct {
	cat    *kernels.Catalogue
	target kernels.Target
	docker *builder.Docker
	images *builder.Images
}

var (
	envOnce sync.Once
	shared  env
	envErr  error
)

func setup(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the Docker Engine, builder images and chroot")
	}
	testenv.RequireDocker(t)
	envOnce.Do(func() {
		ctx := context.Background()
		e := &shared
		if e.cat, envErr = kernels.NewDebian(kernels.Options{}); envErr != nil {
			return
		}
		if e.target, envErr = e.cat.Latest(ctx, "bookworm", "cloud-amd64"); envErr != nil {
			return
		}
		if e.docker, envErr = builder.NewDocker(ctx); envErr != nil {
			return
		}
		e.images = builder.NewImages(e.docker, e.cat.Mirror(), e.cat.Keyring(), filepath.Join(e.cat.CacheDir(), "builder"), os.Stderr)
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return &shared
}

// unameV is what uname -v says on a Debian kernel of package t.
func unameV(t kernels.Target) string {
	return "#1 SMP PREEMPT_DYNAMIC Debian " + t.PackageVersion + " (2026-01-05)"
}

// prepare lays out the plan of `vigil driver install --kernel-release R
// --kernel-version V --host-root root`: facts of the target kernel on the
// host at root, a module for it into the cache, nothing loaded.
func prepare(t *testing.T, root string, k kernels.Target) (loader.Facts, *loader.Plan, loader.Step) {
	t.Helper()
	host, err := loader.ReadFacts(root)
	if err != nil {
		t.Fatal(err)
	}
	f := host.ForKernel(k.Release, unameV(k))
	p, err := loader.NewPlan(f, loader.Options{Driver: loader.DriverKmod, Build: true, Prepare: true, HostRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Steps {
		if s.Kind == loader.StepBuild {
			if !s.Usable() {
				t.Fatalf("the build step is skipped: %s\n%s", s.Skip, p)
			}
			return f, p, s
		}
	}
	t.Fatalf("no build step in the plan:\n%s", p)
	return f, p, loader.Step{}
}

// load runs the plan with this package's builder and checks that the
// build step gave the module, cached with its sum, for release.
func load(t *testing.T, f loader.Facts, p *loader.Plan, s loader.Step, o Options) {
	t.Helper()
	o.Log = testWriter{t}
	l, err := loader.Load(context.Background(), f, p, loader.LoadOptions{InstallOnly: true, Build: New(o), Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	last := l.Report.Attempts[len(l.Report.Attempts)-1]
	if last.Step.Kind != loader.StepBuild || last.Outcome != loader.Chosen {
		t.Fatalf("the build was not the step chosen:\n%s", l.Report)
	}
	t.Logf("built and cached in %s", last.Duration.Round(1e6))
	assertCached(t, s.CachePath, f.Release)
}

func assertCached(t *testing.T, ko, release string) {
	t.Helper()
	b, err := os.ReadFile(ko)
	if err != nil {
		t.Fatalf("no module in the cache: %v", err)
	}
	sum, err := os.ReadFile(ko + ".sha256")
	h := sha256.Sum256(b)
	if err != nil || strings.TrimSpace(string(sum)) != hex.EncodeToString(h[:]) {
		t.Errorf("cached sum %q (%v), the module's is %x", sum, err, h)
	}
	mi, err := modinfo.Read(ko)
	if err != nil {
		t.Fatal(err)
	}
	if vm := mi["vermagic"]; !strings.HasPrefix(vm, release+" SMP") {
		t.Errorf("vermagic %q, want kernel %s's", vm, release)
	}
	if mi["name"] != loader.ModuleName || mi["version"] != driver.DriverVersion {
		t.Errorf("module %q version %q, want %s %s", mi["name"], mi["version"], loader.ModuleName, driver.DriverVersion)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The acceptance: with an empty cache and no repository, the host
// (a root whose os-release is Debian 12's and whose apt uses this
// machine's mirror) has no headers for the newest bookworm cloud kernel,
// so the module is built in a container with headers from the catalogue,
// verified and cached; this host cannot load it, so the test checks the
// cached module and its vermagic.
func TestContainerBuild(t *testing.T) {
	e := setup(t)
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/os-release"), debian12OSRelease)
	write(t, filepath.Join(root, "etc/apt/sources.list.d/debian.sources"),
		"Types: deb\nURIs: "+e.cat.Mirror()+"\nSuites: bookworm bookworm-updates\nComponents: main\n")

	f, p, s := prepare(t, root, e.target)
	if s.Method != loader.BuildContainer || f.Headers != "" {
		t.Fatalf("build method %s with headers %q, want the container", s.Method, f.Headers)
	}
	if want := filepath.Join(root, loader.DefaultCacheDir); !strings.HasPrefix(s.CachePath, want+"/") {
		t.Errorf("cache path %s, want it under %s", s.CachePath, want)
	}
	// The catalogue is made from the root's apt configuration; its
	// downloads are shared with the other tests.
	load(t, f, p, s, Options{CacheDir: e.cat.CacheDir()})
	if left, _ := filepath.Glob(filepath.Join(e.cat.CacheDir(), "build", "vigil-*")); len(left) > 0 {
		t.Errorf("scratch directories left behind: %v", left)
	}
}

const debian12OSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The source written out is kmod/ as committed: what make and DKMS need,
// at the version the cache and DKMS name it by.
func TestWriteSource(t *testing.T) {
	dir := t.TempDir()
	if err := WriteSource(dir); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob("../../kmod/*")
	var names []string
	for _, p := range want {
		if filepath.Ext(p) != ".go" {
			names = append(names, filepath.Base(p))
		}
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	if !slices.Equal(got, names) {
		t.Fatalf("written %v, kmod/ has %v", got, names)
	}
	for _, n := range names {
		a, _ := os.ReadFile(filepath.Join("../../kmod", n))
		b, _ := os.ReadFile(filepath.Join(dir, n))
		if string(a) != string(b) {
			t.Errorf("%s differs from kmod/%s", n, n)
		}
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "dkms.conf"))
	if !regexp.MustCompile(`(?m)^PACKAGE_VERSION="` + regexp.QuoteMeta(driver.DriverVersion) + `"$`).Match(conf) {
		t.Errorf("dkms.conf is not version %s:\n%s", driver.DriverVersion, conf)
	}
}

// Debian 12 looks in bookworm and its backports first; the order of the
// others stays the catalogue's.
func TestSuitesFor(t *testing.T) {
	all := []string{"bullseye", "bookworm", "bookworm-backports", "trixie", "sid"}
	for _, c := range []struct {
		d    loader.Distro
		want []string
	}{
		{loader.Distro{ID: "debian", VersionID: "12"}, []string{"bookworm", "bookworm-backports", "bullseye", "trixie", "sid"}},
		{loader.Distro{ID: "debian", VersionID: "13"}, []string{"trixie", "bullseye", "bookworm", "bookworm-backports", "sid"}},
		{loader.Distro{ID: "debian"}, all}, // sid has no VERSION_ID
		{loader.Distro{ID: "ubuntu", VersionID: "12"}, all},
	} {
		if got := suitesFor(all, c.d); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.d, got, c.want)
		}
	}
}

// A path under the host root is the host's path without the root; one
// outside it is refused, since the host's Engine could not mount it.
func TestInside(t *testing.T) {
	for _, c := range []struct{ root, p, want string }{
		{"/host", "/host/var/cache/vigil/build", "/var/cache/vigil/build"},
		{"/host", "/host", "/"},
		{"/", "/tmp/x", "/tmp/x"},
		{"/host", "/hostile/x", ""},
		{"/host", "/tmp/x", ""},
	} {
		got, err := inside(c.root, c.p)
		if got != c.want || (err != nil) != (c.want == "") {
			t.Errorf("inside(%s, %s) = %q, %v; want %q", c.root, c.p, got, err, c.want)
		}
	}
}

// A host root with headers but no make is refused before anything runs,
// naming what to install.
func TestHeadersWithoutMake(t *testing.T) {
	root := t.TempDir()
	const rel = "6.1.0-99-cloud-amd64"
	hdr := filepath.Join(root, "usr/src/linux-headers-"+rel)
	write(t, filepath.Join(hdr, ".config"), `CONFIG_CC_VERSION_TEXT="gcc-12 (Debian 12.2.0-14) 12.2.0"`+"\n")
	if err := os.MkdirAll(filepath.Join(root, "lib/modules", rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/src/linux-headers-"+rel, filepath.Join(root, "lib/modules", rel, "build")); err != nil {
		t.Fatal(err)
	}
	f := loader.Facts{HostRoot: root, Release: rel, Headers: filepath.Join(root, "lib/modules", rel, "build")}
	s := loader.Step{Kind: loader.StepBuild, Method: loader.BuildHeaders, CachePath: filepath.Join(root, "cache/vigil.ko")}
	err := New(Options{})(context.Background(), f, s)
	if err == nil || !strings.Contains(err.Error(), "no make or gcc-12") || !strings.Contains(err.Error(), "install make gcc-12") {
		t.Fatalf("err %v, want it to name make and gcc-12", err)
	}
	if _, err := os.Stat(s.CachePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache path: %v, want nothing there", err)
	}
}

// The loader in a container, as the DaemonSet's init container runs it:
// the node's root at /host (bound recursively, so /host/run/docker.sock is
// the node's Engine), no headers on the node. The build reaches the node's
// Engine through the socket under the host root, and the paths it asks the
// Engine to mount are the node's: a mount named by its /host/... path
// would not exist there and the build would fail.
func TestContainerBuildFromAContainer(t *testing.T) {
	if os.Getenv(envInside) != "" {
		fromAContainerInside(t)
		return
	}
	e := setup(t)
	ctx := context.Background()
	// Warm the catalogue's cache here: the container has no network.
	if _, err := e.cat.Fetch(ctx, e.target, kernels.PartHeaders); err != nil {
		t.Fatal(err)
	}
	id, err := e.images.Ensure(ctx, builder.RecipeFor("bookworm", "gcc-12"))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	runInside(t, e, id, "TestContainerBuildFromAContainer", []builder.Mount{{Host: "/", Guest: "/host"}},
		"RELEASE="+e.target.Release, "UNAME_V="+unameV(e.target),
		"CACHE=/host"+cache, kernels.EnvCacheDir+"=/host"+e.cat.CacheDir())
	ko, _ := filepath.Glob(filepath.Join(cache, "*", "*", "*.ko"))
	if len(ko) != 1 {
		t.Fatalf("the cache holds %v", ko)
	}
	assertCached(t, ko[0], e.target.Release)
}

func fromAContainerInside(t *testing.T) {
	host, err := loader.ReadFacts("/host")
	if err != nil {
		t.Fatal(err)
	}
	f := host.ForKernel(os.Getenv("RELEASE"), os.Getenv("UNAME_V"))
	p, err := loader.NewPlan(f, loader.Options{Driver: loader.DriverKmod, Build: true, Prepare: true, CacheDir: os.Getenv("CACHE"), HostRoot: "/host"})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := p.First(); s.Kind != loader.StepCache {
		t.Fatalf("plan:\n%s", p)
	}
	l, err := loader.Load(context.Background(), f, p, loader.LoadOptions{
		InstallOnly: true, Build: New(Options{Log: os.Stderr}), Log: os.Stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := l.Report.Attempts[len(l.Report.Attempts)-1]; a.Step.Method != loader.BuildContainer {
		t.Fatalf("built by %s, want the container:\n%s", a.Step.Method, l.Report)
	}
}

// The Engine is the host's, and paths are given to it as the host's,
// when its socket is under the host root: found at var/run/docker.sock
// (a symlink to /run, resolved under the root), or named by DOCKER_HOST.
func TestDockerHost(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/run", filepath.Join(root, "var/run")); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(root, "run/docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	for _, c := range []struct {
		name, root, dockerHost, option string
		host                           string
		viaRoot                        bool
	}{
		{"the host's socket under the root", root, "", "", "unix://" + sock, true},
		{"DOCKER_HOST under the root", root, "unix://" + sock, "", "", true},
		{"the option under the root", root, "", "unix://" + sock, "unix://" + sock, true},
		{"DOCKER_HOST elsewhere", root, "unix:///run/docker.sock", "", "", false},
		{"DOCKER_HOST over TCP", root, "tcp://127.0.0.1:2375", "", "", false},
		{"host root /", "/", "", "", "", false},
		{"no socket under the root", t.TempDir(), "", "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", c.dockerHost)
			host, via, err := Options{DockerHost: c.option}.dockerHost(c.root)
			if err != nil || host != c.host || via != c.viaRoot {
				t.Errorf("dockerHost = %q, %v, %v; want %q, %v", host, via, err, c.host, c.viaRoot)
			}
		})
	}
}
