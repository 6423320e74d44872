// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/mirror"
)

// The loader driver on the newest bookworm cloud kernel, with a mirror
// built for it here: the guest fetches the module over QEMU's network,
// verifies and loads it, and the default rules alert on cat /etc/shadow;
// and each way it must refuse a module (tampered, other key, unreachable,
// absent kernel, --driver kmod without a module) does, naming why.
func TestMatrixLoader(t *testing.T) {
	if _, err := qemuBinary(); err != nil {
		testenv.Unavailable(t, err.Error())
	}
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root to build the module in a container")
	}
	testenv.RequireDocker(t)
	ctx := context.Background()
	cat, err := kernels.NewDebian(kernels.Options{})
	if err != nil {
		testenv.Unavailable(t, "no Debian catalogue: "+err.Error())
	}
	tg, err := cat.Latest(ctx, "bookworm", "cloud-amd64")
	if err != nil {
		testenv.Unavailable(t, "Debian mirror unreachable: "+err.Error())
	}
	docker, err := builder.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	out := keptOnFailure(t)
	mirrorDir := filepath.Join(out, "mirror")
	b := &builder.Builder{Catalogue: cat, Exec: docker,
		Images: builder.NewImages(docker, cat.Mirror(), cat.Keyring(), filepath.Join(cat.CacheDir(), "builder"), os.Stderr)}
	rs, err := b.Build(ctx, builder.Request{
		Targets: []kernels.Target{tg}, Source: "../kmod", Module: "vigil", DriverVersion: driver.DriverVersion,
		Out: mirrorDir, Timeout: 10 * time.Minute, Key: key,
	})
	if err != nil || rs[0].Err != nil {
		t.Fatalf("build the module for %s: %v %v\n%s", tg.Name(), err, rs[0].Err, rs[0].Tail)
	}
	k := Kernel{Name: tg.Name(), Suite: tg.Suite, Distro: tg.Distro,
		Modules: []string{filepath.Join(mirrorDir, filepath.FromSlash(rs[0].Artifact))},
		Image: func(ctx context.Context) (string, error) {
			f, err := cat.Fetch(ctx, tg, kernels.PartImage)
			if err != nil {
				return "", err
			}
			return f.Kernel, nil
		},
		ModuleTree: func(ctx context.Context) (string, error) {
			f, err := cat.Fetch(ctx, tg, kernels.PartImage|kernels.PartModules)
			if err != nil {
				return "", err
			}
			return f.InRoot("/lib/modules/" + tg.Release)
		},
	}
	start := time.Now()
	rows, err := Run(ctx, []Kernel{k}, Options{Drivers: []string{"loader"}, Out: filepath.Join(out, "matrix"), Agent: agent,
		Timeout: 5 * time.Minute, Retries: 1, Mirror: mirrorDir, Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loader VM in %s", time.Since(start).Round(time.Second))
	r := rows[0]
	if !r.Pass || r.Loader == nil {
		t.Fatalf("%s: pass=%v error=%q\n%s", r.Kernel, r.Pass, r.Error, r.ConsoleTail)
	}
	l := r.Loader
	if l.Chosen != string(loader.DriverKmod) || l.ReadyMS <= 0 || l.AlertMS < l.ReadyMS || r.LoadMS != l.ReadyMS {
		t.Errorf("chosen %q, ready %d ms, alert %d ms, row load %d ms", l.Chosen, l.ReadyMS, l.AlertMS, r.LoadMS)
	}
	last := l.Attempts[len(l.Attempts)-1]
	if last.Outcome != loader.Chosen || !strings.HasPrefix(last.What, "fetch ") {
		t.Errorf("the chosen attempt is %s, want the repository's", last)
	}
	// Every failure case ran, passed, and says why in the table's notes.
	want := []string{"absent-kernel-falls-back-to-probe", "tampered-artifact-refused", "other-key-index-refused",
		"unreachable-mirror-bounded", "kmod-without-module-errors", "kmod-from-repository", "kmod-from-oci-registry"}
	got := map[string]CheckResult{}
	for _, c := range r.Checks {
		got[c.Name] = c
	}
	for _, name := range want {
		c, ok := got[name]
		if !ok || !c.Pass {
			t.Errorf("check %s: ran %v, %+v", name, ok, c)
		}
	}
	for name, why := range map[string]error{
		"absent-kernel-falls-back-to-probe": loader.ErrNotInRepo, "tampered-artifact-refused": loader.ErrChecksum,
		"other-key-index-refused": loader.ErrBadSignature, "unreachable-mirror-bounded": loader.ErrUnreachable,
		"kmod-without-module-errors": loader.ErrNoDriver,
	} {
		if !strings.Contains(got[name].Note, why.Error()) {
			t.Errorf("check %s: note %q does not say %q", name, got[name].Note, why)
		}
	}
	// The guest found its module in the registry by tag: it never listed it.
	regLog, err := os.ReadFile(filepath.Join(out, "matrix", "loader-repos", "registry", "registry.log"))
	if err != nil || strings.Contains(string(regLog), "/_catalog") || strings.Contains(string(regLog), "/tags/list") {
		t.Errorf("the registry's log is missing or shows a listing (%v)", err)
	}
	md := Markdown(rows)
	for _, s := range []string{"| " + tg.Name() + " | bookworm | loader | pass |", "loader: kmod chosen; driver ready in", "tampered-artifact-refused: refused in"} {
		if !strings.Contains(md, s) {
			t.Errorf("matrix.md lacks %q:\n%s", s, md)
		}
	}
}

// The loader runs first in its VM, the rows keep the order asked for.
func TestLoaderRunsFirst(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"bpf", "kmod"}, []string{"bpf", "kmod"}},
		{[]string{"bpf", "kmod", "loader", "module"}, []string{"loader", "bpf", "kmod", "module"}},
		{[]string{"loader"}, []string{"loader"}},
	} {
		if got := vmOrder(c.in); !slices.Equal(got, c.want) {
			t.Errorf("vmOrder(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// A kernel whose own modules cannot be had fails the loader row with the
// reason, without booting a VM for nothing.
func TestLoaderWithoutNetworkModules(t *testing.T) {
	if _, err := qemuBinary(); err != nil {
		testenv.Unavailable(t, err.Error())
	}
	dir := t.TempDir()
	pub, key, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror.WriteSigned(dir, &mirror.Index{}, key); err != nil {
		t.Fatal(err)
	}
	k := Kernel{Name: "nomodules", Suite: "bookworm",
		Image:      func(context.Context) (string, error) { return "/nonexistent/vmlinuz", nil },
		ModuleTree: func(context.Context) (string, error) { return "", errors.New("no linux-modules package") }}
	rows, err := Run(context.Background(), []Kernel{k}, Options{Drivers: []string{"loader"}, Out: t.TempDir(), Agent: agent, Mirror: dir, Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Pass || !strings.Contains(rows[0].Error, "no linux-modules package") || rows[0].BootMS != 0 {
		t.Fatalf("rows = %+v", rows)
	}
	// Without a mirror the run does not start.
	if _, err := Run(context.Background(), []Kernel{k}, Options{Drivers: []string{"loader"}, Out: t.TempDir(), Agent: agent}); err == nil || !strings.Contains(err.Error(), "--modules") {
		t.Fatalf("a loader run without a mirror: %v", err)
	}
}

func TestMarkdownLoaderNotes(t *testing.T) {
	rows := []Row{{Kernel: "k1", Suite: "s", Driver: "loader", Pass: true, LoadMS: 170, Loader: &LoaderRun{
		Chosen: "kmod", ReadyMS: 170, FirstEventMS: 181, AlertMS: 355,
		Attempts: []loader.Attempt{{What: "fetch x.ko from http://10.0.2.2:1/, verify it and load it", Outcome: loader.Chosen, Duration: 166 * time.Millisecond}},
	}, Checks: []CheckResult{{Name: "tampered-artifact-refused", Pass: true, Note: "refused in 191ms: artifact does not match the signed index"}}}}
	md := Markdown(rows)
	for _, s := range []string{
		"| k1 | s | loader | pass | 0 | 0 | 170 |",
		"k1, loader: kmod chosen; driver ready in 170 ms, first alert in 355 ms. Attempts: 1. ok: fetch x.ko from http://10.0.2.2:1/, verify it and load it (166ms)",
		"k1, loader, tampered-artifact-refused: refused in 191ms",
		"| k1 | kmod | 170 | 181 | 355 |",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("matrix.md lacks %q:\n%s", s, md)
		}
	}
}
