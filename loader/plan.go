// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

// This file turns facts and options into a Plan: the ordered ways to get a
// driver into this kernel, each either possible or skipped with the reason.
// A Plan is deterministic and needs no privilege, so `vigil driver printenv`
// can show it and tests can table it; running its steps (fetching,
// building, finit_module, opening the probe) is the executor's job, which
// still meets what only the attempt reveals (a missing artifact, EPERM).

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/driver/kmod"
	"github.com/vigil-dev/vigil/mirror"
)

// Environment variables the CLI reads its loader options from.
const (
	EnvDriver = "VIGIL_DRIVER" // auto, kmod or bpf
	// EnvRepos lists mirrors (directories or URLs), tried in order,
	// separated by commas; a comma inside a URL is written %2C, and a
	// directory whose name has one must be given some other way.
	EnvRepos    = "VIGIL_DRIVER_REPOS"
	EnvHostRoot = "VIGIL_HOST_ROOT" // the host's root in a container: "/host"
)

// DefaultCacheDir is where modules are kept, under the host root, when
// Options.CacheDir is empty. Its layout is a mirror's,
// <driver-version>/<arch>/<artifact>, so a cache can be copied to or from
// one; on the host (not in the container) it survives the loader's restarts.
const DefaultCacheDir = "/var/cache/vigil/driver"

// MinProbeKernel is the oldest kernel the eBPF probe loads on (BPF ring
// buffers and BTF-typed tracepoints), as major and minor.
var MinProbeKernel = KernelVersion{Major: 5, Minor: 8}

// Driver is the driver a user asks for.
type Driver string

const (
	DriverAuto Driver = "auto" // the kernel module where it can be had, else the probe
	DriverKmod Driver = "kmod" // the kernel module only
	DriverBPF  Driver = "bpf"  // the embedded CO-RE eBPF probe only
)

// ParseDriver reads --driver or VIGIL_DRIVER; "" is auto.
func ParseDriver(s string) (Driver, error) {
	switch d := Driver(strings.ToLower(strings.TrimSpace(s))); d {
	case "":
		return DriverAuto, nil
	case DriverAuto, DriverKmod, DriverBPF:
		return d, nil
	case "modern_ebpf", "modern-ebpf", "modern_bpf", "ebpf":
		return "", fmt.Errorf("driver %q: vigil's CO-RE probe is called bpf: use --driver bpf (or %s=bpf)", s, EnvDriver)
	case "module", "kmod.ko", "kernel-module":
		return "", fmt.Errorf("driver %q: the kernel module is called kmod: use --driver kmod (or %s=kmod)", s, EnvDriver)
	}
	return "", fmt.Errorf("driver %q: want auto, kmod or bpf (--driver or %s)", s, EnvDriver)
}

