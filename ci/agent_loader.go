// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

// The loader driver: the guest starts with nothing but vigil and its
// network card's modules, and gets its driver the way `vigil driver
// install` does (loader.ReadFacts, NewPlan, Load) from the host's mirror
// served over QEMU's user network; then the default rules must raise the
// sensitive-file alert for `cat /etc/shadow` on that driver's events.
// On one kernel it also runs the ways it must not load a module: a mirror
// without this kernel, a tampered artifact, an index signed by another
// key, a mirror that does not answer, and --driver kmod with no module to
// be had.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/ruleset"
	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/mirror"
)

// Kernel command line parameters of the loader driver.
const (
	paramRepo = "vigil.repo" // the mirror's URL, as the guest reaches it
	paramKey  = "vigil.key"  // its trusted public key (mirror.EncodePublicKey)
	// The failure cases, on one kernel: each a repository URL.
	paramAbsent    = "vigil.neg.absent"    // a mirror without this kernel's module...
	paramAbsentKey = "vigil.neg.absentkey" // ...signed by this key
	paramTampered  = "vigil.neg.tampered"  // the mirror, this kernel's module with a byte flipped
	paramOtherKey  = "vigil.neg.otherkey"  // the mirror, its index signed by a key nobody trusts
	paramClosed    = "vigil.neg.closed"    // a port nothing listens on
)

// LoaderRun is what the loader driver reports on the load that makes its
// row: which driver Load chose, every attempt, and how long protection
// took.
type LoaderRun struct {
	Chosen   string           `json:"chosen"` // kmod or bpf; "" when Load failed
	Attempts []loader.Attempt `json:"attempts"`
	// ReadyMS is from loader.ReadFacts to a driver ready to read;
	// AlertMS from loader.ReadFacts to the sensitive-file alert on the
	// guest's `cat /etc/shadow`.
	ReadyMS int64 `json:"ready_ms"`
	// FirstEventMS is from loader.ReadFacts to the first event read.
	FirstEventMS int64 `json:"first_event_ms"`
	AlertMS      int64 `json:"alert_ms"`
}

// firstEvent notes when its source gave its first event.
type firstEvent struct {
	driver.Source
	at time.Time
}

func (f *firstEvent) Next() (*driver.Event, error) {
	e, err := f.Source.Next()
	if err == nil && f.at.IsZero() {
		f.at = time.Now()
	}
	return e, err
}

// The alert the loader driver waits for, from the default rules.
const (
	shadowRule = "Sensitive file read by untrusted program"
	shadowFile = "/etc/shadow"
)

// Bounds of the guest's loads: a failure case must end well within a VM's
// timeout, and the mirror is on the host, a few hops away.
const (
	loadTimeout  = 2 * time.Minute
	alertTimeout = 30 * time.Second
	// closedBound is how long a mirror that does not answer may hold Load
	// up, with negRepo's settings.
	closedBound = 20 * time.Second
)

// negRepo are the transfer settings of the failure cases: few and short
// tries, so that the unreachable mirror costs seconds.
var negRepo = loader.RepoOptions{Timeout: 5 * time.Second, Attempts: 2, Backoff: 200 * time.Millisecond}

