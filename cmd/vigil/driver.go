// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/kernels"
)

// driverVersion names the module's directory in a mirror.
const driverVersion = driver.DriverVersion

func driverCommand() *cli.Command {
	return &cli.Command{
		Name:  "driver",
		Usage: "get a driver into this kernel (install, printenv, status, cleanup), or build modules for target kernels (build)",
		Subcommands: append(driverLoaderCommands(), &cli.Command{
			Name:  "build",
			Usage: "build the module for each target in a container of the kernel's own suite and compiler, into a signed mirror",
			Flags: append(catalogueFlags(),
				&cli.StringSliceFlag{Name: "target", Aliases: []string{"t"}, Usage: "a kernel `SUITE/RELEASE`, as vigil kernels list names it; repeatable"},
				&cli.StringFlag{Name: "matrix", Usage: "build every kernel of this matrix file (kernels/matrix.yaml)"},
				&cli.StringFlag{Name: "source", Value: "kmod", Usage: "module source `DIR` (with a Kbuild file)"},
				&cli.StringFlag{Name: "module", Value: "vigil", Usage: "name of the .ko the source builds"},
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "out/mirror", Usage: "mirror `DIR` to add the modules to"},
				&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: 2, Usage: "builds at once"},
				&cli.DurationFlag{Name: "timeout", Value: builder.DefaultTimeout, Usage: "cut a build off after this long"},
				&cli.StringFlag{Name: "executor", Value: "docker", Usage: "docker (a container per build) or local (this host's toolchain, in private namespaces)"},
				signingKeyFlag(),
			),
			Action: buildDrivers,
		}),
	}
}

func buildDrivers(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	key, err := signingKey(c)
	if err != nil {
		return err
	}
	cat, err := newCatalogue(c)
	if err != nil {
		return err
	}
	targets, err := resolveTargets(ctx, c, cat)
	if err != nil {
		return err
	}
	b := &builder.Builder{Catalogue: cat}
	switch c.String("executor") {
	case "docker":
		d, err := builder.NewDocker(ctx)
		if err != nil {
			return err
		}
		defer d.Close()
		b.Exec = d
		b.Images = builder.NewImages(d, cat.Mirror(), cat.Keyring(), filepath.Join(cat.CacheDir(), "builder"), os.Stderr)
	case "local":
		b.Exec = builder.Local{}
	default:
		return fmt.Errorf("--executor %q: want docker or local", c.String("executor"))
	}
	rs, err := b.Build(ctx, builder.Request{
		Targets:       targets,
		Source:        c.String("source"),
		Module:        c.String("module"),
		DriverVersion: driverVersion,
		Out:           c.String("out"),
		Jobs:          c.Int("jobs"),
		Timeout:       c.Duration("timeout"),
		Key:           key,
		Progress:      os.Stderr,
	})
	fmt.Fprint(c.App.Writer, builder.Summary(rs))
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range rs {
		if r.Err != nil {
			failed++
			if r.Tail != "" {
				fmt.Fprintf(os.Stderr, "\n%s: last lines of the build:\n%s\n", r.Target.Name(), r.Tail)
			}
		}
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d builds failed", failed, len(rs)), 1)
	}
	return nil
}

// resolveNames resolves kernel names as `vigil kernels list` prints them.
func resolveNames(ctx context.Context, cat *kernels.Catalogue, names []string) ([]kernels.Target, error) {
	var out []kernels.Target
	for _, n := range names {
		t, err := cat.Resolve(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// resolveTargets reads --target and --matrix.
func resolveTargets(ctx context.Context, c *cli.Context, cat *kernels.Catalogue) ([]kernels.Target, error) {
	out, err := resolveNames(ctx, cat, splitList(c.StringSlice("target")))
	if err != nil {
		return nil, err
	}
	if p := c.String("matrix"); p != "" {
		m, err := kernels.LoadMatrix(p)
		if err != nil {
			return nil, err
		}
		ts, err := cat.ResolveMatrix(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no targets: pass --target SUITE/RELEASE (see `vigil kernels list`) or --matrix kernels/matrix.yaml")
	}
	return out, nil
}

func builderCommand() *cli.Command {
	return &cli.Command{
		Name:  "builder",
		Usage: "the builder images: Debian suites with a kernel's compiler, made with debootstrap, no registry",
		Subcommands: []*cli.Command{{
			Name:  "images",
			Usage: "list the builder images; with --suite, make the one for that suite first",
			Flags: append(catalogueFlags(),
				&cli.StringFlag{Name: "suite", Usage: "make (or reuse) the image for this suite, and list only that suite's"},
				&cli.StringFlag{Name: "compiler", Usage: "the gcc package of that suite's kernels (default: bullseye gcc-10, bookworm gcc-12, trixie gcc-14, sid gcc-16)"},
			),
			Action: func(c *cli.Context) error {
				ctx := c.Context
				d, err := builder.NewDocker(ctx)
				if err != nil {
					return err
				}
				defer d.Close()
				cat, err := newCatalogue(c)
				if err != nil {
					return err
				}
				im := builder.NewImages(d, cat.Mirror(), cat.Keyring(), filepath.Join(cat.CacheDir(), "builder"), os.Stderr)
				if s := c.String("suite"); s != "" {
					cc := c.String("compiler")
					if cc == "" {
						if cc = builder.DefaultCompiler(s); cc == "" {
							return fmt.Errorf("--suite %s: no default compiler known; pass --compiler gcc-N", s)
						}
					}
					if _, err := im.Ensure(ctx, builder.RecipeFor(s, cc)); err != nil {
						return err
					}
				}
				imgs, err := im.List(ctx, c.String("suite"))
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TAG\tID\tCREATED\tSIZE")
				for _, i := range imgs {
					fmt.Fprintf(tw, "%s\t%.19s\t%s\t%d MiB\n", i.Tag, i.ID, i.Created.Format("2006-01-02 15:04"), i.Size>>20)
				}
				return tw.Flush()
			},
		}},
	}
}
