// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package ci is the kernel compatibility matrix: it boots each kernel in
// QEMU with vigil itself as /init, and the in-VM agent loads each driver,
// runs the selftest workloads with their assertions, unloads, and reports.
package ci

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/loader"
)

// Kernel is one kernel of the matrix.
type Kernel struct {
	Name  string // what users call it: "bookworm/6.1.0-50-cloud-amd64"
	Suite string
	// Image returns the kernel's vmlinuz, fetching it first if need be; it
	// runs in the worker that boots the kernel, so downloads overlap boots.
	Image func(ctx context.Context) (string, error)
	// Params are added to the kernel command line (the tests pass
	// vigil.fault=... here).
	Params string
	// Modules are kernel modules built for this kernel; the "module"
	// driver loads and unloads each of them in the VM.
	Modules []string
	// Foreign is a module built for another kernel, which the kmod
	// driver's loader must refuse.
	Foreign string
	// Distro is the os-release ID of the kernel's distribution ("debian"):
	// the loader driver's guest says it, as mirrors name artifacts by it.
	Distro string
	// ModuleTree returns the directory of the kernel's own modules
	// (/lib/modules/<release> extracted from its packages), fetching them
	// first if need be: the loader driver's guest loads its network card's
	// modules from there.
	ModuleTree func(ctx context.Context) (string, error)
}

// Options of a matrix run.
type Options struct {
	Drivers []string      // "bpf", "kmod", "module", "loader", "parity" (added with bpf and kmod); empty: bpf
	Jobs    int           // VMs at once; 0: one per CPU
	Out     string        // matrix.md, matrix.json and one directory per kernel
	Agent   string        // a statically linked vigil
	Timeout time.Duration // per VM; 0: DefaultTimeout
	// Retries boots a kernel again when a VM ended without any report
	// (a panic or a hang before the agent spoke). QEMU's TCG, with no KVM
	// here, corrupts a guest now and then; a retry that passes is marked
	// as such in the row, never hidden.
	Retries  int
	Progress io.Writer // one line per kernel started and finished; nil: none
	// Accel is AccelAuto (the default: KVM once a probe boot proves it
	// works, else TCG), AccelKVM or AccelTCG.
	Accel string
	// Mirror and Key are a mirror directory and its trusted public key,
	// for the loader driver: the run serves the mirror on a loopback port,
	// and each guest fetches its module from there.
	Mirror string
	Key    ed25519.PublicKey
}

// Row is one line of the matrix: one driver on one kernel.
type Row struct {
	Kernel      string `json:"kernel"`
	Suite       string `json:"suite"`
	Driver      string `json:"driver"`
	Pass        bool   `json:"pass"`
	Events      uint64 `json:"events"`
	LoadMS      int64  `json:"load_ms"`
	Drops       uint64 `json:"drops"`
	Missed      uint64 `json:"missed"` // probe runs the kernel skipped (eBPF recursion guard)
	Error       string `json:"error"`
	ConsoleTail string `json:"console_tail"`
	BootMS      int64  `json:"boot_ms"` // the whole VM, boot to power-off
	Accel       string `json:"accel"`   // the accelerator the VM ran under: kvm or tcg
	// Retried says why the kernel was booted again, when it was.
	Retried string        `json:"retried,omitempty"`
	Checks  []CheckResult `json:"checks,omitempty"`
	Bench   *Bench        `json:"bench,omitempty"`  // driver "bench" only
	Loader  *LoaderRun    `json:"loader,omitempty"` // driver "loader" only
}

// DefaultTimeout bounds one VM: boot, both drivers' checks under TCG, power-off.
const DefaultTimeout = 10 * time.Minute

// consoleTailLines is how much of a failed VM's console a row keeps.
const consoleTailLines = 60

