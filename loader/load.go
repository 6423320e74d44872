// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

// This file runs a Plan: it tries the usable steps in order until one
// gives a driver, and keeps a report of every attempt. It is the only
// place where a driver reaches user space: vigil run, events, capture,
// driver install and the matrix agent all come through Load.

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/driver/kmod"
)

// LoadOptions say how to run the steps and what to hand back.
type LoadOptions struct {
	// Config is what the opened source captures.
	Config driver.Config
	// BufferSize is the probe's per-CPU ring size in bytes (0: its default).
	BufferSize int
	// ModuleParams are finit_module's parameters ("ring_pages=256").
	ModuleParams string
	// Keys are the trusted public keys of the repositories' indexes.
	Keys []ed25519.PublicKey
	// Repo are the transfer settings (timeouts, retries, headers, CA,
	// proxy, progress); its Keys are Keys.
	Repo RepoOptions
	// InstallOnly gets the module into the kernel without opening it, as
	// an init container does; the probe step then only records that the
	// probe will be used. Load returns no Source.
	InstallOnly bool
	// DevDir holds the module's devices (default "/dev").
	DevDir string
	// Build builds a module for a build step (nil: build steps fail
	// with ErrNotSupported). The module must be written to step.CachePath.
	Build func(ctx context.Context, f Facts, s Step) error
	// Log receives one line per attempt as it ends (nil: none).
	Log io.Writer
}

// Outcome is how an attempt ended.
type Outcome string

const (
	Skipped Outcome = "skipped" // the plan ruled the step out
	Failed  Outcome = "failed"  // tried, and it did not give a driver
	Chosen  Outcome = "ok"      // this step's driver is the one in use
)

// Attempt is one step of the plan as it was run.
type Attempt struct {
	Step     Step          `json:"-"`
	What     string        `json:"step"` // the step as Step.String renders it
	Outcome  Outcome       `json:"outcome"`
	Reason   string        `json:"reason,omitempty"` // why it was skipped or failed
	Duration time.Duration `json:"duration_ns"`
}

func (a Attempt) String() string {
	s := fmt.Sprintf("%s: %s", a.Outcome, a.What)
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	if a.Outcome != Skipped {
		s += fmt.Sprintf(" (%s)", a.Duration.Round(time.Millisecond))
	}
	return s
}

// Report is every attempt of one Load, and what came of it.
type Report struct {
	Release  string    `json:"kernel_release"`
	Target   string    `json:"target"`
	Asked    Driver    `json:"asked"`
	Driver   Driver    `json:"driver,omitempty"` // kmod or bpf; "" when none could be had
	Attempts []Attempt `json:"attempts"`
	// Ready is the time from Load's start to a usable driver.
	Ready time.Duration `json:"ready_ns"`
}

func (r *Report) String() string {
	var b strings.Builder
	for i, a := range r.Attempts {
		fmt.Fprintf(&b, "%d. %s\n", i+1, a)
	}
	return b.String()
}

// Loaded is the driver Load got.
type Loaded struct {
	Driver Driver        // DriverKmod or DriverBPF
	Source driver.Source // nil with InstallOnly
	Report *Report
}

// Load runs the plan's steps in order and returns the first driver that
// works. Whatever the outcome, the report lists every step: skipped ones
// with the plan's reason, failed ones with the error. When no step works
// the error wraps ErrNoDriver and names each failure.
func Load(ctx context.Context, f Facts, p *Plan, o LoadOptions) (*Loaded, error) {
	start := time.Now()
	rep := &Report{Release: f.Release, Target: p.Target.ArtifactName(), Asked: p.Driver}
	if o.DevDir == "" {
		o.DevDir = "/dev"
	}
	o.Repo.Keys = o.Keys
	for _, s := range p.Steps {
		a := Attempt{Step: s, What: s.String(), Outcome: Skipped, Reason: s.Skip}
		if !s.Usable() {
			a.What, _, _ = strings.Cut(a.What, ": skipped: ")
			rep.add(a, o.Log)
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load a driver: %w", err)
		}
		t0 := time.Now()
		src, err := runStep(ctx, f, p, s, o)
		a.Duration = time.Since(t0)
		if err != nil {
			a.Outcome, a.Reason = Failed, err.Error()
			rep.add(a, o.Log)
			continue
		}
		a.Outcome = Chosen
		rep.add(a, o.Log)
		rep.Driver = DriverKmod
		if s.Kind == StepProbe {
			rep.Driver = DriverBPF
		}
		rep.Ready = time.Since(start)
		return &Loaded{Driver: rep.Driver, Source: src, Report: rep}, nil
	}
	return &Loaded{Report: rep}, fmt.Errorf("%w into kernel %s (--driver %s); what was tried:\n%s", ErrNoDriver, f.Release, p.Driver, rep)
}

func (r *Report) add(a Attempt, log io.Writer) {
	r.Attempts = append(r.Attempts, a)
	if log != nil {
		fmt.Fprintf(log, "driver: %s\n", a)
	}
}

