// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// PluginRequirement is one entry of required_plugin_versions.
type PluginRequirement struct {
	Name         string              `yaml:"name"`
	Version      string              `yaml:"version"`
	Alternatives []PluginRequirement `yaml:"alternatives"`
}

// List is a named list of values.
type List struct {
	Name  string
	Items []string // raw items, as written (after appends)
	File  string
	Line  int

	itemLoc []loc
	loc     loc
}

// Macro is a named condition fragment.
type Macro struct {
	Name      string
	Condition string // text after appends
	Cond      Node   // parsed, unresolved; nil if the condition is invalid
	File      string
	Line      int

	cond condSrc
	loc  loc
}

// ExceptionValue is one value of an exception tuple: a scalar or, for the
// list operators, a list of values.
type ExceptionValue struct {
	Value  string
	List   []string
	IsList bool
}

// Exception is a rule exception. If SingleField is set, Fields and Comps
// have one element and every row of Values has one value.
type Exception struct {
	Name        string
	Fields      []string
	Comps       []string
	Values      [][]ExceptionValue
	SingleField bool

	loc loc
}

// Rule is a loaded rule. Cond is the fully resolved condition: macros and
// lists expanded and exceptions added as "and not (...)" clauses. Positions
// inside Cond are relative to the condition text each node came from.
type Rule struct {
	Name                string
	Desc                string
	Condition           string // condition text after appends, unresolved
	Output              string
	Priority            Priority
	Source              string
	Tags                []string
	Enabled             bool
	Exceptions          []*Exception
	WarnEvttypes        bool
	SkipIfUnknownFilter bool
	Cond                Node
	File                string
	Line                int

	cond condSrc
	loc  loc
}

// Set is a set of rules, macros and lists loaded from one or more files.
type Set struct {
	// EngineVersions holds every required_engine_version seen.
	EngineVersions []string
	// PluginVersions holds every required_plugin_versions entry seen.
	PluginVersions []PluginRequirement

	lists  map[string]*List
	macros map[string]*Macro
	rules  map[string]*Rule
	lorder []*List
	morder []*Macro
	rorder []*Rule

	// where locates the nodes of resolved conditions (see Locate).
	where map[Node]loc
	// warnings are the problems of disabled rules (see Warnings).
	warnings ErrorList
}

// Warnings returns the problems found in the conditions of disabled rules
// by the last resolution: as Falco, a rule with enabled: false that does
// not resolve is a warning, not an error (it does not run; a later file
// that enables it makes its problems errors again).
func (s *Set) Warnings() ErrorList { return append(ErrorList(nil), s.warnings...) }

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{lists: map[string]*List{}, macros: map[string]*Macro{}, rules: map[string]*Rule{}}
}

// Rules returns the rules in definition order.
func (s *Set) Rules() []*Rule { return append([]*Rule(nil), s.rorder...) }

// Rule returns the rule with the given name, or nil.
func (s *Set) Rule(name string) *Rule { return s.rules[name] }

// Macros returns the macros in definition order.
func (s *Set) Macros() []*Macro { return append([]*Macro(nil), s.morder...) }

// Macro returns the macro with the given name, or nil.
func (s *Set) Macro(name string) *Macro { return s.macros[name] }

// Lists returns the lists in definition order.
func (s *Set) Lists() []*List { return append([]*List(nil), s.lorder...) }

// List returns the list with the given name, or nil.
func (s *Set) List(name string) *List { return s.lists[name] }

// LoadFiles reads, merges (in order) and resolves the given rules files.
// The returned error, if any, is an ErrorList holding every problem found;
// the Set is returned even then, holding whatever could be loaded.
func LoadFiles(paths ...string) (*Set, error) {
	s := NewSet()
	var errs ErrorList
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Line: 1, Col: 1, Msg: "cannot read rules file: " + err.Error()})
			continue
		}
		errs = append(errs, s.add(p, data)...)
	}
	errs = append(errs, s.resolve()...)
	return s, errs.err()
}