// Run boots every kernel, up to Jobs at a time, and returns one row per
// kernel and driver, in the order of kernels. A kernel that fails to fetch,
// boot or pass gives failing rows; Run's error is only for a run that
// could not start.
func Run(ctx context.Context, kernels []Kernel, opts Options) ([]Row, error) {
	var err error
	if len(opts.Drivers) == 0 {
		opts.Drivers = []string{"bpf"}
	}
	for _, d := range opts.Drivers {
		if !slices.Contains(knownDrivers, d) {
			return nil, fmt.Errorf("driver %q: the matrix knows bpf, libbpf (the probe loaded through libbpf, on one kernel), kmod, parity, bench, module (a mirror's modules loaded in each kernel) and loader (the module fetched from a mirror by the loader)", d)
		}
	}
	opts.Drivers = withParity(opts.Drivers)
	if opts.Accel, err = ParseAccel(opts.Accel); err != nil {
		return nil, err
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if _, err := qemuBinary(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, fmt.Errorf("matrix output: %w", err)
	}
	initrd := filepath.Join(opts.Out, "initramfs.cpio")
	if err := WriteInitramfs(initrd, opts.Agent); err != nil {
		return nil, err
	}
	var repos *loaderRepos
	if slices.Contains(opts.Drivers, "loader") {
		if repos, err = startLoaderRepos(opts, kernels); err != nil {
			return nil, err
		}
		defer repos.Close()
	}
	// The libbpf driver runs on one kernel; a kernel left with no driver
	// is not booted.
	libbpfOn := libbpfKernel(kernels)
	driversFor := func(i int) []string {
		if i == libbpfOn {
			return opts.Drivers
		}
		return slices.DeleteFunc(slices.Clone(opts.Drivers), func(d string) bool { return d == "libbpf" })
	}
	boots := 0
	for i := range kernels {
		if len(driversFor(i)) > 0 {
			boots++
		}
	}
	p := &progress{w: opts.Progress, total: boots}
	accel := &accelChoice{want: opts.Accel, report: p.accel}
	rows := make([][]Row, len(kernels))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.Jobs, len(kernels)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				o := opts
				if o.Drivers = driversFor(i); len(o.Drivers) == 0 {
					continue
				}
				p.start(kernels[i].Name)
				k := kernels[i]
				if repos != nil {
					k.Params = strings.TrimSpace(k.Params + " " + repos.params(k.Name))
				}
				rows[i] = runKernel(ctx, k, initrd, accel, o)
				p.finish(kernels[i].Name, rows[i])
			}
		}()
	}
	for i := range kernels {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	var out []Row
	for _, r := range rows {
		out = append(out, r...)
	}
	return out, nil
}

var knownDrivers = []string{"bpf", "libbpf", "kmod", "parity", "bench", "module", "loader"}

// libbpfKernel is the one kernel the libbpf driver runs on: proof that a
// third party's libbpf loads the object needs no more than one. Trixie's
// (Debian 13, whose libbpf third parties build with today), else the
// last kernel given (the matrix lists the newest last).
func libbpfKernel(kernels []Kernel) int {
	for i, k := range kernels {
		if k.Suite == "trixie" {
			return i
		}
	}
	return len(kernels) - 1
}

// vmOrder is the order the agent runs the drivers in: the loader first,
// so that it finds the kernel as a host would, with no vigil module ever
// loaded (the failure cases check the kernel's taint for that).
func vmOrder(drivers []string) []string {
	if !slices.Contains(drivers, "loader") {
		return drivers
	}
	return append([]string{"loader"}, slices.DeleteFunc(slices.Clone(drivers), func(d string) bool { return d == "loader" })...)
}

// kernelWarning matches the first line of what a kernel prints when
// something went wrong that it survived: a WARN_ON, a BUG, KASAN and
// UBSAN reports, lockdep's findings, a sleep in atomic context, RCU stalls.
var kernelWarning = regexp.MustCompile(`WARNING: CPU: \d+|BUG: |KASAN: |UBSAN: |possible circular locking dependency|` +
	`inconsistent lock state|possible recursive locking|sleeping function called from invalid context|` +
	`rcu_sched self-detected stall|rcu: INFO: .* detected stalls|general protection fault|Oops: `)

// KernelWarnings returns the console lines (at most a few) where the kernel
// reported a problem.
func KernelWarnings(console string) []string {
	b, err := os.ReadFile(console)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if kernelWarning.MatchString(line) {
			out = append(out, strings.TrimSpace(line))
			if len(out) == 3 {
				break
			}
		}
	}
	return out
}

