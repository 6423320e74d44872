// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// BenchmarkKernelFilterOpen times an open(2) of a file no rule wants with
// no probe, with the probe capturing openat, and with the probe's filter
// discarding it (a filter keeping /etc/shadow reads only), in interleaved
// rounds; medians of ns per open, and the consumer's events.
func BenchmarkKernelFilterOpen(b *testing.B) {
	testenv.RequireProbe(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const n = 100_000
	sel := make([]bool, driver.MaxSyscalls)
	sel[unix.SYS_OPENAT] = true
	filter := &driver.KernelFilter{OpenTerms: []driver.OpenTerm{{Prefix: "/etc/shadow", Types: driver.KFOpenFamily,
		Need: driver.KFNeedSuccess | driver.KFNeedRead}}, Socket: driver.FamilyFilter{All: true}, Connect: driver.FamilyFilter{All: true}}
	loop := func() float64 {
		start := time.Now()
		for i := 0; i < n; i++ {
			fd, err := unix.Open("/usr/lib/os-release", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
		return float64(time.Since(start).Nanoseconds()) / n
	}
	run := func(f *driver.KernelFilter) (float64, uint64) {
		p, err := Open(driver.Config{Syscalls: sel, Filter: f}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		d := startDrainer(p)
		ns := loop()
		ev, _ := d.finish()
		st, _ := p.Stats()
		p.Close()
		_ = st
		return ns, ev
	}
	var none, plain, filtered []float64
	var evPlain, evFiltered uint64
	for r := 0; r < 5; r++ {
		none = append(none, loop())
		ns, ev := run(nil)
		plain, evPlain = append(plain, ns), ev
		ns, ev = run(filter)
		filtered, evFiltered = append(filtered, ns), ev
	}
	b.ReportMetric(median(none), "ns/open-noprobe")
	b.ReportMetric(median(plain), "ns/open-probe")
	b.ReportMetric(median(filtered), "ns/open-filtered")
	b.ReportMetric(float64(evPlain), "events-probe")
	b.ReportMetric(float64(evFiltered), "events-filtered")
}
