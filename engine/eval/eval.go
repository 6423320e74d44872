// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package eval compiles a resolved rules.Set into a Program and runs it on
// events: each event is matched only against the rules indexed under its
// type, and a match becomes an output.Alert.
//
// Decisions:
//
//   - Compilation checks every field (unknown names get a "did you mean"),
//     argument, operator and literal against the field's type; each problem
//     is a rules.Error at the file:line:col where the node was written
//     (macro bodies and exceptions included, see rules.Set.Locate). Output
//     template problems are located at the rule. A rule with errors is left
//     out, the others compile. A rule with skip-if-unknown-filter: true whose
//     only problems are unknown fields is skipped with a warning, as Falco
//     does. Rules of a source without registered fields (fields.Register)
//     are skipped with a warning; a rule may name only its source's fields.
//   - Rules of another source than syscall (k8s_audit) are not indexed by
//     event type: EvalSource runs all of that source's rules on its
//     events, and Eval never sees them.
//   - Literals are converted once, at compile time: numbers (decimal or
//     0x hex), bools (true/false), IP addresses, networks (CIDR; a plain
//     address is a /32 or /128), hex bytes for bcontains/bstartswith, RE2
//     regular expressions for regex (matching the whole value). Lists
//     become hash sets, so `in` costs one lookup.
//   - Operators: = == != < <= > >= on numbers; = != contains icontains
//     bcontains startswith bstartswith endswith glob iglob regex in
//     intersects pmatch on strings; = != in intersects on IP addresses and
//     networks (a network "equals" an address it contains); = != in on
//     bools; in (every element in the set) and intersects (some element in
//     the set) on lists; exists on everything. On a single value,
//     intersects is in. glob's '*' crosses '/'; pmatch matches whole path
//     components and its paths may hold globs. A value that is not
//     available makes every comparison false (see package fields).
//   - Transformers tolower, toupper, b64, basename (strings) and len
//     (strings, lists) apply on the left and inside val(); val(field) on
//     the right compares two fields of one kind with the ordering,
//     equality and contains/startswith/endswith operators.
//   - Event types: see eventKeys. Names in evt.type comparisons must be
//     event or syscall names (an error otherwise); syscalls without an
//     event of their own index the generic event of that syscall id. A rule
//     that can match every event type is reported as a warning unless it
//     says warn_evttypes: false. Program.Syscalls lists the syscalls the
//     running rules need, for the driver's filter.
//   - Rules with enabled: false are compiled (and so checked) but not run;
//     what keeps one from compiling is a warning, not an error, as in
//     Falco (rules.Set.Warnings holds the loader's). Nor are rules below
//     Options.MinPriority run, or those excluded by the tag
//     options. As Falco's default rule_matching "first", an event raises
//     at most one alert, from the first matching rule in file order;
//     Options.AllMatches raises one per matching rule.
//   - Eval allocates nothing unless a rule matches.
package eval

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
)

// Options select which compiled rules run.
type Options struct {
	// MinPriority is the least severe priority that runs ("warning" runs
	// Emergency … Warning); "" runs all.
	MinPriority string
	// Tags, when not empty, runs only rules with at least one of them.
	Tags []string
	// DisableTags does not run rules with any of them.
	DisableTags []string
	// AllMatches raises an alert for every matching rule, not only the
	// first.
	AllMatches bool
	// Syscalls names syscalls; nil: the table of the running architecture.
	Syscalls *driver.SyscallTable
	// Append is Falco's append_output: what each entry adds to the
	// outputs of the rules it matches, applied in order.
	Append []AppendOutput
	// SuggestedOutput appends container_id=%container.id and
	// container_name=%container.name to every syscall rule's output that
	// does not name them, as Falco's suggested_output does with its
	// container plugin.
	SuggestedOutput bool
}

// Rule is a compiled rule.
type Rule struct {
	Name     string
	Priority rules.Priority
	Tags     []string
	// Runs is false for disabled rules and rules the options exclude.
	Runs bool
	// EventTypes names what the rule is indexed under (syscall names;
	// entry events end with '>'); AllEvents is set when it runs on every
	// event.
	EventTypes []string
	AllEvents  bool
	// Source is the rule's event source: "syscall", "k8s_audit", …
	Source string

	src  *rules.Rule
	cond node
	out  *template
	keys keyset
}

// Program is a compiled rule set. It is not safe for concurrent Eval calls
// sharing one fields.Ctx; give each goroutine its own Ctx.
type Program struct {
	rules    []*Rule
	byKey    [keySpace][]*Rule
	bySource map[string][]*Rule // running rules of sources other than syscall
	warnings rules.ErrorList
	syscalls []string
	domains  []string
	matchAll bool
	names    *names
}