// withParity adds the parity check when both drivers run: the module and
// the probe must then also agree with each other, event for event.
func withParity(drivers []string) []string {
	if slices.Contains(drivers, "bpf") && slices.Contains(drivers, "kmod") && !slices.Contains(drivers, "parity") {
		return append(slices.Clone(drivers), "parity")
	}
	return drivers
}

// runKernel fetches and boots one kernel and turns what came out into rows.
func runKernel(ctx context.Context, k Kernel, initrd string, accel *accelChoice, opts Options) []Row {
	fail := func(err error, tail string) []Row {
		var rows []Row
		for _, d := range opts.Drivers {
			rows = append(rows, Row{Kernel: k.Name, Suite: k.Suite, Driver: d, Error: err.Error(), ConsoleTail: tail})
		}
		return rows
	}
	image, err := k.Image(ctx)
	if err != nil {
		return fail(fmt.Errorf("fetch kernel: %w", err), "")
	}
	dir := filepath.Join(opts.Out, strings.NewReplacer("/", "_", " ", "_").Replace(k.Name))
	withLoader := slices.Contains(opts.Drivers, "loader")
	vmDrivers := opts.Drivers
	var loaderErr error
	if len(k.Modules) > 0 || withLoader {
		// This kernel's own modules go into its own initramfs.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fail(err, "")
		}
		var files []File
		for _, m := range k.Modules {
			files = append(files, File{Host: m, Guest: guestModules + "/" + filepath.Base(m)})
		}
		if k.Foreign != "" {
			files = append(files, File{Host: k.Foreign, Guest: guestForeign + "/" + filepath.Base(k.Foreign)})
		}
		if withLoader {
			more, err := loaderFiles(ctx, k, dir)
			if err != nil {
				// Its row says why; the other drivers need none of it.
				loaderErr, withLoader = err, false
				vmDrivers = slices.DeleteFunc(slices.Clone(vmDrivers), func(d string) bool { return d == "loader" })
			}
			files = append(files, more...)
		}
		if len(vmDrivers) == 0 {
			return fail(loaderErr, "")
		}
		initrd = filepath.Join(dir, "initramfs.cpio")
		if err := WriteInitramfs(initrd, opts.Agent, files...); err != nil {
			return fail(err, "")
		}
	}
	vm := VM{
		Accel:   accel.get(ctx, image),
		Kernel:  image,
		Initrd:  initrd,
		Params:  strings.TrimSpace("vigil.drivers=" + strings.Join(vmOrder(vmDrivers), ",") + " " + k.Params),
		Timeout: opts.Timeout,
		Dir:     dir,
		Net:     withLoader,
	}
	var retried []string
	var boot *Boot
	for attempt := 0; ; attempt++ {
		boot, err = vm.Run(ctx)
		if err != nil {
			return fail(err, "")
		}
		if boot.Err == nil || len(boot.Results) > 0 || attempt >= opts.Retries || ctx.Err() != nil {
			break
		}
		// Keep the failed boot's console beside the next one's.
		kept := fmt.Sprintf("%s.%d", boot.Console, attempt+1)
		_ = os.Rename(boot.Console, kept)
		retried = append(retried, fmt.Sprintf("boot %d: %v (console: %s)", attempt+1, boot.Err, kept))
	}
	// A kernel that warned (lockdep, KASAN, a sleep in atomic context) is
	// a failure of whatever ran in it, even when every check passed.
	warned := KernelWarnings(boot.Console)
	var rows []Row
	for _, d := range opts.Drivers {
		row := Row{Kernel: k.Name, Suite: k.Suite, Driver: d, BootMS: boot.Elapsed.Milliseconds(),
			Accel: vm.Accel, Retried: strings.Join(retried, "; ")}
		var res *AgentResult
		for i := range boot.Results {
			if boot.Results[i].Driver == d {
				res = &boot.Results[i]
			}
		}
		switch {
		case d == "loader" && loaderErr != nil:
			row.Error = loaderErr.Error()
		case res != nil:
			row.Pass, row.Events, row.Drops, row.Missed, row.LoadMS, row.Error, row.Checks, row.Bench, row.Loader =
				res.Pass, res.Events, res.Drops, res.Missed, res.LoadMS, res.Error, res.Checks, res.Bench, res.Loader
			if boot.Err != nil { // reported, then broke (an oops at unload, say)
				row.Pass = false
				row.Error = strings.TrimSpace(row.Error + "; " + boot.Err.Error())
			}
		case boot.Err != nil:
			row.Error = boot.Err.Error()
		default:
			row.Error = "the agent did not report on this driver"
		}
		if len(warned) > 0 {
			row.Pass = false
			row.Error = strings.TrimPrefix(row.Error+"; the kernel warned: "+strings.Join(warned, " | "), "; ")
		}
		if !row.Pass && (d != "loader" || loaderErr == nil) {
			row.ConsoleTail = ConsoleTail(boot.Console, consoleTailLines)
		}
		rows = append(rows, row)
	}
	return rows
}

