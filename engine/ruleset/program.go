// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ruleset

import (
	"fmt"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/rules"
)

// Program compiles the default rules with opts, as `vigil run` does when
// it is given no rules file; the matrix agent runs the same program in its
// VMs. Compile warnings are the Program's (Program.Warnings).
func Program(opts eval.Options) (*eval.Program, error) {
	set := rules.NewSet()
	if err := set.AddFile(Name, Default()); err != nil {
		return nil, fmt.Errorf("embedded rules: %w", err)
	}
	if err := set.Resolve(); err != nil {
		return nil, fmt.Errorf("embedded rules: %w", err)
	}
	prog, err := eval.Compile(set, opts)
	if err != nil {
		return nil, fmt.Errorf("compile the embedded rules: %w", err)
	}
	return prog, nil
}