// Compile compiles the rules of set. The error, if any, is a
// rules.ErrorList of every problem found; the Program is returned even
// then, holding the rules that compiled.
func Compile(set *rules.Set, opts Options) (*Program, error) {
	tab := opts.Syscalls
	if tab == nil {
		tab, _ = driver.NewSyscallTable(runtime.GOARCH)
	}
	minPrio := rules.PriorityDebug
	if opts.MinPriority != "" {
		p, ok := rules.ParsePriority(opts.MinPriority)
		if !ok {
			return nil, fmt.Errorf("compile rules: invalid minimum priority %q (use emergency, alert, critical, error, warning, notice, informational or debug)", opts.MinPriority)
		}
		minPrio = p
	}
	p := &Program{matchAll: opts.AllMatches, names: &names{tab: tab}, bySource: map[string][]*Rule{}}
	sources := fields.Sources()
	// What the loader found in disabled rules' conditions.
	p.warnings = disabledWarnings(set.Warnings())
	var errs rules.ErrorList
	var need keyset
	for _, r := range set.Rules() {
		source := r.Source
		if source == "" {
			source = "syscall"
		}
		if !slices.Contains(sources, source) {
			p.warnings = append(p.warnings, set.ErrorAt(r, nil, "vigil handles the sources "+strings.Join(sources, ", "),
				fmt.Sprintf("rule '%s' has source '%s': skipped", r.Name, r.Source)))
			continue
		}
		if r.Cond == nil {
			continue // the loader reported why
		}
		var rerrs, rwarns rules.ErrorList
		cc := &compiler{tab: p.names, source: source, errAt: func(n rules.Node, hint, msg string) {
			rerrs = append(rerrs, set.ErrorAt(r, n, hint, fmt.Sprintf("rule '%s': %s", r.Name, msg)))
		}, warnAt: func(n rules.Node, hint, msg string) {
			rwarns = append(rwarns, set.ErrorAt(r, n, hint, fmt.Sprintf("rule '%s': %s", r.Name, msg)))
		}}
		cr := &Rule{Name: r.Name, Priority: r.Priority, Tags: r.Tags, Source: source, src: r}
		cr.cond = cc.node(r.Cond)
		tmpl, terrs := parseSourceTemplate(r.Output, source)
		rerrs = append(rerrs, templateErrors(set, r, terrs)...)
		for _, te := range terrs {
			if strings.HasPrefix(te.Msg, "unknown field") {
				cc.unknown++
			} else {
				cc.other++
			}
		}
		if len(rerrs) > 0 {
			switch {
			case r.SkipIfUnknownFilter && cc.other == 0:
				p.warnings = append(p.warnings, set.ErrorAt(r, nil, "", fmt.Sprintf("rule '%s' skipped (skip-if-unknown-filter): %s", r.Name, rerrs[0].Msg)))
			case !r.Enabled:
				// As Falco: a disabled rule does not run, so what keeps it
				// from compiling is a warning; enabling it makes it an
				// error.
				p.warnings = append(p.warnings, disabledWarnings(rerrs)...)
			default:
				errs = append(errs, rerrs...)
			}
			continue
		}
		if aerrs := appendOutputs(set, cr, tmpl, &opts); len(aerrs) > 0 {
			errs = append(errs, aerrs...)
			continue
		}
		p.warnings = append(p.warnings, rwarns...)
		cr.out = tmpl
		if source != "syscall" {
			// No event types here: every event of the source runs the
			// source's rules.
			cr.Runs = r.Enabled && r.Priority <= minPrio && tagsAllow(r.Tags, opts.Tags, opts.DisableTags)
			p.rules = append(p.rules, cr)
			if cr.Runs {
				p.bySource[source] = append(p.bySource[source], cr)
			}
			continue
		}
		cr.keys = p.names.eventKeys(r.Cond)
		full := allKeys().and(entryKeys.not())
		cr.AllEvents = cr.keys.and(full) == full
		if cr.AllEvents {
			if r.WarnEvttypes {
				p.warnings = append(p.warnings, set.ErrorAt(r, nil,
					"add evt.type = NAME or evt.type in (...) to its condition, or warn_evttypes: false",
					fmt.Sprintf("rule '%s' matches all event types and runs on every event", r.Name)))
			}
		} else {
			cr.EventTypes = p.names.keyNames(cr.keys)
		}
		cr.Runs = r.Enabled && r.Priority <= minPrio && tagsAllow(r.Tags, opts.Tags, opts.DisableTags)
		p.rules = append(p.rules, cr)
		if cr.Runs {
			p.domains = append(p.domains, cc.domains...)
			need = need.or(cr.keys)
			for k := 0; k < keySpace; k++ {
				if cr.keys.has(k) {
					p.byKey[k] = append(p.byKey[k], cr)
				}
			}
		}
	}
	if full := allKeys().and(entryKeys.not()); need.and(full) == full && tab != nil {
		// Some rule needs every event: capture everything.
		p.syscalls = tab.Names()
	} else {
		p.syscalls = p.names.syscalls(need)
	}
	if len(errs) > 0 {
		return p, errs
	}
	return p, nil
}

