// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/rules"
)

func rulesCommand() *cli.Command {
	return &cli.Command{
		Name:  "rules",
		Usage: "Falco-compatible rules files: check them, list their rules",
		Subcommands: []*cli.Command{
			{
				Name:      "validate",
				Usage:     "load rules files (in order, as one set) and report every problem with file:line:col",
				ArgsUsage: "FILE...",
				Description: `Checks the YAML, the items and their keys, the conditions' syntax, macros
and lists (undefined, cycles), appends and overrides, then compiles every
rule: field names and arguments, operators and literals against the
fields' types, event type names, output templates. Rules that run on every
event type are reported as warnings.`,
				Action: func(c *cli.Context) error {
					set, err := loadRules(c)
					var list rules.ErrorList
					errors.As(err, &list)
					if set != nil {
						bad := rulesWithErrors(set, list)
						prog, cerr := eval.Compile(set, eval.Options{})
						var clist rules.ErrorList
						if errors.As(cerr, &clist) {
							for _, r := range set.Rules() {
								for _, e := range clist {
									if strings.Contains(e.Msg, "rule '"+r.Name+"'") {
										bad[r] = true
									}
								}
							}
							list = append(list, clist...)
							if err == nil {
								err = clist
							}
						} else if cerr != nil {
							return cerr
						}
						for _, w := range prog.Warnings() {
							fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", w)
						}
						warned := rulesWithErrors(set, prog.Warnings())
						for _, r := range set.Rules() {
							state := "ok"
							switch {
							case bad[r]:
								state = "ERROR"
							case !r.Enabled && warned[r]:
								// What would be an error once the rule is
								// enabled is a warning, as in Falco.
								state = "ok (disabled; see the warnings)"
							case !r.Enabled:
								state = "ok (disabled)"
							}
							fmt.Fprintf(c.App.Writer, "%s: %s:%d: %s\n", state, r.File, r.Line, r.Name)
						}
					}
					if err != nil {
						if list != nil {
							for _, e := range list {
								fmt.Fprintf(c.App.ErrWriter, "%s\n", e)
							}
							return cli.Exit(fmt.Sprintf("%d problems in %s", len(list), strings.Join(c.Args().Slice(), ", ")), 1)
						}
						return err
					}
					fmt.Fprintf(c.App.Writer, "%d rules, %d macros, %d lists: no problems\n",
						len(set.Rules()), len(set.Macros()), len(set.Lists()))
					return nil
				},
			},
			{
				Name:      "list",
				Usage:     "list the rules of rules files",
				ArgsUsage: "FILE...",
				Action: func(c *cli.Context) error {
					set, err := loadRules(c)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "RULE\tPRIORITY\tSOURCE\tENABLED\tTAGS")
					for _, r := range set.Rules() {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", r.Name, r.Priority, r.Source, r.Enabled, strings.Join(r.Tags, ","))
					}
					return tw.Flush()
				},
			},
			rulesFieldsCommand(),
		},
	}
}

// rulesWithErrors finds the rule each error lies in: the rule of the
// error's file that starts last at or before the error's line, unless a
// macro or list starts between them (the error is then theirs).
func rulesWithErrors(set *rules.Set, errs rules.ErrorList) map[*rules.Rule]bool {
	bad := map[*rules.Rule]bool{}
	for _, e := range errs {
		var in *rules.Rule
		for _, r := range set.Rules() {
			if r.File == e.File && r.Line <= e.Line && (in == nil || r.Line > in.Line) {
				in = r
			}
		}
		if in == nil {
			continue
		}
		other := false
		for _, m := range set.Macros() {
			other = other || (m.File == e.File && m.Line > in.Line && m.Line <= e.Line)
		}
		for _, l := range set.Lists() {
			other = other || (l.File == e.File && l.Line > in.Line && l.Line <= e.Line)
		}
		if !other {
			bad[in] = true
		}
	}
	return bad
}

func loadRules(c *cli.Context) (*rules.Set, error) {
	if c.NArg() == 0 {
		return nil, fmt.Errorf("no rules file given: vigil rules %s FILE...", c.Command.Name)
	}
	return rules.LoadFiles(c.Args().Slice()...)
}
