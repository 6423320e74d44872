// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/ci"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/mirror"
)

func matrixCommand() *cli.Command {
	return &cli.Command{
		Name:  "matrix",
		Usage: "the kernel compatibility matrix: boot kernels in QEMU and check the drivers in each",
		Subcommands: []*cli.Command{{
			Name:  "run",
			Usage: "boot each kernel of the matrix with vigil as /init, run the selftest per driver, write matrix.md and matrix.json",
			Flags: append(catalogueFlags(),
				&cli.StringSliceFlag{Name: "kernels", Aliases: []string{"k"},
					Usage: "kernels to boot, `SUITE/RELEASE` as vigil kernels list names them; default: the matrix file's"},
				&cli.StringFlag{Name: "matrix", Value: "kernels/matrix.yaml", Usage: "the matrix file, used when --kernels is not given (default: that file, or the built-in copy of it)"},
				&cli.StringSliceFlag{Name: "drivers", Value: cli.NewStringSlice("bpf"), Usage: "drivers to check: bpf; kmod (needs --modules; with bpf adds parity: both drivers must report the same events); bench (per-syscall cost of kmod against bpf, needs --modules); loader (the guest fetches its module from --modules served over the network, as vigil driver install does, and the default rules must alert on cat /etc/shadow; the first kernel also checks the refusals: tampered, other key, unreachable, absent kernel)"},
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "out/matrix", Usage: "output `DIR`: matrix.md, matrix.json, each VM's console"},
				&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Usage: "VMs at once (0: one per CPU)"},
				&cli.DurationFlag{Name: "timeout", Value: ci.DefaultTimeout, Usage: "cut a VM off after this long"},
				&cli.StringFlag{Name: "modules", Usage: "a mirror `DIR` (vigil driver build --out), verified with --key: load and unload each kernel's module from it in the VM (driver \"module\")"},
				publicKeyFlag("with --modules: "),
				&cli.IntFlag{Name: "retries", Value: 1, Usage: "boot a kernel again when its VM panicked or hung before reporting (the row says so)"},
				&cli.StringFlag{Name: "accel", Value: ci.AccelAuto, EnvVars: []string{"VIGIL_QEMU_ACCEL"},
					Usage: "QEMU accelerator: auto (KVM once a short probe boot proves it runs a kernel, else TCG; a /dev/kvm that opens may still hang its guests), kvm or tcg"},
				&cli.StringFlag{Name: "agent", Usage: "statically linked vigil to boot as /init (default: this binary)"},
				&cli.StringFlag{Name: "image", Usage: "boot this kernel `IMAGE` (a bzImage you built, e.g. scripts/debug-kernel's) instead of catalogue kernels"},
				&cli.StringSliceFlag{Name: "module", Usage: "with --image: a module `FILE` built for that kernel (repeatable)"},
				&cli.StringFlag{Name: "foreign", Usage: "with --image: a module `FILE` built for another kernel, which the loader must refuse (driver kmod)"},
			),
			Action: runMatrix,
		}},
	}
}

func runMatrix(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.String("image") != "" {
		return runLocalKernel(ctx, c)
	}
	if len(c.StringSlice("module")) > 0 || c.String("foreign") != "" {
		return errors.New("--module and --foreign go with --image; for catalogue kernels pass a mirror with --modules")
	}
	// The modules are loaded as root in every VM: check them before
	// anything is downloaded or booted.
	var ix *mirror.Index
	var pub ed25519.PublicKey
	if c.String("modules") != "" {
		var err error
		if ix, pub, err = verifiedMirror(c); err != nil {
			return err
		}
	}
	drivers := splitList(c.StringSlice("drivers"))
	if slices.Contains(drivers, "loader") && ix == nil {
		return errors.New("--drivers loader: the guests fetch their module from a mirror: pass --modules DIR and --key (make mirror makes one)")
	}
	cat, err := newCatalogue(c)
	if err != nil {
		return err
	}
	var targets []kernels.Target
	if names := splitList(c.StringSlice("kernels")); len(names) > 0 {
		if targets, err = resolveNames(ctx, cat, names); err != nil {
			return err
		}
	} else {
		m, err := loadMatrix(c)
		if err != nil {
			return err
		}
		if targets, err = cat.ResolveMatrix(ctx, m); err != nil {
			return err
		}
	}
	agent := c.String("agent")
	if agent == "" {
		if agent, err = os.Executable(); err != nil {
			return err
		}
	}
	if ix != nil {
		// With a mirror, each kernel's modules are loaded too, unless only
		// bench or loader was asked for.
		only := slices.Equal(drivers, []string{"bench"}) || slices.Equal(drivers, []string{"loader"})
		if !slices.Contains(drivers, "module") && !only {
			drivers = append(drivers, "module")
		}
	}
	ks := make([]ci.Kernel, len(targets))
	for i, t := range targets {
		ks[i] = ci.Kernel{Name: t.Name(), Suite: t.Suite, Distro: t.Distro, Image: func(ctx context.Context) (string, error) {
			f, err := cat.Fetch(ctx, t, kernels.PartImage)
			if err != nil {
				return "", err
			}
			return f.Kernel, nil
		}, ModuleTree: func(ctx context.Context) (string, error) { return moduleTree(ctx, cat, t) }}
		if ix != nil {
			for _, e := range ix.Entries {
				p := filepath.Join(c.String("modules"), e.Name)
				if e.Target.Distro == t.Distro && e.Target.Release == t.Release {
					ks[i].Modules = append(ks[i].Modules, p)
				} else if ks[i].Foreign == "" {
					ks[i].Foreign = p
				}
			}
		}
	}
	return runKernels(ctx, c, ks, ci.Options{Drivers: drivers, Agent: agent, Mirror: c.String("modules"), Key: pub})
}

