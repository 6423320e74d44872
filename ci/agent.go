// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/uname"
	"github.com/vigil-dev/vigil/loader"
)

// The agent is the static vigil binary booted as a VM's /init. It reads
// what to do from the kernel command line, runs the selftest against each
// driver asked for, and writes one result line per driver to the second
// serial port, which the runner reads from a file on the host.
const (
	// AgentEnv runs the agent outside a VM (not as pid 1), for debugging.
	AgentEnv = "VIGIL_AGENT"
	// agentReadyEnv marks the agent re-executed after mounting the guest's
	// file systems.
	agentReadyEnv = "VIGIL_AGENT_READY"

	resultPort   = "/dev/ttyS1"
	resultPrefix = "VIGIL-RESULT "
	donePrefix   = "VIGIL-DONE"

	// Kernel command line parameters the runner passes.
	paramDrivers = "vigil.drivers" // comma-separated: bpf, kmod
	// paramFault makes the agent misbehave on purpose, so that the runner's
	// handling of broken kernels can be tested on a real boot: "panic"
	// (init exits: the kernel panics) or "hang" (never reports).
	paramFault = "vigil.fault"
)

// AgentResult is what the agent reports for one driver.
type AgentResult struct {
	Driver  string        `json:"driver"`
	Kernel  string        `json:"kernel"` // uname -r inside the VM
	Pass    bool          `json:"pass"`
	Events  uint64        `json:"events"` // written by the driver during the checks
	Drops   uint64        `json:"drops"`
	Missed  uint64        `json:"missed"` // probe runs the kernel skipped
	LoadMS  int64         `json:"load_ms"`
	Error   string        `json:"error,omitempty"`
	Checks  []CheckResult `json:"checks"`
	Elapsed int64         `json:"elapsed_ms"`
	Bench   *Bench        `json:"bench,omitempty"`  // the bench driver's figures
	Loader  *LoaderRun    `json:"loader,omitempty"` // the loader driver's load
}

// CheckResult is one selftest check inside the VM.
type CheckResult struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Events int    `json:"events"`
	MS     int64  `json:"ms"`
	Error  string `json:"error,omitempty"`
	// Retried says why the check ran twice (events lost in the first run).
	Retried string `json:"retried,omitempty"`
	// Note says what a passing check let through, and why (parity: events
	// one driver counted as lost).
	Note string `json:"note,omitempty"`
}

// IsAgent tells whether this process is the matrix's in-VM agent: the
// kernel started it as /init (argv[0] "/init", pid 1), or AgentEnv asks
// for the agent outside a VM. A container's entrypoint is pid 1 as well,
// under its own name, and must run its command instead.
func IsAgent(argv0 string, pid int) bool {
	return (pid == 1 && argv0 == "/init") || os.Getenv(AgentEnv) != ""
}

// AgentMain runs the in-VM agent and returns the process's exit code (as
// pid 1 it powers the VM off instead of returning).
func AgentMain() int {
	pid1 := os.Getpid() == 1
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "vigil-agent: "+format+"\n", args...) }
	if pid1 {
		if os.Getenv(agentReadyEnv) == "" {
			if err := setupGuest(); err != nil {
				logf("setup: %v", err)
			}
			// Libraries probe the kernel in their package init (cilium/ebpf
			// reads /proc for memlock accounting): start again, as pid 1
			// still, now that /proc and friends are mounted.
			err := unix.Exec("/proc/self/exe", os.Args, append(os.Environ(), agentReadyEnv+"=1"))
			logf("re-exec after setup: %v", err)
			return finish(pid1, 1)
		}
	}
	params := kernelParams()
	switch params[paramFault] {
	case "panic":
		logf("exiting as pid 1 on purpose (%s=panic)", paramFault)
		return 1
	case "hang":
		logf("hanging on purpose (%s=hang)", paramFault)
		sleepForever()
	}
	out, err := openResultPort(pid1)
	if err != nil {
		logf("%v", err)
		return finish(pid1, 1)
	}
	drivers := strings.Split(params[paramDrivers], ",")
	if params[paramDrivers] == "" {
		drivers = []string{"bpf"}
	}
	code := 0
	for _, d := range drivers {
		r := runDriver(d, logf)
		if !r.Pass {
			code = 1
		}
		b, _ := json.Marshal(r)
		fmt.Fprintf(out, "%s%s\n", resultPrefix, b)
		logf("%s: pass=%v events=%d drops=%d load=%dms %s", d, r.Pass, r.Events, r.Drops, r.LoadMS, r.Error)
	}
	fmt.Fprintf(out, "%s\n", donePrefix)
	out.Flush()
	return finish(pid1, code)
}

// finish powers the VM off when the agent is init (init must not exit: the
// kernel would panic), or returns the exit code.
func finish(pid1 bool, code int) int {
	if !pid1 {
		return code
	}
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	sleepForever()
	return code
}

