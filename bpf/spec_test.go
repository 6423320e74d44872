// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/driver"
)

// TestHooks: every program of the object is attached by a loader or run by
// tail call, never both, and a program on a syscall's wrapper is tied to
// that syscall's number.
func TestHooks(t *testing.T) {
	spec, err := loadProbe()
	if err != nil {
		t.Fatal(err)
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
		hooked[h.Program] = true
		p := spec.Programs[h.Program]
		if p == nil || tail[h.Program] {
			t.Errorf("hook %s: in the object %v, tail-called %v", h.Program, p != nil, tail[h.Program])
			continue
		}
		if sc, ok := strings.CutPrefix(p.AttachTo, "__x64_sys_"); ok {
			if nr, _ := table.Nr(sc); h.Syscall != int(nr) {
				t.Errorf("%s on %s: syscall %d, want %d", h.Program, p.AttachTo, h.Syscall, nr)
			}
		} else if h.Syscall != -1 {
			t.Errorf("%s on %s: syscall %d, want -1 (always)", h.Program, p.AttachTo, h.Syscall)
		}
	}
	for name := range spec.Programs {
		if !hooked[name] && !tail[name] {
			t.Errorf("program %s is neither attached nor tail-called", name)
		}
	}
	if !hooked[probeProgVigilSysExit] || len(tail) == 0 {
		t.Errorf("hooks %v, %d tail-called: want vigil_sys_exit hooked and the exit programs tail-called", hooks, len(tail))
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
}
