// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ruleset

import (
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/state"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/rules"
)

// The default rules load with no problem, every rule is enabled, and the
// rules the issue lists are all there.
func TestDefaultRulesLoad(t *testing.T) {
	set, err := rules.Load(Name, Default())
	if err != nil {
		t.Fatalf("default rules: %v", err)
	}
	want := []string{
		"Terminal shell in container", "Privileged shell spawned in container", "Reverse shell",
		"Sensitive file read by untrusted program", "Write below etc", "Write below binary directory",
		"Kernel module load", "Ptrace attach", "Fileless execution via memfd",
		"Container escape via release_agent", "Packet socket in container", "Search for private keys",
	}
	for _, name := range want {
		r := set.Rule(name)
		if r == nil {
			t.Errorf("rule %q missing", name)
			continue
		}
		if !r.Enabled {
			t.Errorf("rule %q disabled", name)
		}
	}
	if n := len(set.Rules()); n != len(want) {
		t.Errorf("%d rules, want %d: update the test with the new rule", n, len(want))
	}
}

// The default rules compile with no error and no warning, and each is
// indexed under the event types it names rather than run on every event.
func TestDefaultRulesCompile(t *testing.T) {
	set, err := rules.Load(Name, Default())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if w := prog.Warnings(); len(w) > 0 {
		t.Fatalf("warnings: %v", w)
	}
	for _, r := range prog.Rules() {
		if r.AllEvents || len(r.EventTypes) == 0 {
			t.Errorf("rule %q runs on every event type (%v)", r.Name, r.EventTypes)
		}
	}
}

// The privileged-shell rule, on the events a shell started in a privileged
// container makes (the e2e test cannot start a privileged container on
// hosts whose own capability bounding set is short): it fires for a shell
// in a privileged container, not for one in an unprivileged container nor
// for a non-shell.
func TestPrivilegedShellRule(t *testing.T) {
	set, err := rules.Load(Name, Default())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tab, err := driver.NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab12", 16)
	threads := state.NewThreads("")
	threads.ContainerOf = func(string) string { return id }
	run := func(privileged bool, comm, exe string) []*output.Alert {
		var b driver.Builder
		b.Begin(nil, driver.EvExecve, 1000, 4242, 4242)
		b.Int(0).Str(exe).Raw([]byte(comm + "\x00-c\x00id\x00")).Str("/").Str(comm).Int(4000).Int(7).Int(7).Int(7).Int(7).
			Int(0).Int(0).Int(0).Int(0).Int(-1).Int(0).Str("/system.slice/docker-" + id + ".scope").
			Int(0).Int(0x1ffffffffff).Int(0x1ffffffffff).Int(0).Int(99)
		var e driver.Event
		if err := e.Decode(b.End()); err != nil {
			t.Fatal(err)
		}
		th := threads.Update(&e)
		info := &container.Info{ID: id[:12], FullID: id, Runtime: container.Docker, Status: container.Ready,
			Name: "web", Image: "nginx:1", ImageRepo: "nginx", ImageTag: "1", Privileged: privileged}
		c := &fields.Ctx{Event: &e, Thread: th, Container: info, Syscalls: tab, Hostname: "h",
			Parent: threads.Parent}
		var got []*output.Alert
		prog.Eval(c, func(a *output.Alert) { got = append(got, a) })
		return got
	}
	got := run(true, "bash", "/usr/bin/bash")
	if len(got) != 1 || got[0].Rule != "Privileged shell spawned in container" {
		t.Fatalf("shell in a privileged container: %d alerts %v", len(got), got)
	}
	if !strings.Contains(got[0].Output, "container_name=web") || !strings.Contains(got[0].Output, "shell=bash") {
		t.Errorf("output: %s", got[0].Output)
	}
	if got := run(false, "bash", "/usr/bin/bash"); len(got) != 0 {
		t.Errorf("shell in an unprivileged container raised %v", got[0].Rule)
	}
	if got := run(true, "nginx", "/usr/sbin/nginx"); len(got) != 0 {
		t.Errorf("a non-shell in a privileged container raised %v", got[0].Rule)
	}
}