// moduleTree fetches a kernel's modules (its image package, and on sid the
// linux-modules package beside it) and returns their directory.
func moduleTree(ctx context.Context, cat *kernels.Catalogue, t kernels.Target) (string, error) {
	f, err := cat.Fetch(ctx, t, kernels.PartImage|kernels.PartModules)
	if err != nil {
		return "", err
	}
	for _, d := range []string{"/lib/modules/", "/usr/lib/modules/"} {
		dir, err := f.InRoot(d + t.Release)
		if err != nil {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, "kernel")); err == nil && st.IsDir() {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%s: no modules under /lib/modules/%s/kernel or /usr/lib/modules/%s/kernel in %s", t.Name(), t.Release, t.Release, f.Root)
}

// verifiedMirror reads the index of the mirror --modules names once its
// signature verifies with --key and every file checks out
// (mirror.VerifyIndex: entries named with ".." or an absolute path, files
// that differ from the index, files it does not list); the matrix then
// joins entry names to the mirror's path.
func verifiedMirror(c *cli.Context) (*mirror.Index, ed25519.PublicKey, error) {
	dir := c.String("modules")
	pub, err := publicKey(c, "--modules "+dir)
	if err != nil {
		return nil, nil, err
	}
	ix, err := mirror.VerifyIndex(dir, pub)
	var ve *mirror.VerifyError
	switch {
	case errors.As(err, &ve):
		return nil, nil, fmt.Errorf("--modules %s does not verify, so none of its modules is used (`vigil mirror verify %s --key KEY` says the same):\n  %s",
			dir, dir, strings.Join(ve.Problems, "\n  "))
	case err != nil:
		return nil, nil, fmt.Errorf("--modules %s: %w", dir, err)
	}
	return ix, pub, nil
}

// runLocalKernel boots one kernel image given on the command line, with
// the modules given for it.
func runLocalKernel(ctx context.Context, c *cli.Context) error {
	image := c.String("image")
	if _, err := os.Stat(image); err != nil {
		return fmt.Errorf("--image: %w", err)
	}
	if c.IsSet("kernels") || c.IsSet("modules") {
		return errors.New("--image boots one kernel of your own: --kernels and --modules do not go with it (use --module)")
	}
	agent := c.String("agent")
	if agent == "" {
		var err error
		if agent, err = os.Executable(); err != nil {
			return err
		}
	}
	release, err := bzImageRelease(image)
	if err != nil {
		return fmt.Errorf("--image %s: %w", image, err)
	}
	k := ci.Kernel{Name: "local/" + release, Suite: "local",
		Image: func(context.Context) (string, error) { return image, nil }}
	for _, m := range c.StringSlice("module") {
		if _, err := os.Stat(m); err != nil {
			return fmt.Errorf("--module: %w", err)
		}
		k.Modules = append(k.Modules, m)
	}
	if f := c.String("foreign"); f != "" {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("--foreign: %w", err)
		}
		k.Foreign = f
	}
	return runKernels(ctx, c, []ci.Kernel{k}, ci.Options{Drivers: splitList(c.StringSlice("drivers")), Agent: agent})
}

// bzImageRelease reads the kernel release out of an x86 bzImage: the
// boot header's kernel_version field (offset 0x20e) points, less 0x200, at
// "release (builder) #1 ...".
func bzImageRelease(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(b) < 0x210 || string(b[0x202:0x206]) != "HdrS" {
		return "", errors.New("not an x86 bzImage (no HdrS boot header)")
	}
	off := int(binary.LittleEndian.Uint16(b[0x20e:])) + 0x200
	if off >= len(b) {
		return "", errors.New("the boot header's version offset is past the end of the file")
	}
	v := b[off:min(off+256, len(b))]
	if i := bytes.IndexAny(v, " \x00"); i > 0 {
		return string(v[:i]), nil
	}
	return "", errors.New("no kernel release in the boot header")
}

// runKernels runs the matrix of ks with opts' drivers, agent and mirror,
// the rest of the options from the flags.
func runKernels(ctx context.Context, c *cli.Context, ks []ci.Kernel, opts ci.Options) error {
	out := c.String("out")
	logrus.WithField("kernels", len(ks)).Info("matrix: starting")
	opts.Jobs, opts.Out, opts.Timeout, opts.Retries, opts.Progress, opts.Accel =
		c.Int("jobs"), out, c.Duration("timeout"), c.Int("retries"), os.Stderr, c.String("accel")
	rows, err := ci.Run(ctx, ks, opts)
	if err != nil {
		return err
	}
	if err := ci.WriteReports(out, rows); err != nil {
		return err
	}
	fmt.Fprint(c.App.Writer, ci.Markdown(rows))
	failed := 0
	for _, r := range rows {
		if !r.Pass {
			failed++
		}
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("matrix: %d of %d rows failed; details in %s", failed, len(rows),
			filepath.Join(out, "matrix.md")), 1)
	}
	return nil
}

// loadMatrix reads --matrix; without the flag and outside the source tree,
// the matrix built into the binary.
func loadMatrix(c *cli.Context) (kernels.Matrix, error) {
	p := c.String("matrix")
	if _, err := os.Stat(p); err != nil && !c.IsSet("matrix") {
		return kernels.DefaultMatrix()
	}
	return kernels.LoadMatrix(p)
}

// splitList flattens repeated and comma-separated flag values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
