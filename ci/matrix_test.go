// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
)

// agent is a static vigil built for the tests: the VM's /init.
var agent string

func TestMain(m *testing.M) {
	var err error
	if agent, err = testenv.BuildVigil("../cmd/vigil"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(filepath.Dir(agent))
	os.Exit(code)
}

// bookworm returns the newest bookworm cloud kernel's image, from the real
// mirror through the catalogue.
func bookworm(t *testing.T) (string, string) {
	t.Helper()
	if _, err := qemuBinary(); err != nil {
		testenv.Unavailable(t, err.Error())
	}
	cat, err := kernels.NewDebian(kernels.Options{})
	if err != nil {
		testenv.Unavailable(t, "no Debian catalogue: "+err.Error())
	}
	ctx := context.Background()
	tg, err := cat.Latest(ctx, "bookworm", "cloud-amd64")
	if err != nil {
		testenv.Unavailable(t, "Debian mirror unreachable: "+err.Error())
	}
	f, err := cat.Fetch(ctx, tg, kernels.PartImage)
	if err != nil {
		t.Fatalf("fetch %s: %v", tg.Name(), err)
	}
	return tg.Name(), f.Kernel
}

// A real kernel boots with the agent, which runs every check against the
// eBPF probe and reports; a kernel that panics, one that hangs and one
// that cannot be fetched each give a failing row with the reason, and the
// run goes on.
func TestMatrix(t *testing.T) {
	name, image := bookworm(t)
	img := func(context.Context) (string, error) { return image, nil }
	ks := []Kernel{
		{Name: name, Suite: "bookworm", Image: img},
		{Name: "panics", Suite: "bookworm", Image: img, Params: "vigil.fault=panic"},
		{Name: "hangs", Suite: "bookworm", Image: img, Params: "vigil.fault=hang"},
		{Name: "missing", Suite: "bookworm", Image: func(context.Context) (string, error) {
			return "", errors.New("no such kernel in the catalogue")
		}},
	}
	out := keptOnFailure(t)
	start := time.Now()
	rows, err := Run(context.Background(), ks, Options{Out: out, Agent: agent, Timeout: time.Minute, Jobs: 2, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("matrix of %d VMs in %s", len(ks), time.Since(start).Round(time.Second))
	if len(rows) != len(ks) {
		t.Fatalf("%d rows for %d kernels with one driver", len(rows), len(ks))
	}
	good := rows[0]
	// Whatever /dev/kvm does on this machine (absent, working, or opening
	// but hanging its guests), the run picked an accelerator that boots.
	if good.Accel != AccelKVM && good.Accel != AccelTCG {
		t.Errorf("%s ran under accelerator %q, want kvm or tcg", good.Kernel, good.Accel)
	}
	if !good.Pass || good.Driver != "bpf" || good.Error != "" || good.Retried != "" {
		t.Errorf("%s: pass=%v driver=%s error=%q\n%s", good.Kernel, good.Pass, good.Driver, good.Error, good.ConsoleTail)
	}
	if good.Events == 0 || good.LoadMS <= 0 || len(good.Checks) < 8 {
		t.Errorf("%s: events %d, load %d ms, %d checks: the agent did not report real work", good.Kernel, good.Events, good.LoadMS, len(good.Checks))
	}
	for _, c := range good.Checks {
		if !c.Pass || c.Events == 0 {
			t.Errorf("check %s: pass=%v events=%d %s", c.Name, c.Pass, c.Events, c.Error)
		}
	}
	want := map[string][]string{
		"panics":  {"Kernel panic", "Attempted to kill init"},
		"hangs":   {"cut off after 1m0s"},
		"missing": {"fetch kernel", "no such kernel"},
	}
	for _, r := range rows[1:] {
		if r.Pass {
			t.Errorf("%s passed", r.Kernel)
		}
		for _, w := range want[r.Kernel] {
			if !strings.Contains(r.Error, w) {
				t.Errorf("%s: error %q lacks %q", r.Kernel, r.Error, w)
			}
		}
		if r.Kernel == "missing" {
			continue
		}
		// The tail shows how the VM ended: the panic, or the agent's last
		// words before it hung.
		lastWords := map[string]string{"panics": "Kernel panic", "hangs": "vigil-agent: hanging on purpose"}[r.Kernel]
		if !strings.Contains(r.ConsoleTail, lastWords) {
			t.Errorf("%s: console tail lacks %q:\n%s", r.Kernel, lastWords, r.ConsoleTail)
		}
		// A VM that said nothing is booted once more, and the row says so.
		if !strings.HasPrefix(r.Retried, "boot 1: ") {
			t.Errorf("%s: retried = %q, want the first boot's failure", r.Kernel, r.Retried)
		}
	}

	// The reports hold the same rows, with the keys the issue names.
	if err := WriteReports(out, rows); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "matrix.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(b, &back); err != nil || len(back) != len(rows) {
		t.Fatalf("matrix.json: %v, %d rows", err, len(back))
	}
	for _, k := range []string{"kernel", "suite", "driver", "pass", "events", "load_ms", "drops", "error", "console_tail"} {
		if _, ok := back[0][k]; !ok {
			t.Errorf("matrix.json rows lack %q", k)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "matrix.md"))
	if !strings.Contains(string(md), "| "+name+" | bookworm | bpf | pass |") || !strings.Contains(string(md), "1 of 4 passed") {
		t.Errorf("matrix.md:\n%s", md)
	}
}

// keptOnFailure is a directory for a test's VMs that outlives a failed
// test: its failure messages name console logs, which must still be there
// to read.
func keptOnFailure(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consoles and reports kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

func TestInitramfsRefusesDynamicAgent(t *testing.T) {
	dyn, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	err = WriteInitramfs(filepath.Join(t.TempDir(), "i.cpio"), dyn)
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("err = %v, want a refusal naming the fix", err)
	}
}

// The archive holds what the kernel needs to start the agent, and the same
// inputs give the same bytes.
func TestInitramfsIsReproducible(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.cpio"), filepath.Join(dir, "b.cpio")
	for _, p := range []string{a, b} {
		if err := WriteInitramfs(p, agent); err != nil {
			t.Fatal(err)
		}
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if string(x) != string(y) {
		t.Fatal("two initramfs of the same agent differ")
	}
	for _, name := range []string{"init\x00", "dev/console\x00", "proc\x00", "TRAILER!!!"} {
		if !strings.Contains(string(x), name) {
			t.Errorf("initramfs lacks %q", strings.TrimSuffix(name, "\x00"))
		}
	}
}

func TestParityJoinsBothDrivers(t *testing.T) {
	for _, c := range []struct {
		in, want []string
	}{
		{[]string{"bpf"}, []string{"bpf"}},
		{[]string{"kmod"}, []string{"kmod"}},
		{[]string{"bpf", "kmod"}, []string{"bpf", "kmod", "parity"}},
		{[]string{"kmod", "bpf", "parity"}, []string{"kmod", "bpf", "parity"}},
	} {
		if got := withParity(c.in); !slices.Equal(got, c.want) {
			t.Errorf("withParity(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestMarkdownBenchTable(t *testing.T) {
	rows := []Row{
		{Kernel: "k1", Driver: "bench", Pass: true, Bench: &Bench{Rounds: 7, BaseNs: 400, KmodNs: 600, BpfNs: 1200, KmodAddNs: 200, BpfAddNs: 800, KmodPerBpf: 0.25}},
		{Kernel: "k1", Driver: "bpf", Pass: true},
	}
	md := Markdown(rows)
	if !strings.Contains(md, "| k1 | 400 | 600 | 1200 | +200 | +800 | 0.25 | 0/0 |") {
		t.Fatalf("bench figures missing from the table:\n%s", md)
	}
	if strings.Count(md, "| k1 | 400") != 1 {
		t.Fatalf("bench row printed more than once:\n%s", md)
	}
}

func TestKernelWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	clean := "[    1.0] Run /init as init process\n[    2.0] vigil: loaded\nvigil-agent: bpf: pass=true\n"
	if err := os.WriteFile(path, []byte(clean), 0o644); err != nil {
		t.Fatal(err)
	}
	if w := KernelWarnings(path); len(w) != 0 {
		t.Fatalf("a clean console gave warnings: %q", w)
	}
	dirty := clean + "[    3.1] BUG: sleeping function called from invalid context at mm/slab.h:123\n" +
		"[    3.2] ======================================================\n" +
		"[    3.3] WARNING: possible circular locking dependency detected\n" +
		"[    3.4] BUG: KASAN: slab-out-of-bounds in vigil_fill+0x12/0x40 [vigil]\n"
	if err := os.WriteFile(path, []byte(dirty), 0o644); err != nil {
		t.Fatal(err)
	}
	w := KernelWarnings(path)
	if len(w) != 3 || !strings.Contains(w[0], "sleeping function") || !strings.Contains(w[2], "KASAN") {
		t.Fatalf("warnings = %q", w)
	}
}
