// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// How the arguments of the syscalls with an entry event are captured.
const (
	// entryFentry: an fentry program on each such syscall's wrapper,
	// attached while that syscall is selected; other syscalls run no
	// program at entry.
	entryFentry = "fentry"
	// entryTracepoint: where the kernel refuses fentry (some hypervisor
	// guests' kernels do, and those whose BTF does not describe the
	// wrappers' argument), a program on each such syscall's own
	// tracepoint (syscalls:sys_enter_<name>), attached while that syscall
	// is selected. Other syscalls run no program at entry: the kernel
	// tests the tracepoint's bit first. It needs tracefs and
	// CONFIG_FTRACE_SYSCALLS.
	entryTracepoint = "tracepoint"
	// entrySysEnter: where neither serves, one tp_btf program on the raw
	// sys_enter tracepoint, attached while a syscall it serves is
	// selected; it runs at every syscall's entry.
	entrySysEnter = "sys_enter"
)

// entryModes are the entry modes Open tries, in order; tests narrow it.
var entryModes = []string{entryFentry, entryTracepoint, entrySysEnter}

// forceRawExit, set by tests, makes the raw sys_exit tracepoint serve
// every selection, so that both exit paths can be compared.
var forceRawExit bool

// noBatches, set by tests, keeps the probe writing one record per
// generic event where it could batch them.
var noBatches bool

// coreObjects are what every probe loads: the maps, the configuration,
// the exit dispatcher (whose prog array brings the per-syscall exit
// programs) and the process lifecycle programs.
type coreObjects struct {
	probeMaps
	probeVariables
	Bss           *ebpf.Map     `ebpf:".bss"`
	Data          *ebpf.Map     `ebpf:".data"`
	Rodata        *ebpf.Map     `ebpf:".rodata"`
	VigilSysExit  *ebpf.Program `ebpf:"vigil_sys_exit"`
	VigilProcFork *ebpf.Program `ebpf:"vigil_proc_fork"`
	VigilProcExec *ebpf.Program `ebpf:"vigil_proc_exec"`
	VigilProcExit *ebpf.Program `ebpf:"vigil_proc_exit"`
	// Loaded everywhere, attached only where batches are on.
	VigilSchedSwitch *ebpf.Program `ebpf:"vigil_sched_switch"`
}

type sysEnterObjects struct {
	VigilSysEnter *ebpf.Program `ebpf:"vigil_sys_enter"`
}

