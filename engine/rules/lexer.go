// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The condition language is context sensitive: "=" is an operator after a
// field but part of a bare word in value position, "/etc/*" is a value but
// not a field. The lexer therefore scans in a mode chosen by the parser.

type tokKind int

const (
	tokEOF    tokKind = iota
	tokLParen         // (
	tokRParen         // )
	tokComma          // ,
	tokWord           // identifier / field name / keyword (expression mode)
	tokOp             // comparison operator (operator mode)
	tokString         // quoted string
	tokBare           // bare value word (value mode)
	tokBad            // unexpected character
)

type lexMode int

const (
	modeExpr  lexMode = iota // start of a condition, after and/or/not/(
	modeOp                   // after a field
	modeValue                // after a comparison operator
	modeList                 // inside a list value
)

type token struct {
	kind tokKind
	pos  Pos
	text string // raw source text
	name string // field name without argument (tokWord only)
	val  string // decoded value for tokString / tokBare
	arg  string // field argument (tokWord only)
	hasA bool   // field has [arg]
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of condition"
	case tokString:
		return "string " + t.text
	case tokBad:
		return fmt.Sprintf("unexpected character %q", t.text)
	default:
		return "'" + t.text + "'"
	}
}

type lexer struct {
	src  string
	off  int
	line int
	col  int
	err  *SyntaxError // set by scanning errors (e.g. unterminated string)
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{Line: l.line, Col: l.col, Offset: l.off} }

func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off++
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func (l *lexer) skipSpace() {
	for l.off < len(l.src) && isSpace(l.src[l.off]) {
		l.advance(1)
	}
}

var symOps = []string{"==", "!=", "<=", ">=", "=", "<", ">"}

var wordOps = map[string]bool{
	"contains": true, "icontains": true, "bcontains": true,
	"startswith": true, "bstartswith": true, "endswith": true,
	"glob": true, "iglob": true, "pmatch": true, "in": true,
	"intersects": true, "regex": true, "exists": true,
}

// listOps take a parenthesised list as right-hand side.
var listOps = map[string]bool{"in": true, "intersects": true, "pmatch": true}

// next scans one token in the given mode.
func (l *lexer) next(mode lexMode) token {
	l.skipSpace()
	start := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tokEOF, pos: start}
	}
	c := l.src[l.off]
	switch c {
	case '(':
		l.advance(1)
		return token{kind: tokLParen, pos: start, text: "("}
	case ')':
		l.advance(1)
		return token{kind: tokRParen, pos: start, text: ")"}
	case ',':
		l.advance(1)
		return token{kind: tokComma, pos: start, text: ","}
	case '"', '\'':
		return l.scanString(start)
	}
	switch mode {
	case modeExpr:
		if isIdentChar(c) {
			return l.scanWord(start)
		}
	case modeOp:
		for _, op := range symOps {
			if strings.HasPrefix(l.src[l.off:], op) {
				l.advance(len(op))
				return token{kind: tokOp, pos: start, text: op}
			}
		}
		if isIdentChar(c) {
			return l.scanWord(start)
		}
	case modeValue, modeList:
		if mode == modeValue && strings.HasPrefix(l.src[l.off:], "val(") {
			l.advance(3)
			return token{kind: tokWord, pos: start, text: "val"}
		}
		e := l.off
		for e < len(l.src) && !isSpace(l.src[e]) && l.src[e] != ')' && l.src[e] != ',' {
			e++
		}
		text := l.src[l.off:e]
		l.advance(e - l.off)
		return token{kind: tokBare, pos: start, text: text, val: text}
	}
	_, size := utf8.DecodeRuneInString(l.src[l.off:])
	text := l.src[l.off : l.off+size]
	l.advance(size)
	return token{kind: tokBad, pos: start, text: text}
}

// scanWord scans identifiers and field names: [A-Za-z0-9_.]+ optionally
// followed by a bracketed argument "[...]".
func (l *lexer) scanWord(start Pos) token {
	e := l.off
	for e < len(l.src) && (isIdentChar(l.src[e]) || l.src[e] == '.') {
		e++
	}
	name := l.src[l.off:e]
	tok := token{kind: tokWord, pos: start, text: name, name: name}
	if e < len(l.src) && l.src[e] == '[' {
		end := strings.IndexByte(l.src[e:], ']')
		if end < 0 {
			l.advance(e - l.off)
			l.err = &SyntaxError{Pos: l.pos(), Msg: "expected ']' to close field argument, found end of condition"}
			l.advance(len(l.src) - l.off)
			return token{kind: tokBad, pos: start, text: l.src[start.Offset:]}
		}
		tok.arg = l.src[e+1 : e+end]
		tok.hasA = true
		e += end + 1
		tok.text = l.src[l.off:e]
	}
	l.advance(e - l.off)
	return tok
}

// scanString scans a single- or double-quoted string with backslash escapes.
func (l *lexer) scanString(start Pos) token {
	q := l.src[l.off]
	l.advance(1)
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			l.err = &SyntaxError{Pos: start, Msg: "unterminated string: expected closing " + string(q) + ", found end of condition"}
			return token{kind: tokBad, pos: start, text: l.src[start.Offset:]}
		}
		c := l.src[l.off]
		if c == q {
			l.advance(1)
			return token{kind: tokString, pos: start, text: l.src[start.Offset:l.off], val: b.String()}
		}
		if c != '\\' {
			b.WriteByte(c)
			l.advance(1)
			continue
		}
		if l.off+1 >= len(l.src) {
			l.advance(1)
			continue // loop reports the unterminated string
		}
		e := l.src[l.off+1]
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case '\\', '"', '\'':
			b.WriteByte(e)
		case 'x':
			if l.off+3 < len(l.src) {
				if v, err := strconv.ParseUint(l.src[l.off+2:l.off+4], 16, 8); err == nil {
					b.WriteByte(byte(v))
					l.advance(4)
					continue
				}
			}
			b.WriteString(`\x`)
		default:
			// Unknown escapes are kept verbatim (handy for regexes).
			b.WriteByte('\\')
			b.WriteByte(e)
		}
		l.advance(2)
	}
}

// unquoteItem decodes a list item that is itself a quoted condition string,
// e.g. the YAML item '"(systemd)"'. Other items are returned unchanged.
func unquoteItem(s string) (string, bool) {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') || s[len(s)-1] != s[0] {
		return s, false
	}
	l := newLexer(s)
	t := l.next(modeValue)
	if t.kind != tokString || l.off != len(s) {
		return s, false
	}
	return t.val, true
}
