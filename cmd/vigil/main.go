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
	// The QEMU matrix boots this same binary as the guest's /init.
	if os.Getpid() == 1 || os.Getenv(ci.AgentEnv) != "" {
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
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"VIGIL_LOG_LEVEL"},
				Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"VIGIL_LOG_FORMAT"},
				Usage: "text, json, or auto (text on a terminal, json otherwise)"},
		},
		Before:          setupLogging,
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
// `vigil replay FILE --rules R` (urfave/cli stops at the first argument):
// for the commands that take files, flags are moved before the arguments.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	i := slices.Index(args, "replay")
	if i < 0 {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.Name == args[i] {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, rest []string
	tail := args[i+1:]
	for j := 0; j < len(tail); j++ {
		a := tail[j]
		if a == "--" {
			rest = append(rest, tail[j+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue[name] && j+1 < len(tail) {
			j++
			flags = append(flags, tail[j])
		}
	}
	out := append(slices.Clone(args[:i+1]), flags...)
	return append(out, rest...)
}
