// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/internal/editdist"
)

// rulesFieldsCommand lists the fields conditions and outputs may name, as
// falco --list does: what the unknown-field hint points to.
func rulesFieldsCommand() *cli.Command {
	return &cli.Command{
		Name:      "fields",
		Usage:     "list the fields rules may use, with their types and descriptions",
		ArgsUsage: "[PREFIX]",
		Description: `Lists every field of the syscall source, by class (evt, proc, fd, ...).
PREFIX keeps the fields whose name starts with it: vigil rules fields proc.
FILTER ONLY fields can be used in conditions but not printed in outputs.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print a JSON array: name, syntax, type, description, filter_only"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("vigil rules fields takes at most one PREFIX, got %d arguments (%s)", c.NArg(), strings.Join(c.Args().Slice(), " "))
			}
			prefix := c.Args().First()
			var list []*fields.Field
			for _, f := range fields.All() {
				if strings.HasPrefix(f.Name, prefix) {
					list = append(list, f)
				}
			}
			if len(list) == 0 {
				return cli.Exit(fmt.Sprintf("no field starts with %q (%s)", prefix, fieldsHint(prefix)), 1)
			}
			if c.Bool("json") {
				return printFieldsJSON(c, list)
			}
			return printFields(c, list)
		},
	}
}

// fieldsHint suggests a prefix close to one that matched nothing: the
// nearest field, else the nearest field class.
func fieldsHint(prefix string) string {
	if s := fields.Suggest(prefix); s != "" {
		return "did you mean " + s + "?"
	}
	cl, _, _ := strings.Cut(prefix, ".")
	best, bestD := "", 3
	seen := map[string]bool{}
	for _, f := range fields.All() {
		c, _, _ := strings.Cut(f.Name, ".")
		if !seen[c] {
			seen[c] = true
			if d := editdist.Distance(cl, c); d < bestD {
				best, bestD = c, d
			}
		}
	}
	if best != "" {
		return "did you mean " + best + ".?"
	}
	return "give a field class such as proc. or fd., or no prefix for all fields"
}

type fieldJSON struct {
	Name       string `json:"name"`
	Syntax     string `json:"syntax"`
	Type       string `json:"type"`
	Desc       string `json:"description"`
	FilterOnly bool   `json:"filter_only"`
}

func printFieldsJSON(c *cli.Context, list []*fields.Field) error {
	out := make([]fieldJSON, len(list))
	for i, f := range list {
		out[i] = fieldJSON{Name: f.Name, Syntax: f.Syntax(), Type: f.Type.String(), Desc: f.Desc, FilterOnly: f.FilterOnly}
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// printFields writes one block per field class, one line per field.
func printFields(c *cli.Context, list []*fields.Field) error {
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	class := ""
	for _, f := range list {
		if cl, _, _ := strings.Cut(f.Name, "."); cl != class {
			if class != "" {
				fmt.Fprintln(tw)
			}
			class = cl
			fmt.Fprintf(tw, "Field class: %s\n", class)
		}
		desc := f.Desc
		if f.FilterOnly {
			desc = "(FILTER ONLY) " + desc
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Syntax(), f.Type, desc)
	}
	return tw.Flush()
}
