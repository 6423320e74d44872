// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/mirror"
)

// Environment variables holding mirror keys (the key text, not a path).
const (
	mirrorKeyEnv    = "VIGIL_MIRROR_KEY"
	mirrorPubKeyEnv = "VIGIL_MIRROR_PUBKEY"
)

func mirrorCommand() *cli.Command {
	return &cli.Command{
		Name:  "mirror",
		Usage: "make signing keys for, verify, list and serve a driver mirror",
		Subcommands: []*cli.Command{
			{
				Name:      "keygen",
				Usage:     "make an ed25519 key pair: PREFIX.key (private, 0600) and PREFIX.pub",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Required: true, TakesFile: true,
						Usage: "write PREFIX.key and PREFIX.pub; existing files are never overwritten"},
				},
				Action: mirrorKeygen,
			},
			{
				Name:      "verify",
				Usage:     "check index.json's signature, every artifact's size and sha256, and that DIR holds no file the index does not list",
				ArgsUsage: "DIR",
				Flags:     []cli.Flag{trustedKeyFlag(""), partialFlag()},
				Action:    mirrorVerify,
			},
			{
				Name:      "index",
				Usage:     "list the artifacts in DIR/index.json (does not check the signature; see verify)",
				ArgsUsage: "DIR",
				Action:    mirrorIndex,
			},
			{
				Name:      "serve",
				Usage:     "serve a mirror read-only over HTTP (GET, HEAD, Range, ETag; only the index, its signature and the files it lists; /healthz)",
				ArgsUsage: "DIR",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "`ADDR` to listen on (loopback unless told otherwise: 0.0.0.0:8080)"},
					&cli.StringFlag{Name: "access-log", Value: "-", Usage: "`FILE` to append one line per request to (-: stderr)"},
				},
				Action: mirrorServe,
			},
			mirrorSyncCommand(),
			mirrorPushCommand(),
			mirrorPullCommand(),
			mirrorSignCommand(),
			mirrorExportCommand(),
			mirrorImportCommand(),
		},
	}
}

// mirrorServe serves DIR until interrupted; a mirror server for the
// loader's tests and for sites that host their own (air-gapped nodes).
func mirrorServe(c *cli.Context) error {
	dir, err := oneDirArg(c)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("mirror serve %s: not a directory (%v)", dir, err)
	}
	var log io.Writer = os.Stderr
	if p := c.String("access-log"); p != "-" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("--access-log: %w", err)
		}
		defer f.Close()
		log = f
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("--listen %s: %w", c.String("listen"), err)
	}
	srv := &http.Server{Handler: mirror.NewServer(dir, log), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	logrus.WithFields(logrus.Fields{"dir": dir, "url": "http://" + ln.Addr().String() + "/"}).Info("serving the mirror")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("mirror serve: %w", err)
	}
	return nil
}

// signingKeyFlag is the flag signingKey reads; commands that sign a mirror
// add it.
func signingKeyFlag() cli.Flag {
	return &cli.StringFlag{Name: "key-file", TakesFile: true,
		Usage: "private key file for signing the mirror index (else $" + mirrorKeyEnv + " holds the key itself)"}
}

// signingKey loads the mirror signing key from --key-file, else from
// $VIGIL_MIRROR_KEY.
func signingKey(c *cli.Context) (ed25519.PrivateKey, error) {
	file := c.String("key-file")
	if file != "" {
		if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
			logrus.Warnf("private key %s is readable by others (mode %v); chmod 600 it", file, st.Mode().Perm())
		}
	}
	return mirror.LoadPrivateKey(file, mirrorKeyEnv)
}

// publicKeyFlag is the flag publicKey reads; commands that read a mirror
// add it. when says when the command needs it.
func publicKeyFlag(when string) cli.Flag {
	return &cli.StringFlag{Name: "key", EnvVars: []string{mirrorPubKeyEnv},
		Usage: when + "the mirror's public key: a .pub file (from vigil mirror keygen) or the " + mirror.PublicKeyPrefix + "… value"}
}

// publicKey loads the key of publicKeyFlag; what names the command in the
// error when there is none.
func publicKey(c *cli.Context, what string) (ed25519.PublicKey, error) {
	key := c.String("key")
	if strings.TrimSpace(key) == "" {
		return nil, fmt.Errorf("%s needs the mirror's public key: --key FILE|VALUE or $%s (the .pub from `vigil mirror keygen`)", what, mirrorPubKeyEnv)
	}
	return mirror.LoadPublicKey(key)
}

func oneDirArg(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("mirror %s takes one argument, the mirror directory (got %d)", c.Command.Name, c.NArg())
	}
	return c.Args().First(), nil
}

func mirrorKeygen(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("mirror keygen takes no arguments (got %q); use --out PREFIX", c.Args().First())
	}
	prefix := c.String("out")
	keyPath, pubPath := prefix+".key", prefix+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; not overwriting it (pick another --out or remove it)", p)
		}
	}
	pub, priv, err := mirror.GenerateKey()
	if err != nil {
		return err
	}
	if err := writeNew(keyPath, mirror.EncodePrivateKey(priv)+"\n", 0o600); err != nil {
		return err
	}
	if err := writeNew(pubPath, mirror.EncodePublicKey(pub)+"\n", 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s\n", mirror.EncodePublicKey(pub))
	fmt.Fprintf(c.App.ErrWriter, "wrote %s (private: keep it secret) and %s\n", keyPath, pubPath)
	return nil
}

// writeNew creates path exclusively, so an existing key is never clobbered.
func writeNew(path, content string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, content); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

func mirrorVerify(c *cli.Context) error {
	// flagsFirst (main.go) lets --key follow DIR.
	dir, err := oneDirArg(c)
	if err != nil {
		return err
	}
	trust, err := trustStore(c, "mirror verify")
	if err != nil {
		return err
	}
	if c.Bool("partial") {
		return mirrorVerifyPartial(c, dir, trust)
	}
	ix, err := trust.VerifyIndex(dir)
	var ve *mirror.VerifyError
	switch {
	case errors.As(err, &ve):
		return cli.Exit(fmt.Sprintf("mirror %s does not verify (%d artifacts listed, %d problems):\n  %s",
			dir, len(ix.Entries), len(ve.Problems), strings.Join(ve.Problems, "\n  ")), 1)
	case err != nil:
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "ok: %d artifacts verified\n", len(ix.Entries))
	return nil
}

func mirrorIndex(c *cli.Context) error {
	dir, err := oneDirArg(c)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	ix, err := mirror.LoadIndex(dir)
	if err != nil {
		return err
	}
	if len(ix.Entries) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "no artifacts in %s (no index.json, or an empty one)\n", dir)
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tTARGET\tBUILT")
	for _, e := range ix.Entries {
		sum := e.SHA256
		if len(sum) > 12 {
			sum = sum[:12]
		}
		built := "-"
		if !e.BuildTime.IsZero() {
			built = e.BuildTime.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, strconv.FormatInt(e.Size, 10), sum, targetString(e.Target), built)
	}
	return tw.Flush()
}

// targetString is "distro/suite release flavour arch", leaving out what is
// empty.
func targetString(t mirror.Target) string {
	distro := t.Distro
	if t.Suite != "" {
		distro += "/" + t.Suite
	}
	var parts []string
	for _, s := range []string{distro, t.Release, t.Flavour, t.Arch} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
