// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// openProbe opens a probe with cfg that writes generic events in batches.
func openProbe(t *testing.T, cfg driver.Config) *Probe {
	t.Helper()
	p, err := Open(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.batches {
		p.Close()
		t.Fatal("the probe writes no batches")
	}
	return p
}

// records is how many ring records p read.
func (p *Probe) records() uint64 {
	var n uint64
	for _, r := range p.rings {
		n += r.records
	}
	return n
}

// TestBatchesKeepEachThreadsOrder: two probes watch the interleave
// workload at once, one writing a record per event and one gathering
// generic events in batches. Each thread's events come out of both in
// the same order, and the batched probe read fewer records than events.
// Writing the direct event before the batch (output() without its
// flush) makes the getppid of a run come after the close that follows.
func TestBatchesKeepEachThreadsOrder(t *testing.T) {
	testenv.RequireProbe(t)
	cfg, err := selftest.OnlySyscalls(uint32(os.Getpid()), "getppid", "close")
	if err != nil {
		t.Fatal(err)
	}
	noBatches = true
	single, err := Open(cfg, Options{})
	noBatches = false
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	batched := openProbe(t, cfg)
	defer batched.Close()

	cmd, out, err := selftest.StartWorkload("interleave", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(out.Name())
	if err := cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	pid := uint32(cmd.Process.Pid)
	// The workload's threads' calls: the runtime's threads close fds too.
	keep := func(e *driver.Event) bool {
		if e.PID != pid {
			return false
		}
		switch e.Type {
		case driver.EvGeneric:
			id := e.Param(1)
			return len(id) == 2 && int(id[0])|int(id[1])<<8 == unix.SYS_GETPPID
		case driver.EvClose:
			fd := e.Param(1)
			return len(fd) == 8 && binary.LittleEndian.Uint64(fd) >= selftest.CloseLoopBase
		}
		return false
	}
	recsBefore := batched.records()
	a, b := byThread(drainText(t, single, true, keep)), byThread(drainText(t, batched, true, keep))
	recs := batched.records() - recsBefore

	if len(a) != selftest.InterleaveThreads {
		t.Fatalf("%d threads made events, want the workload's %d", len(a), selftest.InterleaveThreads)
	}
	events := 0
	for tid, evs := range a {
		// Each round: i%11 getppid, then one close.
		want := selftest.InterleaveRounds
		for i := 0; i < selftest.InterleaveRounds; i++ {
			want += i % 11
		}
		if len(evs) != want {
			t.Errorf("%s: %d events one record each, want %d", tid, len(evs), want)
		}
		if !slices.Equal(evs, b[tid]) {
			at := 0
			for at < min(len(evs), len(b[tid])) && evs[at] == b[tid][at] {
				at++
			}
			t.Errorf("%s: the batched probe's %d events part from the other's %d at %d:\none record each: %s\nbatched:         %s",
				tid, len(b[tid]), len(evs), at, around(evs, at), around(b[tid], at))
		}
		events += len(evs)
	}
	if recs >= uint64(events) {
		t.Errorf("the batched probe read %d records for the workload's %d events and the rest: no batch", recs, events)
	}
	t.Logf("%d threads, %d events each in the same order; the batched probe read them (and others) in %d records", len(a), events/len(a), recs)
}

// byThread splits drainText's lines (with ids) by thread, in order.
func byThread(lines []string) map[string][]string {
	m := map[string][]string{}
	for _, l := range lines {
		f := strings.Fields(l) // type N tid T pid P: params
		if len(f) < 4 {
			continue
		}
		tid := f[2] + " " + f[3]
		m[tid] = append(m[tid], l)
	}
	return m
}

// around is a few lines about i, for a failure.
func around(lines []string, i int) string {
	lo, hi := max(i-2, 0), min(i+3, len(lines))
	return strings.Join(lines[lo:hi], " | ")
}

// TestStopWritesOutBatches: a thread makes three getppid, then spins
// without a syscall. Its events wait in its CPU's batch, which only its
// leaving the CPU writes out: Stop makes every CPU switch, and the drain
// reads all three, as many as Stats counts. With a vigil_sched_switch
// that writes nothing out, it read none of them. (Closing the links
// alone seems to switch every CPU here: the test passes without the
// switches detach makes, which are there for the kernels that do not.)
func TestStopWritesOutBatches(t *testing.T) {
	testenv.RequireProbe(t)
	cfg, err := selftest.OnlySyscalls(uint32(os.Getpid()), "getppid")
	if err != nil {
		t.Fatal(err)
	}
	p := openProbe(t, cfg)
	defer p.Close()
	cmd, out, err := selftest.StartWorkload("spin", t.TempDir(), "VIGIL_FOR=20s")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); selftest.Facts(out)["calls"] == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the spin workload did not make its calls within 30 s")
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	got := 0
	var read uint64
	for {
		e, err := p.Next()
		if errors.Is(err, driver.ErrTimeout) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		read++
		if e.PID == pid && e.Type == driver.EvGeneric {
			got++
		}
	}
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got != selftest.SpinCalls || st.Events != read {
		t.Fatalf("after Stop: %d of the spinning thread's %d getppid read; %d events read, Stats counts %d", got, selftest.SpinCalls, read, st.Events)
	}
}
