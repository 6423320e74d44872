// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import "github.com/vigil-dev/vigil/engine/rules"

// Condition returns the rule's condition as compiled: macros, lists and
// exceptions resolved. Analyses of the loaded rules (engine/kfilter
// derives the driver's in-kernel filter from them) read it; it must not be
// modified.
func (r *Rule) Condition() rules.Node {
	if r.src == nil {
		return nil
	}
	return r.src.Cond
}

// OutputRefs returns the field references of the rule's output as
// written (fd.name, proc.aname[2], tolower(proc.name)), append_output's
// text and extra fields included: what rendering an alert reads.
func (r *Rule) OutputRefs() []string {
	if r.out == nil {
		return nil
	}
	var refs []string
	var walk func(t *template)
	walk = func(t *template) {
		for _, s := range t.segs {
			if s.f != nil {
				refs = append(refs, s.key)
			}
		}
		for _, x := range t.extra {
			if x.t != nil {
				walk(x.t)
			}
		}
	}
	walk(r.out)
	return refs
}
