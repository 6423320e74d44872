// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// How the arguments of the syscalls with an entry event are captured.
const (
	// entryFentry: an fentry program on each such syscall's wrapper,
	// attached while that syscall is selected; other syscalls run no
	// program at entry.
	entryFentry = "fentry"
	// entrySysEnter: where the kernel refuses fentry (some hypervisor
	// guests' kernels do), one tp_btf program on sys_enter, attached while
	// a syscall it serves is selected; it runs at every syscall's entry.
	entrySysEnter = "sys_enter"
)

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
}

type sysEnterObjects struct {
	VigilSysEnter *ebpf.Program `ebpf:"vigil_sys_enter"`
}

// load loads the probe into p.objs: the core, then the entry programs,
// fentry ones if the kernel takes them, else the sys_enter fallback. The
// entry programs are loaded apart, sharing the core's maps, so that a
// refused fentry leaves nothing behind.
func (p *Probe) load(spec *ebpf.CollectionSpec, opts *ebpf.CollectionOptions) error {
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
	// The data sections stay reachable through the variables.
	p.dataMaps = []*ebpf.Map{core.Bss, core.Data, core.Rodata}

	shared := *opts
	shared.MapReplacements = map[string]*ebpf.Map{
		".bss": core.Bss, ".data": core.Data, ".rodata": core.Rodata,
		probeMapExecveatTids: core.ExecveatTids, probeMapRingbufs: core.Ringbufs,
		probeMapScratchMap: core.ScratchMap, probeMapStats: core.Stats,
		probeMapExitProgs: core.ExitProgs,
		probeMapKfDotted:  core.KfDotted, probeMapKfStats: core.KfStats,
	}
	ferr := p.loadFentry(spec, &shared)
	if ferr == nil {
		p.entryMode = entryFentry
		return nil
	}
	var se sysEnterObjects
	if err := spec.LoadAndAssign(&se, &shared); err != nil {
		return explainLoadError(fmt.Errorf("entry programs: fentry: %w; sys_enter: %w", ferr, err))
	}
	p.entryMode = entrySysEnter
	p.objs.VigilSysEnter = se.VigilSysEnter
	return nil
}

// loadFentry loads the fentry object's programs with the probe's maps.
// forceSysEnter (tests) refuses them as a kernel without fentry would.
func (p *Probe) loadFentry(probe *ebpf.CollectionSpec, opts *ebpf.CollectionOptions) error {
	if forceSysEnter {
		return errors.New("fentry disabled for a test")
	}
	spec, err := loadFentry()
	if err != nil {
		return fmt.Errorf("read embedded fentry object: %w", err)
	}
	// Both objects lay out the shared maps and globals from the same
	// headers; the loader sized the probe's maps, and these are those.
	// Only the maps this object has may be replaced: cilium/ebpf refuses
	// a replacement it has no map for.
	own := *opts
	own.MapReplacements = map[string]*ebpf.Map{}
	for name := range spec.Maps {
		pm, ok := probe.Maps[name]
		if !ok {
			return fmt.Errorf("fentry object's map %s is not the probe's", name)
		}
		m, shared := opts.MapReplacements[name]
		if !shared {
			return fmt.Errorf("fentry object's map %s is not shared", name)
		}
		spec.Maps[name] = pm
		own.MapReplacements[name] = m
	}
	for name, v := range spec.Variables {
		pv, ok := probe.Variables[name]
		if !ok || pv.SectionName != v.SectionName || pv.Offset != v.Offset || pv.Size() != v.Size() {
			return fmt.Errorf("fentry object's global %s is not laid out as the probe's: rebuild both with `make bpf`", name)
		}
	}
	return spec.LoadAndAssign(&p.fentry, &own)
}

// forceSysEnter makes Open use the sys_enter fallback even where the
// kernel takes fentry programs, so that both paths can be compared.
var forceSysEnter bool
