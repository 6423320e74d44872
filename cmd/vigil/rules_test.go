// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate compiles the rules too: an unknown field is an error at its
// file:line:col with a suggestion, the rule is marked, the others are ok;
// a rule on every event type is a warning, not an error.
func TestRulesValidateUnknownField(t *testing.T) {
	f := filepath.Join(t.TempDir(), "fields.yaml")
	y := "- rule: typo\n  desc: d\n  condition: evt.type = open and proc.nmae = sh\n  output: o\n  priority: WARNING\n" +
		"- rule: fine\n  desc: d\n  condition: evt.type = execve\n  output: \"%proc.name\"\n  priority: INFO\n" +
		"- rule: broad\n  desc: d\n  condition: proc.name = sh\n  output: o\n  priority: INFO\n"
	if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "rules", "validate", f)
	if r.code == 0 {
		t.Fatalf("a rule with an unknown field validated:\n%s", r.stdout)
	}
	for _, w := range []string{f + ":3:34: rule 'typo': unknown field 'proc.nmae'", "did you mean 'proc.name'?",
		"warning: " + f + ":11:3: rule 'broad' matches all event types"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	for _, w := range []string{"ERROR: " + f + ":1: typo", "ok: " + f + ":6: fine", "ok: " + f + ":11: broad"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
}

// A disabled rule that does not compile is a warning, as in Falco: the
// file validates, and the rule is marked.
func TestRulesValidateDisabledRuleWarns(t *testing.T) {
	f := filepath.Join(t.TempDir(), "disabled.yaml")
	y := "- rule: off\n  desc: d\n  condition: evt.type = open and fd.nmae = x\n  output: o\n  priority: INFO\n  enabled: false\n" +
		"- rule: on\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
	if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "rules", "validate", f)
	if r.code != 0 {
		t.Fatalf("a disabled rule's unknown field failed validation (exit %d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{"warning: " + f + ":3:34: rule 'off': unknown field 'fd.nmae'", "the rule is disabled"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	for _, w := range []string{"ok (disabled; does not compile, see the warnings): " + f + ":1: off", "ok: " + f + ":7: on", "2 rules"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
}
