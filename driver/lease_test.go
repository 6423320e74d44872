// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Exactly one side unmaps, and never while the reader may hold an event.
func TestLease(t *testing.T) {
	// Close with no reader ever: Close unmaps.
	var l Lease
	if !l.Close() {
		t.Error("Close before any Next: want unmap now")
	}
	if ok, unmap := l.Acquire(); ok || unmap {
		t.Errorf("Acquire after Close: ok=%v unmap=%v, want false, false", ok, unmap)
	}

	// Close while an event is out: the reader's next Next unmaps.
	l = Lease{}
	if ok, _ := l.Acquire(); !ok {
		t.Fatal("Acquire on an open lease failed")
	}
	if l.Close() {
		t.Error("Close with an event out: want the unmapping left to the reader")
	}
	if ok, unmap := l.Acquire(); ok || !unmap {
		t.Errorf("Acquire after Close with an event out: ok=%v unmap=%v, want false, true", ok, unmap)
	}
	if ok, unmap := l.Acquire(); ok || unmap {
		t.Errorf("second Acquire: ok=%v unmap=%v, want false, false (unmapped once)", ok, unmap)
	}

	// Close while the reader is inside a Next that ends without an event.
	l = Lease{}
	l.Acquire()
	if l.Close() {
		t.Error("Close during Next: want the unmapping left to the reader")
	}
	if !l.Idle() {
		t.Error("Idle after a Close during Next: want the reader to unmap")
	}
	if ok, unmap := l.Acquire(); ok || unmap {
		t.Errorf("Acquire after: ok=%v unmap=%v, want false, false", ok, unmap)
	}

	// An error return leaves the lease idle: Close then unmaps itself.
	l = Lease{}
	l.Acquire()
	if l.Idle() {
		t.Error("Idle on an open lease asked the reader to unmap")
	}
	if !l.Close() {
		t.Error("Close of an idle lease: want unmap now")
	}
}

// Retired memory reads as zeros where the driver's pages were.
func TestRetire(t *testing.T) {
	b, err := unix.Mmap(-1, 0, 2*unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	for i := range b {
		b[i] = 0xa5
	}
	if err := Retire(b); err != nil {
		t.Fatal(err)
	}
	for i, c := range b {
		if c != 0 {
			t.Fatalf("byte %d reads %#x after Retire, want 0", i, c)
		}
	}
}
