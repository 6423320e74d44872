// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/vigil-dev/vigil/driver"
)

// maxExitTracepoints is the largest selection whose exit events come from
// the syscalls' own exit tracepoints. On the raw sys_exit tracepoint, one
// program tests the selection at every syscall's exit: measured on 6.18
// (BenchmarkFastPath in this package), a syscall nobody selected costs
// +19 ns there and +7 on its own tracepoint, where the kernel tests the
// bit; a selected one costs 8 ns more on its own tracepoint (perf's
// path). Rules select the rarer syscalls (exec, open, connect, not
// futex, read or epoll), so the saving wins; and each selected syscall
// costs a perf event and a program load, so past this many the raw
// tracepoint serves.
const maxExitTracepoints = 96

// exitTracepoints serves the exit events from the selected syscalls' own
// exit tracepoints (tpexit.bpf.c): a program of its own for a syscall
// with an exit event of its own, vigil_tx_generic for the others. The
// programs are loaded as syscalls get selected, and stay loaded.
type exitTracepoints struct {
	dir string // tracefs's events/syscalls
	// The object is read when programs are to be loaded, not kept (its
	// spec is 2 MiB): own says which programs it has, probe holds the
	// probe's map and global specs, opts the probe's maps.
	own   map[string]bool
	probe *ebpf.CollectionSpec
	opts  *ebpf.CollectionOptions
	btf   func() (*btf.Spec, error)
	first *btf.Spec // the kernel's types Open read, for the first load only
	table *driver.SyscallTable
	progs map[string]*ebpf.Program // loaded, by name
	links map[uint16]link.Link     // attached, by syscall number
	// events are the syscalls' exit tracepoints found so far, by number:
	// see event.
	events map[uint16]string
}

// newExitTracepoints prepares the tpexit object to load with the probe's
// maps; nothing is loaded yet.
func newExitTracepoints(probe *ebpf.CollectionSpec, opts *ebpf.CollectionOptions, kernelTypes func() (*btf.Spec, error)) (*exitTracepoints, error) {
	dir, err := syscallTracepoints()
	if err != nil {
		return nil, err
	}
	// The programs find the syscall's arguments through these (5.15+).
	for _, fn := range []asm.BuiltinFunc{asm.FnGetCurrentTaskBtf, asm.FnTaskPtRegs} {
		if err := features.HaveProgramHelper(ebpf.TracePoint, fn); err != nil {
			return nil, fmt.Errorf("tracepoint programs cannot call %s here (5.15 and later can): %w", fn, err)
		}
	}
	table, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	// Both objects have a program for each syscall with an exit event of
	// its own (VIGIL_EXIT_SYSCALLS): the probe's exit_progs names them.
	own := map[string]bool{}
	for _, kv := range probe.Maps[probeMapExitProgs].Contents {
		if name, ok := kv.Value.(string); ok {
			own["vigil_tx_"+strings.TrimPrefix(name, "vigil_x_")] = true
		}
	}
	shared := *opts
	// Several MiB, read again when needed: see load.
	shared.Programs.KernelTypes = nil
	return &exitTracepoints{
		dir: dir, own: own, probe: &ebpf.CollectionSpec{Maps: probe.Maps, Variables: probe.Variables},
		opts: &shared, btf: kernelTypes, first: opts.Programs.KernelTypes, table: table,
		progs: map[string]*ebpf.Program{}, links: map[uint16]link.Link{}, events: map[uint16]string{},
	}, nil
}

// hooks are the exit tracepoints cfg needs, with their programs' names,
// by syscall number; or why cfg is better served by the raw sys_exit
// tracepoint: every syscall or a large selection, or a selected syscall
// without a tracepoint of its own (one the kernel does not implement).
func (x *exitTracepoints) hooks(cfg driver.Config) (map[uint16]string, string) {
	if cfg.Syscalls == nil {
		return nil, "every syscall selected"
	}
	hooks := map[uint16]string{}
	for nr, on := range cfg.Syscalls {
		if !on || nr >= driver.MaxSyscalls {
			continue
		}
		hooks[uint16(nr)] = ""
		// A successful execveat exits through execve's tracepoint.
		if uint16(nr) == nrExecveat {
			hooks[nrExecve] = ""
		}
	}
	if len(hooks) > maxExitTracepoints {
		return nil, fmt.Sprintf("%d syscalls selected, more than %d", len(hooks), maxExitTracepoints)
	}
	var missing []string
	for nr := range hooks {
		name := x.table.Name(nr)
		if name == "" || x.event(nr) == "" {
			missing = append(missing, fmt.Sprintf("%s (%d)", name, nr))
			continue
		}
		prog := "vigil_tx_" + name
		if !x.own[prog] {
			prog = "vigil_tx_generic"
		}
		hooks[nr] = prog
	}
	if missing != nil {
		slices.Sort(missing)
		return nil, fmt.Sprintf("no exit tracepoint for %s", strings.Join(missing, ", "))
	}
	return hooks, ""
}

