// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/driver"
)

// TestHooks: every program of the probe object is attached by a loader or
// run by tail call, never both; every program of the entry object is
// attached; a program on a syscall's wrapper is tied to that syscall.
func TestHooks(t *testing.T) {
	spec, err := loadProbe()
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]*ebpf.CollectionSpec{ProbeObject: spec}
	if b := EntryObject(); b != nil {
		if specs[EntryObj], err = ebpf.LoadCollectionSpecFromReader(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	hooks, err := Hooks()
	if err != nil {
		t.Fatal(err)
	}
	tail := map[string]bool{}
	for _, kv := range spec.Maps[probeMapExitProgs].Contents {
		tail[kv.Value.(string)] = true
	}
	table, err := driver.NewSyscallTable("amd64")
	if err != nil {
		t.Fatal(err)
	}
	hooked := map[string]bool{}
	for _, h := range hooks {
		hooked[h.Object+"/"+h.Program] = true
		p := specs[h.Object].Programs[h.Program]
		if p == nil || h.Object == ProbeObject && tail[h.Program] {
			t.Errorf("hook %s/%s: in the object %v, tail-called %v", h.Object, h.Program, p != nil, tail[h.Program])
			continue
		}
		if sc, ok := strings.CutPrefix(p.AttachTo, "__x64_sys_"); ok {
			if nr, _ := table.Nr(sc); len(h.Syscalls) != 1 || h.Syscalls[0] != int(nr) || h.Fallback {
				t.Errorf("%s on %s: syscalls %v (fallback %v), want [%d]", h.Program, p.AttachTo, h.Syscalls, h.Fallback, nr)
			}
		} else if h.Fallback != (p.AttachTo == "sys_enter" && specs[EntryObj] != nil) || !h.Fallback && len(h.Syscalls) > 0 {
			t.Errorf("%s on %s: syscalls %v, fallback %v", h.Program, p.AttachTo, h.Syscalls, h.Fallback)
		}
	}
	for obj, s := range specs {
		for name := range s.Programs {
			if !hooked[obj+"/"+name] && !(obj == ProbeObject && tail[name]) {
				t.Errorf("%s program %s is neither attached nor tail-called", obj, name)
			}
		}
	}
	if !hooked[ProbeObject+"/"+probeProgVigilSysExit] || len(tail) == 0 {
		t.Errorf("hooks %v, %d tail-called: want vigil_sys_exit hooked and the exit programs tail-called", hooks, len(tail))
	}
}

// TestHookWants: a hook tied to syscalls is wanted when one is selected.
func TestHookWants(t *testing.T) {
	h := Hook{Syscalls: []int{2, 257}}
	sel := make([]bool, driver.MaxSyscalls)
	if h.Wants(driver.Config{Syscalls: sel}) {
		t.Error("wanted with nothing selected")
	}
	sel[257] = true
	if !h.Wants(driver.Config{Syscalls: sel}) || !h.Wants(driver.Config{}) || !(Hook{}).Wants(driver.Config{Syscalls: []bool{}}) {
		t.Error("not wanted with openat selected, with everything, or as an always hook")
	}
}

// TestLoadGlobals: each global a loader sets exists in the object, with
// the size of the value it is given, and is writable.
func TestLoadGlobals(t *testing.T) {
	spec, err := loadProbe()
	if err != nil {
		t.Fatal(err)
	}
	vals := LoadGlobals(driver.Config{}, DefaultBufferSize)
	vals[CaptureGlobal] = uint32(1)
	for name, v := range vals {
		vs := spec.Variables[name]
		if vs == nil {
			t.Errorf("global %s: not in the object", name)
			continue
		}
		if n := binary.Size(v); n != int(vs.Size()) {
			t.Errorf("global %s: a %d-byte value for %d bytes", name, n, vs.Size())
		}
		if vs.Constant() {
			t.Errorf("global %s is read-only", name)
		}
	}
	if got := vals["cfg_wakeup_bytes"]; got != uint64(DefaultBufferSize/8) {
		t.Errorf("wakeup watermark %v, want an eighth of the ring", got)
	}
	if got := vals["cfg_wakeup_busy_bytes"]; got != uint64(DefaultBufferSize/2) {
		t.Errorf("busy reader's wakeup watermark %v, want half the ring", got)
	}
}
