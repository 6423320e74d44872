// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/driver/kmod"
	"github.com/vigil-dev/vigil/internal/modinfo"
	"github.com/vigil-dev/vigil/loader"
)

// kmodName is the module's name in /proc/modules.
const kmodName = "vigil"

// kmodReady are the selftest checks the module passes so far; the rest
// need fillers it does not have yet.
var kmodReady = map[string]bool{"setuid": true, "ptrace": true, "dup2-socket-stdin": true}

// guestForeign holds a module built for another kernel, which the loader
// must refuse.
const guestForeign = "/lib/modules/vigil-foreign"

// runKmod loads vigil's module from the initramfs, reads a workload's
// events through its devices, checks the module's guards (one reader per
// device, no unload while read, bad arguments refused), and unloads it.
//
// The module does not emit every event yet, so the selftest runs only the
// checks whose events it fills (kmodReady), beside checks of its own.
func runKmod(r AgentResult, logf func(string, ...any)) AgentResult {
	ko, err := findModule(kmodName)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	t0 := time.Now()
	if _, err := loader.LoadModule(ko, "ring_pages=256"); err != nil {
		r.Error = err.Error()
		return r
	}
	cfg := driver.Config{IgnorePID: uint32(os.Getpid())}
	src, err := kmod.Open("/dev", cfg)
	r.LoadMS = time.Since(t0).Milliseconds()
	if err != nil {
		r.Error = fmt.Sprintf("open module devices: %v", err)
		_ = unix.DeleteModule(kmodName, unix.O_NONBLOCK)
		return r
	}
	var failed []string
	check := func(name string, fn func() (int, error)) {
		t := time.Now()
		n, err := fn()
		cr := CheckResult{Name: name, Pass: err == nil, Events: n, MS: time.Since(t).Milliseconds()}
		if err != nil {
			cr.Error = err.Error()
			failed = append(failed, name)
			logf("kmod/%s: FAIL: %v", name, err)
		}
		r.Checks = append(r.Checks, cr)
	}
	check("generic-and-lifecycle", func() (int, error) { return checkKmodEvents(src) })
	// The host's selftest checks whose events the module fills already.
	env := &selftest.Env{Src: src, Config: cfg, TempDir: os.TempDir()}
	for _, c := range selftest.Checks() {
		if kmodReady[c.Name] {
			check(c.Name, func() (int, error) {
				out, err := c.Exec(env)
				return len(out.Events), err
			})
		}
	}
	check("second-reader-busy", func() (int, error) {
		_, err := os.OpenFile("/dev/vigil0", os.O_RDWR, 0)
		if !errors.Is(err, unix.EBUSY) {
			return 0, fmt.Errorf("a second open of /dev/vigil0 gave %v, want EBUSY", err)
		}
		return 1, nil
	})
	check("unload-while-read-refused", func() (int, error) {
		err := unix.DeleteModule(kmodName, unix.O_NONBLOCK)
		if err == nil {
			return 0, errors.New("the module unloaded while its devices were open")
		}
		return 1, nil
	})
	check("foreign-module-refused", func() (int, error) {
		foreign, _ := filepath.Glob(filepath.Join(guestForeign, "*.ko"))
		if len(foreign) == 0 {
			return 0, fmt.Errorf("no module of another kernel under %s to try", guestForeign)
		}
		_, err := loader.LoadModule(foreign[0], "")
		if !errors.Is(err, loader.ErrWrongKernel) {
			return 0, fmt.Errorf("loading %s: %v, want the loader's wrong-kernel refusal", filepath.Base(foreign[0]), err)
		}
		return 1, nil
	})
	check("bad-snaplen-einval", func() (int, error) {
		err := src.SetConfig(driver.Config{Snaplen: 1 << 20, IgnorePID: cfg.IgnorePID})
		if !errors.Is(err, unix.EINVAL) {
			return 0, fmt.Errorf("snaplen 1 MiB gave %v, want EINVAL", err)
		}
		return 1, src.SetConfig(cfg)
	})
	if st, err := src.Stats(); err == nil {
		r.Events, r.Drops = st.Events, st.Drops
	}
	src.Close()
	if err := loader.UnloadModule(kmodName); err != nil {
		failed = append(failed, "unload")
		logf("kmod: %v", err)
	}
	r.Pass = len(failed) == 0
	if !r.Pass {
		r.Error = "failed: " + strings.Join(failed, ", ")
	}
	return r
}

// checkKmodEvents runs a getppid loop in a child and checks its events:
// every getppid as a generic event with the right id and result, and the
// child's exec and exit.
func checkKmodEvents(src driver.Source) (int, error) {
	const n = 500
	cmd, out, err := selftest.StartWorkload("flood", os.TempDir(), fmt.Sprintf("VIGIL_N=%d", n))
	if err != nil {
		return 0, err
	}
	defer os.Remove(out.Name())
	evs, err := selftest.Collect(src, cmd)
	if err != nil {
		return len(evs), err
	}
	tab, err := driver.NewSyscallTable("amd64")
	if err != nil {
		return 0, err
	}
	getppid, _ := tab.Nr("getppid")
	calls, execs, exits := 0, 0, 0
	self, _ := os.Executable()
	for _, e := range evs {
		switch e.Type {
		case driver.EvGeneric:
			if uint16(e.Uint(1)) == getppid {
				calls++
				if res, _ := e.Res(); res != int64(os.Getpid()) {
					return len(evs), fmt.Errorf("getppid returned %d in its event, want %d", res, os.Getpid())
				}
			}
		case driver.EvProcExec:
			execs++
			if got := e.Str(0); got != self {
				return len(evs), fmt.Errorf("proc_exec filename %q, want %q", got, self)
			}
		case driver.EvProcExit:
			exits++
		}
	}
	if calls < n || execs != 1 || exits == 0 {
		return len(evs), fmt.Errorf("saw %d getppid (want ≥%d), %d exec (want 1), %d exit events (want ≥1) among %d", calls, n, execs, exits, len(evs))
	}
	return len(evs), nil
}

// findModule returns the initramfs module whose .modinfo name is name.
func findModule(name string) (string, error) {
	kos, _ := filepath.Glob(filepath.Join(guestModules, "*.ko"))
	for _, ko := range kos {
		if mi, err := modinfo.Read(ko); err == nil && mi["name"] == name {
			return ko, nil
		}
	}
	return "", fmt.Errorf("no %s module among the %d in %s: build it with `vigil driver build --source kmod` and pass --modules", name, len(kos), guestModules)
}
