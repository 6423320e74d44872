// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/kernels"
)

// catalogueFlags select the Debian mirror, keyring and cache.
func catalogueFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mirror", EnvVars: []string{kernels.EnvMirror},
			Usage: "Debian mirror `URL` (default: the one apt uses, from /etc/apt/sources.list*)"},
		&cli.StringFlag{Name: "keyring", EnvVars: []string{kernels.EnvKeyring}, Value: kernels.DefaultKeyring,
			Usage: "OpenPGP keyring `FILE` that signs the mirror's InRelease files"},
		&cli.StringFlag{Name: "cache-dir", EnvVars: []string{kernels.EnvCacheDir}, Value: kernels.DefaultCacheDir(),
			Usage: "`DIR` for downloaded indexes, packages and extracted kernels"},
	}
}

func newCatalogue(c *cli.Context) (*kernels.Catalogue, error) {
	return kernels.NewDebian(kernels.Options{
		Mirror:   c.String("mirror"),
		Keyring:  c.String("keyring"),
		CacheDir: c.String("cache-dir"),
		Log:      logrus.StandardLogger(),
	})
}

func kernelsCommand() *cli.Command {
	return &cli.Command{
		Name:  "kernels",
		Usage: "the catalogue of Debian kernels vigil supports: list them, download their image and headers",
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the kernels of the Debian suites (verified against the archive keyring)",
				ArgsUsage: " ",
				Flags: append(catalogueFlags(),
					&cli.StringFlag{Name: "suite", Aliases: []string{"s"}, Usage: "only this `SUITE` (bullseye, bookworm, bookworm-backports, trixie, sid)"},
					&cli.BoolFlag{Name: "json", Usage: "print JSON"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return fmt.Errorf("kernels list takes no arguments (got %q); use --suite", c.Args().First())
					}
					cat, err := newCatalogue(c)
					if err != nil {
						return err
					}
					// With all suites, List returns what it could load
					// along with the error of the others: print both.
					ts, listErr := cat.List(c.Context, c.String("suite"))
					if listErr != nil && len(ts) == 0 {
						return listErr
					}
					if c.Bool("json") {
						if ts == nil {
							ts = []kernels.Target{}
						}
						enc := json.NewEncoder(c.App.Writer)
						enc.SetIndent("", "  ")
						err = enc.Encode(ts)
					} else {
						err = printTargets(c.App.Writer, ts)
					}
					if listErr != nil {
						return listErr
					}
					return err
				},
			},
			{
				Name:      "matrix",
				Usage:     "resolve the kernel matrix (kernels/matrix.yaml, or --file) to kernels",
				ArgsUsage: " ",
				Flags: append(catalogueFlags(),
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "matrix `FILE` (default: the built-in kernels/matrix.yaml)"},
					&cli.BoolFlag{Name: "json", Usage: "print JSON"},
				),
				Action: func(c *cli.Context) error {
					var m kernels.Matrix
					var err error
					if f := c.String("file"); f != "" {
						m, err = kernels.LoadMatrix(f)
					} else {
						m, err = kernels.DefaultMatrix()
					}
					if err != nil {
						return err
					}
					cat, err := newCatalogue(c)
					if err != nil {
						return err
					}
					ts, err := cat.ResolveMatrix(c.Context, m)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						enc := json.NewEncoder(c.App.Writer)
						enc.SetIndent("", "  ")
						return enc.Encode(ts)
					}
					return printTargets(c.App.Writer, ts)
				},
			},
			{
				Name:      "fetch",
				Usage:     "download, verify and extract the image and headers of kernels",
				ArgsUsage: "TARGET... (<suite>/<release> as `vigil kernels list` prints, or a bare release)",
				Flags: append(catalogueFlags(),
					&cli.BoolFlag{Name: "image-only", Usage: "only the kernel image"},
					&cli.BoolFlag{Name: "headers-only", Usage: "only the headers (flavour, common and kbuild)"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return errors.New("kernels fetch: name at least one kernel, e.g. bookworm/6.1.0-50-cloud-amd64; see `vigil kernels list`")
					}
					parts := kernels.PartAll
					switch {
					case c.Bool("image-only") && c.Bool("headers-only"):
						return errors.New("--image-only and --headers-only exclude each other; give neither for both")
					case c.Bool("image-only"):
						parts = kernels.PartImage
					case c.Bool("headers-only"):
						parts = kernels.PartHeaders
					}
					cat, err := newCatalogue(c)
					if err != nil {
						return err
					}
					for _, name := range c.Args().Slice() {
						t, err := cat.Resolve(c.Context, name)
						if err != nil {
							return err
						}
						f, err := cat.Fetch(c.Context, t, parts)
						if err != nil {
							return err
						}
						printFetched(c.App.Writer, f)
					}
					return nil
				},
			},
		},
	}
}

func printTargets(w io.Writer, ts []kernels.Target) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSUITE\tRELEASE\tPACKAGE-VERSION\tFLAVOUR")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name(), t.Suite, t.Release, t.PackageVersion, t.Flavour)
	}
	return tw.Flush()
}

func printFetched(w io.Writer, f *kernels.Fetched) {
	fmt.Fprintf(w, "%s\n", f.Target.Name())
	fmt.Fprintf(w, "  version:  #%s\n", f.Target.Version)
	fmt.Fprintf(w, "  root:     %s\n", f.Root)
	if f.Kernel != "" {
		fmt.Fprintf(w, "  kernel:   %s\n", f.Kernel)
	}
	if f.Headers != "" {
		fmt.Fprintf(w, "  headers:  %s\n", f.Headers)
	}
	for _, p := range f.Packages {
		fmt.Fprintf(w, "  package:  %s\n", p)
	}
}
