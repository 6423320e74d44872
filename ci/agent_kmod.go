// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/driver/kmod"
	"github.com/vigil-dev/vigil/internal/modinfo"
	"github.com/vigil-dev/vigil/loader"
)

// kmodName is the module's name in /proc/modules.
const kmodName = "vigil"

// guestForeign holds a module built for another kernel, which the loader
// must refuse.
const guestForeign = "/lib/modules/vigil-foreign"

// runKmod loads vigil's module from the initramfs, runs every selftest
// check through its devices, as the eBPF probe's, checks the module's
// guards (one reader per device, no unload while read, bad arguments
// refused), and unloads it. It then loads it again with a small ring to
// check that a flood counts drops without breaking it, and that poll wakes
// a reader at the watermark and on the timer.
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
	// Every check of the host's selftest, as the eBPF probe runs them.
	env := &selftest.Env{Src: src, Config: cfg, TempDir: os.TempDir()}
	for _, c := range selftest.Checks() {
		check(c.Name, func() (int, error) {
			out, err := c.Exec(env)
			if out.Retried != "" {
				logf("kmod/%s: %s", c.Name, out.Retried)
			}
			if err == nil && len(out.Events) == 0 {
				err = errors.New("passed without seeing an event")
			}
			return len(out.Events), err
		})
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
	} else {
		check("ring-overflow", func() (int, error) { return checkKmodOverflow(ko, cfg) })
		check("poll-watermark", func() (int, error) { return checkKmodPoll(ko, "wakeup_ms=0", false) })
		check("poll-timer", func() (int, error) { return checkKmodPoll(ko, "", true) })
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

// withModule loads the module with params, runs fn and unloads it.
func withModule(ko, params string, fn func() (int, error)) (int, error) {
	if _, err := loader.LoadModule(ko, params); err != nil {
		return 0, fmt.Errorf("load with %q: %w", params, err)
	}
	n, err := fn()
	if uerr := loader.UnloadModule(kmodName); uerr != nil && err == nil {
		err = uerr
	}
	return n, err
}

// checkKmodOverflow floods rings of 8 pages nobody reads: the module must
// count the events it could not keep, and afterwards deliver every event
// of a workload paced for the small ring.
func checkKmodOverflow(ko string, cfg driver.Config) (int, error) {
	return withModule(ko, "ring_pages=8", func() (int, error) {
		src, err := kmod.Open("/dev", cfg)
		if err != nil {
			return 0, err
		}
		defer src.Close()
		before, _ := src.Stats()
		cmd, out, err := selftest.StartWorkload("flood", os.TempDir(), "VIGIL_N=20000")
		if err != nil {
			return 0, err
		}
		defer os.Remove(out.Name())
		if err := cmd.Wait(); err != nil {
			return 0, fmt.Errorf("flood workload: %w", err)
		}
		flooded, _ := src.Stats()
		if flooded.Drops == before.Drops {
			return 0, fmt.Errorf("20000 getppid into 32 KiB rings nobody read: no drop counted (events %d)", flooded.Events-before.Events)
		}
		n := 0
		for {
			if _, err := src.Next(); errors.Is(err, driver.ErrTimeout) {
				break
			} else if err != nil {
				return n, fmt.Errorf("drain after the flood: %w", err)
			}
			n++
		}
		// 1000 getppid paced so that a drained small ring keeps up.
		cmd, out2, err := selftest.StartWorkload("trickle", os.TempDir())
		if err != nil {
			return n, err
		}
		defer os.Remove(out2.Name())
		evs, err := selftest.Collect(src, cmd)
		if err != nil {
			return n + len(evs), err
		}
		tab, err := driver.NewSyscallTable("amd64")
		if err != nil {
			return n, err
		}
		getppid, _ := tab.Nr("getppid")
		calls := 0
		for _, e := range evs {
			if e.Type == driver.EvGeneric && uint16(e.Uint(1)) == getppid {
				calls++
			}
		}
		// Every call is delivered, or lost and counted: on a slow kernel
		// (KASAN under TCG) even the paced workload can outrun the reader
		// of a 32 KiB ring, but never silently.
		after, _ := src.Stats()
		lost := after.Drops - flooded.Drops
		if calls == 0 || uint64(calls)+lost < 1000 {
			return n + len(evs), fmt.Errorf("after the overflow (%d drops): %d of 1000 getppid events, %d more drops", flooded.Drops-before.Drops, calls, lost)
		}
		return n + len(evs), nil
	})
}

// rawRing is one /dev/vigilN opened without driver/kmod, for poll.
type rawRing struct {
	f   *os.File
	ctl []byte
}

// The control page's fields (kmod/vigil_ring.h struct vigil_ring_ctl).
const (
	ctlHead        = 0
	ctlTail        = 8
	ctlFeatures    = 40
	ctlWakeupBytes = 44
	featurePoll    = 1
)

func (rg *rawRing) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&rg.ctl[off])) }
func (rg *rawRing) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&rg.ctl[off])) }

// drain marks everything in the ring read.
func (rg *rawRing) drain() { atomic.StoreUint64(rg.u64(ctlTail), atomic.LoadUint64(rg.u64(ctlHead))) }