// loaderFiles are what the loader driver's guest needs besides vigil: its
// network card's modules, from the kernel's own packages, and an
// os-release naming the distribution, which names the kernel's artifact.
func loaderFiles(ctx context.Context, k Kernel, dir string) ([]File, error) {
	if k.ModuleTree == nil {
		return nil, errors.New("driver loader: the kernel's own modules are unknown (Kernel.ModuleTree): the guest needs its network card's")
	}
	tree, err := k.ModuleTree(ctx)
	if err != nil {
		return nil, fmt.Errorf("driver loader: fetch the kernel's modules: %w", err)
	}
	files, err := netModules(tree, filepath.Join(dir, "net-modules"))
	if err != nil {
		return nil, err
	}
	if k.Distro != "" {
		osRelease := filepath.Join(dir, "os-release")
		if err := os.WriteFile(osRelease, []byte("ID="+k.Distro+"\n"), 0o644); err != nil {
			return nil, err
		}
		files = append(files, File{Host: osRelease, Guest: "/etc/os-release"})
	}
	return files, nil
}

// accelChoice resolves the accelerator once per run, with the first
// kernel image a worker has: every VM of the run then uses the same one.
type accelChoice struct {
	want   string
	report func(accel, why string)
	mu     sync.Mutex
	chosen string
}

func (a *accelChoice) get(ctx context.Context, image string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chosen == "" {
		accel, why := ChooseAccel(ctx, a.want, image)
		a.chosen = accel
		a.report(accel, why)
	}
	return a.chosen
}

// progress prints a line per kernel started and finished.
type progress struct {
	mu          sync.Mutex
	w           io.Writer
	total, done int
}

func (p *progress) start(name string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "matrix: boot %s\n", name)
}

func (p *progress) accel(accel, why string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "matrix: accelerator %s: %s\n", accel, why)
}

func (p *progress) finish(name string, rows []Row) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	var parts []string
	for _, r := range rows {
		s := r.Driver + " pass"
		if !r.Pass {
			s = r.Driver + " FAIL: " + firstLine(r.Error)
		}
		parts = append(parts, s)
	}
	secs := 0.0
	if len(rows) > 0 {
		secs = float64(rows[0].BootMS) / 1000
	}
	if len(rows) > 0 && rows[0].Retried != "" {
		parts = append(parts, "booted again after: "+firstLine(rows[0].Retried))
	}
	fmt.Fprintf(p.w, "matrix: [%d/%d] %s: %s (%.1fs)\n", p.done, p.total, name, strings.Join(parts, ", "), secs)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// WriteReports writes matrix.json and matrix.md into dir.
func WriteReports(dir string, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "matrix.json"), append(b, '\n')); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "matrix.md"), []byte(Markdown(rows)))
}

