// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"fmt"
	"strings"
)

type resolver struct {
	s    *Set
	errs ErrorList

	listVals  map[string][]listItem // expanded lists
	listState map[string]int        // 0 new, 1 in progress, 2 done
	listStack []string

	macroAST   map[string]Node // expanded macros (nil: invalid)
	macroState map[string]int
	macroStack []string
}

type listItem struct {
	val    string
	quoted bool
}

func (r *resolver) errAt(l loc, hint, format string, args ...any) {
	r.errs = append(r.errs, &Error{File: l.file, Line: l.line, Col: l.col, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (s *Set) resolve() (errs ErrorList) {
	r := &resolver{s: s, listVals: map[string][]listItem{}, listState: map[string]int{},
		macroAST: map[string]Node{}, macroState: map[string]int{}}
	s.where = map[Node]loc{}
	defer func() {
		if x := recover(); x != nil {
			errs = append(r.errs, &Error{File: "", Line: 1, Col: 1, Msg: fmt.Sprintf("internal error while resolving: %v", x)})
		}
	}()
	for _, l := range s.lorder {
		r.list(l.Name, loc{})
	}
	// Parse every macro so syntax errors are reported even for unused ones.
	for _, m := range s.morder {
		m.Cond = r.parse(&m.cond, "macro", m.Name)
	}
	s.warnings = nil
	for _, rule := range s.rorder {
		before := len(r.errs)
		rule.Cond = nil
		if n := r.parse(&rule.cond, "rule", rule.Name); n != nil {
			n = r.expand(n, &rule.cond)
			rule.Cond = r.withExceptions(rule, n)
		}
		if !rule.Enabled && len(r.errs) > before {
			s.warnings = append(s.warnings, r.errs[before:]...)
			r.errs = r.errs[:before]
		}
	}
	return r.errs
}

func (r *resolver) parse(c *condSrc, kind, name string) Node {
	n, err := ParseCondition(c.text)
	if err != nil {
		se := err.(*SyntaxError)
		r.errAt(c.locate(se.Offset), "", "syntax error in condition of %s '%s': %s", kind, name, se.Msg)
		return nil
	}
	return n
}

// list expands list name; at says where it is referenced from (for cycles).
func (r *resolver) list(name string, at loc) []listItem {
	switch r.listState[name] {
	case 2:
		return r.listVals[name]
	case 1:
		i := indexOf(r.listStack, name)
		path := append(append([]string{}, r.listStack[i:]...), name)
		r.errAt(at, "a list may not contain itself, directly or through other lists", "list cycle: list %s", strings.Join(path, " -> "))
		return nil
	}
	l := r.s.lists[name]
	r.listState[name] = 1
	r.listStack = append(r.listStack, name)
	var out []listItem
	for i, it := range l.Items {
		if _, ok := r.s.lists[it]; ok {
			var at loc
			if i < len(l.itemLoc) {
				at = l.itemLoc[i]
			}
			out = append(out, r.list(it, at)...)
			continue
		}
		v, q := unquoteItem(it)
		out = append(out, listItem{v, q})
	}
	r.listStack = r.listStack[:len(r.listStack)-1]
	r.listState[name] = 2
	r.listVals[name] = out
	return out
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 0
}

// macro returns the expanded body of macro name, referenced at ref.
func (r *resolver) macro(m *Macro, ref loc) Node {
	switch r.macroState[m.Name] {
	case 2:
		return r.macroAST[m.Name]
	case 1:
		i := indexOf(r.macroStack, m.Name)
		path := append(append([]string{}, r.macroStack[i:]...), m.Name)
		r.errAt(ref, "a macro may not use itself, directly or through other macros", "macro cycle: macro %s", strings.Join(path, " -> "))
		return nil
	}
	r.macroState[m.Name] = 1
	r.macroStack = append(r.macroStack, m.Name)
	var out Node
	if m.Cond != nil {
		out = r.expand(m.Cond, &m.cond)
	}
	r.macroStack = r.macroStack[:len(r.macroStack)-1]
	r.macroState[m.Name] = 2
	r.macroAST[m.Name] = out
	return out
}

// expand returns a copy of n with macros and lists substituted. c locates
// n's positions in the file.
func (r *resolver) expand(n Node, c *condSrc) Node {
	out := r.expand1(n, c)
	if out != n {
		if _, ok := r.s.where[out]; !ok {
			r.record(out, c.locate(n.Position().Offset))
		}
	}
	return out
}

func (r *resolver) expand1(n Node, c *condSrc) Node {
	switch n := n.(type) {
	case *BinaryExpr:
		return &BinaryExpr{Pos: n.Pos, Op: n.Op, Left: r.expand(n.Left, c), Right: r.expand(n.Right, c)}
	case *NotExpr:
		return &NotExpr{Pos: n.Pos, X: r.expand(n.X, c)}
	case *CompareExpr:
		out := &CompareExpr{Pos: n.Pos, Field: cloneField(n.Field), Op: n.Op}
		if out.Field != nil {
			r.record(out.Field, c.locate(out.Field.Offset))
		}
		if n.Value != nil {
			out.Value = r.expand(n.Value, c)
		}
		return out
	case *MacroRef:
		m := r.s.macros[n.Name]
		if m == nil {
			hint := "define it with '- macro: " + n.Name + "' or check the spelling"
			if r.s.lists[n.Name] != nil {
				hint = "'" + n.Name + "' is a list; use it as a value, e.g. 'proc.name in (" + n.Name + ")'"
			}
			r.errAt(c.locate(n.Offset), hint, "undefined macro '%s'", n.Name)
			return n
		}
		body := r.macro(m, c.locate(n.Offset))
		if body == nil {
			return n
		}
		return r.cloneTracked(body)
	case *ListValue:
		out := &ListValue{Pos: n.Pos}
		for _, it := range n.Items {
			switch it := it.(type) {
			case *ListRef:
				if _, ok := r.s.lists[it.Name]; ok {
					for _, v := range r.list(it.Name, c.locate(it.Offset)) {
						out.Items = append(out.Items, &Literal{Pos: it.Pos, Value: v.val, Quoted: v.quoted})
						r.record(out.Items[len(out.Items)-1], c.locate(it.Offset))
					}
				} else {
					out.Items = append(out.Items, &Literal{Pos: it.Pos, Value: it.Name})
					r.record(out.Items[len(out.Items)-1], c.locate(it.Offset))
				}
			default:
				out.Items = append(out.Items, Clone(it))
				r.record(out.Items[len(out.Items)-1], c.locate(it.Position().Offset))
			}
		}
		return out
	case *FieldValue:
		out := &FieldValue{Pos: n.Pos, Field: cloneField(n.Field)}
		if out.Field != nil {
			r.record(out.Field, c.locate(out.Field.Offset))
		}
		return out
	}
	return Clone(n)
}

func cloneField(f *Field) *Field {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}

// Clone returns a deep copy of n.
func Clone(n Node) Node {
	switch n := n.(type) {
	case *BinaryExpr:
		return &BinaryExpr{Pos: n.Pos, Op: n.Op, Left: Clone(n.Left), Right: Clone(n.Right)}
	case *NotExpr:
		return &NotExpr{Pos: n.Pos, X: Clone(n.X)}
	case *CompareExpr:
		out := &CompareExpr{Pos: n.Pos, Field: cloneField(n.Field), Op: n.Op}
		if n.Value != nil {
			out.Value = Clone(n.Value)
		}
		return out
	case *Field:
		return cloneField(n)
	case *MacroRef:
		c := *n
		return &c
	case *Literal:
		c := *n
		return &c
	case *ListRef:
		c := *n
		return &c
	case *ListValue:
		out := &ListValue{Pos: n.Pos}
		for _, it := range n.Items {
			out.Items = append(out.Items, Clone(it))
		}
		return out
	case *FieldValue:
		return &FieldValue{Pos: n.Pos, Field: cloneField(n.Field)}
	}
	return n
}

// withExceptions adds one "and not (...)" clause per exception that has
// values. Values are compared as quoted strings; for the list operators a
// value naming a list is expanded to that list.
func (r *resolver) withExceptions(rule *Rule, cond Node) Node {
	for _, e := range rule.Exceptions {
		if len(e.Values) == 0 {
			continue
		}
		fields := make([]*Field, len(e.Fields))
		bad := false
		for i, f := range e.Fields {
			fl, err := ParseField(f)
			if err != nil {
				bad = true // reported by the loader
				break
			}
			fields[i] = fl
		}
		if bad {
			continue
		}
		var clause Node
		or := func(n Node) {
			if clause == nil {
				clause = n
			} else {
				clause = &BinaryExpr{Op: OpOr, Left: clause, Right: n}
			}
		}
		if e.SingleField && listOps[e.Comps[0]] {
			lv := &ListValue{}
			for _, row := range e.Values {
				lv.Items = append(lv.Items, r.excItems(row[0])...)
			}
			or(&CompareExpr{Field: cloneField(fields[0]), Op: e.Comps[0], Value: lv})
		} else {
			for _, row := range e.Values {
				var tuple Node
				for i, v := range row {
					if i >= len(fields) {
						break
					}
					var val Node
					if listOps[e.Comps[i]] {
						val = &ListValue{Items: r.excItems(v)}
					} else if v.IsList {
						r.errAt(e.loc, "use in, intersects or pmatch to compare with a list", "exception '%s' of rule '%s': a list value needs a list operator, not '%s'", e.Name, rule.Name, e.Comps[i])
						return cond
					} else {
						val = &Literal{Value: v.Value, Quoted: true}
					}
					c := &CompareExpr{Field: cloneField(fields[i]), Op: e.Comps[i], Value: val}
					if tuple == nil {
						tuple = c
					} else {
						tuple = &BinaryExpr{Op: OpAnd, Left: tuple, Right: c}
					}
				}
				if tuple != nil {
					or(tuple)
				}
			}
		}
		if clause != nil {
			r.recordAll(clause, e.loc)
			cond = &BinaryExpr{Op: OpAnd, Left: cond, Right: &NotExpr{X: clause}}
			r.recordAll(cond, e.loc)
		}
	}
	return cond
}

func (r *resolver) excItems(v ExceptionValue) []Node {
	vals := v.List
	if !v.IsList {
		vals = []string{v.Value}
	}
	var out []Node
	for _, s := range vals {
		if _, ok := r.s.lists[s]; ok {
			for _, it := range r.list(s, loc{}) {
				out = append(out, &Literal{Value: it.val, Quoted: it.quoted})
			}
			continue
		}
		out = append(out, &Literal{Value: s, Quoted: true})
	}
	return out
}