// Load loads and resolves a single rules file held in memory; name is used
// in error messages.
func Load(name string, data []byte) (*Set, error) {
	s := NewSet()
	errs := s.add(name, data)
	errs = append(errs, s.resolve()...)
	return s, errs.err()
}

// AddFile merges one more rules file into s without resolving. Call
// Resolve once all files are added.
func (s *Set) AddFile(name string, data []byte) error { return s.add(name, data).err() }

// Resolve (re)expands macros, lists and exceptions into every rule's Cond.
func (s *Set) Resolve() error { return s.resolve().err() }

// loc is a position in a file.
type loc struct {
	file      string
	line, col int
}

type loader struct {
	s     *Set
	file  string
	lines []string
	errs  ErrorList
}

func (ld *loader) errAt(l loc, hint, format string, args ...any) {
	ld.errs = append(ld.errs, &Error{File: l.file, Line: l.line, Col: l.col, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (ld *loader) locOf(n *yaml.Node) loc { return loc{ld.file, n.Line, n.Column} }

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

func (s *Set) add(name string, data []byte) (errs ErrorList) {
	ld := &loader{s: s, file: name, lines: strings.Split(string(data), "\n")}
	defer func() {
		if r := recover(); r != nil {
			errs = append(ld.errs, &Error{File: name, Line: 1, Col: 1, Msg: fmt.Sprintf("internal error while loading: %v", r)})
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			ld.yamlError(err)
			break
		}
		ld.document(&doc)
	}
	return ld.errs
}

func (ld *loader) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimSpace(strings.Replace(msg, m[0]+":", "", 1))
	}
	col := 1
	if line >= 1 && line <= len(ld.lines) {
		col = len(ld.lines[line-1]) - len(strings.TrimLeft(ld.lines[line-1], " \t")) + 1
	}
	ld.errAt(loc{ld.file, line, col}, "the file is not valid YAML", "YAML syntax error: %s", msg)
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func (ld *loader) document(doc *yaml.Node) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	root := deref(doc.Content[0])
	if root == nil || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
		return
	}
	if root.Kind != yaml.SequenceNode {
		ld.errAt(ld.locOf(root), "start each item with '- rule:', '- macro:' or '- list:'", "a rules file must be a YAML sequence of items")
		return
	}
	for _, it := range root.Content {
		ld.item(deref(it))
	}
}

// kv is one key/value pair of a mapping.
type kv struct{ k, v *yaml.Node }

type mapping struct {
	keys []string
	m    map[string]kv
}

func (m mapping) has(k string) bool { _, ok := m.m[k]; return ok }

func (ld *loader) mapping(n *yaml.Node, what string) (mapping, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil {
			ld.errAt(ld.locOf(n), "", "%s must be a mapping", what)
		}
		return mapping{}, false
	}
	mp := mapping{m: map[string]kv{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			ld.errAt(ld.locOf(n.Content[i]), "", "%s keys must be plain strings", what)
			continue
		}
		if _, dup := mp.m[k.Value]; dup {
			ld.errAt(ld.locOf(k), "remove one of the two", "duplicate key '%s' in %s", k.Value, what)
			continue
		}
		mp.keys = append(mp.keys, k.Value)
		mp.m[k.Value] = kv{k, v}
	}
	return mp, true
}

func (ld *loader) str(p kv, what string) (string, bool) {
	if p.v == nil {
		return "", false
	}
	if p.v.Kind != yaml.ScalarNode {
		ld.errAt(ld.locOf(p.v), "", "'%s' must be a string", what)
		return "", false
	}
	if p.v.Tag == "!!null" {
		return "", true
	}
	return p.v.Value, true
}

func (ld *loader) boolean(p kv, what string) (bool, bool) {
	if p.v == nil {
		return false, false
	}
	var b bool
	if p.v.Kind != yaml.ScalarNode || p.v.Decode(&b) != nil {
		ld.errAt(ld.locOf(p.v), "use true or false", "'%s' must be a boolean, found %q", what, p.v.Value)
		return false, false
	}
	return b, true
}

