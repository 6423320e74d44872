// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"fmt"
)

// SyntaxError is a condition syntax error. Pos is relative to the condition
// string.
type SyntaxError struct {
	Pos
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// Transformers lists the field transformers accepted as "name(field)".
var Transformers = map[string]bool{
	"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true,
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 1000

type parser struct {
	lx    *lexer
	depth int
}

type bailout struct{ err *SyntaxError }

// ParseCondition parses a Falco condition. Bare identifiers in condition
// position become *MacroRef and bare identifiers in lists become *ListRef;
// nothing is resolved. Errors are *SyntaxError.
func ParseCondition(src string) (n Node, err error) {
	p := &parser{lx: newLexer(src)}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			n, err = nil, b.err
		}
	}()
	n = p.parseOr()
	if t := p.next(modeExpr); t.kind != tokEOF {
		if t.kind == tokRParen {
			p.fail(t.pos, "unbalanced ')': no matching '('")
		}
		p.fail(t.pos, "expected 'and', 'or' or end of condition, found %s", t.describe())
	}
	return n, nil
}

// ParseField parses a single field reference such as "proc.aname[2]" or
// "tolower(proc.name)". Errors are *SyntaxError.
func ParseField(src string) (f *Field, err error) {
	p := &parser{lx: newLexer(src)}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			f, err = nil, b.err
		}
	}()
	t := p.next(modeExpr)
	if t.kind != tokWord {
		p.fail(t.pos, "expected field name, found %s", t.describe())
	}
	f = p.parseFieldFrom(t)
	if t := p.next(modeExpr); t.kind != tokEOF {
		p.fail(t.pos, "expected end of field, found %s", t.describe())
	}
	return f, nil
}

func (p *parser) fail(pos Pos, format string, args ...any) {
	panic(bailout{&SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}})
}

func (p *parser) next(mode lexMode) token {
	t := p.lx.next(mode)
	if p.lx.err != nil {
		panic(bailout{p.lx.err})
	}
	if t.kind == tokBad {
		p.fail(t.pos, "%s", t.describe())
	}
	return t
}

func (p *parser) peek(mode lexMode) token {
	saved := *p.lx
	t := p.lx.next(mode)
	*p.lx = saved
	return t
}

