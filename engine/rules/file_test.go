// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
)

const fixture = "../../../shared/fixtures/falco-rules/falco_rules.yaml"

func TestFixture(t *testing.T) {
	if _, err := os.Stat(fixture); err != nil {
		testenv.Unavailable(t, "upstream Falco rules fixture missing (expected beside the repository in ../shared/fixtures/falco-rules): "+err.Error())
	}
	s, err := LoadFiles(fixture)
	if err != nil {
		t.Fatalf("LoadFiles: %v", err)
	}
	rules := s.Rules()
	if len(rules) != 25 {
		t.Fatalf("got %d rules, want 25", len(rules))
	}
	if len(s.EngineVersions) != 1 || s.EngineVersions[0] != "0.57.0" {
		t.Errorf("engine versions = %v", s.EngineVersions)
	}
	if len(s.PluginVersions) != 1 || s.PluginVersions[0].Name != "container" {
		t.Errorf("plugin versions = %v", s.PluginVersions)
	}
	for _, r := range rules {
		if r.Cond == nil {
			t.Errorf("rule %q has no condition", r.Name)
			continue
		}
		Walk(r.Cond, func(n Node) bool {
			switch n := n.(type) {
			case *MacroRef:
				t.Errorf("rule %q: unresolved macro %s", r.Name, n.Name)
			case *ListRef:
				t.Errorf("rule %q: unresolved list %s", r.Name, n.Name)
			}
			return true
		})
		if !r.Enabled {
			continue
		}
		str := r.Cond.String()
		n, err := ParseCondition(str)
		if err != nil {
			t.Errorf("rule %q: reparse: %v\n%s", r.Name, err, str)
			continue
		}
		if n.String() != str {
			t.Errorf("rule %q: round trip differs:\n%s\n%s", r.Name, str, n.String())
		}
	}
	r := s.Rule("Read sensitive file untrusted")
	if r == nil || r.Priority != PriorityWarning || r.Source != "syscall" || !r.Enabled || r.File != fixture {
		t.Fatalf("rule = %+v", r)
	}
	if !strings.Contains(r.Cond.String(), `"(systemd)"`) {
		t.Errorf("quoted list item not unquoted: %s", r.Cond)
	}
	if r := s.Rule("System user interactive"); r == nil || r.Priority != PriorityInformational {
		t.Errorf("INFO priority: %+v", r)
	}
	// Every field reference is kept for a later validator.
	found := false
	for _, f := range Fields(s.Rule("Directory traversal monitored file read").Cond) {
		if f.Name == "fd.nameraw" {
			found = true
		}
	}
	if !found {
		t.Error("fd.nameraw not found among fields")
	}
}

