// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"os"
	"testing"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
)

// Reading events allocates nothing: not per event, not per batch, not
// when a wait finds the buffers empty.
func TestNextDoesNotAllocate(t *testing.T) {
	p, err := Open(onlySyscall(t, "getppid"), Options{})
	if err != nil {
		t.Fatalf("open probe: %v", err)
	}
	defer p.Close()
	cmd, out, err := selftest.StartWorkload("flood", t.TempDir(), "VIGIL_N=300000")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	var events, timeouts int
	allocs := testing.AllocsPerRun(200000, func() {
		_, err := p.Next()
		switch {
		case err == nil:
			events++
		case errors.Is(err, driver.ErrTimeout):
			timeouts++
		default:
			t.Fatal(err)
		}
	})
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// Not vacuous: most calls returned an event of the flood.
	if events < 100000 {
		t.Fatalf("%d events and %d timeouts in 200000 calls; want most calls to return an event", events, timeouts)
	}
	if allocs != 0 {
		t.Fatalf("Next allocates %.3f times per call (%d events, %d timeouts)", allocs, events, timeouts)
	}
}