// openRaw opens every device, maps its control page, and starts capture of
// every syscall but this process's.
func openRaw() ([]*rawRing, func(), error) {
	devs, _ := filepath.Glob("/dev/vigil[0-9]*")
	var rings []*rawRing
	closeAll := func() {
		for _, rg := range rings {
			_ = unix.Munmap(rg.ctl)
			rg.f.Close()
		}
	}
	for _, d := range devs {
		f, err := os.OpenFile(d, os.O_RDWR, 0)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		ctl, err := unix.Mmap(int(f.Fd()), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			f.Close()
			closeAll()
			return nil, nil, fmt.Errorf("mmap %s: %w", d, err)
		}
		rings = append(rings, &rawRing{f: f, ctl: ctl})
	}
	if len(rings) == 0 {
		return nil, nil, errors.New("no /dev/vigilN")
	}
	ioc := func(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 'v'<<8 | nr }
	mask := make([]byte, driver.MaxSyscalls/8)
	for i := range mask {
		mask[i] = 0xff
	}
	self := uint32(os.Getpid())
	fd := rings[0].f.Fd()
	for _, op := range []struct {
		nr  uintptr
		arg unsafe.Pointer
	}{
		{ioc(1, 5, uintptr(len(mask))), unsafe.Pointer(&mask[0])},
		{ioc(1, 6, 4), unsafe.Pointer(&self)},
		{ioc(0, 2, 0), nil},
	} {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, op.nr, uintptr(op.arg)); e != 0 {
			closeAll()
			return nil, nil, fmt.Errorf("ioctl %#x: %w", op.nr, e)
		}
	}
	return rings, closeAll, nil
}

// pollDuring polls every ring, blocking up to timeout, while a workload
// runs: how long the poll took and how many rings it found readable.
func pollDuring(rings []*rawRing, timeout time.Duration, workload string, env ...string) (time.Duration, int, error) {
	fds := make([]unix.PollFd, len(rings))
	for i, rg := range rings {
		rg.drain()
		fds[i] = unix.PollFd{Fd: int32(rg.f.Fd()), Events: unix.POLLIN}
	}
	if n, err := unix.Poll(fds, 0); err != nil || n != 0 {
		return 0, 0, fmt.Errorf("poll of drained rings: %d readable (%v), want 0", n, err)
	}
	type result struct {
		n   int
		d   time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() {
		t := time.Now()
		for {
			n, err := unix.Poll(fds, int(timeout.Milliseconds()))
			if errors.Is(err, unix.EINTR) {
				continue
			}
			done <- result{n, time.Since(t), err}
			return
		}
	}()
	time.Sleep(50 * time.Millisecond)
	cmd, out, err := selftest.StartWorkload(workload, os.TempDir(), env...)
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(out.Name())
	werr := cmd.Wait()
	res := <-done
	if werr != nil {
		return res.d, res.n, fmt.Errorf("workload %s: %w", workload, werr)
	}
	return res.d, res.n, res.err
}

// checkKmodPoll checks poll on the devices: a drained ring is not
// readable; with timer (wakeup_ms default) a waiting reader wakes soon for
// events far below the watermark; without it (wakeup_ms=0) such events
// leave it asleep, and crossing the watermark wakes it.
func checkKmodPoll(ko, params string, timer bool) (int, error) {
	return withModule(ko, "ring_pages=64 "+params, func() (int, error) {
		rings, closeAll, err := openRaw()
		if err != nil {
			return 0, err
		}
		defer closeAll()
		if f := atomic.LoadUint32(rings[0].u32(ctlFeatures)); f&featurePoll == 0 {
			return 0, fmt.Errorf("control page features %#x: no poll", f)
		}
		for _, rg := range rings {
			atomic.StoreUint32(rg.u32(ctlWakeupBytes), 1<<30)
		}
		if timer {
			d, n, err := pollDuring(rings, 10*time.Second, "noop")
			if err != nil {
				return n, err
			}
			if n == 0 || d > 5*time.Second {
				return n, fmt.Errorf("events below the watermark: poll woke after %v with %d readable, want the timer within 5s", d, n)
			}
			return n, nil
		}
		d, n, err := pollDuring(rings, 1500*time.Millisecond, "noop")
		if err != nil {
			return n, err
		}
		if d < 1400*time.Millisecond {
			return n, fmt.Errorf("no timer, events below the watermark: poll woke after %v, want its 1.5s timeout", d)
		}
		if n == 0 {
			return n, errors.New("poll at its timeout found no ring readable after a workload ran")
		}
		for _, rg := range rings {
			atomic.StoreUint32(rg.u32(ctlWakeupBytes), 4096)
		}
		d, n, err = pollDuring(rings, 20*time.Second, "flood", "VIGIL_N=5000")
		if err != nil {
			return n, err
		}
		if n == 0 || d > 10*time.Second {
			return n, fmt.Errorf("190 KB of events past a 4 KiB watermark: poll woke after %v with %d readable, want at once", d, n)
		}
		return n, nil
	})
}
