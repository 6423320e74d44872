// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-dev/vigil/engine/rules"
)

// AppendOutput is one entry of Falco's append_output: text appended to the
// output line, and fields added to output_fields only, of the rules it
// matches. Empty match fields match every rule.
type AppendOutput struct {
	// Source, Rule: the rule's source and name, when not empty.
	Source, Rule string
	// Tags: the rule has every one of them.
	Tags []string
	// ExtraOutput is an output template appended, after a space, to the
	// text of the rule's output.
	ExtraOutput string
	// ExtraFields are added to output_fields, not to the text.
	ExtraFields []ExtraField
}

// ExtraField is one of append_output's extra_fields: a field by name
// (Format empty: the key is the field, its value typed as in outputs), or
// a key given the text of an output template ("%proc.name on %evt.cpu", or
// a constant).
type ExtraField struct {
	Key, Format string
}

// suggested are the fields Falco's container support suggests for syscall
// alerts, with the name they take in the text: "container_id=%container.id".
var suggested = []struct{ field, name string }{
	{"container.id", "container_id"},
	{"container.name", "container_name"},
}

func (a *AppendOutput) matches(r *Rule) bool {
	return (a.Source == "" || a.Source == r.Source) && (a.Rule == "" || a.Rule == r.Name) &&
		!slices.ContainsFunc(a.Tags, func(t string) bool { return !slices.Contains(r.Tags, t) })
}

// CheckAppend parses every template of the entries as a syscall output (or
// one of the entry's source), so that a mistake is an error at load even
// when no rule matches the entry.
func CheckAppend(entries []AppendOutput) error {
	for i := range entries {
		a := &entries[i]
		source := a.Source
		if source == "" {
			source = "syscall"
		}
		if err := a.compile(source, &template{}); err != nil {
			return fmt.Errorf("append_output entry %d: %w", i+1, err)
		}
	}
	return nil
}

// compile adds the entry's text and fields, bound for source, to t.
func (a *AppendOutput) compile(source string, t *template) error {
	if a.ExtraOutput != "" {
		x, errs := parseSourceTemplate(a.ExtraOutput, source)
		if len(errs) > 0 {
			return templateError("extra_output", a.ExtraOutput, errs[0])
		}
		t.segs = append(append(t.segs, segment{lit: " "}), x.segs...)
		t.n += x.n
	}
	for _, f := range a.ExtraFields {
		format, key := f.Format, f.Key
		if format == "" {
			format = "%" + key
		}
		x, errs := parseSourceTemplate(format, source)
		if len(errs) > 0 {
			return templateError("extra_fields "+key, format, errs[0])
		}
		t.extra = append(t.extra, extraField{key: key, t: x})
	}
	return nil
}

func templateError(what, format string, e *TemplateError) error {
	msg := fmt.Sprintf("%s %q, at byte %d: %s", what, format, e.Offset+1, e.Msg)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return fmt.Errorf("%s", msg)
}

// appendOutputs adds to the rule's template what the entries matching it
// append, then the suggested container fields its output does not name.
func appendOutputs(set *rules.Set, cr *Rule, t *template, opts *Options) rules.ErrorList {
	var errs rules.ErrorList
	for i := range opts.Append {
		a := &opts.Append[i]
		if !a.matches(cr) {
			continue
		}
		if err := a.compile(cr.Source, t); err != nil {
			errs = append(errs, set.ErrorAt(cr.src, nil, "fix the entry, or narrow its match",
				fmt.Sprintf("rule '%s': append_output entry %d: %v", cr.Name, i+1, err)))
		}
	}
	if !opts.SuggestedOutput || cr.Source != "syscall" {
		return errs
	}
	for _, s := range suggested {
		if t.names(s.field) {
			continue
		}
		x, terrs := parseSourceTemplate(" "+s.name+"=%"+s.field, cr.Source)
		if len(terrs) > 0 {
			panic("suggested field " + s.field + ": " + terrs[0].Msg) // a bug: the fields are vigil's own
		}
		t.segs = append(t.segs, x.segs...)
		t.n += x.n
	}
	return errs
}

// names reports whether the text of the template refers to field (with
// no argument or transformer: those are other values).
func (t *template) names(field string) bool {
	return slices.ContainsFunc(t.segs, func(s segment) bool { return s.f != nil && s.key == field })
}

// isOneField reports whether the template is a lone field reference, whose
// value keeps its type in output_fields.
func (t *template) isOneField() bool {
	return len(t.segs) == 1 && t.segs[0].f != nil && !strings.ContainsAny(t.segs[0].key, "[(")
}
