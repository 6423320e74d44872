// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
)

// The benchmarks here measure whole-system figures (cost added to every
// syscall, events/s delivered), so they run fixed experiments and report
// them as metrics; run them with -benchtime=1x (make bench does).

// drainer consumes events in the background and measures its own CPU time.
type drainer struct {
	p      *Probe
	events atomic.Uint64
	cpuNs  atomic.Int64
	stop   atomic.Bool
	wg     sync.WaitGroup
}

func startDrainer(p *Probe) *drainer {
	d := &drainer{p: p}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		runtime.LockOSThread()
		start := threadCPU()
		var n uint64
		for !d.stop.Load() {
			_, err := p.Next()
			if errors.Is(err, driver.ErrTimeout) {
				continue
			}
			if err != nil {
				break
			}
			if n++; n%1024 == 0 {
				d.events.Store(n)
			}
		}
		d.events.Store(n)
		d.cpuNs.Store(threadCPU() - start)
	}()
	return d
}

func (d *drainer) finish() (events uint64, cpuNs int64) {
	d.stop.Store(true)
	d.wg.Wait()
	return d.events.Load(), d.cpuNs.Load()
}

func threadCPU() int64 {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func timedLoop(b *testing.B, n int) float64 {
	cmd, out, err := selftest.StartWorkload("timedloop", b.TempDir(), fmt.Sprintf("VIGIL_N=%d", n))
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(out.Name())
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	v, err := strconv.ParseFloat(selftest.Facts(out)["ns_per_call"], 64)
	if err != nil {
		b.Fatalf("timed loop: %v", err)
	}
	return v
}

// programRunTime runs work with BPF run-time statistics on and returns the
// time prog spent in the kernel and how often it ran.
func programRunTime(b *testing.B, prog *ebpf.Program, work func()) (ns, runs uint64) {
	on, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF run-time stats: %v", err)
	}
	defer on.Close()
	before, err := prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	work()
	after, err := prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return uint64(after.Runtime - before.Runtime), after.RunCount - before.RunCount
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkSyscallOverhead times a tight getppid loop with nothing attached,
// with the probe capturing every syscall, and with the probe attached but
// filtering getppid out in the kernel; rounds are interleaved so that the
// machine's drift hits all three alike. Medians are reported.
func BenchmarkSyscallOverhead(b *testing.B) {
	testenv.RequireProbe(b)
	const rounds, calls = 9, 200000
	all := driver.Config{IgnorePID: uint32(os.Getpid())}
	filtered := onlySyscall(b, "mkdirat")
	p, err := Open(all, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	d := startDrainer(p)
	var base, empty, capture, filter []float64
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			p.detach()
			base = append(base, timedLoop(b, calls))
			undo := emptyOn(b, "sys_enter", "sys_exit")
			empty = append(empty, timedLoop(b, calls))
			undo()
			if err := p.attach(); err != nil {
				b.Fatal(err)
			}
			if err := p.SetConfig(all); err != nil {
				b.Fatal(err)
			}
			capture = append(capture, timedLoop(b, calls))
			if err := p.SetConfig(filtered); err != nil {
				b.Fatal(err)
			}
			filter = append(filter, timedLoop(b, calls))
		}
	}
	// Run-time accounting adds its own cost to every program run, so it
	// is on only for one untimed loop of its own, after the timed rounds.
	if err := p.SetConfig(all); err != nil {
		b.Fatal(err)
	}
	runNs, runs := programRunTime(b, p.objs.VigilSysExit, func() { timedLoop(b, calls) })
	events, cpuNs := d.finish()
	st, _ := p.Stats()
	mb, me, mc, mf := median(base), median(empty), median(capture), median(filter)
	b.ReportMetric(me-mb, "added-empty-prog-ns")
	b.ReportMetric(float64(runNs)/float64(max(runs, 1)), "sys_exit-ns/run(untimed)")
	b.ReportMetric(mb, "base-ns/syscall")
	b.ReportMetric(mc, "capture-ns/syscall")
	b.ReportMetric(mc-mb, "added-capture-ns")
	b.ReportMetric(mf-mb, "added-filtered-ns")
	b.ReportMetric(mc/mb, "capture/base")
	if events > 0 {
		b.ReportMetric(float64(cpuNs)/float64(events), "consumer-cpu-ns/event")
	}
	b.ReportMetric(float64(st.Drops), "drops")
	fmt.Fprintf(os.Stderr, "syscall overhead: base %.0f ns; capture %.0f ns (+%.0f, x%.2f); filtered +%.0f ns; empty programs +%.0f ns; sys_exit program %.0f ns/run (untimed, stats on); consumer %.1f ns CPU/event over %d events, %d drops\n",
		mb, mc, mc-mb, mc/mb, mf-mb, me-mb, float64(runNs)/float64(max(runs, 1)), float64(cpuNs)/float64(max(events, 1)), events, st.Drops)
}

// BenchmarkSustainedRate floods from one process per CPU and reports what
// reaches user space, and what was dropped.
func BenchmarkSustainedRate(b *testing.B) {
	testenv.RequireProbe(b)
	const dur = 3 * time.Second
	p, err := Open(onlySyscall(b, "getppid"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < b.N; i++ {
		before, _ := p.Stats()
		d := startDrainer(p)
		start := time.Now()
		var waits []func() error
		for c := 0; c < runtime.NumCPU(); c++ {
			cmd, out, err := selftest.StartWorkload("floodfor", b.TempDir(), "VIGIL_FOR="+dur.String())
			if err != nil {
				b.Fatal(err)
			}
			defer os.Remove(out.Name())
			waits = append(waits, cmd.Wait)
		}
		for _, w := range waits {
			if err := w(); err != nil {
				b.Fatal(err)
			}
		}
		// Let the consumer catch up with what is buffered.
		time.Sleep(200 * time.Millisecond)
		events, cpuNs := d.finish()
		elapsed := time.Since(start)
		after, _ := p.Stats()
		drops := after.Drops - before.Drops
		rate := float64(events) / elapsed.Seconds()
		b.ReportMetric(rate, "events/s")
		b.ReportMetric(float64(drops), "drops")
		b.ReportMetric(float64(cpuNs)/float64(max(events, 1)), "consumer-cpu-ns/event")
		fmt.Fprintf(os.Stderr, "sustained: %d producers for %s: %.0f events/s delivered, %d drops (%.2f%%), consumer %.1f ns CPU/event\n",
			len(waits), dur, rate, drops, 100*float64(drops)/float64(max(events+drops, 1)),
			float64(cpuNs)/float64(max(events, 1)))
	}
}
