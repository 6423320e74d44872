// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
)

// NextBatch and Next read one stream: mixed, they return every event the
// probe wrote exactly once (the count adds up to the probe's after Stop),
// each CPU's events in order, in batches of more than one event under a
// flood, and without allocating.
func TestNextBatchMixesWithNext(t *testing.T) {
	p, err := Open(onlySyscall(t, "getppid"), Options{BufferSize: 64 << 20})
	if err != nil {
		t.Fatalf("open probe: %v", err)
	}
	defer p.Close()
	const flood = 200000
	cmd, out, err := selftest.StartWorkload("flood", t.TempDir(), "VIGIL_N=200000")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	var read, batches, multi, fromFlood int
	last := map[int]uint64{}
	take := func(e *driver.Event) {
		read++
		if uint32(e.PID) == uint32(cmd.Process.Pid) {
			fromFlood++
		}
		if e.TS < last[e.CPU] {
			t.Fatalf("cpu %d: event at %d after one at %d", e.CPU, e.TS, last[e.CPU])
		}
		last[e.CPU] = e.TS
	}
	// The buffers hold the whole flood: these batches are all full.
	allocs := testing.AllocsPerRun(200, func() {
		evs, err := p.NextBatch()
		if err != nil {
			t.Fatal(err)
		}
		batches++
		if len(evs) > 1 {
			multi++
		}
		for i := range evs {
			take(&evs[i])
		}
	})
	for i := 0; ; i++ {
		var evs []driver.Event
		var e *driver.Event
		var err error
		if i%3 == 0 {
			e, err = p.Next()
		} else {
			evs, err = p.NextBatch()
		}
		if errors.Is(err, driver.ErrTimeout) {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e != nil {
			take(e)
			continue
		}
		if len(evs) == 0 {
			t.Fatal("NextBatch returned no event and no error")
		}
		batches++
		if len(evs) > 1 {
			multi++
		}
		for i := range evs {
			take(&evs[i])
		}
	}
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if uint64(read) != st.Events {
		t.Errorf("read %d events, the probe wrote %d", read, st.Events)
	}
	if fromFlood < flood {
		t.Errorf("read %d getppid events of the flood, want %d", fromFlood, flood)
	}
	if multi < batches/2 {
		t.Errorf("%d of %d batches held more than one event: NextBatch should hand out whole batches", multi, batches)
	}
	if allocs != 0 {
		t.Errorf("NextBatch allocates %.2f times per batch", allocs)
	}
}