func (ld *loader) strList(p kv, what string) ([]string, []loc, bool) {
	if p.v == nil {
		return nil, nil, false
	}
	if p.v.Kind == yaml.ScalarNode && p.v.Tag == "!!null" {
		return nil, nil, true
	}
	if p.v.Kind != yaml.SequenceNode {
		ld.errAt(ld.locOf(p.v), "write it as [a, b] or as a block sequence", "'%s' must be a sequence", what)
		return nil, nil, false
	}
	var out []string
	var locs []loc
	ok := true
	for _, it := range p.v.Content {
		it = deref(it)
		if it == nil || it.Kind != yaml.ScalarNode {
			if it != nil {
				ld.errAt(ld.locOf(it), "", "items of '%s' must be strings", what)
			}
			ok = false
			continue
		}
		out = append(out, it.Value)
		locs = append(locs, ld.locOf(it))
	}
	return out, locs, ok
}

var itemKinds = []string{"rule", "macro", "list", "required_engine_version", "required_plugin_versions"}

var allowedKeys = map[string][]string{
	"required_engine_version":  {"required_engine_version"},
	"required_plugin_versions": {"required_plugin_versions"},
	"list":                     {"list", "items", "append", "override"},
	"macro":                    {"macro", "condition", "append", "override"},
	"rule": {"rule", "desc", "condition", "output", "priority", "source", "tags", "enabled",
		"exceptions", "append", "override", "warn_evttypes", "skip-if-unknown-filter"},
}

