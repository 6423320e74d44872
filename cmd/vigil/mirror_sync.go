// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/mirror"
	"github.com/vigil-dev/vigil/mirror/syncer"
)

// mirrorSyncCommand is `vigil mirror sync SRC DST`: an air-gapped site's
// copy of a build host's mirror, or of the part its nodes need.
func mirrorSyncCommand() *cli.Command {
	return &cli.Command{
		Name:      "sync",
		Usage:     "copy a signed mirror (a directory, file:// or http(s):// URL) into DIR: only what changed, resuming, index last",
		ArgsUsage: "SRC DST",
		Description: "The source's index must verify with a --trusted-key before anything is fetched. Missing or\n" +
			"changed artifacts are fetched (an interrupted transfer resumes), then the source's index and\n" +
			"signature are published in DST, unchanged: DST stays signed by the build host's key.\n\n" +
			"With --release, --distro, --arch, --driver-version or --inventory, DST holds only the selected\n" +
			"artifacts but keeps the whole signed index: loaders asking it for another kernel are told it\n" +
			"is missing. Check such a copy with `vigil mirror verify --partial`.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "trusted-key", Aliases: []string{"key"}, EnvVars: []string{envTrustedKeys, mirrorPubKeyEnv},
				Usage: "the source mirror's public `KEY`: a .pub file or the " + mirror.PublicKeyPrefix + "… value; repeatable (its index must verify with one)"},
			&cli.StringSliceFlag{Name: "release", Usage: "copy only the artifacts of this kernel `RELEASE` (uname -r); repeatable"},
			&cli.StringSliceFlag{Name: "distro", Usage: "copy only the artifacts of this `DISTRO` (debian, ubuntu-aws, ...); repeatable"},
			&cli.StringSliceFlag{Name: "arch", Usage: "copy only the artifacts of this `ARCH` (x86_64, aarch64); repeatable"},
			&cli.StringSliceFlag{Name: "driver-version", Usage: "copy only the artifacts of this driver `VERSION`; repeatable"},
			&cli.StringFlag{Name: "inventory", TakesFile: true,
				Usage: "copy only what the site's nodes need: a `FILE` (- for stdin) of `vigil driver printenv` output from each node, concatenated"},
			&cli.BoolFlag{Name: "prune", Usage: "remove the artifacts the source dropped, once the new index is published"},
			&cli.DurationFlag{Name: "repo-timeout", Usage: "bound each try of each file (default 1m; a try that is cut resumes)"},
			&cli.IntFlag{Name: "repo-attempts", Usage: "tries per file in a row without progress, for network errors, 5xx and 429 (default 4, with backoff)"},
			&cli.StringSliceFlag{Name: "repo-header", Usage: "an HTTP header for the source, \"Name: value\"; repeatable"},
			&cli.StringFlag{Name: "repo-ca-file", TakesFile: true, Usage: "PEM CA certificates trusted for an https source, beside the system's"},
			&cli.StringFlag{Name: "repo-proxy", Usage: "HTTP proxy `URL` (default: $HTTPS_PROXY, $HTTP_PROXY, $NO_PROXY)"},
		},
		Action: mirrorSync,
	}
}

func mirrorSync(c *cli.Context) error {
	if c.NArg() != 2 {
		return fmt.Errorf("mirror sync takes two arguments, the source mirror and the destination directory (got %d)", c.NArg())
	}
	srcSpec, dst := c.Args().Get(0), c.Args().Get(1)
	trust, err := loadTrust(c.StringSlice("trusted-key"), "--trusted-key")
	if err != nil {
		return err
	}
	keys := trust.Usable(time.Now())
	if len(keys) == 0 {
		return fmt.Errorf("mirror sync needs the source mirror's public key: --trusted-key FILE|VALUE or $%s (the .pub from `vigil mirror keygen`)", envTrustedKeys)
	}
	filter := syncer.Filter{
		Releases: c.StringSlice("release"), Distros: c.StringSlice("distro"),
		Arches: c.StringSlice("arch"), DriverVersions: c.StringSlice("driver-version"),
	}
	if p := c.String("inventory"); p != "" {
		inv, err := readInventory(c, p)
		if err != nil {
			return err
		}
		filter.Inventory = inv
	}
	transfer := loader.RepoOptions{
		Timeout: c.Duration("repo-timeout"), Attempts: c.Int("repo-attempts"),
		Headers: c.StringSlice("repo-header"), CAFile: c.String("repo-ca-file"), Proxy: c.String("repo-proxy"),
	}
	src, err := syncer.OpenSource(srcSpec, transfer)
	if err != nil {
		return err
	}
	sum, err := syncer.Sync(c.Context, src, dst, syncer.Options{
		Keys: keys, Trust: trust, Filter: filter, Prune: c.Bool("prune"), Transfer: transfer, Progress: c.App.ErrWriter,
	})
	fmt.Fprintf(c.App.Writer, "sync %s -> %s: %s\n", src, dst, sum)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return nil
}

func readInventory(c *cli.Context, p string) (*syncer.Inventory, error) {
	var r io.Reader = os.Stdin
	if p != "-" {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("--inventory: %w", err)
		}
		defer f.Close()
		r = f
	} else if c.App.Reader != nil {
		r = c.App.Reader
	}
	return syncer.ParseInventory(r, p)
}

// partialFlag is vigil mirror verify's --partial.
func partialFlag() cli.Flag {
	return &cli.BoolFlag{Name: "partial",
		Usage: "DIR is a filtered copy (vigil mirror sync --release, --inventory, ...): a listed artifact may be absent, any present must match"}
}

// mirrorVerifyPartial is vigil mirror verify --partial.
func mirrorVerifyPartial(c *cli.Context, dir string, trust *mirror.TrustStore) error {
	ix, present, err := syncer.VerifyPartialTrust(dir, trust, trust.Usable(time.Now())...)
	var ve *mirror.VerifyError
	switch {
	case errors.As(err, &ve):
		return cli.Exit(fmt.Sprintf("mirror %s does not verify (%d artifacts listed, %d present, %d problems):\n  %s",
			dir, len(ix.Entries), present, len(ve.Problems), strings.Join(ve.Problems, "\n  ")), 1)
	case err != nil:
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "ok: %d of %d listed artifacts present and verified\n", present, len(ix.Entries))
	return nil
}