// load is a test helper returning the set and the individual errors.
func load(t *testing.T, files ...string) (*Set, []*Error) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, f := range files {
		p := filepath.Join(dir, "f"+string(rune('0'+i))+".yaml")
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	s, err := LoadFiles(paths...)
	var list ErrorList
	if err != nil && !errors.As(err, &list) {
		t.Fatalf("error %T is not an ErrorList", err)
	}
	for _, e := range list {
		e.File = filepath.Base(e.File)
	}
	return s, list
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, src string
		file      string
		line, col int
		msg       string
		hint      string
	}{
		{"condition syntax", `- macro: m
  condition: proc.name = x and and y
`, "f0.yaml", 2, 32, "syntax error in condition of macro 'm': expected a condition, found 'and'", ""},
		{"condition syntax folded", `- rule: r
  desc: d
  output: o
  priority: info
  condition: >
    proc.name = x
      and (fd.name = y
    or or)
`, "f0.yaml", 8, 8, "expected a condition, found 'or'", ""},
		{"condition syntax literal", `- rule: r
  desc: d
  output: o
  priority: info
  condition: |
    proc.name = x
    and fd.name in (a b)
`, "f0.yaml", 7, 23, "expected ',' or ')' in list, found 'b'", ""},
		{"condition syntax plain multiline", `- macro: m
  condition: (proc.name = x and
              fd.name = y and
              fd.num > )
`, "f0.yaml", 4, 24, "expected a value after '>', found ')'", ""},
		{"unknown key", `- rule: r
  desc: d
  output: o
  priority: info
  condition: a.b exists
  prioirty: info
`, "f0.yaml", 6, 3, "unknown key 'prioirty' in rule 'r'", "allowed keys are"},
		{"unknown item", `- foo: bar
`, "f0.yaml", 1, 3, "unknown item with keys [foo]", ""},
		{"undefined macro", `- macro: m
  condition: proc.name = x

- rule: r
  desc: d
  output: o
  priority: info
  condition: >
    m and
    proc.pname = y and not mm
`, "f0.yaml", 10, 28, "undefined macro 'mm'", "define it with '- macro: mm'"},
		{"list used as macro", `- list: l
  items: [a]
- macro: m
  condition: l
- rule: r
  desc: d
  output: o
  priority: info
  condition: m
`, "", 0, 0, "", ""},
		{"macro cycle", `- macro: a
  condition: b and proc.name = x
- macro: b
  condition: proc.name = y or a
- rule: r
  desc: d
  output: o
  priority: info
  condition: a
`, "f0.yaml", 4, 31, "macro cycle: macro a -> b -> a", ""},
		{"list cycle", `- list: a
  items: [x, b]
- list: b
  items: [y, a]
`, "f0.yaml", 4, 14, "list cycle: list a -> b -> a", ""},
		{"append without base", `- list: l
  items: [a]
- macro: m
  condition: and x
  append: true
`, "f0.yaml", 3, 3, "append to undefined macro 'm'", "define the macro before appending"},
		{"override without base", `- rule: r
  condition: and x
  override:
    condition: append
`, "f0.yaml", 1, 3, "override of undefined rule 'r'", ""},
		{"bad priority", `- rule: r
  desc: d
  output: o
  priority: urgent
  condition: a.b exists
`, "f0.yaml", 4, 13, `invalid priority "urgent"`, "use one of emergency"},
		{"missing key", `- rule: r
  desc: d
  priority: info
  condition: a.b exists
`, "f0.yaml", 1, 3, "rule 'r' is missing required key 'output'", ""},
		{"yaml syntax", `- rule: r
  desc: d
  output: x: y
`, "f0.yaml", 3, 3, "YAML syntax error: mapping values are not allowed in this context", "not valid YAML"},
		{"not a sequence", `rule: r
`, "f0.yaml", 1, 1, "a rules file must be a YAML sequence of items", ""},
		{"enabled on undefined", `- rule: nope
  enabled: false
`, "f0.yaml", 1, 3, "enabled given for undefined rule 'nope'", ""},
		{"bad bool", `- list: l
  items: [a]
  append: yes please
`, "f0.yaml", 3, 11, "'append' must be a boolean", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := load(t, tt.src)
			if tt.msg == "" { // special cases below
				if tt.name == "list used as macro" {
					if len(errs) != 1 || !strings.Contains(errs[0].Hint, "'l' is a list") {
						t.Fatalf("errs = %v", errs)
					}
				}
				return
			}
			if len(errs) == 0 {
				t.Fatal("no error")
			}
			e := errs[0]
			if e.File != tt.file || e.Line != tt.line || e.Col != tt.col || !strings.Contains(e.Msg, tt.msg) || !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("got %v\nwant %s:%d:%d: ...%s... (...%s...)", e, tt.file, tt.line, tt.col, tt.msg, tt.hint)
			}
			if len(errs) > 1 {
				t.Logf("further errors: %v", errs[1:])
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, errs := load(t, `- rule: r1
  desc: d
  output: o
  priority: nope
  condition: a.b exists
- rule: r2
  desc: d
  output: o
  priority: info
  condition: undefined_one
- macro: m
  condition: (
- bogus: 1
`)
	if len(errs) != 4 {
		t.Fatalf("got %d errors, want 4: %v", len(errs), errs)
	}
	want := []int{4, 13, 12, 10}
	for i, e := range errs {
		if e.Line != want[i] {
			t.Errorf("error %d at line %d, want %d: %v", i, e.Line, want[i], e)
		}
	}
	if s := errs[0].Error(); !strings.HasPrefix(s, "f0.yaml:4:13: invalid priority") || !strings.HasSuffix(s, ")") {
		t.Errorf("Error() = %q", s)
	}
}

const baseRules = `
- list: shells
  items: [bash, sh]
- list: more_shells
  items: [shells, zsh]
- macro: spawned
  condition: evt.type = execve
- macro: shell_procs
  condition: proc.name in (more_shells)
- rule: Shell
  desc: a shell
  condition: spawned and shell_procs
  output: shell %proc.name
  priority: WARNING
  tags: [a]
- rule: Other
  desc: other
  condition: spawned
  output: o
  priority: debug
`

func TestMerge(t *testing.T) {
	s, errs := load(t, baseRules, `
- list: shells
  items: [ksh]
  append: true
- macro: spawned
  condition: or evt.type = execveat
  append: true
- rule: Shell
  condition: and proc.pname != init
  append: true
- rule: Other
  enabled: false
- rule: Shell
  output: new output
  priority: error
  tags: [b]
  override:
    output: replace
    priority: replace
    tags: append
`)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	r := s.Rule("Shell")
	want := "(evt.type = execve or evt.type = execveat) and proc.name in (bash, sh, ksh, zsh) and proc.pname != init"
	if got := r.Cond.String(); got != want {
		t.Errorf("cond = %s\nwant   %s", got, want)
	}
	if r.Condition != "spawned and shell_procs and proc.pname != init" {
		t.Errorf("condition text = %q", r.Condition)
	}
	if r.Output != "new output" || r.Priority != PriorityError || strings.Join(r.Tags, ",") != "a,b" {
		t.Errorf("override: %+v", r)
	}
	if s.Rule("Other").Enabled {
		t.Error("Other still enabled")
	}
	if got := s.Rules(); len(got) != 2 || got[0].Name != "Shell" {
		t.Errorf("rules = %v", got)
	}

	// override replace of a condition and a list; later redefinition replaces.
	s, errs = load(t, baseRules, `
- list: shells
  items: [fish]
  override:
    items: replace
- rule: Shell
  condition: spawned and proc.name in (shells)
  override:
    condition: replace
- macro: spawned
  condition: evt.type = clone
- rule: Other
  desc: redefined
  condition: proc.name = x
  output: o
  priority: notice
`)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if got := s.Rule("Shell").Cond.String(); got != "evt.type = clone and proc.name in (fish)" {
		t.Errorf("cond = %s", got)
	}
	if r := s.Rule("Other"); r.Desc != "redefined" || r.Priority != PriorityNotice {
		t.Errorf("redefined rule = %+v", r)
	}

	// Appended condition text keeps accurate error positions.
	_, errs = load(t, baseRules, `
- rule: Shell
  condition: and and
  append: true
`)
	if len(errs) != 1 || errs[0].File != "f1.yaml" || errs[0].Line != 3 || errs[0].Col != 18 {
		t.Errorf("errs = %v", errs)
	}

	// append and override together, and override key without value.
	_, errs = load(t, baseRules, `
- rule: Shell
  condition: and x
  append: true
  override:
    condition: append
- rule: Other
  override:
    output: replace
`)
	if len(errs) != 2 || !strings.Contains(errs[0].Msg, "cannot be used together") || !strings.Contains(errs[1].Msg, "has no value") {
		t.Errorf("errs = %v", errs)
	}
}

func TestExceptions(t *testing.T) {
	s, errs := load(t, baseRules+`
- list: allowed
  items: [cron, "anacron"]
- rule: Ex
  desc: d
  condition: spawned
  output: o
  priority: info
  exceptions:
    - name: by_proc
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values:
        - [bash, /tmp/]
        - [sh, /var/]
    - name: by_pname
      fields: proc.pname
      values: [allowed, init]
    - name: by_list
      fields: [proc.name, "proc.aname[2]"]
      comps: [in, =]
      values:
        - [[a, b], x]
        - [allowed, y]
    - name: unused
      fields: [proc.name]
- rule: Ex
  exceptions:
    - name: by_pname
      values: [systemd]
    - name: extra
      fields: fd.name
      comps: startswith
      values: [/a, /b]
  append: true
`)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := `evt.type = execve` +
		` and not (proc.name = "bash" and fd.name startswith "/tmp/" or proc.name = "sh" and fd.name startswith "/var/")` +
		` and not proc.pname in (cron, anacron, "init", "systemd")` +
		` and not (proc.name in ("a", "b") and proc.aname[2] = "x" or proc.name in (cron, anacron) and proc.aname[2] = "y")` +
		` and not (fd.name startswith "/a" or fd.name startswith "/b")`
	if got := s.Rule("Ex").Cond.String(); got != want {
		t.Errorf("cond =\n%s\nwant\n%s", got, want)
	}

	_, errs = load(t, `- rule: Ex
  desc: d
  condition: a.b exists
  output: o
  priority: info
  exceptions:
    - name: bad
      fields: [proc.name, fd.name]
      values:
        - [bash]
`)
	if len(errs) != 1 || errs[0].Line != 10 || !strings.Contains(errs[0].Msg, "sequence of 2 values") {
		t.Errorf("errs = %v", errs)
	}
}

func TestLoadMultiDocAndEmpty(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n", "[]\n"} {
		s, err := Load("x.yaml", []byte(src))
		if err != nil || len(s.Rules()) != 0 {
			t.Errorf("Load(%q) = %v, %v", src, s.Rules(), err)
		}
	}
	s, err := Load("x.yaml", []byte("- macro: m\n  condition: a.b exists\n---\n- rule: r\n  desc: d\n  output: o\n  priority: info\n  condition: m\n"))
	if err != nil || len(s.Rules()) != 1 || s.Rules()[0].Cond.String() != "a.b exists" {
		t.Errorf("multi-doc: %v %v", s.Rules(), err)
	}
}

