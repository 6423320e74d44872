// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/mirror"
)

// On this host (no module support) auto skips every module step with the
// reason and chooses the probe; with InstallOnly nothing is opened.
func TestLoadThisHostChoosesTheProbe(t *testing.T) {
	f, err := ReadFacts("/")
	if err != nil {
		t.Fatal(err)
	}
	if f.Modules {
		testenv.Unavailable(t, "this host takes modules; the test is for a host that refuses them")
	}
	p, err := NewPlan(f, Options{Repos: []string{"http://127.0.0.1:1/"}, Build: true})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	l, err := Load(context.Background(), f, p, LoadOptions{InstallOnly: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if l.Driver != DriverBPF || l.Source != nil {
		t.Fatalf("driver %s, source %v: want the probe, nothing opened", l.Driver, l.Source)
	}
	rep := l.Report
	if len(rep.Attempts) != len(p.Steps) {
		t.Fatalf("%d attempts for %d steps:\n%s", len(rep.Attempts), len(p.Steps), rep)
	}
	for _, a := range rep.Attempts[:len(rep.Attempts)-1] {
		if a.Outcome != Skipped || !strings.Contains(a.Reason, "no module support") {
			t.Errorf("module step %q: %s (%s), want skipped for want of module support", a.What, a.Outcome, a.Reason)
		}
	}
	if last := rep.Attempts[len(rep.Attempts)-1]; last.Outcome != Chosen || last.Step.Kind != StepProbe {
		t.Errorf("last attempt %s", last)
	}
	if !strings.Contains(log.String(), "skipped: use the loaded vigil module "+driver.DriverVersion+": the kernel has no module support") || !strings.Contains(log.String(), "ok: load the embedded eBPF probe") {
		t.Errorf("log:\n%s", log.String())
	}

	// Without InstallOnly the probe is opened and is a live source.
	testenv.RequireProbe(t)
	l, err = Load(context.Background(), f, p, LoadOptions{Config: driver.Config{Snaplen: driver.DefaultSnaplen}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Source.Close()
	if _, err := l.Source.Stats(); err != nil || l.Report.Ready <= 0 {
		t.Errorf("live probe: stats %v, ready %s", err, l.Report.Ready)
	}
}

// moduleKernelHost is this host's facts as if its kernel took modules, with the
// cache, the lock and /proc/modules under a temporary host root. The
// module steps then run for real up to finit_module, which this kernel
// (or, on one that takes modules, its check of the fake module) refuses.
func moduleKernelHost(t *testing.T) Facts {
	t.Helper()
	f, err := ReadFacts("/")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	f.HostRoot, f.Modules, f.Lockdown, f.SigEnforce, f.Module = root, true, "none", false, nil
	f.ProcDir = filepath.Join(root, "proc")
	writeTestFile(t, filepath.Join(f.ProcDir, "modules"), nil)
	return f
}

// signedModuleMirror is a signed mirror holding a fake module for f's
// kernel under the name the plan looks for.
func signedModuleMirror(t *testing.T, f Facts, p *Plan) (root string, pub ed25519.PublicKey, priv ed25519.PrivateKey) {
	t.Helper()
	ko := fakeModule(t, "name=vigil\x00vermagic="+f.Release+" SMP mod_unload \x00version="+driver.DriverVersion+"\x00")
	root = t.TempDir()
	s, _ := p.First()
	b, err := os.ReadFile(ko)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(root, filepath.FromSlash(s.Path)), b)
	e, err := mirror.EntryFor(root, s.Path)
	if err != nil {
		t.Fatal(err)
	}
	e.Target = mirror.Target{Distro: f.Target.ID, Release: f.Target.Release, Version: f.Target.Version, Arch: f.Arch}
	e.DriverVersion = driver.DriverVersion
	ix := &mirror.Index{}
	ix.Put(e)
	pub, priv, err = mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror.WriteSigned(root, ix, priv); err != nil {
		t.Fatal(err)
	}
	return root, pub, priv
}

// A repository's module is verified (signature, size, sha256) and cached
// before finit_module sees it; a tampered artifact or an index signed by
// another key never reaches the kernel, and the probe takes over.
func TestLoadVerifiesBeforeFinitModule(t *testing.T) {
	f := moduleKernelHost(t)
	p, err := NewPlan(f, Options{HostRoot: f.HostRoot, Repos: []string{"REPO"}})
	if err != nil {
		t.Fatal(err)
	}
	repoStep := p.Steps[2]
	if repoStep.Kind != StepRepo {
		t.Fatalf("plan:\n%s", p)
	}
	root, pub, _ := signedModuleMirror(t, f, p)
	srv := serveMirror(t, root, nil)
	other, _, _ := mirror.GenerateKey()
	finitReached := func(a Attempt) bool { return strings.Contains(a.Reason, "load "+repoStep.CachePath) }

	for _, c := range []struct {
		name    string
		keys    []ed25519.PublicKey
		tamper  bool
		wantErr error // nil: verified, cached, handed to finit_module
	}{
		{"verified", []ed25519.PublicKey{pub}, false, nil},
		{"tampered", []ed25519.PublicKey{pub}, true, ErrChecksum},
		{"other key", []ed25519.PublicKey{other}, false, ErrBadSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.RemoveAll(filepath.Join(f.HostRoot, DefaultCacheDir))
			art := filepath.Join(root, filepath.FromSlash(repoStep.Path))
			if c.tamper {
				flipByte(t, art, 100)
				defer flipByte(t, art, 100)
			}
			pp := *p
			pp.Steps = append([]Step(nil), p.Steps...)
			pp.Steps[2].Repo = srv.URL
			l, err := Load(context.Background(), f, &pp, LoadOptions{Keys: c.keys, InstallOnly: true,
				Repo: RepoOptions{Attempts: 1, Timeout: 10 * time.Second}})
			if err != nil || l.Driver != DriverBPF {
				t.Fatalf("driver %v, %v: the probe should take over", l.Driver, err)
			}
			a := l.Report.Attempts[2]
			if a.Outcome != Failed {
				t.Fatalf("repository attempt: %s", a)
			}
			if c.wantErr == nil {
				if !finitReached(a) {
					t.Errorf("a verified module did not reach finit_module: %s", a)
				}
				if err := checkCached(repoStep.CachePath); err != nil {
					t.Errorf("the verified module is not in the cache: %v", err)
				}
				return
			}
			if finitReached(a) || !strings.Contains(a.Reason, c.wantErr.Error()) {
				t.Errorf("attempt %s, want %v and no finit_module", a, c.wantErr)
			}
			if _, err := os.Stat(repoStep.CachePath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("an unverified module is in the cache (%v)", err)
			}
		})
	}
}

// A cached module whose bytes changed since they were verified is removed,
// not loaded.
func TestLoadCacheTampered(t *testing.T) {
	f := moduleKernelHost(t)
	p, err := NewPlan(f, Options{HostRoot: f.HostRoot})
	if err != nil {
		t.Fatal(err)
	}
	cache := p.Steps[1]
	ko := fakeModule(t, "name=vigil\x00vermagic="+f.Release+" SMP \x00")
	b, _ := os.ReadFile(ko)
	writeTestFile(t, cache.CachePath, b)
	sum, _ := fileSHA256(cache.CachePath)
	if err := writeSum(cache.CachePath, sum); err != nil {
		t.Fatal(err)
	}
	flipByte(t, cache.CachePath, 200)
	l, err := Load(context.Background(), f, p, LoadOptions{InstallOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	a := l.Report.Attempts[1]
	if a.Outcome != Failed || !strings.Contains(a.Reason, ErrChecksum.Error()) || strings.Contains(a.Reason, "load "+cache.CachePath) {
		t.Errorf("cache attempt: %s", a)
	}
	if _, err := os.Stat(cache.CachePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tampered module is still cached (%v)", err)
	}
	// A module dropped in the cache without its checksum is not trusted.
	writeTestFile(t, cache.CachePath, b)
	if err := checkCached(cache.CachePath); err == nil || !strings.Contains(err.Error(), "not put there by a verified") {
		t.Errorf("unvouched cache file: %v", err)
	}
}

// --driver kmod with no way to a module fails, listing every attempt.
func TestLoadKmodNoWay(t *testing.T) {
	f := moduleKernelHost(t)
	p, err := NewPlan(f, Options{HostRoot: f.HostRoot, Driver: DriverKmod, Repos: []string{"http://127.0.0.1:1/"}})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := mirror.GenerateKey()
	l, err := Load(context.Background(), f, p, LoadOptions{InstallOnly: true, Keys: []ed25519.PublicKey{pub},
		Repo: RepoOptions{Attempts: 1, Timeout: time.Second}})
	if !errors.Is(err, ErrNoDriver) {
		t.Fatalf("err %v, want ErrNoDriver", err)
	}
	if l.Driver != "" || len(l.Report.Attempts) != len(p.Steps) {
		t.Errorf("driver %q, %d attempts for %d steps", l.Driver, len(l.Report.Attempts), len(p.Steps))
	}
	for _, w := range []string{"not in the cache", "127.0.0.1:1", "unreachable", "building is not allowed"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x20
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
