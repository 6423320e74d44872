// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

// Where a node of a resolved condition was written. A rule's Cond mixes
// nodes from the rule's own condition, from the macros it uses and from its
// exceptions, and each node's Pos is relative to the text it came from; the
// resolver records each node's file position so that later stages (the
// compiler's unknown-field and bad-literal errors) can point at the exact
// place in the rules file.

// Locate returns the file, line and column where node n of a resolved rule
// condition (Rule.Cond, or any node inside it) was written. Nodes added for
// exceptions point at their exception. ok is false for nodes that did not
// come from this set's resolution.
func (s *Set) Locate(n Node) (file string, line, col int, ok bool) {
	if s == nil || s.where == nil || n == nil {
		return "", 0, 0, false
	}
	l, ok := s.where[n]
	if !ok {
		return "", 0, 0, false
	}
	return l.file, l.line, l.col, true
}

// ErrorAt returns an Error located where node n was written (see Locate);
// when n cannot be located, at the rule's own position.
func (s *Set) ErrorAt(r *Rule, n Node, hint, msg string) *Error {
	if file, line, col, ok := s.Locate(n); ok {
		return &Error{File: file, Line: line, Col: col, Msg: msg, Hint: hint}
	}
	e := &Error{Msg: msg, Hint: hint}
	if r != nil {
		e.File, e.Line, e.Col = r.loc.file, r.loc.line, r.loc.col
	}
	return e
}

// record notes that node n was written at l.
func (r *resolver) record(n Node, l loc) {
	if n != nil && !isNilNode(n) && l.file != "" {
		r.s.where[n] = l
	}
}

// cloneTracked is Clone that carries each node's recorded position over to
// its copy.
func (r *resolver) cloneTracked(n Node) Node {
	c := Clone(n)
	r.copyWhere(n, c)
	return c
}

// copyWhere walks two structurally identical trees in step.
func (r *resolver) copyWhere(from, to Node) {
	if from == nil || to == nil || isNilNode(from) || isNilNode(to) {
		return
	}
	if l, ok := r.s.where[from]; ok {
		r.s.where[to] = l
	}
	switch f := from.(type) {
	case *BinaryExpr:
		t := to.(*BinaryExpr)
		r.copyWhere(f.Left, t.Left)
		r.copyWhere(f.Right, t.Right)
	case *NotExpr:
		r.copyWhere(f.X, to.(*NotExpr).X)
	case *CompareExpr:
		t := to.(*CompareExpr)
		if f.Field != nil && t.Field != nil {
			r.copyWhere(f.Field, t.Field)
		}
		if f.Value != nil {
			r.copyWhere(f.Value, t.Value)
		}
	case *ListValue:
		t := to.(*ListValue)
		for i := range f.Items {
			if i < len(t.Items) {
				r.copyWhere(f.Items[i], t.Items[i])
			}
		}
	case *FieldValue:
		t := to.(*FieldValue)
		if f.Field != nil && t.Field != nil {
			r.copyWhere(f.Field, t.Field)
		}
	}
}

// recordAll notes that every node of the tree n was written at l.
func (r *resolver) recordAll(n Node, l loc) {
	Walk(n, func(x Node) bool {
		if _, ok := r.s.where[x]; !ok {
			r.record(x, l)
		}
		return true
	})
}
