// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is a position inside a condition string. Line and Col are 1-based
// (Col counts bytes); Offset is the 0-based byte offset.
type Pos struct {
	Line, Col, Offset int
}

// Position returns p; every AST node embeds a Pos and so implements it.
func (p Pos) Position() Pos { return p }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Node is a node of a condition AST. String prints a normalized condition
// that parses back to an identical tree.
type Node interface {
	Position() Pos
	String() string
	node()
}

// Logical operators of BinaryExpr.
const (
	OpAnd = "and"
	OpOr  = "or"
)

// BinaryExpr is "Left and Right" or "Left or Right".
type BinaryExpr struct {
	Pos
	Op          string // OpAnd or OpOr
	Left, Right Node
}

// NotExpr is "not X".
type NotExpr struct {
	Pos
	X Node
}

// CompareExpr is "Field Op Value". For the unary operator "exists" Value is
// nil. For in, intersects and pmatch Value is a *ListValue; otherwise it is a
// *Literal or a *FieldValue.
type CompareExpr struct {
	Pos
	Field *Field
	Op    string
	Value Node
}

// Field is a reference to a filter field, e.g. proc.aname[2] or
// tolower(proc.name). Arg is the text between the brackets (HasArg tells
// "x[]"-less fields apart from an empty argument). Transformer is empty or
// one of tolower, toupper, b64, basename, len.
type Field struct {
	Pos
	Name        string
	Arg         string
	HasArg      bool
	Transformer string
}

// MacroRef is a bare identifier in condition position. Resolution replaces it
// with the macro's condition.
type MacroRef struct {
	Pos
	Name string
}

// Literal is a value: a bare word or a quoted string (Value is unescaped).
type Literal struct {
	Pos
	Value  string
	Quoted bool
}

// ListValue is a parenthesised list "(a, b, "c d")". Items are *Literal or
// *ListRef; after resolution only *Literal remain.
type ListValue struct {
	Pos
	Items []Node
}

// ListRef is a bare identifier inside a list value. Resolution replaces it
// with the items of the list of that name, or with a *Literal if no such
// list exists.
type ListRef struct {
	Pos
	Name string
}

// FieldValue is the right-hand side "val(field)".
type FieldValue struct {
	Pos
	Field *Field
}

func (*BinaryExpr) node()  {}
func (*NotExpr) node()     {}
func (*CompareExpr) node() {}
func (*Field) node()       {}
func (*MacroRef) node()    {}
func (*Literal) node()     {}
func (*ListValue) node()   {}
func (*ListRef) node()     {}
func (*FieldValue) node()  {}

// Walk traverses the tree rooted at n in depth-first pre-order, calling f for
// each node. If f returns false the children of that node are skipped.
func Walk(n Node, f func(Node) bool) {
	if n == nil || isNilNode(n) || !f(n) {
		return
	}
	switch n := n.(type) {
	case *BinaryExpr:
		Walk(n.Left, f)
		Walk(n.Right, f)
	case *NotExpr:
		Walk(n.X, f)
	case *CompareExpr:
		if n.Field != nil {
			Walk(n.Field, f)
		}
		if n.Value != nil {
			Walk(n.Value, f)
		}
	case *ListValue:
		for _, it := range n.Items {
			Walk(it, f)
		}
	case *FieldValue:
		if n.Field != nil {
			Walk(n.Field, f)
		}
	}
}

func isNilNode(n Node) bool {
	switch n := n.(type) {
	case *BinaryExpr:
		return n == nil
	case *NotExpr:
		return n == nil
	case *CompareExpr:
		return n == nil
	case *Field:
		return n == nil
	case *MacroRef:
		return n == nil
	case *Literal:
		return n == nil
	case *ListValue:
		return n == nil
	case *ListRef:
		return n == nil
	case *FieldValue:
		return n == nil
	}
	return false
}

// Fields returns every field reference in n (left-hand sides and val()).
func Fields(n Node) []*Field {
	var out []*Field
	Walk(n, func(n Node) bool {
		if f, ok := n.(*Field); ok {
			out = append(out, f)
		}
		return true
	})
	return out
}

func prec(n Node) int {
	if b, ok := n.(*BinaryExpr); ok {
		if b.Op == OpOr {
			return 1
		}
		return 2
	}
	return 3
}

func (e *BinaryExpr) String() string {
	l, r := e.Left.String(), e.Right.String()
	// Parenthesise operands that bind looser; on the right also equal
	// precedence, to keep left associativity.
	if prec(e.Left) < prec(e) {
		l = "(" + l + ")"
	}
	if prec(e.Right) <= prec(e) {
		r = "(" + r + ")"
	}
	return l + " " + e.Op + " " + r
}

func (e *NotExpr) String() string {
	if _, ok := e.X.(*BinaryExpr); ok {
		return "not (" + e.X.String() + ")"
	}
	return "not " + e.X.String()
}

func (e *CompareExpr) String() string {
	if e.Value == nil {
		return e.Field.String() + " " + e.Op
	}
	return e.Field.String() + " " + e.Op + " " + e.Value.String()
}

func (f *Field) String() string {
	s := f.Name
	if f.HasArg {
		s += "[" + f.Arg + "]"
	}
	if f.Transformer != "" {
		s = f.Transformer + "(" + s + ")"
	}
	return s
}

func (m *MacroRef) String() string { return m.Name }

func (l *Literal) String() string {
	if !l.Quoted && isSafeBare(l.Value) {
		return l.Value
	}
	return Quote(l.Value)
}

func (l *ListValue) String() string {
	parts := make([]string, len(l.Items))
	for i, it := range l.Items {
		parts[i] = it.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (r *ListRef) String() string { return r.Name }

func (v *FieldValue) String() string { return "val(" + v.Field.String() + ")" }

// Quote returns s as a double-quoted condition string literal.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteString(`\x` + strconv.FormatUint(uint64(c)|0x100, 16)[1:])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isSafeBare reports whether s lexes back as the same single bare value.
func isSafeBare(s string) bool {
	if s == "" || strings.HasPrefix(s, "val(") {
		return false
	}
	switch s[0] {
	case '(', '"', '\'':
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) || c == ')' || c == ',' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
