// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/mirror/oci"
)

// mirrorPushCommand is `vigil mirror push DIR oci://REGISTRY/REPO`.
func mirrorPushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "send a signed mirror to an OCI registry: each module an artifact tagged after its path, then the signed index (tag \"index\"); verified before anything is sent",
		ArgsUsage: "DIR oci://REGISTRY/REPO",
		Flags:     registryFlags("the mirror is verified with "),
		Action:    mirrorPush,
	}
}

// mirrorPullCommand is `vigil mirror pull oci://REGISTRY/REPO DIR`.
func mirrorPullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "bring a mirror from an OCI registry into DIR: the index's signature is checked first, then every module's size and sha256, and DIR must verify at the end",
		ArgsUsage: "oci://REGISTRY/REPO DIR",
		Flags:     registryFlags("the index must verify with "),
		Action:    mirrorPull,
	}
}

// registryFlags are the key and the registry's login and TLS.
func registryFlags(keyWhen string) []cli.Flag {
	return []cli.Flag{
		publicKeyFlag(keyWhen),
		&cli.StringFlag{Name: "username", EnvVars: []string{"VIGIL_REGISTRY_USERNAME"}, Usage: "registry login (else the Docker config's)"},
		&cli.StringFlag{Name: "password", EnvVars: []string{"VIGIL_REGISTRY_PASSWORD"}, Usage: "registry password (--password-stdin keeps it out of the process list)"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the registry password from standard input"},
		&cli.StringFlag{Name: "registry-config", TakesFile: true, Usage: "Docker config `FILE` with registry logins (default $DOCKER_CONFIG/config.json, else ~/.docker/config.json)"},
		&cli.StringFlag{Name: "ca-file", TakesFile: true, Usage: "PEM CA certificates trusted for the registry, beside the system's"},
		&cli.BoolFlag{Name: "plain-http", Usage: "talk HTTP, not HTTPS (a registry on loopback)"},
	}
}

// registryOptions turns registryFlags into oci.Options; what names the
// command in errors.
func registryOptions(c *cli.Context, what string) (oci.Options, error) {
	trust, err := trustStore(c, what)
	if err != nil {
		return oci.Options{}, err
	}
	o := oci.Options{
		Keys:           trust.Usable(time.Now()),
		Trust:          trust,
		Username:       c.String("username"),
		Password:       c.String("password"),
		RegistryConfig: c.String("registry-config"),
		CAFile:         c.String("ca-file"),
		PlainHTTP:      c.Bool("plain-http"),
		Log:            c.App.ErrWriter,
	}
	if c.Bool("password-stdin") {
		if o.Password != "" {
			return o, fmt.Errorf("%s: --password and --password-stdin: give one", what)
		}
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
		if err != nil {
			return o, fmt.Errorf("%s: reading the password from stdin: %w", what, err)
		}
		o.Password = strings.TrimRight(string(b), "\r\n")
	}
	if o.Password != "" && o.Username == "" {
		return o, fmt.Errorf("%s: a password without --username: give both", what)
	}
	return o, nil
}

// twoArgs returns the command's two arguments, ref being the one that
// must be oci://.
func twoArgs(c *cli.Context, usage string, refAt int) (string, string, error) {
	if c.NArg() != 2 {
		return "", "", fmt.Errorf("mirror %s takes two arguments, %s (got %d)", c.Command.Name, usage, c.NArg())
	}
	a, b := c.Args().Get(0), c.Args().Get(1)
	if ref := c.Args().Get(refAt); !strings.HasPrefix(ref, oci.Scheme) {
		return "", "", fmt.Errorf("mirror %s: %q is not an %sREGISTRY/REPO reference (usage: %s)", c.Command.Name, oci.Redact(ref), oci.Scheme, usage)
	}
	return a, b, nil
}

func mirrorPush(c *cli.Context) error {
	dir, ref, err := twoArgs(c, "DIR oci://REGISTRY/REPO", 1)
	if err != nil {
		return err
	}
	o, err := registryOptions(c, "mirror push")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := oci.Push(ctx, dir, ref, o)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "pushed %s to %s: %d modules (%d sent, %d bytes) and the signed index\n",
		dir, oci.Redact(ref), sum.Artifacts, sum.Transferred, sum.Bytes)
	return nil
}

func mirrorPull(c *cli.Context) error {
	ref, dir, err := twoArgs(c, "oci://REGISTRY/REPO DIR", 0)
	if err != nil {
		return err
	}
	o, err := registryOptions(c, "mirror pull")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := oci.Pull(ctx, ref, dir, o)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "pulled %s into %s: %d modules (%d received, %d bytes), verified\n",
		oci.Redact(ref), dir, sum.Artifacts, sum.Transferred, sum.Bytes)
	return nil
}