// runLoader runs the loader driver.
func runLoader(r AgentResult, logf func(string, ...any)) AgentResult {
	p := kernelParams()
	fail := func(format string, args ...any) AgentResult {
		r.Error = fmt.Sprintf(format, args...)
		return r
	}
	if p[paramRepo] == "" || p[paramKey] == "" {
		return fail("no %s or %s on the kernel command line: the runner passes them with a mirror (--modules, --key)", paramRepo, paramKey)
	}
	key, err := mirror.ParsePublicKey(p[paramKey])
	if err != nil {
		return fail("%s: %v", paramKey, err)
	}
	t0 := time.Now()
	ifname, err := netUp()
	if err != nil {
		return fail("%v", err)
	}
	logf("loader: %s is %s/%d, the mirror %s (network up in %s)", ifname, guestAddr, guestPrefix, p[paramRepo], time.Since(t0).Round(time.Millisecond))
	if err := guestHost(); err != nil {
		return fail("%v", err)
	}
	d, err := newDetection()
	if err != nil {
		return fail("%v", err)
	}
	var failed []string
	check := func(name string, fn func() (string, error)) {
		t := time.Now()
		note, err := fn()
		cr := CheckResult{Name: name, Pass: err == nil, Events: 1, MS: time.Since(t).Milliseconds(), Note: note}
		if err != nil {
			cr.Error, cr.Events = err.Error(), 0
			failed = append(failed, name)
			logf("loader/%s: FAIL: %v", name, err)
		}
		r.Checks = append(r.Checks, cr)
	}
	// The failure cases first, while no out-of-tree module has ever been
	// in this kernel: its taint then proves none was loaded even for a
	// moment.
	failureCases := p[paramAbsent] != ""
	if failureCases {
		for _, c := range d.failureCases(p, key) {
			check(c.name, c.run)
		}
	}
	// The row itself: auto, as `vigil driver install` runs by default,
	// must get the module from the repository.
	var run *LoaderRun
	check("kmod-from-repository", func() (string, error) {
		var err error
		run, err = d.loadAndDetect(loader.Options{Repos: []string{p[paramRepo]}}, []ed25519.PublicKey{key}, loader.RepoOptions{}, &r)
		if err != nil {
			return "", err
		}
		a, ok := chosenAttempt(run)
		if run.Chosen != string(loader.DriverKmod) || !ok || a.Step.Kind != loader.StepRepo {
			return "", fmt.Errorf("Load chose %q (%s), want the module from the repository; attempts:\n%s", run.Chosen, a.What, attemptLines(run.Attempts))
		}
		// The failure cases took an untainted kernel for proof that no
		// module was loaded: a loaded one must have tainted it.
		if failureCases && kernelTaint()&taintOOT == 0 {
			return "", errors.New("vigil's module loaded without tainting the kernel as out-of-tree: the failure cases' taint check proves nothing")
		}
		return "", nil
	})
	// The air-gapped path, on the kernel of the failure cases.
	if p[paramOCI] != "" {
		check("kmod-from-oci-registry", func() (string, error) { return d.fromRegistry(p, key) })
	}
	r.Loader = run
	if run != nil {
		r.LoadMS = run.ReadyMS
	}
	r.Pass = len(failed) == 0
	if !r.Pass {
		r.Error = "failed: " + strings.Join(failed, ", ")
	}
	return r
}

