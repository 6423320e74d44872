// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// busyFlag is the probe's reader_busy global, in the .bss map mapped
// into our memory: set while the reader reads, cleared before it sleeps,
// so that the producers wake it only when it sleeps (see wakeup_flags in
// c/builder.h). A zero busyFlag does nothing: the producers then wake
// the reader as the watermark says.
type busyFlag struct {
	mem  []byte
	word *uint32
}

// mapBusyFlag maps the variable v of bss.
func mapBusyFlag(bss *ebpf.Map, v *ebpf.VariableSpec) (busyFlag, error) {
	if v == nil || v.Size() != 4 || v.Offset%4 != 0 {
		return busyFlag{}, fmt.Errorf("reader_busy: not a 4-byte aligned global: rebuild the probe with `make bpf`")
	}
	if bss.Flags()&unix.BPF_F_MMAPABLE == 0 {
		return busyFlag{}, fmt.Errorf("reader_busy: .bss is not mappable")
	}
	mem, err := unix.Mmap(bss.FD(), 0, int(bss.ValueSize()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return busyFlag{}, fmt.Errorf("reader_busy: map .bss: %w", err)
	}
	return busyFlag{mem: mem, word: (*uint32)(unsafe.Pointer(&mem[v.Offset]))}, nil
}

// set stores v with a full barrier (XCHG on amd64): the look for events
// that follows a clear cannot pass it.
func (b busyFlag) set(v uint32) {
	if b.word != nil {
		atomic.StoreUint32(b.word, v)
	}
}

func (b *busyFlag) unmap() {
	if b.mem != nil {
		_ = unix.Munmap(b.mem)
	}
	*b = busyFlag{}
}
