// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package build

// This file builds with the host's own headers and toolchain: kbuild run on
// the host, or in a chroot of the host root when the loader runs in a
// container, or DKMS where the host root is "/".
//
// Why a chroot: Debian's /lib/modules/R/build is an absolute symlink, the
// flavour headers' Makefile includes the -common headers by absolute path,
// and scripts/ links into /usr/lib/linux-kbuild-*. Other distributions'
// trees are alike. The tree only works at its real place, with the host's
// compiler beside it, which is what a chroot of the host root gives.
//
// Why DKMS only at "/": DKMS registers the module with the host, which
// rebuilds it for each kernel it upgrades to; a loader in a container runs
// again at every start and builds for the kernel it finds, and writing the
// host's /usr/src and /var/lib/dkms from a container (behind the host's
// package manager, through a host root often mounted read-only) is not a
// loader's business.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/loader"
)

// The host programs a headers build runs, looked up under the host root:
// they are the node's, not vigil's (scripts/deps does not install them).
const (
	makeProgram = "make"
	dkmsProgram = "dkms"
)

// pathDirs is where programs are looked for under the host root.
var pathDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// buildEnv makes two builds of the same inputs alike and keeps the host's
// locale and user out of the module and its messages.
var buildEnv = []string{
	"PATH=" + strings.Join(pathDirs, ":"),
	"LC_ALL=C",
	"TZ=UTC",
	"HOME=/tmp",
	"KBUILD_BUILD_TIMESTAMP=1970-01-01 00:00:00 UTC",
	"KBUILD_BUILD_USER=vigil",
	"KBUILD_BUILD_HOST=vigil",
	"SOURCE_DATE_EPOCH=0",
}

// withHeaders builds against the host's headers (Facts.Headers).
func (o Options) withHeaders(ctx context.Context, f loader.Facts, s loader.Step) error {
	root := f.HostRoot
	if f.Headers == "" {
		return fmt.Errorf("no headers for kernel %s on the host (looked in %s): install them (linux-headers-%s on Debian and Ubuntu)",
			f.Release, strings.Join(s.HeaderDirs, ", "), f.Release)
	}
	headers, err := inside(root, f.Headers)
	if err != nil {
		return err
	}
	real, err := inRoot(root, headers)
	if err != nil {
		return fmt.Errorf("resolve the headers %s under %s: %w", headers, root, err)
	}
	cc := o.compiler(real)

	var dkmsErr error
	if root == "/" && !o.NoDKMS {
		if dkms, ok := lookIn(root, dkmsProgram); ok {
			if dkmsErr = o.dkms(ctx, dkms, f, s); dkmsErr == nil {
				return nil
			}
			fmt.Fprintf(o.log(), "build: DKMS failed, building with make instead: %v\n", dkmsErr)
		}
	}
	err = o.kbuild(ctx, root, headers, cc, f, s)
	if err != nil && dkmsErr != nil {
		return fmt.Errorf("%w (DKMS had failed first: %v)", err, dkmsErr)
	}
	return err
}

// compiler is the kernel's own compiler, as its headers' .config names it
// (gcc-12), or "" to let the kernel's Makefile choose: a .config that
// names no gcc-N (a distribution's plain "gcc") still builds with the
// Makefile's default, and kbuild itself warns of a mismatch.
func (o Options) compiler(headers string) string {
	cc, _, err := builder.Compiler(headers)
	if err != nil {
		fmt.Fprintf(o.log(), "build: %v; building with the compiler the kernel's Makefile chooses\n", err)
		return ""
	}
	return cc
}

// kbuild runs make -C <headers> M=<source> modules, in a chroot of root
// unless it is "/".
func (o Options) kbuild(ctx context.Context, root, headers, cc string, f loader.Facts, s loader.Step) error {
	mk, ok := lookIn(root, makeProgram)
	need := []string{}
	if !ok {
		need = append(need, makeProgram)
	}
	if cc != "" {
		if _, ok := lookIn(root, cc); !ok {
			need = append(need, cc)
		}
	}
	if len(need) > 0 {
		return fmt.Errorf("the host (root %s) has no %s, which building against its headers needs (the kernel was built with %s): install %s there, or remove the headers to have the module built in a container",
			root, strings.Join(need, " or "), orDefault(cc, "its default compiler"), strings.Join(need, " "))
	}
	tmp := os.TempDir()
	if root != "/" {
		if err := checkDevNull(root); err != nil {
			return err
		}
		tmp = filepath.Join(root, "tmp")
	}
	dir, err := os.MkdirTemp(tmp, "vigil-build-")
	if err != nil {
		return fmt.Errorf("a scratch directory for the build (the host's /tmp, under %s, must be writable): %w", root, err)
	}
	defer os.RemoveAll(dir)
	if err := WriteSource(dir); err != nil {
		return err
	}
	src, err := inside(root, dir)
	if err != nil {
		return err
	}
	args := []string{mk, "-C", headers, "M=" + src}
	if cc != "" {
		args = append(args, "CC="+cc)
	}
	args = append(args, "modules")
	where := ""
	if root != "/" {
		where = " (in a chroot of " + root + ")"
	}
	if err := o.run(ctx, root, src, f.Release, args); err != nil {
		return fmt.Errorf("build against the headers %s%s: %w", headers, where, err)
	}
	return place(filepath.Join(dir, loader.ModuleName+".ko"), s.CachePath, f.Release)
}

