// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/engine/output"
)

// command finds a command of the app by its path, e.g. "driver", "build".
func command(t *testing.T, path ...string) *cli.Command {
	t.Helper()
	cmds := newApp().Commands
	var cmd *cli.Command
	for _, name := range path {
		i := slices.IndexFunc(cmds, func(c *cli.Command) bool { return c.HasName(name) })
		if i < 0 {
			t.Fatalf("no command %q in %v", name, path)
		}
		cmd = cmds[i]
		cmds = cmd.Subcommands
	}
	return cmd
}

func flagNames(cmd *cli.Command) []string {
	var names []string
	for _, f := range cmd.Flags {
		names = append(names, f.Names()...)
	}
	return names
}

// flagRE finds the flags a message names.
var flagRE = regexp.MustCompile(`--[a-z][a-z0-9-]*`)

// The output errors name flags that vigil run and replay have (they named
// --output-http-url and others, which never existed).
func TestOutputErrorsNameRunFlags(t *testing.T) {
	for _, path := range [][]string{{"run"}, {"replay"}} {
		have := flagNames(command(t, path...))
		for _, name := range output.FlagNames() {
			if !slices.Contains(have, name) {
				t.Errorf("vigil %s has no --%s, which output's errors name", strings.Join(path, " "), name)
			}
		}
	}
	have := flagNames(command(t, "run"))
	// One invocation per kind of output error; each fails before the
	// probe loads (--duration bounds the run should one not fail).
	for _, args := range [][]string{
		{"--output", "yaml"},
		{"--no-stdout"},
		{"--http-header", "A: b"},
		{"--http-url", "http://127.0.0.1:1/", "--http-header", "no colon"},
		{"--http-url", "ftp://host/x"},
		{"--http-url", "http://127.0.0.1:1/", "--http-timeout", "-1s"},
		{"--output-program", "  "},
		{"--output-file", " "},
		{"--output-queue-size", "-1"},
	} {
		r := run(t, append([]string{"run", "--duration", "1ms"}, args...)...)
		if r.code == 0 {
			t.Errorf("vigil run %v succeeded; want an output error", args)
			continue
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		msg := lines[len(lines)-1]
		named := flagRE.FindAllString(msg, -1)
		if len(named) == 0 {
			t.Errorf("vigil run %v: %q names no flag", args, msg)
		}
		for _, f := range named {
			if !slices.Contains(have, strings.TrimPrefix(f, "--")) {
				t.Errorf("vigil run %v: %q names %s, which vigil run does not have", args, msg, f)
			}
		}
		if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--") && slices.Contains(named, a) }) {
			t.Errorf("vigil run %v: %q names none of the flags given", args, msg)
		}
	}
}