// ParseRepos splits VIGIL_DRIVER_REPOS at commas, dropping empty entries
// and surrounding blanks.
func ParseRepos(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// Options are what the user chose.
type Options struct {
	Driver   Driver   // "" is auto
	Repos    []string // mirror URLs, tried in order
	CacheDir string   // "" is <HostRoot>/var/cache/vigil/driver
	// HostRoot is where the facts were read (ReadFacts' argument); NewPlan
	// refuses facts read elsewhere. "" accepts the facts' own.
	HostRoot string
	// Build allows building the module when no artifact can be had. The
	// zero Options do not build; the CLI's flag decides its default.
	Build bool
	// Prepare gets a module for the kernel the facts describe into the
	// cache without loading it: for another kernel than the running one
	// (Facts.ForKernel), so neither the running kernel's module support
	// nor the probe matters.
	Prepare bool
}

// StepKind is one way of getting a driver.
type StepKind string

const (
	StepLoaded StepKind = "loaded"     // use the vigil module already in the kernel
	StepCache  StepKind = "cache"      // load a module from the cache
	StepRepo   StepKind = "repository" // fetch a module from a mirror, verify it, cache it, load it
	StepBuild  StepKind = "build"      // build the module, cache it, load it
	StepProbe  StepKind = "probe"      // load the embedded eBPF probe
)

// BuildMethod is how a build step builds.
type BuildMethod string

const (
	// BuildHeaders runs kbuild (or DKMS) against the host's own headers.
	BuildHeaders BuildMethod = "headers"
	// BuildContainer runs builder/ in a container of the kernel's Debian
	// suite, with headers from the Debian archive: for hosts without them.
	BuildContainer BuildMethod = "container"
)

// Step is one way to get a driver, with what an executor needs to run it.
type Step struct {
	Kind StepKind
	// Skip says why this step cannot work here; "" when it may.
	Skip string

	// Artifact is the module's file name (kmod steps):
	// vigil_<target>_<release>_<version>.ko.
	Artifact string
	// Path is the module's path in a mirror and in the cache:
	// <driver-version>/<arch>/<Artifact>.
	Path string
	// CachePath is where the cache step looks for the module and where
	// the repository and build steps leave it: <CacheDir>/<Path>.
	CachePath string
	// Repo is the mirror as the user gave it (repository steps): a
	// directory, file:// or http(s):// URL (see OpenRepo); the module is
	// <Repo>/<Path>, vouched for by <Repo>/index.json and its signature.
	Repo string
	// Method and HeaderDirs are for build steps: the header directories
	// are tried in order (the first that exists is Facts.Headers).
	Method     BuildMethod
	HeaderDirs []string
	// Prepare is Options.Prepare: the module is cached, not loaded.
	Prepare bool
	// Unload is set on steps that load a module while another vigil module
	// (another version, or one that cannot serve) is loaded: remove it
	// first, or finit_module fails with EEXIST.
	Unload bool
}

// finish is what a step does with the module it got.
func (s Step) finish() string {
	if s.Prepare {
		return "cache it"
	}
	return "load it"
}

// Usable reports whether the step may work here.
func (s Step) Usable() bool { return s.Skip == "" }

// String is the step on one line: what it does, and why it is skipped.
func (s Step) String() string {
	var what string
	switch s.Kind {
	case StepLoaded:
		what = "use the loaded " + ModuleName + " module " + driver.DriverVersion
	case StepCache:
		what = "load " + s.Artifact + " from the cache (" + s.CachePath + ")"
	case StepRepo:
		what = "fetch " + s.Path + " from " + redactSpec(s.Repo) + ", verify it and " + s.finish()
	case StepBuild:
		if s.Method == BuildContainer {
			what = "build " + s.Artifact + " in a container of the kernel's Debian suite and " + s.finish()
		} else {
			what = "build " + s.Artifact + " with the host's headers (" + strings.Join(s.HeaderDirs, ", ") + ") and " + s.finish()
		}
	case StepProbe:
		what = "load the embedded eBPF probe"
	default:
		what = string(s.Kind)
	}
	if s.Unload && s.Usable() {
		what += ", after unloading the " + ModuleName + " module loaded now"
	}
	if s.Skip != "" {
		return what + ": skipped: " + s.Skip
	}
	return what
}

// Plan is the ordered list of ways to get a driver into this kernel. An
// executor tries the usable steps in order and stops at the first that
// works.
type Plan struct {
	Driver        Driver // what was asked for
	DriverVersion string // driver.DriverVersion
	Release       string // uname -r
	Target        Target
	Steps         []Step
	Prepare       bool // Options.Prepare: cache the module, do not load it
}

// ErrNoDriver is wrapped by NewPlan's error when no step can work.
var ErrNoDriver = errors.New("no driver can be loaded")

// NewPlan lays out the ways to get the driver o asks for into the kernel f
// describes. Driver auto tries the kernel module first: the loaded module
// of this version, then the cache, each repository in order, a build, and
// last the eBPF probe; kmod has the same steps but the probe; bpf has only
// the probe. When no step is usable the error (wrapping ErrNoDriver) lists
// every step with its reason, and the plan is returned too, for printing.
func NewPlan(f Facts, o Options) (*Plan, error) {
	d, err := ParseDriver(string(o.Driver))
	if err != nil {
		return nil, err
	}
	if o.HostRoot != "" && filepath.Clean(o.HostRoot) != filepath.Clean(f.HostRoot) {
		return nil, fmt.Errorf("the host facts were read under %s, but the options name host root %s: read them with ReadFacts(%q)", f.HostRoot, o.HostRoot, o.HostRoot)
	}
	if o.Prepare {
		if d == DriverBPF {
			return nil, errors.New("preparing a driver for another kernel is for the kernel module: the eBPF probe is in the binary already")
		}
		d = DriverKmod
	}
	p := &Plan{Driver: d, DriverVersion: driver.DriverVersion, Release: f.Release, Target: f.Target, Prepare: o.Prepare}
	if d != DriverBPF {
		steps, err := kmodSteps(f, o)
		if err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, steps...)
	}
	if d != DriverKmod {
		p.Steps = append(p.Steps, Step{Kind: StepProbe, Skip: probeSkip(f)})
	}
	if _, ok := p.First(); !ok {
		return p, p.noDriverError(f)
	}
	return p, nil
}

