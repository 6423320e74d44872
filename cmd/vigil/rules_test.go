// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
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
	for _, w := range []string{"ok (disabled; see the warnings): " + f + ":1: off", "ok: " + f + ":7: on", "2 rules"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
}

// vigil rules fields lists every field with its type and description, by
// class, as falco --list does; a prefix narrows it, --json is for
// programs. The unknown-field hint points to it.
func TestRulesFields(t *testing.T) {
	r := run(t, "rules", "fields")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, w := range []string{"Field class: proc", "Field class: fd", "Field class: evt", "Field class: container",
		"  proc.name ", "proc.aname, proc.aname[N]", "proc.env, proc.env[KEY]", "evt.arg.NAME", "evt.arg[N]",
		"(FILTER ONLY)", "fd.nameraw", "evt.buffer"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("the list lacks %q", w)
		}
	}
	if !regexp.MustCompile(`(?m)^  fd\.sport +port +server port$`).MatchString(r.stdout) {
		t.Errorf("no aligned line NAME TYPE DESCRIPTION for fd.sport:\n%s", r.stdout)
	}

	r = run(t, "rules", "fields", "proc.")
	if r.code != 0 || !strings.Contains(r.stdout, "proc.exepath") || strings.Contains(r.stdout, "fd.name") || strings.Contains(r.stdout, "Field class: fd") {
		t.Errorf("prefix proc.: exit %d\n%s", r.code, r.stdout)
	}

	r = run(t, "rules", "fields", "fd.sip", "--json")
	var list []struct {
		Name, Syntax, Type, Description string
		FilterOnly                      bool `json:"filter_only"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("--json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(list) != 2 || list[0].Name != "fd.sip" || list[0].Type != "ipaddr" || list[1].Name != "fd.sip.name" || list[1].Description == "" {
		t.Errorf("--json fd.sip = %+v", list)
	}

	r = run(t, "rules", "fields", "prc.")
	if r.code == 0 || !strings.Contains(r.stderr, `no field starts with "prc." (did you mean proc.?)`) {
		t.Errorf("unknown prefix: exit %d, stderr %s", r.code, r.stderr)
	}

	// The hint of an unknown field names the command, which exists.
	f := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(f, []byte("- rule: r\n  desc: d\n  condition: evt.type = open and proc.zzzzzzzz = 1\n  output: o\n  priority: INFO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, "rules", "validate", f)
	if r.code == 0 || !strings.Contains(r.stderr, "`vigil rules fields proc.` lists the proc fields") {
		t.Errorf("unknown field hint: %s", r.stderr)
	}
}

// The four upstream rulesets validate together, in the order users load
// them: no error, every rule ok.
func TestRulesValidateAllUpstream(t *testing.T) {
	dir := "../../../shared/fixtures/falco-rules/"
	files := []string{dir + "falco_rules.yaml", dir + "falco-incubating_rules.yaml", dir + "falco-sandbox_rules.yaml", dir + "falco-deprecated_rules.yaml"}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			testenv.Unavailable(t, "no upstream ruleset in ../shared beside the repository: "+err.Error())
		}
	}
	r := run(t, append([]string{"rules", "validate"}, files...)...)
	if r.code != 0 || strings.Contains(r.stdout, "ERROR") || !strings.Contains(r.stdout, "97 rules") || !strings.Contains(r.stdout, "no problems") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n := len(regexp.MustCompile(`(?m)^ok`).FindAllString(r.stdout, -1)); n != 97 {
		t.Errorf("%d rules ok, want 97:\n%s", n, r.stdout)
	}
}
