// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package eval

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/engine/rules"
)

// TestCompileErrors checks each kind of error names the rule, the exact
// file:line:col of the offending node and a hint. The condition starts at
// line 4, column 5 of the generated file.
func TestCompileErrors(t *testing.T) {
	cases := []struct {
		cond, out string
		want      string // substring of the error, with position
		hint      string
	}{
		{"proc.nam = bash", "x", "test.yaml:4:5: rule 'test rule': unknown field 'proc.nam'", "did you mean 'proc.name'?"},
		{"evt.type = open and fd.nme = /etc", "x", "test.yaml:4:25: rule 'test rule': unknown field 'fd.nme'", "did you mean 'fd.name'?"},
		{"evt.type = open and\n  proc.pid > abc", "x", "test.yaml:5:18: rule 'test rule': proc.pid has type int64: 'abc' is not a valid value", "use a number"},
		{"proc.name < 3", "x", "test.yaml:4:5: rule 'test rule': operator '<' cannot be used with proc.name, a string field", "operators for string fields"},
		{"fd.sport = 70000", "x", "test.yaml:4:16: rule 'test rule': fd.sport has type port: '70000' is not a valid value", "0 to 65535"},
		{"fd.sip = 10.0.0.0/8", "x", "test.yaml:4:14: rule 'test rule': fd.sip is an IP address field", "fd.net"},
		{"evt.type = opn", "x", "test.yaml:4:16: rule 'test rule': unknown event type 'opn'", "did you mean 'open'?"},
		{"evt.type in (open, exceve)", "x", "test.yaml:4:24: rule 'test rule': unknown event type 'exceve'", "did you mean 'execve'?"},
		{"proc.aname[x] = bash", "x", "test.yaml:4:5: rule 'test rule': field 'proc.aname': argument 'x' is not an index", "use a number"},
		{"proc.name[1] = bash", "x", "test.yaml:4:5: rule 'test rule': field 'proc.name' takes no argument", "remove [1]"},
		{"evt.arg.nosuch = 1", "x", "unknown event argument 'nosuch'", "no event has a parameter"},
		{"proc.is_exe_upper_layer = yes", "x", "'yes' is not true or false", "use true or false"},
		{"fd.name regex '('", "x", "invalid regular expression", "RE2"},
		{"fd.name bcontains xyz", "x", "'xyz' is not a hex byte string", "hex"},
		{"len(proc.pid) = 1", "x", "transformer len applies to strings", ""},
		{"fd.name pmatch (/etc) and fd.num pmatch (1)", "x", "operator 'pmatch' cannot be used with fd.num", ""},
		{"evt.type = open", "file=%fd.nmae", "test.yaml:1:3: output of rule 'test rule', at byte 6: unknown field 'fd.nmae'", "did you mean 'fd.name'?"},
		{"evt.type = open", "p=%proc.aname", "field 'proc.aname' can only be used in conditions", "%proc.aname[1]"},
		// Fields vigil never has data for would be silently false.
		{"evt.type = connect and proc.is_container_healthcheck = true", "x", "test.yaml:4:28: rule 'test rule': field 'proc.is_container_healthcheck' cannot be used in a condition: vigil does not read containers' health-check and probe commands, so it is never available", "keep the field in the rule's output only, where it prints <NA>"},
		{"proc.exe_ino.mtime > 0", "x", "field 'proc.exe_ino.mtime' cannot be used in a condition", "remove the comparison"},
		// Domain fields compare with names, as Falco's.
		{"fd.sip.name contains example", "x", "test.yaml:4:5: rule 'test rule': operator 'contains' cannot be used with fd.sip.name: a domain field compares with domain names by =, != and in", "fd.sip.name = NAME"},
		{"tolower(fd.cip.name) = x", "x", "fd.cip.name cannot take a transformer", ""},
		{"not proc.exe_ino.ctime exists", "x", "field 'proc.exe_ino.ctime' cannot be used in a condition", ""},
	}
	for _, tc := range cases {
		_, err := compileRule(t, tc.cond, tc.out, Options{})
		var list rules.ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Errorf("%q: want an ErrorList, got %v", tc.cond, err)
			continue
		}
		if !strings.Contains(list[0].Error(), tc.want) {
			t.Errorf("%q:\n got  %s\n want %s", tc.cond, list[0].Error(), tc.want)
		}
		if !strings.Contains(list[0].Hint, tc.hint) {
			t.Errorf("%q: hint %q, want it to contain %q", tc.cond, list[0].Hint, tc.hint)
		}
	}
}