// Keys that may appear in override:, and with which modes.
var overrideModes = map[string]map[string][]string{
	"list":  {"append": {"items"}, "replace": {"items"}},
	"macro": {"append": {"condition"}, "replace": {"condition"}},
	"rule": {
		"append":  {"condition", "output", "desc", "tags", "exceptions"},
		"replace": {"condition", "output", "desc", "priority", "tags", "exceptions", "enabled", "warn_evttypes", "skip-if-unknown-filter", "source"},
	},
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (ld *loader) item(n *yaml.Node) {
	if n == nil {
		return
	}
	mp, ok := ld.mapping(n, "rules file item")
	if !ok {
		return
	}
	kind := ""
	for _, k := range mp.keys {
		if contains(itemKinds, k) {
			kind = k
			break
		}
	}
	if kind == "" {
		l := ld.locOf(n)
		if len(mp.keys) > 0 {
			l = ld.locOf(mp.m[mp.keys[0]].k)
		}
		ld.errAt(l, "each item must have one of the keys "+strings.Join(itemKinds, ", "), "unknown item with keys [%s]", strings.Join(mp.keys, ", "))
		return
	}
	name := ""
	if kind == "rule" || kind == "macro" || kind == "list" {
		name, _ = ld.str(mp.m[kind], kind+" name")
	}
	bad := false
	for _, k := range mp.keys {
		if !contains(allowedKeys[kind], k) {
			what := kind
			if name != "" {
				what += " '" + name + "'"
			}
			ld.errAt(ld.locOf(mp.m[k].k), "allowed keys are: "+strings.Join(allowedKeys[kind], ", "), "unknown key '%s' in %s", k, what)
			bad = true
		}
	}
	if bad {
		return
	}
	switch kind {
	case "required_engine_version":
		if v, ok := ld.str(mp.m[kind], kind); ok {
			ld.s.EngineVersions = append(ld.s.EngineVersions, v)
		}
	case "required_plugin_versions":
		var reqs []PluginRequirement
		if err := mp.m[kind].v.Decode(&reqs); err != nil {
			ld.errAt(ld.locOf(mp.m[kind].v), "expected a sequence of {name, version, alternatives}", "invalid required_plugin_versions: %v", strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		ld.s.PluginVersions = append(ld.s.PluginVersions, reqs...)
	case "list", "macro", "rule":
		if strings.TrimSpace(name) == "" {
			ld.errAt(ld.locOf(mp.m[kind].k), "", "%s name must not be empty", kind)
			return
		}
		mode, ok := ld.mergeMode(kind, name, mp)
		if !ok {
			return
		}
		switch kind {
		case "list":
			ld.list(name, mp, mode)
		case "macro":
			ld.macro(name, mp, mode)
		case "rule":
			ld.rule(name, mp, mode)
		}
	}
}

// mergeMode describes how an item combines with an earlier definition.
type mergeMode struct {
	define    bool              // plain (re)definition
	appendAll bool              // append: true
	override  map[string]string // key -> append|replace
}

func (ld *loader) mergeMode(kind, name string, mp mapping) (mergeMode, bool) {
	var mm mergeMode
	app := false
	if p, ok := mp.m["append"]; ok {
		app, ok = ld.boolean(p, "append")
		if !ok {
			return mm, false
		}
	}
	exists := false
	switch kind {
	case "list":
		exists = ld.s.lists[name] != nil
	case "macro":
		exists = ld.s.macros[name] != nil
	case "rule":
		exists = ld.s.rules[name] != nil
	}
	keyLoc := ld.locOf(mp.m[kind].k)
	if ov, ok := mp.m["override"]; ok {
		if app {
			ld.errAt(ld.locOf(ov.k), "use either append: true or override:", "'append' and 'override' cannot be used together in %s '%s'", kind, name)
			return mm, false
		}
		om, ok := ld.mapping(ov.v, "override")
		if !ok {
			return mm, false
		}
		mm.override = map[string]string{}
		okAll := true
		for _, k := range om.keys {
			p := om.m[k]
			mode := p.v.Value
			if p.v.Kind != yaml.ScalarNode || (mode != "append" && mode != "replace") {
				ld.errAt(ld.locOf(p.v), "use append or replace", "invalid override mode %q for key '%s'", p.v.Value, k)
				okAll = false
				continue
			}
			if !contains(overrideModes[kind][mode], k) {
				ld.errAt(ld.locOf(p.k), "keys that support "+mode+": "+strings.Join(overrideModes[kind][mode], ", "), "key '%s' of %s '%s' cannot be overridden with %s", k, kind, name, mode)
				okAll = false
				continue
			}
			if !mp.has(k) {
				ld.errAt(ld.locOf(p.k), "give the new value of '"+k+"' in the same item", "override of '%s' in %s '%s' has no value", k, kind, name)
				okAll = false
				continue
			}
			mm.override[k] = mode
		}
		for _, k := range mp.keys {
			if k != kind && k != "override" && mm.override[k] == "" && okAll {
				ld.errAt(ld.locOf(mp.m[k].k), "list '"+k+"' under override: with append or replace", "key '%s' of %s '%s' is not listed in override", k, kind, name)
				okAll = false
			}
		}
		if !okAll {
			return mm, false
		}
		if !exists {
			ld.errAt(keyLoc, "define the "+kind+" before overriding it (load order matters)", "override of undefined %s '%s'", kind, name)
			return mm, false
		}
		return mm, true
	}
	if app {
		if !exists {
			ld.errAt(keyLoc, "define the "+kind+" before appending to it (load order matters), or remove append: true", "append to undefined %s '%s'", kind, name)
			return mm, false
		}
		mm.appendAll = true
		return mm, true
	}
	mm.define = true
	return mm, true
}

func (ld *loader) list(name string, mp mapping, mm mergeMode) {
	items, locs, ok := ld.strList(mp.m["items"], "items")
	if !mp.has("items") {
		if mm.define {
			ld.errAt(ld.locOf(mp.m["list"].k), "add items: [...]", "list '%s' is missing required key 'items'", name)
		}
		return
	}
	if !ok {
		return
	}
	old := ld.s.lists[name]
	if mm.appendAll || mm.override["items"] == "append" {
		old.Items = append(old.Items, items...)
		old.itemLoc = append(old.itemLoc, locs...)
		return
	}
	l := &List{Name: name, Items: items, itemLoc: locs, loc: ld.locOf(mp.m["list"].k)}
	l.File, l.Line = l.loc.file, l.loc.line
	if old != nil {
		*old = *l
		return
	}
	ld.s.lists[name] = l
	ld.s.lorder = append(ld.s.lorder, l)
}

func (ld *loader) macro(name string, mp mapping, mm mergeMode) {
	p, has := mp.m["condition"]
	if !has {
		if mm.define {
			ld.errAt(ld.locOf(mp.m["macro"].k), "add condition: ...", "macro '%s' is missing required key 'condition'", name)
		}
		return
	}
	text, ok := ld.str(p, "condition")
	if !ok {
		return
	}
	old := ld.s.macros[name]
	if mm.appendAll || mm.override["condition"] == "append" {
		old.cond.add(ld.file, p.v, ld.lines, text)
		old.Condition = old.cond.text
		return
	}
	m := &Macro{Name: name, loc: ld.locOf(mp.m["macro"].k)}
	m.File, m.Line = m.loc.file, m.loc.line
	m.cond.add(ld.file, p.v, ld.lines, text)
	m.Condition = m.cond.text
	if old != nil {
		*old = *m
		return
	}
	ld.s.macros[name] = m
	ld.s.morder = append(ld.s.morder, m)
}

func (ld *loader) rule(name string, mp mapping, mm mergeMode) {
	old := ld.s.rules[name]
	// "- rule: X\n  enabled: false" toggles an existing rule.
	if mm.define && old != nil && len(mp.keys) == 2 && mp.has("enabled") {
		if b, ok := ld.boolean(mp.m["enabled"], "enabled"); ok {
			old.Enabled = b
		}
		return
	}
	if mm.define && old == nil && len(mp.keys) == 2 && mp.has("enabled") {
		ld.errAt(ld.locOf(mp.m["rule"].k), "an item with only 'enabled' changes a rule defined earlier; check the name and load order", "enabled given for undefined rule '%s'", name)
		return
	}
	if mm.define {
		r := &Rule{Name: name, Source: "syscall", Enabled: true, WarnEvttypes: true, loc: ld.locOf(mp.m["rule"].k)}
		r.File, r.Line = r.loc.file, r.loc.line
		var missing []string
		for _, k := range []string{"condition", "output", "priority", "desc"} {
			if !mp.has(k) {
				missing = append(missing, k)
			}
		}
		for _, k := range missing {
			ld.errAt(r.loc, "a rule needs condition, output, priority and desc", "rule '%s' is missing required key '%s'", name, k)
		}
		if len(missing) > 0 {
			return
		}
		if !ld.ruleFields(r, mp, func(string) string { return "replace" }) {
			return
		}
		if old != nil {
			*old = *r
			return
		}
		ld.s.rules[name] = r
		ld.s.rorder = append(ld.s.rorder, r)
		return
	}
	if mm.appendAll {
		for _, k := range mp.keys {
			switch k {
			case "rule", "append", "condition", "exceptions", "enabled":
			default:
				ld.errAt(ld.locOf(mp.m[k].k), "with append: true only condition and exceptions can be extended; use override: for other keys", "key '%s' cannot be appended to rule '%s'", k, name)
				return
			}
		}
		ld.ruleFields(old, mp, func(k string) string {
			if k == "enabled" {
				return "replace"
			}
			return "append"
		})
		return
	}
	ld.ruleFields(old, mp, func(k string) string { return mm.override[k] })
}

// ruleFields applies the keys of mp to r; mode(key) says whether a key
// replaces or appends. It reports false if a value was invalid.
func (ld *loader) ruleFields(r *Rule, mp mapping, mode func(string) string) bool {
	ok := true
	for _, k := range mp.keys {
		p := mp.m[k]
		md := mode(k)
		switch k {
		case "condition", "output", "desc":
			v, good := ld.str(p, k)
			if !good {
				ok = false
				continue
			}
			switch k {
			case "condition":
				if md == "replace" {
					r.cond = condSrc{}
				}
				r.cond.add(ld.file, p.v, ld.lines, v)
				r.Condition = r.cond.text
			case "output":
				r.Output = joinText(r.Output, v, md)
			case "desc":
				r.Desc = joinText(r.Desc, v, md)
			}
		case "priority":
			v, good := ld.str(p, k)
			if !good {
				ok = false
				continue
			}
			pr, good := ParsePriority(v)
			if !good {
				ld.errAt(ld.locOf(p.v), "use one of emergency, alert, critical, error, warning, notice, informational, debug", "invalid priority %q", v)
				ok = false
				continue
			}
			r.Priority = pr
		case "source":
			v, good := ld.str(p, k)
			if !good {
				ok = false
				continue
			}
			if v == "" {
				v = "syscall"
			}
			r.Source = v
		case "tags":
			tags, _, good := ld.strList(p, k)
			if !good {
				ok = false
				continue
			}
			if md == "append" {
				for _, t := range tags {
					if !contains(r.Tags, t) {
						r.Tags = append(r.Tags, t)
					}
				}
			} else {
				r.Tags = tags
			}
		case "enabled", "warn_evttypes", "skip-if-unknown-filter":
			b, good := ld.boolean(p, k)
			if !good {
				ok = false
				continue
			}
			switch k {
			case "enabled":
				r.Enabled = b
			case "warn_evttypes":
				r.WarnEvttypes = b
			default:
				r.SkipIfUnknownFilter = b
			}
		case "exceptions":
			excs, good := ld.exceptions(p, r, md == "append")
			if !good {
				ok = false
				continue
			}
			if md == "append" {
				for _, e := range excs {
					if prev := findException(r.Exceptions, e.Name); prev != nil {
						prev.Values = append(prev.Values, e.Values...)
					} else {
						r.Exceptions = append(r.Exceptions, e)
					}
				}
			} else {
				r.Exceptions = excs
			}
		}
	}
	return ok
}

func joinText(old, add, mode string) string {
	if mode == "append" && old != "" {
		return old + " " + add
	}
	return add
}

func findException(list []*Exception, name string) *Exception {
	for _, e := range list {
		if e.Name == name {
			return e
		}
	}
	return nil
}

var exceptionKeys = []string{"name", "fields", "comps", "values"}

// exceptions parses the exceptions: key. When appending, an exception that
// names one already on r may give only values.
func (ld *loader) exceptions(p kv, r *Rule, appending bool) ([]*Exception, bool) {
	if p.v.Kind == yaml.ScalarNode && p.v.Tag == "!!null" {
		return nil, true
	}
	if p.v.Kind != yaml.SequenceNode {
		ld.errAt(ld.locOf(p.v), "", "'exceptions' must be a sequence of {name, fields, comps, values}")
		return nil, false
	}
	var out []*Exception
	ok := true
	seen := map[string]bool{}
	for _, en := range p.v.Content {
		en = deref(en)
		mp, good := ld.mapping(en, "exception")
		if !good {
			ok = false
			continue
		}
		for _, k := range mp.keys {
			if !contains(exceptionKeys, k) {
				ld.errAt(ld.locOf(mp.m[k].k), "allowed keys are: name, fields, comps, values", "unknown key '%s' in exception", k)
				ok = false
			}
		}
		e := &Exception{loc: ld.locOf(en)}
		if !mp.has("name") {
			ld.errAt(e.loc, "", "exception is missing required key 'name'")
			ok = false
			continue
		}
		e.Name, _ = ld.str(mp.m["name"], "name")
		if seen[e.Name] {
			ld.errAt(ld.locOf(mp.m["name"].v), "", "duplicate exception '%s' in rule '%s'", e.Name, r.Name)
			ok = false
			continue
		}
		seen[e.Name] = true
		base := (*Exception)(nil)
		if appending {
			base = findException(r.Exceptions, e.Name)
		}
		if fp, has := mp.m["fields"]; has {
			if fp.v.Kind == yaml.ScalarNode {
				e.Fields, e.SingleField = []string{fp.v.Value}, true
			} else if fs, _, good := ld.strList(fp, "fields"); good && len(fs) > 0 {
				e.Fields = fs
			} else {
				if good {
					ld.errAt(ld.locOf(fp.v), "", "exception '%s': 'fields' must not be empty", e.Name)
				}
				ok = false
				continue
			}
		} else if base != nil {
			e.Fields, e.SingleField, e.Comps = base.Fields, base.SingleField, base.Comps
		} else {
			ld.errAt(e.loc, "list the fields the values are compared with", "exception '%s' is missing required key 'fields'", e.Name)
			ok = false
			continue
		}
		for _, f := range e.Fields {
			if _, err := ParseField(f); err != nil {
				ld.errAt(ld.locOf(mp.m["fields"].v), "", "exception '%s': invalid field %q: %s", e.Name, f, err.(*SyntaxError).Msg)
				ok = false
			}
		}
		if cp, has := mp.m["comps"]; has {
			if cp.v.Kind == yaml.ScalarNode {
				e.Comps = []string{cp.v.Value}
			} else if cs, _, good := ld.strList(cp, "comps"); good {
				e.Comps = cs
			} else {
				ok = false
				continue
			}
		} else if e.Comps == nil {
			def := "="
			if e.SingleField {
				def = "in"
			}
			for range e.Fields {
				e.Comps = append(e.Comps, def)
			}
		}
		if len(e.Comps) != len(e.Fields) || (e.SingleField && mp.has("comps") && mp.m["comps"].v.Kind != yaml.ScalarNode) {
			ld.errAt(ld.locOf(en), "give one comparison operator per field", "exception '%s' has %d fields but %d comps", e.Name, len(e.Fields), len(e.Comps))
			ok = false
			continue
		}
		for _, c := range e.Comps {
			if !isCompOp(c) {
				ld.errAt(ld.locOf(mp.m["comps"].v), "use =, !=, <, <=, >, >=, contains, icontains, startswith, endswith, glob, in, pmatch, intersects, ...", "exception '%s': unknown comparison operator %q", e.Name, c)
				ok = false
			}
		}
		if vp, has := mp.m["values"]; has && !(vp.v.Kind == yaml.ScalarNode && vp.v.Tag == "!!null") {
			if vp.v.Kind != yaml.SequenceNode {
				ld.errAt(ld.locOf(vp.v), "", "exception '%s': 'values' must be a sequence", e.Name)
				ok = false
				continue
			}
			for _, row := range vp.v.Content {
				row = deref(row)
				if e.SingleField {
					ev, good := ld.excValue(row, e)
					if !good {
						ok = false
						continue
					}
					e.Values = append(e.Values, []ExceptionValue{ev})
					continue
				}
				if row.Kind != yaml.SequenceNode || len(row.Content) != len(e.Fields) {
					ld.errAt(ld.locOf(row), fmt.Sprintf("fields are [%s]", strings.Join(e.Fields, ", ")), "exception '%s': each value must be a sequence of %d values, one per field", e.Name, len(e.Fields))
					ok = false
					continue
				}
				var tuple []ExceptionValue
				for _, v := range row.Content {
					ev, good := ld.excValue(deref(v), e)
					if !good {
						ok = false
					}
					tuple = append(tuple, ev)
				}
				e.Values = append(e.Values, tuple)
			}
		}
		out = append(out, e)
	}
	return out, ok
}

func isCompOp(c string) bool {
	if c == "exists" {
		return false
	}
	return wordOps[c] || contains(symOps, c)
}

func (ld *loader) excValue(n *yaml.Node, e *Exception) (ExceptionValue, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		return ExceptionValue{Value: n.Value}, true
	case yaml.SequenceNode:
		var items []string
		for _, it := range n.Content {
			it = deref(it)
			if it.Kind != yaml.ScalarNode {
				ld.errAt(ld.locOf(it), "", "exception '%s': nested values must be strings", e.Name)
				return ExceptionValue{}, false
			}
			items = append(items, it.Value)
		}
		return ExceptionValue{List: items, IsList: true}, true
	}
	ld.errAt(ld.locOf(n), "", "exception '%s': invalid value", e.Name)
	return ExceptionValue{}, false
}

// condSrc is condition text assembled from one or more YAML scalars (the
// definition plus appends) with enough information to map an offset in the
// text back to a file position.
type condSrc struct {
	text string
	segs []segment
}

type segment struct {
	start int // offset of this segment in text
	file  string
	marks []mark // sorted by off (relative to the segment)
}

// mark says that segment offset off is at line:col in the file.
type mark struct{ off, line, col int }

func (c *condSrc) add(file string, n *yaml.Node, lines []string, text string) {
	if c.text != "" {
		c.text += " "
	}
	c.segs = append(c.segs, segment{start: len(c.text), file: file, marks: scalarMarks(n, lines, text)})
	c.text += text
}

// locate maps an offset in c.text to a file position.
func (c *condSrc) locate(off int) loc {
	if len(c.segs) == 0 {
		return loc{}
	}
	i := sort.Search(len(c.segs), func(i int) bool { return c.segs[i].start > off }) - 1
	if i < 0 {
		i = 0
	}
	sg := c.segs[i]
	rel := off - sg.start
	if rel < 0 {
		rel = 0
	}
	j := sort.Search(len(sg.marks), func(j int) bool { return sg.marks[j].off > rel }) - 1
	if j < 0 {
		j = 0
	}
	m := sg.marks[j]
	return loc{sg.file, m.line, m.col + rel - m.off}
}

// scalarMarks computes where the lines of a scalar's value sit in the file.
// It is exact for plain and block (| and >) scalars and for quoted scalars
// without escapes; otherwise positions degrade gracefully.
func scalarMarks(n *yaml.Node, lines []string, text string) []mark {
	first := mark{0, n.Line, n.Column}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		first.col++
	}
	marks := []mark{first}
	if n.Line < 1 || n.Line > len(lines) {
		return marks
	}
	block := n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	cur := 0
	ln := n.Line // 1-based line being matched
	startCol := n.Column
	if block {
		ln++
		startCol = 1
		marks = marks[:0]
	} else if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		startCol++
	}
	for ; ln <= len(lines) && cur < len(text); ln++ {
		src := lines[ln-1]
		if startCol-1 > len(src) {
			break
		}
		seg := src[startCol-1:]
		startCol = 1
		trimmed := strings.TrimLeft(seg, " \t")
		lead := len(seg) - len(trimmed) + (len(src) - len(seg))
		trimmed = strings.TrimRight(trimmed, " \t\r")
		if trimmed == "" {
			continue
		}
		idx := strings.Index(text[cur:], trimmed)
		if idx < 0 {
			// Match a prefix (closing quote, escapes, ...).
			rest := strings.TrimLeft(text[cur:], " \t\n")
			k := 0
			for k < len(rest) && k < len(trimmed) && rest[k] == trimmed[k] {
				k++
			}
			if k == 0 {
				break
			}
			idx = len(text[cur:]) - len(rest)
			trimmed = trimmed[:k]
		}
		if strings.TrimLeft(text[cur:cur+idx], " \t\n") != "" {
			break
		}
		marks = append(marks, mark{cur + idx, ln, lead + 1})
		cur += idx + len(trimmed)
	}
	if len(marks) == 0 {
		marks = append(marks, mark{0, n.Line + 1, 1})
	}
	return marks
}