func (p *parser) enter(pos Pos) {
	p.depth++
	if p.depth > maxDepth {
		p.fail(pos, "condition nested too deeply (more than %d levels)", maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) isKeyword(mode lexMode, kw string) bool {
	t := p.peek(mode)
	return t.kind == tokWord && t.text == kw
}

func (p *parser) parseOr() Node {
	x := p.parseAnd()
	for p.isKeyword(modeExpr, OpOr) {
		t := p.next(modeExpr)
		y := p.parseAnd()
		x = &BinaryExpr{Pos: t.pos, Op: OpOr, Left: x, Right: y}
	}
	return x
}

func (p *parser) parseAnd() Node {
	x := p.parseNot()
	for p.isKeyword(modeExpr, OpAnd) {
		t := p.next(modeExpr)
		y := p.parseNot()
		x = &BinaryExpr{Pos: t.pos, Op: OpAnd, Left: x, Right: y}
	}
	return x
}

func (p *parser) parseNot() Node {
	if p.isKeyword(modeExpr, "not") {
		t := p.next(modeExpr)
		p.enter(t.pos)
		x := p.parseNot()
		p.leave()
		return &NotExpr{Pos: t.pos, X: x}
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() Node {
	t := p.next(modeExpr)
	switch t.kind {
	case tokLParen:
		p.enter(t.pos)
		x := p.parseOr()
		p.leave()
		if c := p.next(modeExpr); c.kind != tokRParen {
			p.fail(c.pos, "expected ')' to close '(' at %s, found %s", t.pos, c.describe())
		}
		return x
	case tokWord:
		switch t.text {
		case OpAnd, OpOr:
			p.fail(t.pos, "expected a condition, found '%s'", t.text)
		}
		if Transformers[t.text] && !t.hasA {
			if n := p.peek(modeExpr); n.kind == tokLParen {
				return p.parseCheck(p.parseFieldFrom(t))
			}
		}
		if isFieldName(t.name) || t.hasA {
			return p.parseCheck(p.parseFieldFrom(t))
		}
		if n := p.peek(modeExpr); n.kind == tokLParen {
			p.fail(t.pos, "unknown transformer '%s' (expected one of tolower, toupper, b64, basename, len)", t.text)
		}
		if !isIdentStart(t.text[0]) {
			p.fail(t.pos, "expected a field, macro name, 'not' or '(', found %s", t.describe())
		}
		if n := p.peek(modeOp); n.kind == tokOp || (n.kind == tokWord && wordOps[n.text]) {
			p.fail(t.pos, "expected a field name (like proc.name) before '%s', found '%s' (a bare identifier is a macro reference)", n.text, t.text)
		}
		return &MacroRef{Pos: t.pos, Name: t.text}
	}
	p.fail(t.pos, "expected a field, macro name, 'not' or '(', found %s", t.describe())
	return nil
}

// isFieldName reports whether s looks like "class.name[.more]".
func isFieldName(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			if i == 0 || i == len(s)-1 || s[i-1] == '.' {
				return false
			}
			dot = true
		}
	}
	return dot && isIdentStart(s[0])
}

// parseFieldFrom parses a field whose first word token t was consumed.
func (p *parser) parseFieldFrom(t token) *Field {
	if Transformers[t.text] && !t.hasA {
		if n := p.peek(modeExpr); n.kind == tokLParen {
			p.next(modeExpr)
			in := p.next(modeExpr)
			if in.kind != tokWord || !isFieldName(in.name) {
				if in.kind == tokWord && Transformers[in.text] {
					p.fail(in.pos, "nested transformers are not supported")
				}
				p.fail(in.pos, "expected field name inside %s(), found %s", t.text, in.describe())
			}
			f := &Field{Pos: t.pos, Name: in.name, Arg: in.arg, HasArg: in.hasA, Transformer: t.text}
			if c := p.next(modeExpr); c.kind != tokRParen {
				p.fail(c.pos, "expected ')' to close %s(, found %s", t.text, c.describe())
			}
			return f
		}
	}
	if !isFieldName(t.name) {
		p.fail(t.pos, "expected field name (like proc.name), found %s", t.describe())
	}
	if t.hasA && t.arg == "" {
		p.fail(t.pos, "empty field argument in %s", t.describe())
	}
	return &Field{Pos: t.pos, Name: t.name, Arg: t.arg, HasArg: t.hasA}
}

func (p *parser) parseCheck(f *Field) Node {
	t := p.next(modeOp)
	op := t.text
	if t.kind == tokWord {
		if !wordOps[op] {
			p.fail(t.pos, "expected comparison operator after %s, found %s", f, t.describe())
		}
	} else if t.kind != tokOp {
		p.fail(t.pos, "expected comparison operator after %s, found %s", f, t.describe())
	}
	c := &CompareExpr{Pos: f.Pos, Field: f, Op: op}
	switch {
	case op == "exists":
	case listOps[op]:
		c.Value = p.parseList(op)
	default:
		c.Value = p.parseValue(op)
	}
	return c
}

func (p *parser) parseValue(op string) Node {
	t := p.next(modeValue)
	switch t.kind {
	case tokString:
		return &Literal{Pos: t.pos, Value: t.val, Quoted: true}
	case tokBare:
		return &Literal{Pos: t.pos, Value: t.val}
	case tokWord: // val(
		p.next(modeExpr) // '('
		in := p.next(modeExpr)
		if in.kind != tokWord {
			p.fail(in.pos, "expected field name inside val(), found %s", in.describe())
		}
		f := p.parseFieldFrom(in)
		if c := p.next(modeExpr); c.kind != tokRParen {
			p.fail(c.pos, "expected ')' to close val(, found %s", c.describe())
		}
		return &FieldValue{Pos: t.pos, Field: f}
	}
	p.fail(t.pos, "expected a value after '%s', found %s", op, t.describe())
	return nil
}

func (p *parser) parseList(op string) Node {
	t := p.next(modeValue)
	if t.kind != tokLParen {
		p.fail(t.pos, "expected '(' to start the list after '%s', found %s", op, t.describe())
	}
	lv := &ListValue{Pos: t.pos}
	if n := p.peek(modeList); n.kind == tokRParen {
		p.next(modeList)
		return lv
	}
	for {
		it := p.next(modeList)
		switch {
		case it.kind == tokString:
			lv.Items = append(lv.Items, &Literal{Pos: it.pos, Value: it.val, Quoted: true})
		case it.kind == tokBare && isListName(it.val):
			lv.Items = append(lv.Items, &ListRef{Pos: it.pos, Name: it.val})
		case it.kind == tokBare:
			lv.Items = append(lv.Items, &Literal{Pos: it.pos, Value: it.val})
		default:
			p.fail(it.pos, "expected list item, found %s", it.describe())
		}
		sep := p.next(modeList)
		if sep.kind == tokRParen {
			return lv
		}
		if sep.kind != tokComma {
			p.fail(sep.pos, "expected ',' or ')' in list, found %s", sep.describe())
		}
	}
}

// isListName reports whether a bare list item could name a list.
func isListName(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}