func TestPriority(t *testing.T) {
	for i, n := range []string{"EMERGENCY", "alert", "Critical", "error", "warning", "notice", "informational", "debug"} {
		p, ok := ParsePriority(n)
		if !ok || p != Priority(i) {
			t.Errorf("ParsePriority(%q) = %v %v", n, p, ok)
		}
	}
	if p, ok := ParsePriority("INFO"); !ok || p != PriorityInformational || p.String() != "Informational" {
		t.Errorf("info = %v", p)
	}
	if _, ok := ParsePriority("warn"); ok {
		t.Error("warn accepted")
	}
}

// A disabled rule whose condition does not parse is a warning, as in
// Falco; a later file that enables it makes it an error again.
func TestDisabledRuleErrorsAreWarnings(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yaml")
	enable := filepath.Join(dir, "enable.yaml")
	y := "- rule: broken\n  desc: d\n  condition: proc.name = (\n  output: o\n  priority: INFO\n  enabled: false\n" +
		"- rule: fine\n  desc: d\n  condition: proc.name = sh\n  output: o\n  priority: INFO\n"
	if err := os.WriteFile(base, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(enable, []byte("- rule: broken\n  enabled: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadFiles(base)
	if err != nil {
		t.Fatalf("a disabled rule's syntax error failed the load: %v", err)
	}
	w := s.Warnings()
	if len(w) != 1 || !strings.Contains(w[0].Error(), base+":3:") || !strings.Contains(w[0].Msg, "rule 'broken'") {
		t.Fatalf("warnings = %v, want the syntax error of rule 'broken' at its line", w)
	}
	if s.Rule("fine").Cond == nil {
		t.Error("the enabled rule beside it did not resolve")
	}
	s, err = LoadFiles(base, enable)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].Msg, "rule 'broken'") {
		t.Fatalf("enabled by a later file: err %v, want the syntax error", err)
	}
	if len(s.Warnings()) != 0 {
		t.Errorf("warnings once enabled: %v", s.Warnings())
	}
}