// TestErrorInMacroAndException locates errors in macro bodies and
// exceptions, not in the rule that uses them.
func TestErrorInMacroAndException(t *testing.T) {
	y := `- macro: bad_macro
  condition: proc.name = x and proc.exepth = /bin/x
- rule: r1
  desc: d
  condition: evt.type = execve and bad_macro
  output: "x"
  priority: WARNING
- rule: r2
  desc: d
  condition: evt.type = execve
  output: "x"
  priority: WARNING
  exceptions:
    - name: e1
      fields: [proc.name, proc.pcmd]
      values:
        - [a, b]
- rule: r3
  desc: d
  condition: evt.type = execve
  output: "x"
  priority: WARNING
`
	set, err := rules.Load("m.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(set, Options{})
	var list rules.ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("want 2 errors, got %v", err)
	}
	if got := list[0].Error(); !strings.HasPrefix(got, "m.yaml:2:32: rule 'r1': unknown field 'proc.exepth'") || list[0].Hint != "did you mean 'proc.exepath'?" {
		t.Errorf("macro error: %s", got)
	}
	if got := list[1].Error(); !strings.HasPrefix(got, "m.yaml:14:7: rule 'r2': unknown field 'proc.pcmd'") {
		t.Errorf("exception error: %s", got)
	}
	// The good rule still compiled.
	if p == nil || p.Rule("r3") == nil || p.Rule("r1") != nil {
		t.Errorf("want r3 compiled and r1 left out")
	}
}

func TestSkipIfUnknownFilterAndWarnings(t *testing.T) {
	y := `- rule: skipped
  desc: d
  condition: evt.type = open and k8s.xyz = a
  output: "x"
  priority: WARNING
  skip-if-unknown-filter: true
- rule: everything
  desc: d
  condition: proc.name = bash
  output: "x"
  priority: WARNING
- rule: everything quiet
  desc: d
  condition: proc.name = bash
  output: "x"
  priority: WARNING
  warn_evttypes: false
- rule: other source
  desc: d
  condition: ct.name = get
  output: "x"
  priority: WARNING
  source: aws_cloudtrail
`
	set, err := rules.Load("w.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(set, Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	w := p.Warnings()
	if len(w) != 3 {
		t.Fatalf("want 3 warnings, got %v", w)
	}
	for i, want := range []string{"w.yaml:1:3: rule 'skipped' skipped (skip-if-unknown-filter)", "w.yaml:7:3: rule 'everything' matches all event types", "w.yaml:18:3: rule 'other source' has source 'aws_cloudtrail'"} {
		if !strings.HasPrefix(w[i].Error(), want) {
			t.Errorf("warning %d: %s, want %s", i, w[i], want)
		}
	}
	if got := p.Unrestricted(); len(got) != 2 {
		t.Errorf("Unrestricted() = %v", got)
	}
	// A rule on every event means the driver must capture every syscall.
	if n := len(p.Syscalls()); n < 300 {
		t.Errorf("Syscalls() has %d names, want all", n)
	}
}

func TestOptionsSelectRules(t *testing.T) {
	w := newWorld(t)
	c := w.execve(t, w.procs[200])
	p, err := compileRule(t, "evt.type = execve", "x", Options{MinPriority: "error"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Eval(c, nil) != 0 || p.Rules()[0].Runs {
		t.Error("a WARNING rule ran with minimum priority error")
	}
	if p, _ := compileRule(t, "evt.type = execve", "x", Options{MinPriority: "notice"}); p.Eval(c, nil) != 1 {
		t.Error("a WARNING rule did not run with minimum priority notice")
	}
	if p, _ := compileRule(t, "evt.type = execve", "x", Options{DisableTags: []string{"b"}}); p.Eval(c, nil) != 0 {
		t.Error("a rule tagged b ran with tag b disabled")
	}
	if p, _ := compileRule(t, "evt.type = execve", "x", Options{Tags: []string{"z"}}); p.Eval(c, nil) != 0 {
		t.Error("a rule without tag z ran when only z was enabled")
	}
	if p, _ := compileRule(t, "evt.type = execve", "x", Options{Tags: []string{"z", "a"}}); p.Eval(c, nil) != 1 {
		t.Error("a rule tagged a did not run when a was enabled")
	}
	if _, err := compileRule(t, "evt.type = execve", "x", Options{MinPriority: "loud"}); err == nil {
		t.Error("a bad priority option was accepted")
	}
	y := "- rule: off\n  desc: d\n  condition: evt.type = execve\n  output: x\n  priority: WARNING\n  enabled: false\n"
	set, _ := rules.Load("off.yaml", []byte(y))
	p, err = Compile(set, Options{})
	if err != nil || len(p.Rules()) != 1 || p.Rules()[0].Runs || p.Eval(c, nil) != 0 {
		t.Errorf("a disabled rule: err %v, runs", err)
	}
}

// An output written as a folded YAML block (output: >) ends in a newline
// that is no part of the alert.
func TestFoldedOutputLosesTrailingNewline(t *testing.T) {
	w := newWorld(t)
	p := mustCompile(t, "evt.type = execve", "shell %proc.name started\n\n")
	got := alerts(p, w.execve(t, w.child(200, 300, "sh", "/bin/sh")))
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1", len(got))
	}
	if got[0].Output != "shell sh started" {
		t.Fatalf("output %q, want %q", got[0].Output, "shell sh started")
	}
}
