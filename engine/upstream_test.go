// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// The four upstream rulesets, loaded in order as vigil run --rules
// stable --rules incubating --rules sandbox --rules deprecated does,
// compile without an error into an engine, which then raises their
// alerts from events: here stable's directory-traversal rule, through the
// state table's raw open path.
func TestUpstreamRulesetsRunTogether(t *testing.T) {
	dir := "../../shared/fixtures/falco-rules/"
	files := []string{dir + "falco_rules.yaml", dir + "falco-incubating_rules.yaml", dir + "falco-sandbox_rules.yaml", dir + "falco-deprecated_rules.yaml"}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			testenv.Unavailable(t, "upstream Falco rules fixture missing (expected beside the repository in ../shared/fixtures/falco-rules): "+err.Error())
		}
	}
	set, err := rules.LoadFiles(files...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if got := len(prog.Rules()); got != 97 {
		t.Errorf("%d rules compiled, want 97", got)
	}
	// The one warning: the disabled log4shell rule's evt.buffer.
	for _, w := range prog.Warnings() {
		if !strings.Contains(w.Msg, "evt.buffer") {
			t.Errorf("unexpected warning: %v", w)
		}
	}
	var alerts []*output.Alert
	eng, err := New(Config{Program: prog, Emit: func(a *output.Alert) { alerts = append(alerts, a) }})
	if err != nil {
		t.Fatal(err)
	}
	emit := emitter(t, eng)
	// python3 (pid 50) runs cat (pid 60), which opens ../../etc/passwd
	// from /srv/app.
	emit(driver.EvProcFork, 1, func(b *driver.Builder) { b.Int(50).Int(50).Int(1).Str("python3") })
	emit(driver.EvProcFork, 50, func(b *driver.Builder) { b.Int(60).Int(60).Int(50).Str("python3") })
	emit(driver.EvExecve, 60, func(b *driver.Builder) {
		b.Int(0).Str("/usr/bin/cat").Raw([]byte("cat\x00../../etc/passwd\x00")).Str("/srv/app").Str("cat")
		b.Int(50).Int(60).Int(60).Int(0).Int(0)                                 // ppid vpid vtid sid pgid
		b.Int(33).Int(33).Int(33).Int(33).Int(33).Int(0).Str("/").Int(0).Int(0) // ids, tty, cgroup, caps
		b.Int(0).Int(0).Int(0)                                                  // cap_effective, exe_flags, ino
	})
	emit(driver.EvOpenatE, 60, func(b *driver.Builder) { b.Int(unix.AT_FDCWD).Str("../../etc/passwd").Int(unix.O_RDONLY).Int(0) })
	emit(driver.EvOpenat, 60, func(b *driver.Builder) {
		b.Int(3).Int(unix.AT_FDCWD).Str("/srv/app/../../etc/passwd").Int(unix.O_RDONLY).Int(0).Int(0).Int(0)
	})
	if len(alerts) != 1 || alerts[0].Rule != "Directory traversal monitored file read" {
		var names []string
		for _, a := range alerts {
			names = append(names, a.Rule)
		}
		t.Fatalf("alerts %v, want the directory traversal rule once", names)
	}
	if want := "fileraw=../../etc/passwd"; !strings.Contains(alerts[0].Output, want) {
		t.Errorf("output %q lacks %q", alerts[0].Output, want)
	}
}

// emitter returns a function that builds an event of type typ by thread
// tid (the body by build), at 1 ms, and gives it to eng.
func emitter(t *testing.T, eng *Engine) func(typ driver.EventType, tid uint32, build func(*driver.Builder)) {
	var b driver.Builder
	var ev driver.Event
	return func(typ driver.EventType, tid uint32, build func(*driver.Builder)) {
		t.Helper()
		b.Begin(nil, typ, 1_000_000, tid, tid)
		build(&b)
		if err := ev.Decode(b.End()); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		eng.Process(&ev)
	}
}
