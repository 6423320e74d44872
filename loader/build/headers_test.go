// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/loader"
)

// A host with the kernel's headers and compiler, seen from a container as
// a host root: the module is built with make in a chroot of that root. The
// root is a Debian 12 system with gcc-12 and make (the bookworm builder
// image, exported) and the target kernel's headers installed where
// Debian's packages put them (from the catalogue), /lib/modules/R/build
// an absolute symlink as on a real host.
func TestHeadersBuildInChroot(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	root := t.TempDir()
	exportImage(t, e, builder.RecipeFor("bookworm", "gcc-12"), root)
	installHeaders(t, e, root)

	f, p, s := prepare(t, root, e.target)
	if s.Method != loader.BuildHeaders || f.Headers != filepath.Join(root, "lib/modules", e.target.Release, "build") {
		t.Fatalf("build method %s with headers %q, want the host's headers", s.Method, f.Headers)
	}
	load(t, f, p, s, Options{})
	if left, _ := filepath.Glob(filepath.Join(root, "tmp/vigil-build-*")); len(left) > 0 {
		t.Errorf("scratch directories left in the host's /tmp: %v", left)
	}

	// A root without the null device is refused, not written into.
	if err := os.Remove(filepath.Join(root, "dev/null")); err != nil {
		t.Fatal(err)
	}
	err := New(Options{})(ctx, f, s)
	if err == nil || !strings.Contains(err.Error(), "not the null device") {
		t.Errorf("build without /dev/null: %v", err)
	}
}

