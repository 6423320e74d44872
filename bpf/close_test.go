// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// Close from another goroutine while the reader still reads the event Next
// returned (vigil run at SIGINT: its signal handler closes the source under
// the engine) must not pull the ring from under it: that was `fatal error:
// fault` in the engine. The reader sees zeros, its next Next reads
// ErrClosed and unmaps the rings.
func TestCloseWhileReaderHoldsEvent(t *testing.T) {
	testenv.RequireProbe(t)
	p, err := Open(driver.Config{IgnorePID: uint32(os.Getpid())}, Options{})
	if err != nil {
		t.Fatalf("open probe: %v", err)
	}
	var e *driver.Event
	for e == nil {
		if e, err = p.Next(); err != nil && !errors.Is(err, driver.ErrTimeout) {
			t.Fatal(err)
		}
	}
	raw := e.Raw
	addr := uintptr(unsafe.Pointer(&raw[0]))
	if !mapped(t, addr) {
		t.Fatalf("the event at %#x is in no mapping of /proc/self/maps", addr)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	<-done
	var sum byte
	for _, b := range raw { // faulted here before Close retired the rings
		sum |= b
	}
	if sum != 0 {
		t.Errorf("after Close the event's bytes read %d, want the zeros of retired pages", sum)
	}
	if !mapped(t, addr) {
		t.Fatal("Close unmapped the ring while the reader held an event")
	}
	if _, err := p.Next(); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	if mapped(t, addr) {
		t.Error("the reader's Next after Close left the retired ring mapped")
	}
	if _, err := p.Next(); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("second Next after Close: %v, want ErrClosed", err)
	}
}

// Close with no event out unmaps at once.
func TestCloseIdleUnmaps(t *testing.T) {
	testenv.RequireProbe(t)
	p, err := Open(driver.Config{IgnorePID: uint32(os.Getpid())}, Options{})
	if err != nil {
		t.Fatalf("open probe: %v", err)
	}
	addr := uintptr(unsafe.Pointer(&p.rings[0].data[0]))
	p.Close()
	if mapped(t, addr) {
		t.Error("Close of a probe that handed out no event left its rings mapped")
	}
}

// mapped says whether addr lies in a mapping of this process.
func mapped(t *testing.T, addr uintptr) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && addr >= lo && addr < hi {
			return true
		}
	}
	return false
}
