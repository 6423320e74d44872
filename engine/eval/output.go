// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"fmt"
	"strings"

	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/rules"
)

// Output templates, as Falco writes them: text with %field, %field[arg] and
// %transformer(field) references; "%%" is a literal '%', and a '%' not
// followed by a field name is kept as it is. A field name is the longest run
// of letters, digits, '_' and '.', without trailing dots.

type segment struct {
	lit string
	f   *fields.Bound
	tr  fields.Transformer
	t   fields.Type
	key string // the reference as written, the key in OutputFields
}

type template struct {
	segs  []segment
	n     int          // field references
	extra []extraField // append_output's extra_fields: in OutputFields only
}

type extraField struct {
	key string
	t   *template
}

// TemplateError is a problem in an output template: Offset is the byte
// offset of the reference in the template.
type TemplateError struct {
	Offset    int
	Msg, Hint string
}

func (e *TemplateError) Error() string { return e.Msg }

func isNameByte(c byte) bool {
	return c == '_' || c == '.' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// parseTemplate parses and binds an output template of a syscall rule;
// every problem is returned.
func parseTemplate(s string) (*template, []*TemplateError) { return parseSourceTemplate(s, "syscall") }

// parseSourceTemplate parses and binds an output template of a rule of
// that source: fields of other sources are unknown there.
func parseSourceTemplate(s, source string) (*template, []*TemplateError) {
	// A folded YAML block (output: >) ends in a newline that is not part
	// of the message.
	s = strings.TrimRight(s, " \t\r\n")
	t := &template{}
	var errs []*TemplateError
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.segs = append(t.segs, segment{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i += 2
			continue
		}
		if i+1 >= len(s) || !isLetter(s[i+1]) {
			lit.WriteByte('%')
			i++
			continue
		}
		start := i
		j := i + 1
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		name := s[i+1 : j]
		trName := ""
		if j < len(s) && s[j] == '(' {
			if _, ok := fields.ParseTransformer(name); ok {
				trName = name
				k := j + 1
				for k < len(s) && isNameByte(s[k]) {
					k++
				}
				name = s[j+1 : k]
				j = k
			}
		}
		for trName == "" && strings.HasSuffix(name, ".") {
			name = name[:len(name)-1]
			j--
		}
		arg, hasArg := "", false
		if j < len(s) && s[j] == '[' {
			end := strings.IndexByte(s[j:], ']')
			if end < 0 {
				errs = append(errs, &TemplateError{Offset: start, Msg: fmt.Sprintf("unterminated '[' after %%%s", name), Hint: "close the argument with ']'"})
				i = len(s)
				continue
			}
			arg, hasArg = s[j+1:j+end], true
			j += end + 1
		}
		if trName != "" {
			if j >= len(s) || s[j] != ')' {
				errs = append(errs, &TemplateError{Offset: start, Msg: fmt.Sprintf("missing ')' after %%%s(%s", trName, name), Hint: "write %" + trName + "(field)"})
				i = j
				continue
			}
			j++
		}
		key := s[start+1 : j]
		i = j
		b, err := fields.Bind(name, arg, hasArg)
		if err != nil {
			te := &TemplateError{Offset: start, Msg: err.Error()}
			if fe, ok := err.(*fields.Error); ok {
				te.Msg, te.Hint = fe.Msg, fe.Hint
			}
			errs = append(errs, te)
			continue
		}
		if err := sourceMismatch(b, source); err != nil {
			errs = append(errs, &TemplateError{Offset: start, Msg: err.Msg, Hint: err.Hint})
			continue
		}
		if b.Multi {
			errs = append(errs, &TemplateError{Offset: start, Msg: fmt.Sprintf("field '%s' can only be used in conditions", key),
				Hint: "in outputs give it an index, e.g. %" + name + "[1]"})
			continue
		}
		seg := segment{f: b, t: b.Type(), key: key}
		if trName != "" {
			seg.tr, _ = fields.ParseTransformer(trName)
			if seg.t, err = seg.tr.ResultType(b.Type()); err != nil {
				errs = append(errs, &TemplateError{Offset: start, Msg: fmt.Sprintf("%%%s: %v", key, err)})
				continue
			}
		}
		flush()
		t.segs = append(t.segs, seg)
		t.n++
	}
	flush()
	return t, errs
}

// render fills the template for the current event: the text with <NA> for
// unavailable values, and the typed values by reference.
func (t *template) render(c *fields.Ctx) (string, map[string]any) {
	out := make([]byte, 0, 256)
	vals := make(map[string]any, t.n)
	for i := range t.segs {
		s := &t.segs[i]
		if s.f == nil {
			out = append(out, s.lit...)
			continue
		}
		c.ResetScratch()
		v, ok := s.f.Extract(c, 0)
		if ok && s.tr != fields.NoTransform {
			ok = s.tr.Apply(c, s.f.Type(), v)
		}
		if !ok {
			out = append(out, "<NA>"...)
			vals[s.key] = nil
			continue
		}
		out = fields.AppendText(out, s.t, v)
		vals[s.key] = fields.Typed(s.t, v)
	}
	for _, x := range t.extra {
		text, xv := x.t.render(c)
		if x.t.isOneField() {
			vals[x.key] = xv[x.t.segs[0].key]
		} else {
			vals[x.key] = text
		}
	}
	return string(out), vals
}

// templateErrors turns template problems into rule errors at the rule.
func templateErrors(set *rules.Set, r *rules.Rule, errs []*TemplateError) rules.ErrorList {
	var out rules.ErrorList
	for _, e := range errs {
		msg := fmt.Sprintf("output of rule '%s', at byte %d: %s", r.Name, e.Offset+1, e.Msg)
		out = append(out, set.ErrorAt(r, nil, e.Hint, msg))
	}
	return out
}