// sleepForever blocks without the Go runtime calling it a deadlock (which
// would exit, and as init panic the kernel).
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// runDriver loads one driver, runs every check against it and unloads it.
func runDriver(name string, logf func(string, ...any)) AgentResult {
	start := time.Now()
	r := AgentResult{Driver: name, Kernel: unameRelease()}
	defer func() { r.Elapsed = time.Since(start).Milliseconds() }()
	cfg := driver.Config{IgnorePID: uint32(os.Getpid())}
	var src selftest.Source
	switch name {
	case "bpf":
		t0 := time.Now()
		p, err := bpf.Open(cfg, bpf.Options{BufferSize: 1 << 20})
		if err != nil {
			r.Error = fmt.Sprintf("load bpf probe: %v", err)
			// The verifier's reasoning is what a fix needs: put its end
			// on the console, which the matrix keeps.
			var ve *ebpf.VerifierError
			if errors.As(err, &ve) {
				log := ve.Log
				if len(log) > 80 {
					log = log[len(log)-80:]
				}
				logf("verifier log (last %d lines):\n%s", len(log), strings.Join(log, "\n"))
			}
			return r
		}
		r.LoadMS = time.Since(t0).Milliseconds()
		src = p
	case "libbpf":
		t0 := time.Now()
		p, err := openLibbpf(cfg)
		if err != nil {
			r.Error = fmt.Sprintf("load bpf probe through libbpf: %v", err)
			return r
		}
		r.LoadMS = time.Since(t0).Milliseconds()
		src = p
	case "module":
		return loadModules(r)
	case "kmod":
		return runKmod(r, logf)
	case "parity":
		return runParity(r, logf)
	case "bench":
		return runBench(r, logf)
	case "loader":
		return runLoader(r, logf)
	default:
		r.Error = fmt.Sprintf("unknown driver %q: this agent knows bpf, libbpf, kmod, parity, bench, module and loader", name)
		return r
	}
	env := &selftest.Env{Src: src, Config: cfg, TempDir: os.TempDir()}
	r.Pass = true
	var failed []string
	for _, c := range selftest.Checks() {
		t0 := time.Now()
		out, err := c.Exec(env)
		cr := CheckResult{Name: c.Name, Pass: err == nil, Events: len(out.Events), MS: time.Since(t0).Milliseconds(), Retried: out.Retried}
		if out.Retried != "" {
			logf("%s/%s: %s", name, c.Name, out.Retried)
		}
		if err == nil && len(out.Events) == 0 {
			err = errors.New("passed without seeing an event")
			cr.Pass = false
		}
		if err != nil {
			cr.Error = err.Error()
			failed = append(failed, c.Name)
			r.Pass = false
			logf("%s/%s: FAIL: %v", name, c.Name, err)
		}
		r.Checks = append(r.Checks, cr)
	}
	if st, err := src.Stats(); err == nil {
		r.Events, r.Drops, r.Missed = st.Events, st.Drops, st.Missed
	}
	if err := src.Close(); err != nil {
		r.Pass = false
		failed = append(failed, "unload")
		logf("%s: unload: %v", name, err)
	}
	if len(failed) > 0 {
		r.Error = "failed: " + strings.Join(failed, ", ")
	}
	return r
}

// openResultPort opens the second serial port without output processing,
// so that lines arrive as written (no \r added). Outside a VM the results
// go to stdout.
func openResultPort(pid1 bool) (*bufio.Writer, error) {
	if !pid1 {
		return bufio.NewWriter(os.Stdout), nil
	}
	f, err := os.OpenFile(resultPort, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open result port %s: %w (the runner passes a second -serial)", resultPort, err)
	}
	if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
		t.Oflag &^= unix.OPOST
		_ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
	}
	return bufio.NewWriter(f), nil
}

// setupGuest mounts what a kernel leaves to init and brings loopback up.
func setupGuest() error {
	var errs []error
	for _, m := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"tracefs", "/sys/kernel/tracing", "tracefs"},
		{"bpf", "/sys/fs/bpf", "bpf"},
		{"securityfs", "/sys/kernel/security", "securityfs"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2"},
	} {
		_ = os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err))
		}
	}
	if err := ifUp("lo"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// kernelParams returns the key=value words of /proc/cmdline.
func kernelParams() map[string]string {
	b, _ := os.ReadFile("/proc/cmdline")
	m := map[string]string{}
	for _, w := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(w, "="); ok {
			m[k] = v
		}
	}
	return m
}

func unameRelease() string {
	u, _ := uname.Read()
	return u.Release
}

// guestModules is where the initramfs holds kernel modules to load.
const guestModules = "/lib/modules/vigil"

// loadModules loads every module of the initramfs with finit_module, checks
// that the kernel lists it, and unloads it: proof that what the builder
// made for this kernel is accepted by it.
func loadModules(r AgentResult) AgentResult {
	kos, _ := filepath.Glob(filepath.Join(guestModules, "*.ko"))
	if len(kos) == 0 {
		r.Error = "no module in the initramfs under " + guestModules
		return r
	}
	r.Pass = true
	for _, ko := range kos {
		t0 := time.Now()
		cr := CheckResult{Name: "load " + filepath.Base(ko)}
		err := loadUnload(ko)
		cr.MS = time.Since(t0).Milliseconds()
		if err != nil {
			cr.Error = err.Error()
			r.Pass = false
			r.Error = strings.TrimPrefix(r.Error+"; "+err.Error(), "; ")
		} else {
			cr.Pass, cr.Events = true, 1
			r.Events++
			r.LoadMS += cr.MS
		}
		r.Checks = append(r.Checks, cr)
	}
	return r
}

// loadUnload loads a module through the loader, which refuses one built
// for another kernel by its vermagic before finit_module, and unloads it.
func loadUnload(ko string) error {
	name, err := loader.LoadModule(ko, "")
	if err != nil {
		return err
	}
	mods, _ := os.ReadFile("/proc/modules")
	if !strings.Contains("\n"+string(mods), "\n"+name+" ") {
		return fmt.Errorf("module %s loaded but not in /proc/modules", name)
	}
	return loader.UnloadModule(name)
}
