// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// `vigil driver build --help` showed the backquoted `vigil kernels list` of
// --target's usage as the flag's placeholder.
func TestHelpPlaceholders(t *testing.T) {
	r := run(t, "driver", "build", "--help")
	var line string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--target") {
			line = strings.TrimSpace(l)
		}
	}
	if !strings.HasPrefix(line, "--target SUITE/RELEASE, -t SUITE/RELEASE ") || strings.Contains(line, "--target vigil") {
		t.Errorf("--target help line: %q", line)
	}
	if !strings.Contains(line, "as vigil kernels list names it") {
		t.Errorf("--target help line lost its usage: %q", line)
	}

	// Every placeholder of every command is a word (or a quoted example),
	// not a phrase taken from the usage.
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				u, ok := f.(cli.DocGenerationFlag)
				if !ok {
					continue
				}
				name := placeholder(u.GetUsage())
				if strings.Contains(name, " ") && !strings.HasPrefix(name, `"`) {
					t.Errorf("vigil %s%s --%s: placeholder %q (a backquoted phrase in the usage)", prefix, c.Name, f.Names()[0], name)
				}
			}
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	walk("", newApp().Commands)
}

// placeholder is what urfave/cli shows after a flag: the first backquoted
// part of its usage.
func placeholder(usage string) string {
	_, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "`")
	if !ok {
		return ""
	}
	return name
}
