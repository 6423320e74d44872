// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// These tests run `vigil run` as a daemon: signals while it detects, the
// drop alert, and outputs that fail without stopping detection.

// openRule is a rules file with one rule per name, each matching an open
// of dir/<name>.
func openRule(dir string, names ...string) []byte {
	var b strings.Builder
	for _, n := range names {
		b.WriteString("- rule: " + n + "\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = " +
			filepath.Join(dir, n) + "\n  output: \"" + n + " %fd.name\"\n  priority: WARNING\n")
	}
	return []byte(b.String())
}

// touchLoop opens each file every 50ms until the test ends.
func touchLoop(t *testing.T, files ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for _, f := range files {
				_ = os.WriteFile(f, []byte("x"), 0o600)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

// waitLog waits for a log line containing s.
func (d *detection) waitLog(t *testing.T, s string) {
	t.Helper()
	waitFor(t, "log line "+s, func() bool { return strings.Contains(d.logs(), s) })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rulesSeen returns the rule of every alert so far, in order.
func (d *detection) rulesSeen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var r []string
	for _, a := range d.alerts {
		r = append(r, a.Rule)
	}
	return r
}

// logLines returns the JSON log lines whose msg is msg.
func (d *detection) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(d.logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// stop sends SIGTERM and waits for the summary.
func (d *detection) stop(t *testing.T) map[string]any {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, `"msg":"detection stopped"`)
	return d.logLines("detection stopped")[0]
}

func TestRunReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, openRule(dir, "A"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startRun(t, "-r", rulesFile, "--stats-interval", "1s")
	touchLoop(t, filepath.Join(dir, "A"), filepath.Join(dir, "B"))
	d.wait(t, "A", nil)

	if err := os.WriteFile(rulesFile, openRule(dir, "B"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a stats line", func() bool { return len(d.logLines("stats")) > 0 })
	before := d.logLines("stats")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, `"msg":"rules reloaded"`)
	d.wait(t, "B", nil)
	time.Sleep(500 * time.Millisecond)
	seen := d.rulesSeen()
	firstB := strings.Index(strings.Join(seen, ""), "B")
	if strings.Contains(strings.Join(seen[firstB:], ""), "A") {
		t.Errorf("rule A still fired after rule B replaced it: %v", seen)
	}

	// A file that does not compile keeps the running rules.
	broken := append(openRule(dir, "B"), "- rule: C\n  desc: d\n  condition: evt.type = open and\n  output: o\n  priority: WARNING\n"...)
	if err := os.WriteFile(rulesFile, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	n := len(d.rulesSeen())
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "rules not reloaded")
	if !regexp.MustCompile(regexp.QuoteMeta(rulesFile) + `:\d+:\d+: `).MatchString(d.logs()) {
		t.Errorf("the reload error does not name file:line:col:\n%s", d.logs())
	}
	waitFor(t, "rule B alert after the failed reload", func() bool { return len(d.rulesSeen()) > n+2 })

	waitFor(t, "a stats line after the reloads", func() bool { return len(d.logLines("stats")) > len(before)+1 })
	sum := d.stop(t)
	// The driver's counter never went back, nothing was dropped, and the
	// engine counted every event from before the reloads too.
	stats := d.logLines("stats")
	if len(before) == 0 || len(stats) < 2 {
		t.Fatalf("stats lines: %d before the reload, %d in all", len(before), len(stats))
	}
	var last float64
	for _, s := range stats {
		ev, _ := s["driver_events"].(float64)
		if ev < last {
			t.Errorf("driver events went back from %v to %v", last, ev)
		}
		last = ev
		if s["drops"] != float64(0) {
			t.Errorf("drops: %v", s)
		}
	}
	if ev, _ := sum["events"].(float64); ev < before[len(before)-1]["driver_events"].(float64) {
		t.Errorf("the engine counted %v events, the driver had written %v before the reload", ev, before[len(before)-1]["driver_events"])
	}
}

func TestRunDropAlert(t *testing.T) {
	d := startRun(t, "--buffer-size", "64KiB")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if f, err := os.Open("/dev/null"); err == nil {
					f.Close()
				}
			}
		}()
	}
	a := d.wait(t, "vigil internal: syscall event drop", nil)
	if d.cmd.ProcessState != nil {
		t.Fatal("vigil exited")
	}
	if a.Priority != "Critical" || field(a, "n_drops") == "0" || field(a, "n_drops") == "(absent)" {
		t.Errorf("drop alert: %+v", a)
	}
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

// vigil run --output-file F | head -1: the file output goes on after
// stdout closed, and the exit code says an output failed.
func TestRunClosedStdout(t *testing.T) {
	testenv.RequireProbe(t)
	dir := t.TempDir()
	rulesFile, outFile := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "alerts.txt")
	if err := os.WriteFile(rulesFile, openRule(dir, "A"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testenv.Buffer
	cmd := exec.Command(vigilBin, "--log-format", "json", "run", "-r", rulesFile, "--output-file", outFile)
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("vigil run stderr:\n%s", stderr.String())
		}
	})
	waitFor(t, "detecting", func() bool { return strings.Contains(stderr.String(), `"msg":"detecting"`) })
	touchLoop(t, filepath.Join(dir, "A"))
	// head -1
	if _, err := bufio.NewReader(r).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	r.Close()
	n := countLines(outFile)
	waitFor(t, "alerts in the file after stdout closed", func() bool { return countLines(outFile) > n+10 })
	if !strings.Contains(stderr.String(), "output closed") {
		t.Errorf("no log line says stdout closed")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("vigil did not stop within 30s of SIGTERM")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitOutputFailed {
		t.Errorf("exit: %v, want code %d", err, exitOutputFailed)
	}
	if !strings.Contains(stderr.String(), "outputs failed to deliver alerts: stdout") {
		t.Errorf("the exit error does not name stdout")
	}
}