// dkms registers the module with the host's DKMS as
// vigil/<driver.DriverVersion>, builds and installs it for the kernel, and
// caches the module DKMS built.
func (o Options) dkms(ctx context.Context, dkms string, f loader.Facts, s loader.Step) error {
	name, ver := loader.ModuleName, driver.DriverVersion
	src := filepath.Join("/usr/src", name+"-"+ver)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return fmt.Errorf("DKMS source %s: %w", src, err)
	}
	if err := WriteSource(src); err != nil {
		return err
	}
	tree := filepath.Join("/var/lib/dkms", name, ver)
	if _, err := os.Stat(tree); errors.Is(err, fs.ErrNotExist) {
		if err := o.run(ctx, "/", "/", f.Release, []string{dkms, "add", "-m", name, "-v", ver}); err != nil {
			return fmt.Errorf("dkms add %s/%s: %w", name, ver, err)
		}
	}
	// --force: a module DKMS built earlier (from another binary's source,
	// or half-built) is not reused; the cache had nothing for this kernel.
	for _, action := range []string{"build", "install"} {
		if err := o.run(ctx, "/", "/", f.Release, []string{dkms, action, "-m", name, "-v", ver, "-k", f.Release, "--force"}); err != nil {
			return fmt.Errorf("dkms %s %s/%s -k %s: %w (DKMS's log: %s)", action, name, ver, f.Release, err,
				filepath.Join(tree, "build", "make.log"))
		}
	}
	kos, _ := filepath.Glob(filepath.Join(tree, f.Release, "*", "module", name+".ko*"))
	if len(kos) != 1 {
		return fmt.Errorf("dkms built %s/%s for %s, but %s holds %d modules, not one", name, ver, f.Release,
			filepath.Join(tree, f.Release, "*", "module"), len(kos))
	}
	return place(kos[0], s.CachePath, f.Release)
}

// run runs a host program in dir, in a chroot of root unless it is "/",
// for at most the build timeout, its output logged and its end kept for
// the error.
func (o Options) run(ctx context.Context, root, dir, release string, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, buildEnv
	// Its own process group, so that a timeout kills make's compilers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if root != "/" {
		cmd.SysProcAttr.Chroot = root
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out := builder.NewLineWriter(o.log(), "[build "+release+"] ")
	cmd.Stdout, cmd.Stderr = out, out
	fmt.Fprintf(o.log(), "build: %s\n", strings.Join(args, " "))
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: %w after %s", args[0], builder.ErrTimeout, o.timeout())
	}
	return fmt.Errorf("%s: %w; its last lines:\n%s", strings.Join(args, " "), err, out.Tail())
}

// lookIn finds a program under root as PATH would on the host, and
// returns its path as the host sees it.
func lookIn(root, name string) (string, bool) {
	for _, d := range pathDirs {
		p := filepath.Join(d, name)
		real, err := inRoot(root, p)
		if err != nil {
			continue
		}
		if st, err := os.Stat(real); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// checkDevNull refuses a chroot whose /dev/null is not the null device:
// kbuild writes to it constantly, and in a bare /dev each write would make
// or fill a regular file on the host's disk.
func checkDevNull(root string) error {
	p := filepath.Join(root, "dev/null")
	st, err := os.Stat(p)
	if err == nil && st.Mode()&fs.ModeCharDevice != 0 {
		return nil
	}
	return fmt.Errorf("%s is not the null device, so kbuild cannot run in a chroot of the host root: mount the host's root with its /dev (docker run -v /:/host binds it recursively; a Kubernetes hostPath of / does too)", p)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