// runStep runs one usable step: the module into the kernel (and its
// devices open), or the probe attached.
func runStep(ctx context.Context, f Facts, p *Plan, s Step, o LoadOptions) (driver.Source, error) {
	switch s.Kind {
	case StepLoaded:
		return openModule(o)
	case StepCache:
		if err := checkCached(s.CachePath); err != nil {
			return nil, err
		}
	case StepRepo:
		r, err := OpenRepo(s.Repo, withArch(o.Repo, f.Arch))
		if err != nil {
			return nil, err
		}
		res, err := r.Fetch(ctx, s.Artifact, s.CachePath)
		if err != nil {
			return nil, err
		}
		if err := writeSum(s.CachePath, res.Entry.SHA256); err != nil {
			return nil, err
		}
	case StepBuild:
		if o.Build == nil {
			return nil, fmt.Errorf("no builder in this program: %w", driver.ErrNotSupported)
		}
		if err := o.Build(ctx, f, s); err != nil {
			return nil, err
		}
		sum, err := fileSHA256(s.CachePath)
		if err != nil {
			return nil, fmt.Errorf("the build left no module: %w", err)
		}
		if err := writeSum(s.CachePath, sum); err != nil {
			return nil, err
		}
	case StepProbe:
		if o.InstallOnly {
			// The probe is embedded in the binary: nothing to install.
			// Whether it loads is known when the main container opens it.
			return nil, nil
		}
		p, err := bpf.Open(o.Config, bpf.Options{BufferSize: o.BufferSize})
		if err != nil {
			return nil, err
		}
		return p, nil
	default:
		return nil, fmt.Errorf("step %q: unknown", s.Kind)
	}
	if p.Prepare {
		// For another kernel: cached and checked, never loaded here.
		_, err := CheckModuleFor(s.CachePath, f.Release)
		return nil, err
	}
	if err := insertModule(f, s, o); err != nil {
		return nil, err
	}
	return openModule(o)
}

func withArch(r RepoOptions, arch string) RepoOptions {
	if r.Arch == "" {
		r.Arch = arch
	}
	return r
}

// openModule opens the loaded module's devices, which checks its API and
// schema against this vigil's.
func openModule(o LoadOptions) (driver.Source, error) {
	if o.InstallOnly {
		return nil, nil
	}
	return kmod.Open(o.DevDir, o.Config)
}

// insertModule puts the module at s.CachePath into the kernel, once the
// vermagic says it is for this kernel. Concurrent loaders (two pods of a
// restarted DaemonSet, say) take turns through a lock under the host root.
func insertModule(f Facts, s Step, o LoadOptions) (err error) {
	unlock, err := lock(f.HostRoot)
	if err != nil {
		return err
	}
	defer unlock()
	name, err := CheckModuleFor(s.CachePath, f.Release)
	if err != nil {
		return err
	}
	// Another loader may have loaded this very module while we waited.
	if m, err := readLoaded(f.ProcDir, f.SysDir); err == nil && m != nil {
		if m.State == "Live" && m.Version == driver.DriverVersion {
			return nil
		}
		if err := unloadIdle(f.SysDir); err != nil {
			return err
		}
	}
	// Checked above against the facts' release: the host's, as uname in
	// a container says too.
	return finitModule(s.CachePath, name, o.ModuleParams)
}

// unloadIdle removes the loaded vigil module (another version, or a
// broken one) unless a reader holds it: taking a running agent's driver
// away would blind it.
func unloadIdle(sysDir string) error {
	b, err := os.ReadFile(filepath.Join(sysDir, "module", ModuleName, "refcnt"))
	if err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n > 0 {
			return fmt.Errorf("another %s module is loaded and %d reader(s) hold it: stop them (vigil run, events) or run vigil driver cleanup, then retry", ModuleName, n)
		}
	}
	return UnloadModule(ModuleName)
}

// The cache keeps each module's sha256 beside it, as the index vouched for
// it (or as the build made it). A module whose bytes no longer match is
// removed and not loaded: the cache is on the host's disk, and a file
// changed there is not the file that was verified.
const sumSuffix = ".sha256"

func checkCached(path string) error {
	want, err := os.ReadFile(path + sumSuffix)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(path); serr == nil {
			return fmt.Errorf("%s has no %s beside it, so it was not put there by a verified download or build: ignored", path, sumSuffix)
		}
		return errors.New("not in the cache")
	}
	if err != nil {
		return fmt.Errorf("read the cache: %w", err)
	}
	got, err := fileSHA256(path)
	if err != nil {
		return fmt.Errorf("read the cache: %w", err)
	}
	if got != strings.TrimSpace(string(want)) {
		os.Remove(path)
		os.Remove(path + sumSuffix)
		return fmt.Errorf("%w: cached %s has sha256 %s, it was verified as %s: removed", ErrChecksum, path, got, strings.TrimSpace(string(want)))
	}
	return nil
}

func writeSum(path, sum string) error {
	if err := writeFileAtomic(path+sumSuffix, []byte(sum+"\n")); err != nil {
		return fmt.Errorf("cache %s: %w", path, err)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LockDir is where loaders take turns, under the host root: the
// DaemonSet mounts it from the host so that every pod sees one lock.
const LockDir = "/run/vigil"

// lock serialises module loads on this host (flock on a file under
// <hostRoot>/run/vigil). The kernel releases it if the loader dies.
func lock(hostRoot string) (func(), error) {
	dir := filepath.Join(hostRoot, LockDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("loader lock: %w", err)
	}
	path := filepath.Join(dir, "loader.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("loader lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("loader lock %s: %w", path, err)
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}
