// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Lease coordinates a live reader that hands out events read in place
// from mapped driver memory with a Close that may come from any goroutine
// (the usual way to interrupt a blocked Next). The reader may still be
// reading the event Next returned last when Close runs: unmapping then
// faults the reader (`fatal error: fault`, seen at SIGINT). So the memory
// is unmapped by whichever comes last: Close, when the reader holds no
// event and is not inside Next; otherwise the reader, on its next call.
//
// Until then Close retires the memory (Retire): the driver's pages are
// let go of at once and the reader sees zeros, never a hole.
type Lease struct{ s atomic.Int32 }

const (
	leaseIdle    int32 = iota // no event out, not in Next
	leaseBusy                 // in Next, or an event is out
	leasePending              // closed while busy: the reader unmaps
	leaseClosed               // closed, memory unmapped (or being unmapped)
)

// Acquire is called by the reader first thing in Next. ok is false once
// the source is closed; unmap is true when the reader must now unmap the
// memory Close retired (it is the last user).
func (l *Lease) Acquire() (ok, unmap bool) {
	for {
		switch s := l.s.Load(); s {
		case leaseIdle:
			if l.s.CompareAndSwap(s, leaseBusy) {
				return true, false
			}
		case leaseBusy:
			return true, false
		case leasePending:
			if l.s.CompareAndSwap(s, leaseClosed) {
				return false, true
			}
		default:
			return false, false
		}
	}
}

// Idle is called by the reader when Next returns no event: it holds none
// of the memory. unmap is true when Close came meanwhile and left the
// unmapping to the reader.
func (l *Lease) Idle() (unmap bool) {
	if l.s.CompareAndSwap(leaseBusy, leaseIdle) {
		return false
	}
	return l.s.CompareAndSwap(leasePending, leaseClosed)
}

// Close is called once by the source's Close. now is true when nothing
// reads the memory and Close may unmap it; false when the reader may still
// read it: Close retires it and the reader unmaps it on its next call (a
// reader that never calls again leaves only address space behind).
func (l *Lease) Close() (now bool) {
	for {
		switch s := l.s.Load(); s {
		case leaseIdle:
			if l.s.CompareAndSwap(s, leaseClosed) {
				return true
			}
		case leaseBusy:
			if l.s.CompareAndSwap(s, leasePending) {
				return false
			}
		default:
			return false
		}
	}
}

// Retire replaces the mapping b (from unix.Mmap) with private zero pages
// at the same addresses, in one step: the driver's pages are released (the
// kernel drops its reference with the old mapping) while a reader still
// holding a slice of b reads zeros instead of faulting. Unmap b later with
// unix.Munmap as usual.
func Retire(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(&b[0]), uintptr(len(b)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("retire %d bytes of driver memory: %w", len(b), err)
	}
	return nil
}
