// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package build is the loader's build step: it builds vigil's kernel module
// for the kernel a loader.Facts describes and leaves it at the step's
// CachePath, where loader.Load checksums it into the cache, checks its
// vermagic and loads it.
//
// Two methods, as the plan chose (loader.Step.Method):
//
//   - headers: the host has the kernel's headers. kbuild runs with the
//     kernel's own compiler, on the host, or in a chroot of the host root
//     when the loader runs in a container (Debian's headers include one
//     another by absolute path, so they only work at their real place).
//     Where the host root is "/" and DKMS is installed, the module is
//     registered with DKMS instead, so the host rebuilds it for the
//     kernels it upgrades to.
//   - container: a Debian kernel whose headers the host lacks. The headers
//     come from the Debian archive (kernels/, signature-checked) and the
//     module is built by builder/ in a container of the kernel's suite,
//     through the host's Docker Engine.
//
// The module's source travels in the binary (package kmod).
package build

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/kernels"
	kmodsrc "github.com/vigil-dev/vigil/kmod"
	"github.com/vigil-dev/vigil/loader"
)

// Options say how to build. The zero Options build with the defaults.
type Options struct {
	// Log receives the build's progress and output (nil: none).
	Log io.Writer
	// Timeout bounds one build (0: builder.DefaultTimeout).
	Timeout time.Duration
	// CacheDir keeps what container builds download and make: Debian
	// indexes and packages, builder images, scratch directories. "" is
	// $VIGIL_CACHE_DIR, else <host root>/var/cache/vigil: on the host's
	// disk, so that it outlives a loader container, and where the host's
	// Docker Engine can mount it from.
	CacheDir string
	// Catalogue is the Debian catalogue container builds take headers
	// from; nil makes one from the host root's apt configuration (the
	// mirror) and the Debian archive keyring.
	Catalogue *kernels.Catalogue
	// DockerHost is the Docker Engine container builds run on: "" is
	// $DOCKER_HOST, else the host's socket under a host root other than
	// "/" (<host root>/var/run/docker.sock), else the default socket.
	DockerHost string
	// EngineRoot is where the Engine's "/" is in this process's file
	// system: the paths it is asked to mount are given relative to it.
	// "" is the host root when the Engine was reached through the socket
	// under it (a loader in a container talking to the node's Engine),
	// else "/" (the Engine sees the files as this process does).
	EngineRoot string
	// NoDKMS builds with make even where DKMS is installed.
	NoDKMS bool
}

// New returns the loader's build function (loader.LoadOptions.Build).
func New(o Options) func(ctx context.Context, f loader.Facts, s loader.Step) error {
	return func(ctx context.Context, f loader.Facts, s loader.Step) error {
		if s.Kind != loader.StepBuild {
			return fmt.Errorf("build: asked to run a %s step", s.Kind)
		}
		if s.CachePath == "" {
			return errors.New("build: the step names no cache path to leave the module at")
		}
		if f.HostRoot == "" {
			f.HostRoot = "/"
		}
		switch s.Method {
		case loader.BuildHeaders:
			return o.withHeaders(ctx, f, s)
		case loader.BuildContainer:
			return o.inContainer(ctx, f, s)
		}
		return fmt.Errorf("build: unknown method %q (want %s or %s)", s.Method, loader.BuildHeaders, loader.BuildContainer)
	}
}

func (o Options) log() io.Writer {
	if o.Log == nil {
		return io.Discard
	}
	return o.Log
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return builder.DefaultTimeout
}

// WriteSource writes the module's source (Kbuild, Makefile, dkms.conf, the
// C and headers) into dir, which must exist.
func WriteSource(dir string) error {
	return fs.WalkDir(kmodsrc.Source, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := kmodsrc.Source.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("write the module's source: %w", err)
		}
		return nil
	})
}

// place checks that the module at ko is for release and puts a copy of it
// at dst, whole or not at all. A module DKMS compressed (.ko.xz, .ko.zst,
// .ko.gz) is stored decompressed: the cache and finit_module take plain
// modules.
func place(ko, dst, release string) error {
	b, err := readModule(ko)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("cache the built module: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return fmt.Errorf("cache the built module: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cache the built module: %w", err)
	}
	vm, err := builder.Vermagic(tmp.Name())
	if err != nil {
		return fmt.Errorf("the built module %s: %w", ko, err)
	}
	if !strings.HasPrefix(vm, release+" ") {
		return fmt.Errorf("the built module %s has vermagic %q, not kernel %s's: the headers used are another kernel's", ko, vm, release)
	}
	// The sum beside dst is the old module's until Load writes the new
	// one: a loader checking the cache meanwhile would find the new module
	// "changed" and delete it. Without a sum it only ignores it.
	if err := os.Remove(dst + ".sha256"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache the built module: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("cache the built module: %w", err)
	}
	return nil
}

// readModule reads a module file, decompressing it by its suffix.
func readModule(ko string) ([]byte, error) {
	raw, err := os.ReadFile(ko)
	if err != nil {
		return nil, fmt.Errorf("read the built module: %w", err)
	}
	var r io.Reader
	switch {
	case strings.HasSuffix(ko, ".xz"):
		r, err = xz.NewReader(bytes.NewReader(raw))
	case strings.HasSuffix(ko, ".zst"):
		var d *zstd.Decoder
		if d, err = zstd.NewReader(bytes.NewReader(raw)); err == nil {
			defer d.Close()
			r = d
		}
	case strings.HasSuffix(ko, ".gz"):
		r, err = gzip.NewReader(bytes.NewReader(raw))
	default:
		return raw, nil
	}
	if err == nil {
		raw, err = io.ReadAll(r)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress the built module %s: %w", ko, err)
	}
	return raw, nil
}

// inRoot resolves p (absolute, as the host sees it) under root the way a
// chroot would, absolute symlinks included: /lib/modules/R/build links to
// /usr/src/linux-headers-R, which in a container is <root>/usr/src/....
// The path need not exist.
func inRoot(root, p string) (string, error) {
	return (&kernels.Fetched{Root: root}).InRoot(p)
}

// inside is the path p (under root) as the host sees it.
func inside(root, p string) (string, error) {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s is not under the host root %s", p, root)
	}
	return filepath.Join("/", rel), nil
}