// load loads the probe into p.objs: the core, then the entry programs,
// fentry ones if the kernel takes them, else the sys_enter fallback. The
// entry programs are loaded apart, sharing the core's maps, so that a
// refused fentry leaves nothing behind.
func (p *Probe) load(spec *ebpf.CollectionSpec, opts *ebpf.CollectionOptions, readTypes func() (*btf.Spec, error)) error {
	var core coreObjects
	if err := spec.LoadAndAssign(&core, opts); err != nil {
		return explainLoadError(err)
	}
	p.objs.probeMaps = core.probeMaps
	p.objs.probeVariables = core.probeVariables
	p.objs.VigilSysExit = core.VigilSysExit
	p.objs.VigilProcFork = core.VigilProcFork
	p.objs.VigilProcExec = core.VigilProcExec
	p.objs.VigilProcExit = core.VigilProcExit
	p.objs.VigilSchedSwitch = core.VigilSchedSwitch
	// The data sections stay reachable through the variables.
	p.dataMaps = []*ebpf.Map{core.Bss, core.Data, core.Rodata}

	shared := *opts
	shared.MapReplacements = map[string]*ebpf.Map{
		".bss": core.Bss, ".data": core.Data, ".rodata": core.Rodata,
		probeMapExecveatTids: core.ExecveatTids, probeMapRingbufs: core.Ringbufs,
		probeMapScratchMap: core.ScratchMap, probeMapStats: core.Stats,
		probeMapExitProgs: core.ExitProgs, probeMapBatches: core.Batches,
		probeMapKfDotted: core.KfDotted, probeMapKfStats: core.KfStats,
	}
	p.exitTP, p.exitTPErr = newExitTracepoints(spec, &shared, readTypes)
	if p.exitTP != nil && !forceRawExit {
		if err := p.exitTP.preload(p.cfg); err != nil {
			_ = p.exitTP.close()
			p.exitTP, p.exitTPErr = nil, err
		}
	} else if p.exitTP != nil {
		p.exitTP, p.exitTPErr = nil, errors.New("exit tracepoints disabled for a test")
	}
	debug.FreeOSMemory()
	var errs []error
	for _, mode := range entryModes {
		var err error
		switch mode {
		case entryFentry:
			err = p.loadEntryObject(spec, loadFentry, &p.fentry, &shared)
		case entryTracepoint:
			if _, err = syscallTracepoints(); err == nil {
				err = p.loadEntryObject(spec, loadTpentry, &p.tpentry, &shared)
			}
		case entrySysEnter:
			var se sysEnterObjects
			if err = spec.LoadAndAssign(&se, &shared); err == nil {
				p.objs.VigilSysEnter = se.VigilSysEnter
			}
		}
		if err == nil {
			p.entryMode = mode
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", mode, err))
	}
	return explainLoadError(fmt.Errorf("entry programs: %w", errors.Join(errs...)))
}

// loadEntryObject loads the programs of an entry object (read by
// read) into to, with the probe's maps.
func (p *Probe) loadEntryObject(probe *ebpf.CollectionSpec, read func() (*ebpf.CollectionSpec, error), to any, opts *ebpf.CollectionOptions) error {
	spec, err := read()
	if err != nil {
		return fmt.Errorf("read embedded entry object: %w", err)
	}
	own, err := withProbeMaps(probe, spec, opts)
	if err != nil {
		return err
	}
	return spec.LoadAndAssign(to, own)
}

// withProbeMaps makes spec, another object built from the probe's
// headers, load with the probe's maps (in opts.MapReplacements), and
// returns the options that do it.
func withProbeMaps(probe, spec *ebpf.CollectionSpec, opts *ebpf.CollectionOptions) (*ebpf.CollectionOptions, error) {
	// Both objects lay out the shared maps and globals from the same
	// headers; the loader sized the probe's maps, and these are those.
	// Only the maps this object has may be replaced: cilium/ebpf refuses
	// a replacement it has no map for.
	own := *opts
	own.MapReplacements = map[string]*ebpf.Map{}
	for name, sm := range spec.Maps {
		// Constants (strings, switch tables) are each object's own: a
		// .rodata replaced by the probe's would read the probe's bytes.
		if strings.HasPrefix(name, ".rodata") {
			continue
		}
		pm, ok := probe.Maps[name]
		if ok && strings.HasPrefix(name, ".") && pm.ValueSize != sm.ValueSize {
			return nil, fmt.Errorf("object's %s is %d bytes, the probe's %d: rebuild the objects with `make bpf`", name, sm.ValueSize, pm.ValueSize)
		}
		if !ok {
			return nil, fmt.Errorf("object's map %s is not the probe's: rebuild the objects with `make bpf`", name)
		}
		m, shared := opts.MapReplacements[name]
		if !shared {
			return nil, fmt.Errorf("object's map %s is not shared", name)
		}
		spec.Maps[name] = pm
		own.MapReplacements[name] = m
	}
	for name, v := range spec.Variables {
		if strings.HasPrefix(v.SectionName, ".rodata") {
			continue
		}
		pv, ok := probe.Variables[name]
		if !ok || pv.SectionName != v.SectionName || pv.Offset != v.Offset || pv.Size() != v.Size() {
			return nil, fmt.Errorf("object's global %s is not laid out as the probe's: rebuild the objects with `make bpf`", name)
		}
	}
	return &own, nil
}
