// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/driver"
)

// What a loader other than Open (libbpf's, through bpf/libbpf) needs to
// load the same object the same way: the object itself, the checks Open
// makes first, the maps it sizes, the globals it sets and the programs it
// attaches. Open keeps its own code; these read the same constants and
// helpers, so that the two loaders cannot drift apart silently.

// Names of the maps and globals a loader sizes, reads or writes.
const (
	RingbufsMap   = probeMapRingbufs   // ARRAY_OF_MAPS: one BPF ring buffer per possible CPU
	ScratchMap    = probeMapScratchMap // ScratchEntries(possible CPUs) entries
	StatsMap      = probeMapStats      // PERCPU_ARRAY, one CPUStats at key 0
	CaptureGlobal = probeVarCfgCapture // u32: 1 once attached, 0 to stop writing
)

// CPUStats is one CPU's entry of StatsMap.
type CPUStats = probeCpuStats

// Object returns a copy of the probe's ELF object, as vigil embeds it.
func Object() []byte { return bytes.Clone(_ProbeBytes) }

// CheckHost says, before any loading, why this host cannot run the probe:
// not privileged enough, not amd64, a kernel older than 5.8.
func CheckHost() error {
	if err := checkPrivileges(); err != nil {
		return err
	}
	return checkKernel()
}

// CheckObject refuses an embedded object of another schema major version.
func CheckObject() error {
	spec, err := loadProbe()
	if err != nil {
		return fmt.Errorf("read embedded probe object: %w", err)
	}
	return checkSchema(spec)
}

// ScratchEntries is the size of ScratchMap for ncpu possible CPUs.
func ScratchEntries(ncpu int) uint32 { return uint32(ncpu * scratchSlots) }

// ConfigGlobals are the probe's globals that cfg sets, by name, with values
// of the globals' sizes (little-endian when encoded): what SetConfig
// changes at run time.
func ConfigGlobals(cfg driver.Config) map[string]any { return configValues(cfg) }

// LoadGlobals are the globals to set before loading for cfg and per-CPU
// ring buffers of ringSize bytes: ConfigGlobals and the wakeup watermarks.
func LoadGlobals(cfg driver.Config, ringSize int) map[string]any {
	m := configValues(cfg)
	for name, v := range watermarks(ringSize) {
		m[name] = v
	}
	return m
}

// watermarks are the fill levels of a ring of size bytes past which the
// probe wakes its reader: an eighth when it sleeps, half while it reads
// (see wakeup_flags in c/builder.h).
func watermarks(size int) map[string]any {
	return map[string]any{
		probeVarCfgWakeupBytes:     uint64(size / 8),
		probeVarCfgWakeupBusyBytes: uint64(size / 2),
	}
}

// entryObject returns the object of the entry programs on the syscalls'
// wrappers (fentry), loaded with the probe's maps (see load.go).
func entryObject() []byte { return _FentryBytes }

// EntryObject returns a copy of the entry programs' object, or nil when
// there is none. A loader loads it after the probe object, with the
// probe's maps (same names, same layout), and falls back to the probe
// object's Fallback hooks where the kernel refuses it.
func EntryObject() []byte {
	if b := entryObject(); b != nil {
		return bytes.Clone(b)
	}
	return nil
}

// Objects the Hooks come from.
const (
	ProbeObject = "probe"
	EntryObj    = "entry"
)

// Hook is a program a loader attaches, and when.
type Hook struct {
	Object  string // ProbeObject or EntryObj
	Program string
	// Syscalls: the program is attached only while the configuration
	// selects one of these syscalls (by number), so that the others cost
	// nothing. Empty: attached always.
	Syscalls []int
	// Fallback: attached only where the kernel refused the entry object,
	// in its stead (a probe program on the sys_enter tracepoint).
	Fallback bool
}

// Wants says whether the hook is attached under cfg.
func (h Hook) Wants(cfg driver.Config) bool {
	if len(h.Syscalls) == 0 || cfg.Syscalls == nil {
		return true
	}
	for _, nr := range h.Syscalls {
		if nr < len(cfg.Syscalls) && cfg.Syscalls[nr] {
			return true
		}
	}
	return false
}

// syscallWrapper prefixes the x86_64 syscall wrappers' names.
const syscallWrapper = "__x64_sys_"

// Hooks are the programs a loader attaches, read from the objects (their
// ELF sections name where they attach): every program but those that run
// only by tail call (the initial values of the object's program arrays,
// which a loader puts in the arrays at load). A program on a syscall's
// wrapper is tied to that syscall; with an entry object, a probe program
// on sys_enter is its fallback, tied to the entry object's syscalls.
// Sorted by object, then program name.
func Hooks() ([]Hook, error) {
	probe, err := loadProbe()
	if err != nil {
		return nil, fmt.Errorf("read embedded probe object: %w", err)
	}
	table, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	var entry []Hook
	if b := entryObject(); b != nil {
		spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("read embedded entry object: %w", err)
		}
		if entry, err = objectHooks(EntryObj, spec, table, nil); err != nil {
			return nil, err
		}
	}
	var served []int
	for _, h := range entry {
		served = append(served, h.Syscalls...)
	}
	slices.Sort(served)
	hooks, err := objectHooks(ProbeObject, probe, table, served)
	if err != nil {
		return nil, err
	}
	return append(hooks, entry...), nil
}

// objectHooks are one object's hooks; served are the entry object's
// syscalls, nil without one.
func objectHooks(object string, spec *ebpf.CollectionSpec, table *driver.SyscallTable, served []int) ([]Hook, error) {
	tail := map[string]bool{}
	for _, m := range spec.Maps {
		if m.Type != ebpf.ProgramArray {
			continue
		}
		for _, kv := range m.Contents {
			if name, ok := kv.Value.(string); ok {
				tail[name] = true
			}
		}
	}
	var out []Hook
	for name, p := range spec.Programs {
		if tail[name] {
			continue
		}
		h := Hook{Object: object, Program: name}
		if sc, ok := strings.CutPrefix(p.AttachTo, syscallWrapper); ok {
			nr, ok := table.Nr(sc)
			if !ok {
				return nil, fmt.Errorf("%s program %s hooks %s, not a syscall of %s: rebuild the probe with `make bpf`", object, name, p.AttachTo, runtime.GOARCH)
			}
			h.Syscalls = []int{int(nr)}
		} else if p.AttachTo == "sys_enter" && served != nil {
			h.Syscalls, h.Fallback = served, true
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Hook) int { return strings.Compare(a.Program, b.Program) })
	return out, nil
}
