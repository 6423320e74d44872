// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"regexp"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/engine/eval"
)

// Falco's append_output as flags: the file's entries (append_output in
// --config) are used unless --append-output is given, which replaces them.
const (
	flagAppendOutput      = "append-output"
	flagNoSuggestedOutput = "no-suggested-output"
)

func appendOutputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: flagAppendOutput, Usage: "append `FORMAT` (%fields allowed) to the output of every rule, as append_output's extra_output (repeatable; replaces the config file's append_output)"},
		&cli.BoolFlag{Name: flagNoSuggestedOutput, Usage: "do not append container_id=%container.id container_name=%container.name to syscall alerts that do not name them (Falco's suggested_output)"},
	}
}

// appendOptions are the compile options append_output and the flags ask
// for; their templates are checked, so a mistake fails the load even when
// no rule matches it.
func appendOptions(c *cli.Context) (entries []eval.AppendOutput, suggested bool, err error) {
	if c.IsSet(flagAppendOutput) {
		for _, f := range c.StringSlice(flagAppendOutput) {
			entries = append(entries, eval.AppendOutput{ExtraOutput: f})
		}
	} else {
		for _, a := range fileConfigOf(c).AppendOutput {
			if a.ExtraOutput == nil && len(a.ExtraFields) == 0 {
				continue // suggested_output only
			}
			e := eval.AppendOutput{Tags: a.Match.Tags}
			if a.Match.Source != nil {
				e.Source = *a.Match.Source
			}
			if a.Match.Rule != nil {
				e.Rule = *a.Match.Rule
			}
			if a.ExtraOutput != nil {
				e.ExtraOutput = expandEnv(*a.ExtraOutput)
			}
			for _, f := range a.ExtraFields {
				e.ExtraFields = append(e.ExtraFields, eval.ExtraField{Key: f.Key, Format: expandEnv(f.Format)})
			}
			entries = append(entries, e)
		}
	}
	if err := eval.CheckAppend(entries); err != nil {
		return nil, false, fmt.Errorf("append output: %w", err)
	}
	return entries, !c.Bool(flagNoSuggestedOutput), nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} by the variable's value, as Falco does in its
// configuration ("home_directory: ${HOME}"); a lone $ is left alone, since
// output text may well hold one.
func expandEnv(s string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string { return os.Getenv(m[2 : len(m)-1]) })
}
