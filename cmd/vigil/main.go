// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Command vigil gets a syscall event driver into a Linux kernel and turns
// its events into security alerts. This file wires flags to packages; the
// work happens in the packages.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vigil-dev/vigil/ci"
	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
)

// version is set at link time (-X main.version=...).
var version = "dev"

func main() {
	// The selftest's workloads are this binary run again (in the QEMU
	// matrix there is no other binary).
	selftest.RunChild()
	// The QEMU matrix boots this same binary as the guest's /init. Being
	// pid 1 is not enough: in a container vigil is pid 1 too, and must run
	// the command it was given.
	if ci.IsAgent(os.Args[0], os.Getpid()) {
		os.Exit(ci.AgentMain())
	}
	app := newApp()
	if err := app.Run(flagsFirst(app, os.Args)); err != nil {
		fmt.Fprintf(os.Stderr, "vigil: %v\n", err)
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "vigil",
		Usage:   "syscall event drivers for any Linux kernel, and alerts from their events",
		Version: version,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"VIGIL_LOG_LEVEL"},
				Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"VIGIL_LOG_FORMAT"},
				Usage: "text, json, or auto (text on a terminal, json otherwise)"},
		}, profileFlags()...),
		Before: func(c *cli.Context) error {
			if err := setupLogging(c); err != nil {
				return err
			}
			return startProfile(c)
		},
		After:           stopProfile,
		HideHelpCommand: true,
		// Errors are printed once, by main.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			eventsCommand(),
			captureCommand(),
			kernelsCommand(),
			matrixCommand(),
			driverCommand(),
			builderCommand(),
			mirrorCommand(),
			rulesCommand(),
			runCommand(),
			replayCommand(),
			{
				Name:  "version",
				Usage: "print vigil's version, its event schema version and the Go runtime",
				Action: func(c *cli.Context) error {
					fmt.Fprintf(c.App.Writer, "vigil %s\nschema %s\n%s %s/%s\n", version,
						driver.SchemaVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
					return nil
				},
			},
		},
	}
}

func setupLogging(c *cli.Context) error {
	lvl, err := logrus.ParseLevel(c.String("log-level"))
	if err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	logrus.SetLevel(lvl)
	logrus.SetOutput(os.Stderr)
	switch f := c.String("log-format"); f {
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
	case "text":
		logrus.SetFormatter(&logrus.TextFormatter{})
	case "auto":
		if !term.IsTerminal(int(os.Stderr.Fd())) {
			logrus.SetFormatter(&logrus.JSONFormatter{})
		}
	default:
		return fmt.Errorf("--log-format %q: want text, json or auto", f)
	}
	return nil
}

// flagsFirst lets flags follow a command's arguments, as in
// `vigil kernels fetch TARGET --mirror URL` or `vigil replay FILE --rules R`:
// urfave/cli v2 stops parsing flags at the first argument, and would take
// the flags for more arguments. The flags of the command args name are
// moved before its arguments; everything after "--" stays an argument.
func flagsFirst(app *cli.App, args []string) []string {
	// Find the command: the global flags (and their values), then the
	// command and subcommand names.
	flags, cmds := app.Flags, app.Commands
	var cmd *cli.Command
	i := 1
	for i < len(args) {
		a := args[i]
		if a == "--" {
			return args
		}
		if isFlag(a) {
			if takesValue(flags, a) {
				i++
			}
			i++
			continue
		}
		c := findCommand(cmds, a)
		if c == nil {
			break
		}
		cmd, flags, cmds = c, c.Flags, c.Subcommands
		i++
		if len(cmds) == 0 {
			break
		}
	}
	if cmd == nil || len(cmd.Subcommands) > 0 || i >= len(args) {
		return args
	}
	var moved, rest []string
	tail := args[i:]
	dashes := false
	for j := 0; j < len(tail); j++ {
		a := tail[j]
		if a == "--" {
			rest, dashes = append(rest, tail[j+1:]...), true
			break
		}
		if !isFlag(a) {
			rest = append(rest, a)
			continue
		}
		moved = append(moved, a)
		if takesValue(flags, a) && j+1 < len(tail) {
			j++
			moved = append(moved, tail[j])
		}
	}
	out := append(slices.Clone(args[:i]), moved...)
	if dashes {
		// Keep "--" so that arguments after it that begin with "-" are
		// not parsed as flags.
		out = append(out, "--")
	}
	return append(out, rest...)
}

// isFlag reports whether a looks like a flag ("-" alone is an argument,
// standard input by convention).
func isFlag(a string) bool { return strings.HasPrefix(a, "-") && a != "-" }

// takesValue reports whether the flag a (-name or --name, without "=value")
// is one of flags that takes the next argument as its value. Unknown flags
// take none: urfave/cli refuses them anyway.
func takesValue(flags []cli.Flag, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			tv, ok := f.(interface{ TakesValue() bool })
			return ok && tv.TakesValue()
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