// disabledWarnings turns the errors of a disabled rule into warnings
// that say why they are not errors.
func disabledWarnings(errs rules.ErrorList) rules.ErrorList {
	out := make(rules.ErrorList, len(errs))
	for i, e := range errs {
		w := *e
		w.Msg += " (the rule is disabled: a warning, not an error, until it is enabled)"
		out[i] = &w
	}
	return out
}

func tagsAllow(tags, only, disable []string) bool {
	for _, t := range tags {
		if slices.Contains(disable, t) {
			return false
		}
	}
	if len(only) == 0 {
		return true
	}
	for _, t := range tags {
		if slices.Contains(only, t) {
			return true
		}
	}
	return false
}

// Rules returns the compiled rules in file order.
func (p *Program) Rules() []*Rule { return slices.Clone(p.rules) }

// Rule returns the compiled rule of that name, or nil.
func (p *Program) Rule(name string) *Rule {
	for _, r := range p.rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Warnings returns what compiled but deserves attention: rules matching
// every event type, skipped rules.
func (p *Program) Warnings() rules.ErrorList { return slices.Clone(p.warnings) }

// Syscalls returns the names of the syscalls whose events the running
// rules need, sorted: what the driver should capture (plus what state
// tracking needs).
func (p *Program) Syscalls() []string { return slices.Clone(p.syscalls) }

// Domains returns the domain names the running rules compare
// fd.*ip.name with, sorted and unique: what the engine resolves
// (engine/dns).
func (p *Program) Domains() []string {
	d := slices.Clone(p.domains)
	slices.Sort(d)
	return slices.Compact(d)
}

// Runs reports whether any rule of that source runs.
func (p *Program) Runs(source string) bool {
	for _, r := range p.rules {
		if r.Runs && r.Source == source {
			return true
		}
	}
	return false
}

// Unrestricted returns the names of the compiled syscall rules without an
// event type restriction.
func (p *Program) Unrestricted() []string {
	var out []string
	for _, r := range p.rules {
		if r.AllEvents {
			out = append(out, r.Name)
		}
	}
	return out
}

// Eval matches the event in c against the rules indexed under its type and
// calls emit with an alert for the first matching rule (every matching
// rule with AllMatches). c's exported members must be filled for the
// event; Eval resets its caches. It returns the number of matches.
func (p *Program) Eval(c *fields.Ctx, emit func(*output.Alert)) int {
	return p.match(p.byKey[keyOf(c.Event)], c, emit)
}

// EvalSource matches the event of another source than syscall in c.Ext
// against every running rule of that source, as Eval does (first match,
// or every one with AllMatches). It returns the number of matches.
func (p *Program) EvalSource(source string, c *fields.Ctx, emit func(*output.Alert)) int {
	return p.match(p.bySource[source], c, emit)
}

// match runs rules against c in order: the first match only, or every
// one with AllMatches. It returns the number of matches.
func (p *Program) match(rules []*Rule, c *fields.Ctx, emit func(*output.Alert)) int {
	c.Reset()
	n := 0
	for _, r := range rules {
		if !r.cond.eval(c) {
			continue
		}
		n++
		if emit != nil {
			emit(r.alert(c))
		}
		if !p.matchAll {
			break
		}
	}
	return n
}

func (r *Rule) alert(c *fields.Ctx) *output.Alert {
	text, vals := r.out.render(c)
	t := c.ExtTime
	if c.Event != nil {
		t = c.Clock.Wall(c.Event.TS)
	}
	return &output.Alert{
		Time:         t,
		Rule:         r.Name,
		Priority:     r.Priority.String(),
		Source:       r.Source,
		Tags:         slices.Clone(r.Tags),
		Hostname:     c.Hostname,
		Output:       text,
		OutputFields: vals,
	}
}
