// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/mirror"
)

// mirrorSignCommand adds a signature to a mirror's index: the step of a
// key rotation where the old and the new key both sign.
func mirrorSignCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "add a signature by --key-file to DIR/index.json.sig, keeping the others (key rotation; the artifacts must match the index)",
		ArgsUsage: "DIR",
		Flags: []cli.Flag{
			signingKeyFlag(),
			&cli.BoolFlag{Name: "replace", Usage: "drop every other signature: sign with this key only"},
		},
		Action: mirrorSign,
	}
}

func mirrorExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write the signed mirror DIR to one file (a reproducible tar.gz) to carry to an air-gapped site; see import",
		ArgsUsage: "DIR",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Required: true, TakesFile: true, Usage: "the bundle `FILE` to write (replaced only once whole)"},
			&cli.StringFlag{Name: "key", EnvVars: []string{mirrorPubKeyEnv},
				Usage: "check the index's signature with this `KEY` first: a .pub file, a trust store file or the " + mirror.PublicKeyPrefix + "… value"},
		},
		Action: mirrorExport,
	}
}

func mirrorImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "verify a bundle from export (signature, every artifact's size and sha256, nothing else in it) and only then make DIR its mirror",
		ArgsUsage: "FILE DIR",
		Flags: []cli.Flag{
			trustedKeyFlag(""),
			&cli.BoolFlag{Name: "replace", Usage: "replace DIR if it is not empty (an earlier import)"},
		},
		Action: mirrorImport,
	}
}

// trustedKeyFlag is the --key of commands that verify with a trust store
// (trustStore reads it); when says when the command needs it.
func trustedKeyFlag(when string) cli.Flag {
	return &cli.StringFlag{Name: "key", EnvVars: []string{mirrorPubKeyEnv},
		Usage: when + "the mirror's public key: a .pub file (from vigil mirror keygen), a trust store `FILE` (keys with not-after= and revoked) or the " +
			mirror.PublicKeyPrefix + "… value"}
}

// trustStore loads --key as a trust store; what names the command in the
// error when there is none.
func trustStore(c *cli.Context, what string) (*mirror.TrustStore, error) {
	key := c.String("key")
	if strings.TrimSpace(key) == "" {
		return nil, fmt.Errorf("%s needs the mirror's public key: --key FILE|VALUE or $%s (the .pub from `vigil mirror keygen`, or a trust store file)", what, mirrorPubKeyEnv)
	}
	return loadTrust([]string{key}, "--key")
}

// loadTrust merges the trust stores of values (each a key, a .pub file or
// a trust store file) and refuses a store with no usable key, naming why
// each key is not.
func loadTrust(values []string, flag string) (*mirror.TrustStore, error) {
	s := &mirror.TrustStore{}
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			continue
		}
		t, err := mirror.LoadTrustStore(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		s.Merge(t)
	}
	if keys := s.Keys(); len(keys) > 0 && len(s.Usable(time.Now())) == 0 {
		var why []string
		for _, k := range keys {
			state := "revoked"
			if !k.Revoked {
				state = "expired (not-after " + k.NotAfter.UTC().Format(time.RFC3339) + ")"
			}
			why = append(why, fmt.Sprintf("%s (id %s) is %s in %s", mirror.EncodePublicKey(k.Key), mirror.KeyID(k.Key), state, k.From))
		}
		return nil, fmt.Errorf("%s: no key is trusted now: %s; add the mirror's current key", flag, strings.Join(why, "; "))
	}
	return s, nil
}

func mirrorSign(c *cli.Context) error {
	dir, err := oneDirArg(c)
	if err != nil {
		return err
	}
	key, err := signingKey(c)
	if err != nil {
		return err
	}
	sign := mirror.AddSignature
	if c.Bool("replace") {
		sign = mirror.ReplaceSignatures
	}
	var ve *mirror.VerifyError
	if err := sign(dir, key); errors.As(err, &ve) {
		return cli.Exit(fmt.Sprintf("mirror sign %s: not signed: the mirror does not match its index (%d problems):\n  %s",
			dir, len(ve.Problems), strings.Join(ve.Problems, "\n  ")), 1)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "signed %s with key %s\n", dir, mirror.KeyID(key.Public().(ed25519.PublicKey)))
	return nil
}

func mirrorExport(c *cli.Context) error {
	dir, err := oneDirArg(c)
	if err != nil {
		return err
	}
	var trust *mirror.TrustStore
	if strings.TrimSpace(c.String("key")) != "" {
		if trust, err = trustStore(c, "mirror export"); err != nil {
			return err
		}
	}
	ix, err := mirror.ExportBundle(dir, c.String("to"), trust)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.ErrWriter, "wrote %s: index, signature and %d artifacts\n", c.String("to"), len(ix.Entries))
	return nil
}

func mirrorImport(c *cli.Context) error {
	if c.NArg() != 2 {
		return fmt.Errorf("mirror import takes two arguments, the bundle FILE and the mirror DIR to make (got %d)", c.NArg())
	}
	file, dir := c.Args().Get(0), c.Args().Get(1)
	trust, err := trustStore(c, "mirror import")
	if err != nil {
		return err
	}
	ix, err := mirror.ImportBundle(file, dir, mirror.ImportOptions{Trust: trust, Replace: c.Bool("replace")})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "ok: %d artifacts verified and imported into %s\n", len(ix.Entries), dir)
	return nil
}
