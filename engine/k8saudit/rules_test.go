// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package k8saudit

import (
	"slices"
	"testing"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
)

// upstreamRules is Falco's k8s audit ruleset (see its README).
const upstreamRules = "../../../shared/fixtures/k8s-audit/k8s_audit_rules.yaml"

func loadUpstream(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.LoadFiles(upstreamRules)
	if err != nil {
		t.Fatalf("load %s: %v", upstreamRules, err)
	}
	return set
}

func compileUpstream(t testing.TB, opts eval.Options) *eval.Program {
	t.Helper()
	p, err := eval.Compile(loadUpstream(t), opts)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func TestUpstreamRulesCompile(t *testing.T) {
	p := compileUpstream(t, eval.Options{})
	for _, w := range p.Warnings() {
		t.Errorf("warning: %v", w)
	}
	n := 0
	for _, r := range p.Rules() {
		if r.Source != Source {
			t.Errorf("rule %q: source %q", r.Name, r.Source)
		}
		n++
	}
	if n != 48 {
		t.Errorf("%d rules compiled, want the fixture's 48", n)
	}
	if !p.Runs(Source) {
		t.Error("no k8s_audit rule runs")
	}
	if len(p.Syscalls()) != 0 {
		t.Errorf("audit rules ask the driver for syscalls %v", p.Syscalls())
	}
}

// TestWithSyscallRules loads Falco's syscall rules and its audit rules in
// one set: both compile, the audit rules do not change what the driver
// captures, and audit events raise audit rules only.
func TestWithSyscallRules(t *testing.T) {
	const falcoRules = "../../../shared/fixtures/falco-rules/falco_rules.yaml"
	both, err := rules.LoadFiles(falcoRules, upstreamRules)
	if err != nil {
		t.Fatal(err)
	}
	p, err := eval.Compile(both, eval.Options{AllMatches: true})
	if err != nil {
		t.Fatalf("compile both: %v", err)
	}
	sys, err := rules.LoadFiles(falcoRules)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := eval.Compile(sys, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Syscalls(), ps.Syscalls()) || !p.Runs("syscall") || !p.Runs(Source) {
		t.Errorf("syscalls with audit rules %v, without %v", p.Syscalls(), ps.Syscalls())
	}
	for _, ev := range []string{podExec, clusterAdminBinding, secretConfigMap, anonymousList} {
		e, err := ParseEvent([]byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		NewDetector(p, "h", func(a *output.Alert) {
			if r := p.Rule(a.Rule); r == nil || r.Source != Source || a.Source != Source {
				t.Errorf("audit event raised %q (source %q)", a.Rule, a.Source)
			}
		}).Eval(e)
	}
}