// guestHost makes the guest look like a host with something to protect:
// an /etc/shadow to read, the accounts the rules name users from, and cat,
// which is this binary under that name (selftest's cat workload).
func guestHost() error {
	for _, f := range []struct {
		path, data string
		mode       os.FileMode
	}{
		{"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644},
		{"/etc/group", "root:x:0:\nshadow:x:42:\n", 0o644},
		{shadowFile, "root:*:20000:0:99999:7:::\n", 0o640},
	} {
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			return fmt.Errorf("guest files: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll("/bin", 0o755); err != nil {
		return err
	}
	if err := os.Symlink(self, "/bin/cat"); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("guest files: %w", err)
	}
	return nil
}

// detection is the default rules, compiled once for the guest's loads.
type detection struct {
	prog *eval.Program
	tab  *driver.SyscallTable
}

func newDetection() (*detection, error) {
	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	prog, err := ruleset.Program(eval.Options{Syscalls: tab})
	if err != nil {
		return nil, err
	}
	return &detection{prog: prog, tab: tab}, nil
}

// config is what the driver captures for the rules, as `vigil run` asks.
func (d *detection) config() driver.Config {
	return driver.Config{Snaplen: driver.DefaultSnaplen, IgnorePID: uint32(os.Getpid()), Syscalls: engine.Syscalls(d.prog, d.tab)}
}

// load runs the loader as `vigil driver install --build=false` does (the
// guest has neither headers nor a Docker Engine to build with): the facts
// of this root, a plan from them and o, and Load. The run's attempts are
// filled in whatever the outcome.
func (d *detection) load(o loader.Options, keys []ed25519.PublicKey, repo loader.RepoOptions) (*loader.Loaded, *LoaderRun, error) {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	run := &LoaderRun{}
	t0 := time.Now()
	f, err := loader.ReadFacts("/")
	if err != nil {
		return nil, run, err
	}
	o.HostRoot = f.HostRoot
	plan, err := loader.NewPlan(f, o)
	if err != nil {
		return nil, run, err
	}
	l, err := loader.Load(ctx, f, plan, loader.LoadOptions{Config: d.config(), Keys: keys, Repo: repo, Log: prefixed{os.Stderr}})
	if l != nil && l.Report != nil {
		run.Attempts = l.Report.Attempts
	}
	if err != nil {
		return nil, run, err
	}
	run.Chosen, run.ReadyMS = string(l.Driver), time.Since(t0).Milliseconds()
	return l, run, nil
}

// loadAndDetect loads a driver and runs the default rules on its events
// until `cat /etc/shadow` raises the sensitive-file alert; then it closes
// the driver and unloads the module it loaded. The driver's counters go
// to r.
func (d *detection) loadAndDetect(o loader.Options, keys []ed25519.PublicKey, repo loader.RepoOptions, r *AgentResult) (run *LoaderRun, err error) {
	t0 := time.Now()
	l, run, err := d.load(o, keys, repo)
	if err != nil {
		return run, fmt.Errorf("load: %w", err)
	}
	if l.Driver == loader.DriverKmod {
		// The next load in this VM (another check, the kmod driver) must
		// find the kernel as it was.
		defer func() {
			if uerr := loader.UnloadModule(loader.ModuleName); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}()
	}
	src := &firstEvent{Source: l.Source}
	at, err := d.detectShadow(src, r)
	if err != nil {
		return run, err
	}
	run.AlertMS, run.FirstEventMS = at.Sub(t0).Milliseconds(), src.at.Sub(t0).Milliseconds()
	return run, nil
}

// detectShadow runs the engine on src, runs `cat /etc/shadow` and waits
// for the alert; it closes src.
func (d *detection) detectShadow(src driver.Source, r *AgentResult) (time.Time, error) {
	type seen struct {
		at   time.Time
		text string
	}
	got := make(chan seen, 1)
	host, _ := os.Hostname()
	eng, err := engine.New(engine.Config{
		Program: d.prog, HostRoot: "/", Live: true, Clock: driver.NewClock(), Syscalls: d.tab, Hostname: host,
		Emit: func(a *output.Alert) {
			if a.Rule == shadowRule && a.OutputFields["fd.name"] == shadowFile && a.OutputFields["proc.name"] == "cat" {
				select {
				case got <- seen{time.Now(), a.Output}:
				default:
				}
			}
		},
	})
	if err != nil {
		src.Close()
		return time.Time{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx, src) }()
	stop := func() error {
		if st, err := src.Stats(); err == nil && r != nil {
			r.Events, r.Drops, r.Missed = r.Events+st.Events, r.Drops+st.Drops, r.Missed+st.Missed
		}
		cancel()
		// Closing interrupts a Next that waits for events.
		cerr := src.Close()
		return errors.Join(<-done, cerr)
	}
	cat := exec.Command("/bin/cat", shadowFile)
	cat.Env = append(os.Environ(), "VIGIL_WORKLOAD=cat")
	cat.Stdout, cat.Stderr = io.Discard, os.Stderr
	if err := cat.Run(); err != nil {
		return time.Time{}, errors.Join(fmt.Errorf("cat %s: %w", shadowFile, err), stop())
	}
	select {
	case s := <-got:
		fmt.Fprintf(os.Stderr, "vigil-agent: loader: alert: %s\n", s.text)
		return s.at, stop()
	case <-time.After(alertTimeout):
		st := eng.Stats()
		return time.Time{}, errors.Join(fmt.Errorf("no %q alert for cat %s within %s (%d events, %d alerts)", shadowRule, shadowFile, alertTimeout, st.Events, st.Alerts), stop())
	}
}

// failureCase is one way the loader must not load a module.
type failureCase struct {
	name string
	run  func() (note string, err error)
}

// failureCases are the checks that the loader refuses what it must, and
// says why, with nothing reaching finit_module.
func (d *detection) failureCases(p map[string]string, key ed25519.PublicKey) []failureCase {
	trusted := []ed25519.PublicKey{key}
	taint := kernelTaint()
	// refused runs a load that must fail before any module reaches the
	// kernel, its repository attempt failing with want.
	refused := func(name, repo string, want error, keys []ed25519.PublicKey, bound time.Duration) failureCase {
		return failureCase{name, func() (string, error) {
			cache := filepath.Join(os.TempDir(), "vigil-cache-"+name)
			t0 := time.Now()
			_, run, err := d.load(loader.Options{Driver: loader.DriverKmod, Repos: []string{repo}, CacheDir: cache}, keys, negRepo)
			took := time.Since(t0)
			if err == nil {
				loader.UnloadModule(loader.ModuleName)
				return "", fmt.Errorf("Load gave %s; attempts:\n%s", run.Chosen, attemptLines(run.Attempts))
			}
			if !errors.Is(err, loader.ErrNoDriver) {
				return "", fmt.Errorf("Load: %v, want %v", err, loader.ErrNoDriver)
			}
			a, ok := repoAttempt(run)
			if !ok || a.Outcome != loader.Failed || !strings.Contains(a.Reason, want.Error()) {
				return "", fmt.Errorf("the repository attempt does not say %q; attempts:\n%s", want, attemptLines(run.Attempts))
			}
			if bound > 0 && took > bound {
				return "", fmt.Errorf("Load took %s, more than %s", took.Round(time.Millisecond), bound)
			}
			if err := nothingLoaded(cache, taint); err != nil {
				return "", err
			}
			return fmt.Sprintf("refused in %s: %s", took.Round(time.Millisecond), a.Reason), nil
		}}
	}
	absentKey, keyErr := mirror.ParsePublicKey(p[paramAbsentKey])
	absentKeys := []ed25519.PublicKey{absentKey}
	cases := []failureCase{
		{"absent-kernel-falls-back-to-probe", func() (string, error) {
			if keyErr != nil {
				return "", fmt.Errorf("%s: %w", paramAbsentKey, keyErr)
			}
			cache := filepath.Join(os.TempDir(), "vigil-cache-absent")
			run, err := d.loadAndDetect(loader.Options{Repos: []string{p[paramAbsent]}, CacheDir: cache}, absentKeys, negRepo, nil)
			if err != nil {
				return "", err
			}
			a, ok := repoAttempt(run)
			if run.Chosen != string(loader.DriverBPF) || !ok || !strings.Contains(a.Reason, loader.ErrNotInRepo.Error()) {
				return "", fmt.Errorf("chose %q, want the probe after the repository said the module is not there; attempts:\n%s", run.Chosen, attemptLines(run.Attempts))
			}
			if err := nothingLoaded(cache, taint); err != nil {
				return "", err
			}
			return fmt.Sprintf("probe ready in %d ms, alert in %d ms; the repository: %s", run.ReadyMS, run.AlertMS, a.Reason), nil
		}},
		refused("tampered-artifact-refused", p[paramTampered], loader.ErrChecksum, trusted, 0),
		refused("other-key-index-refused", p[paramOtherKey], loader.ErrBadSignature, trusted, 0),
		refused("unreachable-mirror-bounded", p[paramClosed], loader.ErrUnreachable, trusted, closedBound),
		{"kmod-without-module-errors", func() (string, error) {
			if keyErr != nil {
				return "", fmt.Errorf("%s: %w", paramAbsentKey, keyErr)
			}
			cache := filepath.Join(os.TempDir(), "vigil-cache-nomodule")
			_, run, err := d.load(loader.Options{Driver: loader.DriverKmod, Repos: []string{p[paramAbsent]}, CacheDir: cache}, absentKeys, negRepo)
			if !errors.Is(err, loader.ErrNoDriver) {
				return "", fmt.Errorf("Load: %v, want %v; attempts:\n%s", err, loader.ErrNoDriver, attemptLines(run.Attempts))
			}
			// Every kmod step is listed, and none is the probe's.
			kinds := map[loader.StepKind]bool{}
			for _, a := range run.Attempts {
				kinds[a.Step.Kind] = true
			}
			for _, k := range []loader.StepKind{loader.StepLoaded, loader.StepCache, loader.StepRepo, loader.StepBuild} {
				if !kinds[k] {
					return "", fmt.Errorf("the error lists no %s attempt:\n%s", k, err)
				}
			}
			if kinds[loader.StepProbe] {
				return "", fmt.Errorf("--driver kmod tried the probe:\n%s", err)
			}
			if err := nothingLoaded(cache, taint); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s; its %d attempts: %s", loader.ErrNoDriver, len(run.Attempts), attemptsLine(run.Attempts)), nil
		}},
	}
	return cases
}

// nothingLoaded checks that no vigil module is in the kernel, none was
// cached, and, when the kernel was untainted by out-of-tree modules before
// the failure cases, that it still is: a module loaded and unloaded again
// would have left the taint.
func nothingLoaded(cache string, taintBefore uint64) error {
	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		return err
	}
	if strings.Contains("\n"+string(mods), "\n"+loader.ModuleName+" ") {
		return fmt.Errorf("a %s module is loaded", loader.ModuleName)
	}
	var cached []string
	filepath.WalkDir(cache, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			cached = append(cached, p)
		}
		return nil
	})
	if len(cached) > 0 {
		return fmt.Errorf("the cache holds %s", strings.Join(cached, ", "))
	}
	if taintBefore&taintOOT == 0 && kernelTaint()&taintOOT != 0 {
		return errors.New("the kernel is now tainted by an out-of-tree module: one reached finit_module")
	}
	return nil
}

// taintOOT is the kernel's TAINT_OOT_MODULE bit: set for good by the first
// out-of-tree module loaded, as vigil's is.
const taintOOT = 1 << 12

// kernelTaint reads /proc/sys/kernel/tainted.
func kernelTaint() uint64 {
	b, _ := os.ReadFile("/proc/sys/kernel/tainted")
	var t uint64
	fmt.Sscan(string(b), &t)
	return t
}

func chosenAttempt(run *LoaderRun) (loader.Attempt, bool) {
	for _, a := range run.Attempts {
		if a.Outcome == loader.Chosen {
			return a, true
		}
	}
	return loader.Attempt{}, false
}

func repoAttempt(run *LoaderRun) (loader.Attempt, bool) {
	for _, a := range run.Attempts {
		if a.Step.Kind == loader.StepRepo {
			return a, true
		}
	}
	return loader.Attempt{}, false
}

func attemptLines(as []loader.Attempt) string {
	var b strings.Builder
	for i, a := range as {
		fmt.Fprintf(&b, "%d. %s\n", i+1, a)
	}
	return b.String()
}

// prefixed writes the loader's lines to the console as the agent's.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	fmt.Fprintf(p.w, "vigil-agent: loader: %s", b)
	return len(b), nil
}