// Markdown renders rows as the table people read, failures' first error
// lines below it.
func Markdown(rows []Row) string {
	var sb strings.Builder
	sb.WriteString("| kernel | suite | driver | result | events | drops | load ms | VM s | accel |\n")
	sb.WriteString("|---|---|---|---|---:|---:|---:|---:|---|\n")
	passed := 0
	for _, r := range rows {
		res := "**FAIL**"
		if r.Pass {
			res = "pass"
			passed++
		}
		if r.Retried != "" {
			res += " (retried)"
		}
		accel := r.Accel
		if accel == "" {
			accel = "-" // the kernel never booted
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %d | %d | %d | %.1f | %s |\n",
			r.Kernel, r.Suite, r.Driver, res, r.Events, r.Drops, r.LoadMS, float64(r.BootMS)/1000, accel)
	}
	fmt.Fprintf(&sb, "\n%d of %d passed.\n", passed, len(rows))
	sb.WriteString(benchTable(rows))
	sb.WriteString(loaderTable(rows))
	for _, r := range rows {
		for _, c := range r.Checks {
			if c.Note != "" {
				fmt.Fprintf(&sb, "\n%s, %s, %s: %s\n", r.Kernel, r.Driver, c.Name, c.Note)
			}
		}
	}
	for _, r := range rows {
		if l := r.Loader; l != nil && l.Chosen != "" {
			fmt.Fprintf(&sb, "\n%s, loader: %s chosen; driver ready in %d ms, first alert in %d ms. Attempts: %s\n",
				r.Kernel, l.Chosen, l.ReadyMS, l.AlertMS, attemptsLine(l.Attempts))
		}
	}
	for _, r := range rows {
		if r.Retried != "" {
			fmt.Fprintf(&sb, "\n%s was booted again: %s\n", r.Kernel, r.Retried)
		}
	}
	for _, r := range rows {
		if !r.Pass {
			fmt.Fprintf(&sb, "\n### %s, %s\n\n%s\n", r.Kernel, r.Driver, r.Error)
			if r.ConsoleTail != "" {
				fmt.Fprintf(&sb, "\n```\n%s\n```\n", r.ConsoleTail)
			}
		}
	}
	return sb.String()
}

// benchTable lists the bench rows' figures: per-syscall cost with nothing
// attached, with each driver capturing, and the module's added cost as a
// share of the probe's.
func benchTable(rows []Row) string {
	var sb strings.Builder
	for _, r := range rows {
		b := r.Bench
		if b == nil {
			continue
		}
		if sb.Len() == 0 {
			sb.WriteString("\n| kernel | base ns/call | kmod ns/call | bpf ns/call | kmod added | bpf added | kmod/bpf | lost kmod/bpf |\n")
			sb.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		}
		fmt.Fprintf(&sb, "| %s | %.0f | %.0f | %.0f | +%.0f | +%.0f | %.2f | %d/%d |\n",
			r.Kernel, b.BaseNs, b.KmodNs, b.BpfNs, b.KmodAddNs, b.BpfAddNs, b.KmodPerBpf, b.KmodLost, b.BpfLost)
	}
	if sb.Len() > 0 {
		fmt.Fprintf(&sb, "\nMedians of %d interleaved rounds of %d getppid calls per VM (TCG: compare within a row, not across machines).\n",
			benchRounds, benchCalls)
	}
	return sb.String()
}

// loaderTable lists how long the loader took in each kernel, from its
// first look at the host: to a driver ready to read (a module fetched from
// the host's mirror, verified and loaded), to the first event, and to the
// first alert of the default rules.
func loaderTable(rows []Row) string {
	var sb strings.Builder
	for _, r := range rows {
		l := r.Loader
		if l == nil || !r.Pass {
			continue
		}
		if sb.Len() == 0 {
			sb.WriteString("\n| kernel | loader chose | ms to driver ready | ms to first event | ms to first alert |\n")
			sb.WriteString("|---|---|---:|---:|---:|\n")
		}
		fmt.Fprintf(&sb, "| %s | %s | %d | %d | %d |\n", r.Kernel, l.Chosen, l.ReadyMS, l.FirstEventMS, l.AlertMS)
	}
	return sb.String()
}

// attemptsLine is a load's attempts on one line, numbered.
func attemptsLine(as []loader.Attempt) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%d. %s", i+1, a)
	}
	return strings.Join(parts, "; ")
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