func TestRunReopenOnSIGUSR1(t *testing.T) {
	dir := t.TempDir()
	rulesFile, outFile := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "alerts.txt")
	if err := os.WriteFile(rulesFile, openRule(dir, "A"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startRun(t, "-r", rulesFile, "--output-file", outFile)
	touchLoop(t, filepath.Join(dir, "A"))
	waitFor(t, "an alert in the file", func() bool { return countLines(outFile) > 0 })
	if err := os.Rename(outFile, outFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "file outputs reopened")
	waitFor(t, "an alert in the new file", func() bool { return countLines(outFile) > 0 })
}

// A reload whose rules need a syscall the driver was not capturing tells
// the driver to capture it.
func TestRunReloadAddsSyscalls(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, openRule(dir, "A"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startRun(t, "-r", rulesFile)
	mkdirRule := "- rule: M\n  desc: d\n  condition: evt.type in (mkdir, mkdirat) and fs.path.name contains vgl-reload-mkdir\n" +
		"  output: \"M %fs.path.name\"\n  priority: WARNING\n"
	if err := os.WriteFile(rulesFile, []byte(mkdirRule), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, `"msg":"rules reloaded"`)
	if !strings.Contains(d.logs(), "syscall selection updated") {
		t.Errorf("no log line says the driver captures the new rules' syscalls")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			_ = os.Mkdir(filepath.Join(dir, "vgl-reload-mkdir-"+strconv.Itoa(i)), 0o700)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	d.wait(t, "M", nil)
}

// --watch-rules reloads when a rules file changes, without a signal.
func TestRunWatchRules(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, openRule(dir, "A"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startRun(t, "-r", rulesFile, "--watch-rules")
	touchLoop(t, filepath.Join(dir, "A"), filepath.Join(dir, "B"))
	d.wait(t, "A", nil)
	if err := os.WriteFile(rulesFile, openRule(dir, "B"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, `"trigger":"rules file changed"`)
	d.wait(t, "B", nil)
}