// First returns the first usable step.
func (p *Plan) First() (Step, bool) {
	for _, s := range p.Steps {
		if s.Usable() {
			return s, true
		}
	}
	return Step{}, false
}

// String renders the plan, one numbered line per step.
func (p *Plan) String() string {
	var b strings.Builder
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "%d. %s\n", i+1, s)
	}
	return b.String()
}

func (p *Plan) noDriverError(f Facts) error {
	// While the kernel takes modules the cache step stays usable, so a
	// plan fails only when the kernel refuses both drivers, or the one
	// asked for.
	fix := "no driver can run on this kernel as it is: remove one of the reasons above"
	if p.Driver == DriverKmod && probeSkip(f) == "" {
		fix = "the eBPF probe can run here: use --driver auto or bpf"
	}
	return fmt.Errorf("%w into kernel %s (--driver %s); the plan was:\n%s%s", ErrNoDriver, f.Release, p.Driver, p.String(), fix)
}

// kmodSteps are the kernel module's steps, in the order they are tried.
func kmodSteps(f Facts, o Options) ([]Step, error) {
	t := f.Target
	for _, part := range []struct{ what, v string }{
		{"target id", t.ID}, {"kernel release", t.Release}, {"kernel version (uname -v)", t.Version}, {"architecture (uname -m)", f.Arch},
	} {
		if part.v == "" || part.v == "." || part.v == ".." || strings.ContainsAny(part.v, "/\\\x00") {
			return nil, fmt.Errorf("cannot name the module for this kernel: %s %q is empty or not usable in a file name (target %+v)", part.what, part.v, t)
		}
	}
	name := t.ArtifactName()
	path := mirror.ArtifactPath(driver.DriverVersion, f.Arch, t.ID, t.Release, t.Version)
	cacheDir := o.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(f.HostRoot, DefaultCacheDir)
	}
	art := Step{Artifact: name, Path: path, CachePath: filepath.Join(cacheDir, filepath.FromSlash(path)), Prepare: o.Prepare}

	loaded := loadedStep(f)
	blocked := kmodSkip(f)
	if o.Prepare {
		// The module is for another kernel: what the running one allows
		// does not matter, and its loaded module is not for that kernel.
		loaded.Skip, blocked = "preparing a module for another kernel", ""
	}
	art.Unload = f.Module != nil && !loaded.Usable()

	steps := []Step{loaded}
	s := art
	s.Kind, s.Skip = StepCache, blocked
	steps = append(steps, s)
	for _, r := range o.Repos {
		s := art
		s.Kind, s.Repo, s.Skip = StepRepo, r, blocked
		steps = append(steps, s)
	}
	s = art
	s.Kind, s.HeaderDirs = StepBuild, HeaderDirs(f.HostRoot, f.Release)
	s.Skip = buildSkip(f, o, &s)
	steps = append(steps, s)
	return steps, nil
}