// event is the name of syscall nr's exit tracepoint, "" where the kernel
// has none (a syscall it does not implement). The tracepoint is named for
// the kernel's function, which a few syscalls' names are not.
func (x *exitTracepoints) event(nr uint16) string {
	if ev, ok := x.events[nr]; ok {
		return ev
	}
	name := x.table.Name(nr)
	candidates := []string{name, "new" + name} // stat, fstat, lstat, uname
	switch name {
	case "sendfile":
		candidates = append(candidates, "sendfile64")
	case "umount2":
		candidates = append(candidates, "umount")
	}
	ev := ""
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(x.dir, "sys_exit_"+c)); err == nil {
			ev = "sys_exit_" + c
			break
		}
	}
	x.events[nr] = ev
	return ev
}

// load loads the programs hooks name that are not loaded yet, with the
// kernel's types read afresh (they are large: the probe does not keep
// them).
func (x *exitTracepoints) load(hooks map[uint16]string) error {
	want := map[string]bool{}
	for _, prog := range hooks {
		if x.progs[prog] == nil {
			want[prog] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	one, err := loadTpexit()
	if err != nil {
		return fmt.Errorf("read embedded exit tracepoint object: %w", err)
	}
	for name := range one.Programs {
		if !want[name] {
			delete(one.Programs, name)
		}
	}
	if len(one.Programs) != len(want) {
		return fmt.Errorf("the exit tracepoint object lacks some of %v: rebuild the objects with `make bpf`", slices.Sorted(maps.Keys(want)))
	}
	own, err := withProbeMaps(x.probe, one, x.opts)
	if err != nil {
		return err
	}
	opts := *own
	types := x.first
	if types == nil {
		if types, err = x.btf(); err != nil {
			return err
		}
		// Parsed anew for a selection that grew (a rules reload): hand
		// the several MiB back at once, as Open does.
		defer debug.FreeOSMemory()
	}
	opts.Programs.KernelTypes = types
	coll, err := ebpf.NewCollectionWithOptions(one, opts)
	if err != nil {
		return explainLoadError(fmt.Errorf("exit tracepoint programs: %w", err))
	}
	defer coll.Close()
	for name := range want {
		x.progs[name] = coll.DetachProgram(name)
	}
	return nil
}

// preload loads what cfg needs, while Open still has the kernel's types;
// a selection that needs none (every syscall) loads nothing until one
// does.
func (x *exitTracepoints) preload(cfg driver.Config) error {
	defer func() { x.first = nil }()
	hooks, why := x.hooks(cfg)
	if why != "" {
		return nil
	}
	// The probe's load left megabytes of garbage: hand them back before
	// this load adds its own, or the agent's resident set peaks with both.
	debug.FreeOSMemory()
	return x.load(hooks)
}

// sync attaches the programs of hooks and detaches the others.
func (x *exitTracepoints) sync(hooks map[uint16]string) error {
	if err := x.load(hooks); err != nil {
		return err
	}
	for nr, l := range x.links {
		if _, keep := hooks[nr]; !keep {
			_ = l.Close()
			delete(x.links, nr)
		}
	}
	for _, nr := range slices.Sorted(maps.Keys(hooks)) {
		if x.links[nr] != nil {
			continue
		}
		l, err := attachSyscallTracepoint(x.event(nr), x.progs[hooks[nr]])
		if err != nil {
			return err
		}
		x.links[nr] = l
	}
	return nil
}

// detach closes every link; the programs stay loaded.
func (x *exitTracepoints) detach() {
	for nr, l := range x.links {
		_ = l.Close()
		delete(x.links, nr)
	}
}

// close detaches and unloads everything.
func (x *exitTracepoints) close() error {
	x.detach()
	var errs []error
	for name, p := range x.progs {
		errs = append(errs, p.Close())
		delete(x.progs, name)
	}
	return errors.Join(errs...)
}

// programs are the loaded programs, for counters and tests.
func (x *exitTracepoints) programs() []*ebpf.Program {
	var out []*ebpf.Program
	for _, p := range x.progs {
		out = append(out, p)
	}
	return out
}
