// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package build

// This file builds a Debian kernel's module without the host's headers:
// builder/ fetches them from the Debian archive and compiles in a container
// of the kernel's suite, into a throwaway mirror signed with a throwaway
// key, and the module is copied from there into the loader's cache.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/mirror"
)

// inContainer builds in a container of the kernel's Debian suite.
func (o Options) inContainer(ctx context.Context, f loader.Facts, s loader.Step) error {
	root := f.HostRoot
	cacheDir := o.cacheDir(root)
	cat, err := o.catalogue(f, cacheDir)
	if err != nil {
		return err
	}
	t, err := findTarget(ctx, cat, f)
	if err != nil {
		return err
	}
	if f.KernelPackage != "" && t.PackageVersion != f.KernelPackage {
		// One ABI, two uploads: vermagic matches, symbol versions may not.
		fmt.Fprintf(o.log(), "build: the archive has %s's headers from package version %s, the running kernel is %s: they share an ABI, so the module should load\n",
			f.Release, t.PackageVersion, f.KernelPackage)
	}
	t.Version = f.Target.Version

	host, viaRoot, err := o.dockerHost(root)
	if err != nil {
		return err
	}
	d, err := builder.NewDockerAt(ctx, host)
	if err != nil {
		return fmt.Errorf("the container build needs a Docker Engine: %w", err)
	}
	defer d.Close()
	engineRoot := o.EngineRoot
	if engineRoot == "" {
		engineRoot = "/"
		if viaRoot {
			engineRoot = root
		}
	}
	var exec builder.Executor = d
	if engineRoot != "/" {
		exec = enginePaths{Executor: d, root: engineRoot}
	}

	scratchDir := filepath.Join(cacheDir, "build")
	if err := os.MkdirAll(scratchDir, 0o755); err != nil {
		return fmt.Errorf("the build's scratch directory: %w (set --cache-dir or %s to a writable directory)", err, kernels.EnvCacheDir)
	}
	scratch, err := os.MkdirTemp(scratchDir, "vigil-")
	if err != nil {
		return fmt.Errorf("the build's scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	src, out := filepath.Join(scratch, "src"), filepath.Join(scratch, "mirror")
	if err := os.Mkdir(src, 0o755); err != nil {
		return err
	}
	if err := WriteSource(src); err != nil {
		return err
	}
	// The builder signs what it publishes; this mirror lives for one
	// build, so its key does too, and only checks the copy made here.
	pub, key, err := mirror.GenerateKey()
	if err != nil {
		return err
	}
	b := &builder.Builder{
		Catalogue: cat,
		Images:    builder.NewImages(d, cat.Mirror(), cat.Keyring(), filepath.Join(cat.CacheDir(), "builder"), o.log()),
		Exec:      exec,
	}
	rs, err := b.Build(ctx, builder.Request{
		Targets: []kernels.Target{t}, Source: src, Module: loader.ModuleName, DriverVersion: driver.DriverVersion,
		Out: out, Jobs: 1, Timeout: o.timeout(), Key: key, Progress: o.log(),
	})
	if err != nil {
		return fmt.Errorf("build for %s in a container: %w", t.Name(), err)
	}
	if r := rs[0]; r.Err != nil {
		msg := fmt.Sprintf("build for %s in a container: %v", t.Name(), r.Err)
		if r.Tail != "" {
			lines := strings.Split(r.Tail, "\n")
			msg += "; its last lines:\n" + strings.Join(lines[max(0, len(lines)-12):], "\n")
		}
		return errors.New(msg)
	}
	if err := mirror.Verify(out, pub); err != nil {
		return fmt.Errorf("the container build's mirror: %w", err)
	}
	return place(filepath.Join(out, filepath.FromSlash(rs[0].Artifact)), s.CachePath, f.Release)
}

// cacheDir is Options.CacheDir, $VIGIL_CACHE_DIR, or <root>/var/cache/vigil.
func (o Options) cacheDir(root string) string {
	if o.CacheDir != "" {
		return o.CacheDir
	}
	if d := os.Getenv(kernels.EnvCacheDir); d != "" {
		return d
	}
	return filepath.Join(root, "var/cache/vigil")
}

// catalogue is Options.Catalogue, or the Debian catalogue of the mirror
// the host's apt uses, checked against the Debian archive keyring (this
// system's, else the host's).
func (o Options) catalogue(f loader.Facts, cacheDir string) (*kernels.Catalogue, error) {
	if o.Catalogue != nil {
		return o.Catalogue, nil
	}
	opts := kernels.Options{CacheDir: cacheDir, Arch: debianArch(f.Arch)}
	if os.Getenv(kernels.EnvMirror) == "" {
		m, err := kernels.MirrorFromApt(f.HostRoot)
		if err != nil {
			return nil, fmt.Errorf("the container build takes the kernel's headers from the Debian mirror the host uses: %w", err)
		}
		opts.Mirror = m
	}
	if os.Getenv(kernels.EnvKeyring) == "" {
		if _, err := os.Stat(kernels.DefaultKeyring); err != nil {
			if k, err := inRoot(f.HostRoot, kernels.DefaultKeyring); err == nil {
				opts.Keyring = k
			}
		}
	}
	cat, err := kernels.NewDebian(opts)
	if err != nil {
		return nil, fmt.Errorf("the Debian catalogue: %w", err)
	}
	return cat, nil
}

// debianArch is Debian's name of a uname -m.
func debianArch(machine string) string {
	switch machine {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "i686", "i386":
		return "i386"
	case "ppc64le":
		return "ppc64el"
	}
	return machine
}

// findTarget finds the kernel in the catalogue: first in the suites of
// the host's Debian release, then in the others.
func findTarget(ctx context.Context, cat *kernels.Catalogue, f loader.Facts) (kernels.Target, error) {
	suites := suitesFor(cat.Suites(), f.Distro)
	var errs []error
	for _, suite := range suites {
		ts, err := cat.List(ctx, suite)
		if err != nil {
			if ctx.Err() != nil {
				return kernels.Target{}, err
			}
			errs = append(errs, err)
			continue
		}
		for _, t := range ts {
			if t.Release == f.Release {
				return t, nil
			}
		}
	}
	err := fmt.Errorf("kernel %s is in none of Debian's suites %s at %s: the archive keeps only the newest kernels of each suite; install linux-headers-%s on the host (or set %s to an archive snapshot that still has that version), or boot a kernel the archive has (`vigil kernels list`)",
		f.Release, strings.Join(suites, ", "), cat.Mirror(), f.Release, kernels.EnvMirror)
	if len(errs) > 0 {
		err = fmt.Errorf("%w (some suites could not be read: %v)", err, errors.Join(errs...))
	}
	return kernels.Target{}, err
}

// debianCodenames are the suites of Debian's VERSION_IDs.
var debianCodenames = map[string]string{"11": "bullseye", "12": "bookworm", "13": "trixie", "14": "forky"}

// suitesFor orders all so that the suites of the host's release (bookworm
// and bookworm-backports for Debian 12) come first: a kernel is usually
// its release's, and each suite read costs a download.
func suitesFor(all []string, d loader.Distro) []string {
	code := ""
	if d.ID == "debian" {
		code = debianCodenames[d.VersionID]
	}
	var first, rest []string
	for _, s := range all {
		base, _, _ := strings.Cut(s, "-")
		if code != "" && base == code {
			first = append(first, s)
		} else {
			rest = append(rest, s)
		}
	}
	return append(first, rest...)
}

// dockerHost chooses the Engine: the option, $DOCKER_HOST, the host's
// socket under a host root, or the default; viaRoot says that it is a
// socket under the host root, so the host's Engine, which sees the host's
// files where this process sees them under the root.
func (o Options) dockerHost(root string) (host string, viaRoot bool, err error) {
	if h := cmp.Or(o.DockerHost, os.Getenv("DOCKER_HOST")); h != "" {
		sock, isUnix := strings.CutPrefix(h, "unix://")
		_, err := inside(root, sock)
		return o.DockerHost, root != "/" && isUnix && err == nil, nil
	}
	if root == "/" {
		return "", false, nil
	}
	// /var/run is a symlink to /run on most hosts: resolve it under root.
	sock, err := inRoot(root, "/var/run/docker.sock")
	if err != nil {
		return "", false, err
	}
	if st, err := os.Stat(sock); err == nil && st.Mode()&fs.ModeSocket != 0 {
		return "unix://" + sock, true, nil
	}
	return "", false, nil
}

// enginePaths runs jobs on an Engine whose "/" is root in this process's
// file system (the node's Engine, seen from a loader container with the
// node's root at /host): the Engine mounts <root>/X as /X.
type enginePaths struct {
	builder.Executor
	root string
}

func (e enginePaths) Run(ctx context.Context, j builder.Job) (builder.Result, error) {
	j.Mounts = slices.Clone(j.Mounts)
	for i, m := range j.Mounts {
		p, err := inside(e.root, m.Host)
		if err != nil {
			return builder.Result{}, fmt.Errorf("the Docker Engine sees the files under %s only, and the build mounts %s: keep the build cache under it (--cache-dir, %s)",
				e.root, m.Host, kernels.EnvCacheDir)
		}
		j.Mounts[i].Host = p
	}
	return e.Executor.Run(ctx, j)
}
