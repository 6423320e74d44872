// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// onlySyscall returns a config capturing one syscall (and lifecycle events).
func onlySyscall(t testing.TB, name string) driver.Config {
	cfg, err := selftest.OnlySyscalls(uint32(os.Getpid()), name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// countFrom drains p for d and counts events of pid.
func countFrom(t *testing.T, p *Probe, pid uint32, d time.Duration) (n int) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		e, err := p.Next()
		if errors.Is(err, driver.ErrTimeout) {
			continue
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if e.PID == pid {
			n++
		}
	}
	return n
}

func TestDropsAreCountedAndStreamContinues(t *testing.T) {
	testenv.RequireProbe(t)
	page := os.Getpagesize()
	p, err := Open(onlySyscall(t, "getppid"), Options{BufferSize: page})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Flood while nobody reads: a page holds ~90 getppid events.
	cmd, out, err := selftest.StartWorkload("flood", t.TempDir(), "VIGIL_N=20000")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Drops == 0 {
		t.Fatalf("no drops counted after 20000 events into a %d-byte buffer: %+v", page, st)
	}
	if st.Events+st.Drops < 20000 {
		t.Errorf("events %d + drops %d < 20000 syscalls made: events lost without being counted", st.Events, st.Drops)
	}
	var perCPU uint64
	for _, c := range st.PerCPU {
		perCPU += c.Drops
	}
	if perCPU != st.Drops {
		t.Errorf("per-CPU drops sum to %d, total says %d", perCPU, st.Drops)
	}
	got := countFrom(t, p, uint32(cmd.Process.Pid), 300*time.Millisecond)
	if got == 0 || uint64(got) > st.Events {
		t.Errorf("read %d buffered events of the flood, want 1..%d", got, st.Events)
	}

	// After the overflow the stream goes on: a new workload is seen whole,
	// but for events dropped meanwhile (other processes' lifecycle events
	// share this one-page buffer), which must be counted.
	before, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	lost := func() uint64 {
		now, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return now.Drops - before.Drops
	}
	cmd2, out2, err := selftest.StartWorkload("trickle", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out2.Name())
	n := 0
	done := make(chan error, 1)
	go func() { done <- cmd2.Wait() }()
	deadline := time.After(10 * time.Second)
	for n < 1000 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			done = nil
			n += countFrom(t, p, uint32(cmd2.Process.Pid), 300*time.Millisecond)
			if d := lost(); n < 900 || uint64(n)+d < 1000 {
				t.Fatalf("after drops, saw %d of 1000 events of a new process, %d more drops counted", n, d)
			}
			return
		case <-deadline:
			t.Fatalf("after drops, saw %d of 1000 events of a new process, %d more drops counted", n, lost())
		default:
			n += countFrom(t, p, uint32(cmd2.Process.Pid), 50*time.Millisecond)
		}
	}
	st2, _ := p.Stats()
	t.Logf("flood: %+v; after: events %d drops %d", st, st2.Events, st2.Drops)
}
