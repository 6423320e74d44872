// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
)

// The tests run the real binary, as users do.
var vigilBin string

func TestMain(m *testing.M) {
	selftest.RunChild() // the benchmarks' workloads re-execute this binary
	var err error
	if vigilBin, err = testenv.BuildVigil("."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(filepath.Dir(vigilBin))
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{out.String(), errb.String(), 0}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Fatalf("vigil %v panicked:\n%s", args, r.stderr)
	}
	return r
}

// marker makes an executable whose comm is unique to the test, so that
// events can be picked out of everything else the host does.
func marker(t *testing.T) (path, comm string) {
	t.Helper()
	src, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to copy")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	comm = "vgl-" + strings.ReplaceAll(t.Name()[4:], "/", "")
	if len(comm) > 15 {
		comm = comm[:15]
	}
	path = filepath.Join(t.TempDir(), comm)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, comm
}

// runUntilDone starts vigil, then runs the marker over and over until vigil
// exits (it stops itself with --count), and returns what vigil printed.
func runUntilDone(t *testing.T, markerPath string, args ...string) (result, []int) {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var pids []int
	deadline := time.After(60 * time.Second)
	for {
		select {
		case err := <-done:
			r := result{out.String(), errb.String(), 0}
			if ee, ok := err.(*exec.ExitError); ok {
				r.code = ee.ExitCode()
			}
			return r, pids
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("vigil %v did not stop within 60s\nstdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
		case <-time.After(100 * time.Millisecond):
			m := exec.Command(markerPath, "arg-one", "arg two")
			if err := m.Run(); err != nil {
				t.Fatal(err)
			}
			pids = append(pids, m.Process.Pid)
		}
	}
}

type jsonEvent struct {
	Type   string          `json:"type"`
	Dir    string          `json:"dir"`
	TS     int64           `json:"ts"`
	PID    int             `json:"pid"`
	TID    int             `json:"tid"`
	PPID   *int            `json:"ppid"`
	Comm   *string         `json:"comm"`
	Res    *int64          `json:"res"`
	Params json.RawMessage `json:"params"`
}

func decodeLines(t *testing.T, s string) []jsonEvent {
	t.Helper()
	var evs []jsonEvent
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e jsonEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

func TestEventsJSONLive(t *testing.T) {
	testenv.RequireProbe(t)
	path, comm := marker(t)
	start := time.Now()
	r, pids := runUntilDone(t, path, "events", "--json", "--type", "execve", "--comm", comm, "--count", "2")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	evs := decodeLines(t, r.stdout)
	if len(evs) != 2 {
		t.Fatalf("--count 2 printed %d events:\n%s", len(evs), r.stdout)
	}
	ran := map[int]bool{}
	for _, p := range pids {
		ran[p] = true
	}
	for _, e := range evs {
		if e.Type != "execve" || e.Dir != "exit" {
			t.Errorf("type %s dir %s, want execve exit", e.Type, e.Dir)
		}
		if !ran[e.PID] || e.TID != e.PID {
			t.Errorf("pid %d tid %d is not one of the marker runs %v", e.PID, e.TID, pids)
		}
		if e.PPID == nil || *e.PPID != os.Getpid() {
			t.Errorf("ppid %v, want the test's pid %d", e.PPID, os.Getpid())
		}
		if e.Comm == nil || *e.Comm != comm {
			t.Errorf("comm %v, want %q", e.Comm, comm)
		}
		if e.Res == nil || *e.Res != 0 {
			t.Errorf("res %v, want 0", e.Res)
		}
		if ts := time.Unix(0, e.TS); ts.Before(start.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
			t.Errorf("ts %s is not between the test's start and now", ts)
		}
		var p struct {
			Exe  string   `json:"exe"`
			Args []string `json:"args"`
			Comm string   `json:"comm"`
		}
		if err := json.Unmarshal(e.Params, &p); err != nil {
			t.Fatal(err)
		}
		if p.Exe != path || strings.Join(p.Args, "|") != path+"|arg-one|arg two" || p.Comm != comm {
			t.Errorf("params %s, want exe %s and args [%s arg-one 'arg two']", e.Params, path, path)
		}
	}
	if !strings.Contains(r.stderr, "driver: ") || !strings.Contains(r.stderr, " drops") {
		t.Errorf("no driver counters on stderr:\n%s", r.stderr)
	}
}

// A capture read back gives the same events as were written, in order.
func TestCaptureReplay(t *testing.T) {
	testenv.RequireProbe(t)
	path, comm := marker(t)
	file := filepath.Join(t.TempDir(), "x.vcap")
	r, _ := runUntilDone(t, path, "capture", "-w", file, "--comm", comm, "--count", "6")
	if r.code != 0 {
		t.Fatalf("capture: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "wrote 6 events to "+file) {
		t.Errorf("capture did not report what it wrote:\n%s", r.stderr)
	}
	rr := run(t, "events", "-r", file, "--json")
	if rr.code != 0 {
		t.Fatalf("events -r: exit %d\n%s", rr.code, rr.stderr)
	}
	evs := decodeLines(t, rr.stdout)
	if len(evs) != 6 {
		t.Fatalf("read back %d events, want 6:\n%s", len(evs), rr.stdout)
	}
	for i, e := range evs {
		if i > 0 && e.TS < evs[i-1].TS {
			t.Errorf("event %d goes back in time: %d < %d", i, e.TS, evs[i-1].TS)
		}
		if e.Type == "execve" {
			var p struct{ Exe string }
			_ = json.Unmarshal(e.Params, &p)
			if p.Exe != path {
				t.Errorf("execve exe %q, want %q", p.Exe, path)
			}
		}
	}
	// Filters apply to a capture too.
	rr = run(t, "events", "-r", file, "--type", "execve", "--json")
	for _, e := range decodeLines(t, rr.stdout) {
		if e.Type != "execve" {
			t.Errorf("--type execve let through %s", e.Type)
		}
	}
	if !strings.Contains(rr.stderr, "6 read from "+file) {
		t.Errorf("counters on stderr: %s", rr.stderr)
	}
}

func TestBadInput(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.vcap")
	if testenv.InCI() || os.Geteuid() == 0 {
		testenv.RequireProbe(t)
		if r := run(t, "capture", "-w", good, "--count", "50"); r.code != 0 {
			t.Fatalf("capture: %s", r.stderr)
		}
	}
	raw, _ := os.ReadFile(good)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		want []string // all in stderr
	}{
		{"unknown type", []string{"events", "--type", "opne"}, []string{`--type "opne"`, "no such event type", `did you mean "open"`, "--list-types"}},
		{"bad buffer size", []string{"events", "--buffer-size", "lots"}, []string{"--buffer-size", `"lots" is not a size`, "8MiB"}},
		{"snaplen with -r", []string{"events", "-r", "x.vcap", "--snaplen", "10"}, []string{"--snaplen applies to live events"}},
		{"missing capture", []string{"events", "-r", filepath.Join(dir, "nope.vcap")}, []string{"nope.vcap", "no such file"}},
		{"not a capture", []string{"events", "-r", write("text.vcap", []byte("hello, this is not a capture file at all"))}, []string{"text.vcap", "bad capture file"}},
		{"capture needs -w", []string{"capture"}, []string{`"write"`}},
		{"negative duration", []string{"events", "--duration", "-1s"}, []string{"--duration -1s", "negative"}},
		{"driver build without a key", []string{"driver", "build", "--target", "bookworm/x"}, []string{"signing key", "vigil mirror keygen"}},
		{"mirror verify of a non-mirror", []string{"mirror", "verify", dir, "--key", "vigil-ed25519-public:" + strings.Repeat("A", 43) + "="}, []string{"index.json"}},
	}
	if len(raw) > 100 {
		cases = append(cases,
			struct {
				name string
				args []string
				want []string
			}{"truncated capture", []string{"events", "-r", write("trunc.vcap", raw[:len(raw)-7])}, []string{"trunc.vcap", "bad capture file", "truncated"}})
		flipped := bytes.Clone(raw)
		flipped[len(flipped)/2] ^= 0x40
		cases = append(cases,
			struct {
				name string
				args []string
				want []string
			}{"corrupt capture", []string{"events", "-r", write("flip.vcap", flipped)}, []string{"flip.vcap", "bad capture file", "corrupt"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.args...)
			if r.code == 0 {
				t.Fatalf("vigil %v succeeded; want an error", c.args)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// Without root the probe cannot load: the message says so and how to fix it.
func TestNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root to run vigil as another user")
	}
	cmd := exec.Command(vigilBin, "events", "--count", "1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.Stdout = io.Discard
	err := cmd.Run()
	if err == nil {
		t.Fatal("vigil events ran as nobody")
	}
	for _, w := range []string{"root", "CAP_BPF"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb.String())
		}
	}
}

func TestListTypesAndVersion(t *testing.T) {
	r := run(t, "events", "--list-types")
	for _, w := range []string{"execve ", "proc_fork ", "connect ", "syscalls on amd64"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("--list-types lacks %q", w)
		}
	}
	r = run(t, "version")
	if !strings.Contains(r.stdout, "schema 1.") {
		t.Errorf("version: %s", r.stdout)
	}
}

// The upstream ruleset validates whole; a broken file names the rule, the
// place and the problem, and fails.
func TestRulesValidate(t *testing.T) {
	upstream := "../../../shared/fixtures/falco-rules/falco_rules.yaml"
	if _, err := os.Stat(upstream); err != nil {
		testenv.Unavailable(t, "no upstream ruleset in ../shared beside the repository: "+err.Error())
	}
	r := run(t, "rules", "validate", upstream)
	if r.code != 0 || !strings.Contains(r.stdout, "25 rules") || strings.Contains(r.stdout, "ERROR") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("- macro: m\n  condition: proc.name = sh\n- rule: r\n  desc: d\n  condition: m and fd.name = (\n  output: o\n  priority: WARNING\n- rule: fine\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, "rules", "validate", bad)
	if r.code == 0 {
		t.Fatal("a broken rules file validated")
	}
	for _, w := range []string{bad + ":5:", "rule 'r'", "expected a value"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "ERROR: "+bad+":3: r") || !strings.Contains(r.stdout, "ok: "+bad+":8: fine") {
		t.Errorf("per-rule status:\n%s", r.stdout)
	}
}

// The release in a real Debian kernel image's boot header, and a clear
// error for a file that is not one.
func TestBzImageRelease(t *testing.T) {
	ctx := context.Background()
	cat, err := kernels.NewDebian(kernels.Options{})
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("the Debian catalogue: %v", err))
	}
	target, err := cat.Latest(ctx, "bookworm", "cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	f, err := cat.Fetch(ctx, target, kernels.PartImage)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bzImageRelease(f.Kernel); err != nil || got != target.Release {
		t.Errorf("%s: release %q, %v; want %q", f.Kernel, got, err, target.Release)
	}
	if _, err := bzImageRelease(vigilBin); err == nil || !strings.Contains(err.Error(), "not an x86 bzImage") {
		t.Errorf("vigil's own binary as a kernel image: %v", err)
	}
}