// exportImage writes the file system of recipe's builder image into dir.
func exportImage(t *testing.T, e *env, r builder.Recipe, dir string) {
	t.Helper()
	ctx := context.Background()
	id, err := e.images.Ensure(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	cli := e.docker.Client()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: id, Cmd: []string{"/bin/true"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	rc, err := cli.ContainerExport(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	start := time.Now()
	tar := exec.Command("tar", "-x", "-C", dir, "--numeric-owner")
	tar.Stdin = rc
	if out, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("extract the image: %v\n%s", err, out)
	}
	// A container's /dev is the engine's: the export has no null device.
	null := filepath.Join(dir, "dev/null")
	os.Remove(null)
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s exported in %s", r.Tag(), time.Since(start).Round(time.Millisecond))
}

// installHeaders puts the target's headers under root as Debian's
// linux-headers packages do: /usr/src/linux-headers-{R,ABI-common},
// /usr/lib/linux-kbuild-V, and /lib/modules/R/build linking to the first.
func installHeaders(t *testing.T, e *env, root string) {
	t.Helper()
	fe, err := e.cat.Fetch(context.Background(), e.target, kernels.PartHeaders)
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(fe.Root, "usr/src/linux-*"))
	kb, _ := filepath.Glob(filepath.Join(fe.Root, "usr/lib/linux-kbuild-*"))
	for _, d := range append(dirs, kb...) {
		rel, _ := filepath.Rel(fe.Root, d)
		if out, err := exec.Command("cp", "-a", d, filepath.Join(root, rel)).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", rel, err, out)
		}
	}
	rel := e.target.Release
	if err := os.MkdirAll(filepath.Join(root, "lib/modules", rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/src/linux-headers-"+rel, filepath.Join(root, "lib/modules", rel, "build")); err != nil {
		t.Fatal(err)
	}
}

// envInside runs TestDKMS's part inside the container.
const envInside = "VIGIL_BUILD_TEST_INSIDE"

// On a host with DKMS (the loader at host root "/"), the module is
// registered with DKMS as vigil/<driver version>, built and installed for
// the kernel, and the module DKMS built is the one cached. The host is a
// container of the bookworm builder image with dkms and the target's
// headers, and this test binary runs there as the loader would.
func TestDKMS(t *testing.T) {
	if os.Getenv(envInside) != "" {
		dkmsInside(t)
		return
	}
	e := setup(t)
	ctx := context.Background()
	id, err := e.images.Ensure(ctx, builder.RecipeFor("bookworm", "gcc-12").With("dkms"))
	if err != nil {
		t.Fatal(err)
	}
	fe, err := e.cat.Fetch(ctx, e.target, kernels.PartHeaders)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	// Each headers directory on its own, so that /usr/src stays writable
	// for the source DKMS keeps there.
	mounts := []builder.Mount{{Host: out, Guest: "/out"}}
	dirs, _ := filepath.Glob(filepath.Join(fe.Root, "usr/src/linux-headers-*"))
	kb, _ := filepath.Glob(filepath.Join(fe.Root, "usr/lib/linux-kbuild-*"))
	for _, d := range dirs {
		mounts = append(mounts, builder.Mount{Host: d, Guest: "/usr/src/" + filepath.Base(d), ReadOnly: true})
	}
	for _, d := range kb {
		mounts = append(mounts, builder.Mount{Host: d, Guest: "/usr/lib/" + filepath.Base(d), ReadOnly: true})
	}
	runInside(t, e, id, "TestDKMS", mounts, "RELEASE="+e.target.Release, "UNAME_V="+unameV(e.target))
	ko, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.ko"))
	if len(ko) != 1 {
		t.Fatalf("the cache holds %v", ko)
	}
	assertCached(t, ko[0], e.target.Release)
}

// runInside runs test (this test binary's) in a container of image, with
// envInside set, and fails t if it fails.
func runInside(t *testing.T, e *env, image, test string, mounts []builder.Mount, env ...string) {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mounts = append(mounts, builder.Mount{Host: bin, Guest: "/vigil-build.test", ReadOnly: true})
	var log bytes.Buffer
	res, err := e.docker.Run(context.Background(), builder.Job{
		Name: test, Image: image, Mounts: mounts, Timeout: 10 * time.Minute, Log: &log,
		Cmd: []string{"/vigil-build.test", "-test.run", "^" + test + "$", "-test.v"},
		Env: append([]string{envInside + "=1", "CI=true", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s in the container exited %d:\n%s", test, res.ExitCode, log.String())
	}
	t.Logf("%s in the container:\n%s", test, log.String())
}

// dkmsInside is TestDKMS in the container: the loader's plan and Load, as
// `vigil driver install --kernel-release R --kernel-version V` runs them.
func dkmsInside(t *testing.T) {
	rel, ver := os.Getenv("RELEASE"), driver.DriverVersion
	// What linux-headers-R installs beside the headers.
	if err := os.MkdirAll("/lib/modules/"+rel, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/src/linux-headers-"+rel, "/lib/modules/"+rel+"/build"); err != nil {
		t.Fatal(err)
	}
	host, err := loader.ReadFacts("/")
	if err != nil {
		t.Fatal(err)
	}
	f := host.ForKernel(rel, os.Getenv("UNAME_V"))
	p, err := loader.NewPlan(f, loader.Options{Driver: loader.DriverKmod, Build: true, Prepare: true, CacheDir: "/out"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := loader.Load(context.Background(), f, p, loader.LoadOptions{
		InstallOnly: true, Build: New(Options{Log: os.Stderr}), Log: os.Stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", l.Report)
	// DKMS did it, not the make that follows a DKMS failure: vigil is
	// registered and built in DKMS's tree, and installed where modprobe
	// finds it.
	built, _ := filepath.Glob(fmt.Sprintf("/var/lib/dkms/%s/%s/%s/*/module/%s.ko*", loader.ModuleName, ver, rel, loader.ModuleName))
	if len(built) != 1 {
		t.Errorf("DKMS's tree holds %v, want the module built for %s", built, rel)
	}
	installed, _ := filepath.Glob(fmt.Sprintf("/lib/modules/%s/updates/dkms/%s.ko*", rel, loader.ModuleName))
	if len(installed) != 1 {
		t.Errorf("installed modules %v, want vigil's in /lib/modules/%s/updates/dkms", installed, rel)
	}
}