// loadedStep is the reuse of a module already in the kernel. Lockdown and
// signature enforcement do not rule it out: they refuse new modules, not
// one loaded at boot (say, signed by the host's own key).
func loadedStep(f Facts) Step {
	s := Step{Kind: StepLoaded}
	m := f.Module
	switch {
	case !f.Modules:
		s.Skip = noModules
	case m == nil:
		s.Skip = "no " + ModuleName + " module is loaded"
	case m.State != "Live":
		s.Skip = fmt.Sprintf("the loaded %s module is %s, not Live", ModuleName, m.State)
	case m.Version != driver.DriverVersion:
		v := m.Version
		if v == "" {
			v = "unversioned"
		}
		s.Skip = fmt.Sprintf("the loaded %s module is %s, this vigil needs %s", ModuleName, v, driver.DriverVersion)
	case m.API != 0 && m.API != kmod.APIVersion:
		s.Skip = fmt.Sprintf("the loaded %s module speaks API %d, this vigil %d", ModuleName, m.API, kmod.APIVersion)
	case m.Schema != "" && major(m.Schema) != major(driver.SchemaVersion):
		s.Skip = fmt.Sprintf("the loaded %s module writes schema %s, this vigil reads %s", ModuleName, m.Schema, driver.SchemaVersion)
	}
	return s
}

func major(v string) string { m, _, _ := strings.Cut(v, "."); return m }

const noModules = "the kernel has no module support (no /proc/modules)"

// kmodSkip is why no new module can be loaded into this kernel, or "".
func kmodSkip(f Facts) string {
	if !f.Modules {
		return noModules
	}
	var why []string
	if f.Lockdown == "integrity" || f.Lockdown == "confidentiality" {
		why = append(why, "lockdown="+f.Lockdown+" refuses unsigned modules")
	}
	if f.SigEnforce {
		why = append(why, "module.sig_enforce=Y and vigil's modules are unsigned")
	}
	if f.Distro.ID == "cos" {
		// LoadPin: COS loads modules only from its verified root file
		// system, which is why falcoctl never picks a module there.
		why = append(why, "Container-Optimized OS loads modules only from its own read-only root (LoadPin)")
	}
	return strings.Join(why, "; ")
}

// buildSkip chooses the build step's method and says why it cannot work.
func buildSkip(f Facts, o Options, s *Step) string {
	switch {
	case f.Headers != "":
		s.Method = BuildHeaders
	case f.KernelPackage != "":
		// Debian's kernels name their package in uname -v; only they are
		// in the catalogue the container builder takes headers from.
		s.Method = BuildContainer
	default:
		s.Method = BuildHeaders
	}
	if why := kmodSkip(f); why != "" && !o.Prepare {
		return why
	}
	if !o.Build {
		return "building is not allowed (enable it to build when no module can be had)"
	}
	if f.Headers == "" && s.Method == BuildHeaders {
		return fmt.Sprintf("no headers for %s (looked in %s), and the container builder knows only Debian's kernels, which name their package in uname -v: install the running kernel's headers", f.Release, strings.Join(s.HeaderDirs, ", "))
	}
	if s.Method == BuildHeaders && f.Distro.ID == "ol" && strings.Contains(f.Release, "uek") {
		// falcoctl's experience: a DKMS build on UEK always fails.
		return "builds against Oracle's UEK kernel headers fail (falcoctl skips them too)"
	}
	return ""
}

// probeSkip is why the eBPF probe cannot load here, or "".
func probeSkip(f Facts) string {
	var why []string
	if f.Kernel == (KernelVersion{}) {
		why = append(why, fmt.Sprintf("kernel release %q has no version to compare with %d.%d", f.Release, MinProbeKernel.Major, MinProbeKernel.Minor))
	} else if f.Kernel.Less(MinProbeKernel.Major, MinProbeKernel.Minor) {
		why = append(why, fmt.Sprintf("kernel %d.%d < %d.%d: the eBPF probe needs %d.%d and BTF",
			f.Kernel.Major, f.Kernel.Minor, MinProbeKernel.Major, MinProbeKernel.Minor, MinProbeKernel.Major, MinProbeKernel.Minor))
	}
	if !f.BTF {
		why = append(why, "no BTF ("+filepath.Join(f.SysDir, "kernel/btf/vmlinux")+" is absent)")
	}
	return strings.Join(why, "; ")
}
