// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// emptyOn attaches a do-nothing tp_btf program to each tracepoint: what
// merely having a program there costs every syscall.
func emptyOn(b *testing.B, tps ...string) func() {
	var closers []func()
	for _, tp := range tps {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: tp,
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
			License:      "Dual MIT/GPL",
		})
		if err != nil {
			b.Fatalf("empty program on %s: %v", tp, err)
		}
		l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			b.Fatalf("attach empty program on %s: %v", tp, err)
		}
		closers = append(closers, func() { l.Close(); prog.Close() })
	}
	return func() {
		for _, c := range closers {
			c()
		}
	}
}

// BenchmarkFastPath times a getppid loop, BPF run-time stats off
// throughout, with: nothing attached; an empty program on sys_exit; empty
// programs on sys_enter and sys_exit; the probe capturing every syscall;
// the same with one ring record per generic event (no batches); the
// probe selecting {execve, openat, open}, so that getppid is not
// selected; selecting {execve, mkdirat}, no syscall with an entry
// event; and selecting getppid alone, its exit from its own tracepoint
// and from the raw sys_exit one. Rounds are interleaved; medians are
// reported, as ns added to the bare syscall. Run with -benchtime=1x.
func BenchmarkFastPath(b *testing.B) {
	testenv.RequireProbe(b)
	const rounds, calls = 11, 300000
	all := driver.Config{IgnorePID: uint32(os.Getpid())}
	set, err := selftest.OnlySyscalls(uint32(os.Getpid()), "execve", "openat", "open")
	if err != nil {
		b.Fatal(err)
	}
	// A selection without a syscall that has entry events.
	exitOnly, err := selftest.OnlySyscalls(uint32(os.Getpid()), "execve", "mkdirat")
	if err != nil {
		b.Fatal(err)
	}
	p, err := Open(all, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	d := startDrainer(p)
	alone := onlySyscall(b, "getppid")
	var base, exit1, both, capture, single, unsel, unselExit, aloneTP, aloneRaw []float64
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			p.detach()
			base = append(base, timedLoop(b, calls))
			undo := emptyOn(b, "sys_exit")
			exit1 = append(exit1, timedLoop(b, calls))
			undo()
			undo = emptyOn(b, "sys_enter", "sys_exit")
			both = append(both, timedLoop(b, calls))
			undo()
			if err := p.SetConfig(all); err != nil {
				b.Fatal(err)
			}
			if err := p.attach(); err != nil {
				b.Fatal(err)
			}
			capture = append(capture, timedLoop(b, calls))
			// The same, a ring record per generic event: what batches
			// buy.
			if p.batches {
				setBatch(b, p, 0)
				single = append(single, timedLoop(b, calls))
				setBatch(b, p, 1)
			}
			if err := p.SetConfig(set); err != nil {
				b.Fatal(err)
			}
			unsel = append(unsel, timedLoop(b, calls))
			if err := p.SetConfig(exitOnly); err != nil {
				b.Fatal(err)
			}
			unselExit = append(unselExit, timedLoop(b, calls))
			// What a selected syscall costs on its own exit tracepoint
			// against the raw one: what maxExitTracepoints weighs.
			if err := p.SetConfig(alone); err != nil {
				b.Fatal(err)
			}
			aloneTP = append(aloneTP, timedLoop(b, calls))
			p.setRawExit(true)
			if err := p.SetConfig(alone); err != nil {
				b.Fatal(err)
			}
			aloneRaw = append(aloneRaw, timedLoop(b, calls))
			p.setRawExit(false)
		}
	}
	events, _ := d.finish()
	st, _ := p.Stats()
	mb := median(base)
	b.ReportMetric(mb, "base-ns/syscall")
	b.ReportMetric(median(exit1)-mb, "added-empty-sys_exit-ns")
	b.ReportMetric(median(both)-mb, "added-empty-both-ns")
	b.ReportMetric(median(capture)-mb, "added-capture-ns")
	batches := "no batches"
	if p.batches {
		b.ReportMetric(median(single)-mb, "added-capture-unbatched-ns")
		batches = fmt.Sprintf("a ring record per event +%.0f", median(single)-mb)
	}
	b.ReportMetric(median(unsel)-mb, "added-unselected-ns")
	b.ReportMetric(median(unselExit)-mb, "added-unselected-exit-only-ns")
	b.ReportMetric(median(aloneTP)-mb, "added-selected-own-tracepoint-ns")
	b.ReportMetric(median(aloneRaw)-mb, "added-selected-raw-sys_exit-ns")
	fmt.Fprintf(os.Stderr, "fast path (stats off, entry via %s): base %.0f ns; empty sys_exit +%.0f; empty sys_enter+sys_exit +%.0f; capture all +%.0f (%s); getppid unselected, set {execve,openat,open} +%.0f, set {execve,mkdirat} +%.0f; getppid selected alone, from its own exit tracepoint +%.0f, from the raw sys_exit +%.0f; %d events, %d drops\n",
		p.entryMode, mb, median(exit1)-mb, median(both)-mb, median(capture)-mb, batches, median(unsel)-mb, median(unselExit)-mb, median(aloneTP)-mb, median(aloneRaw)-mb, events, st.Drops)
}

// setBatch turns the batches of generic events on (1) or off (0).
func setBatch(b *testing.B, p *Probe, on uint32) {
	if err := p.objs.CfgBatch.Set(on); err != nil {
		b.Fatal(err)
	}
}

// setRawExit makes the raw sys_exit tracepoint serve every selection from
// the next SetConfig on, or not.
func (p *Probe) setRawExit(on bool) {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	p.rawExit = on
}
