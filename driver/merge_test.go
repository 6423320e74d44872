// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// sliceRing is a ring over a list of encoded events. Consumed records stay
// in recs, as the writer may not reuse them, until Publish.
type sliceRing struct {
	cpu      int
	recs     [][]byte
	consumed int // records consumed, not yet published
	peeks    int // calls to Peek
}

func (r *sliceRing) Peek() []byte {
	r.peeks++
	if r.consumed == len(r.recs) {
		return nil
	}
	return r.recs[r.consumed]
}
func (r *sliceRing) Consume() []byte { r.consumed++; return r.Peek() }
func (r *sliceRing) Publish()        { r.recs, r.consumed = r.recs[r.consumed:], 0 }
func (r *sliceRing) CPU() int        { return r.cpu }

// mergeAll reads m to the end as a reader does: Buffered until nil, then
// Fill.
func mergeAll(t *testing.T, m *Merge[*sliceRing]) []*Event {
	t.Helper()
	var out []*Event
	eachMerged(t, m, func(e *Event) { out = append(out, e.Copy()) })
	return out
}

// eachMerged reads m to the end as a reader does and gives each event to
// fn; the event is valid only during the call.
func eachMerged(t *testing.T, m *Merge[*sliceRing], fn func(*Event)) {
	t.Helper()
	for {
		e := m.Buffered()
		if e == nil {
			n, err := m.Fill()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			continue
		}
		fn(e)
	}
}

func rec(ts uint64, tid uint32) []byte {
	var b Builder
	b.Begin(make([]byte, 0, 64), EvClose, ts, tid, tid)
	b.Int(0).Int(3)
	return b.End()
}

func TestMergeOrdersByTimestamp(t *testing.T) {
	rings := []*sliceRing{
		{cpu: 0, recs: [][]byte{rec(10, 1), rec(40, 1), rec(50, 1)}},
		{cpu: 3, recs: [][]byte{rec(20, 2), rec(30, 2)}},
		{cpu: 5},
	}
	m := NewMerge(rings)
	var got []uint64
	var cpus []int
	for _, e := range mergeAll(t, m) {
		got = append(got, e.TS)
		cpus = append(cpus, e.CPU)
	}
	want := []uint64{10, 20, 30, 40, 50}
	wantCPU := []int{0, 3, 3, 0, 0}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || cpus[i] != wantCPU[i] {
			t.Fatalf("event %d: ts %d cpu %d, want ts %d cpu %d", i, got[i], cpus[i], want[i], wantCPU[i])
		}
	}
	if !m.Empty() {
		t.Fatal("rings not empty after reading every event")
	}
}

// Many rings, interleaved timestamps, batches that end anywhere: the
// merged stream is the sorted one, and every record is read once.
func TestMergeInterleavedRings(t *testing.T) {
	var rings []*sliceRing
	total := 0
	for cpu := 0; cpu < 5; cpu++ {
		r := &sliceRing{cpu: cpu}
		// Runs of various lengths: cpu c writes ts ≡ c (mod 5) in
		// bursts, with gaps where the others write.
		for ts := uint64(cpu); ts < 3000; ts += 5 {
			if (ts/50)%uint64(cpu+1) == 0 || cpu == 0 {
				r.recs = append(r.recs, rec(ts, uint32(cpu)))
			}
		}
		total += len(r.recs)
		rings = append(rings, r)
	}
	evs := mergeAll(t, NewMerge(rings))
	if len(evs) != total {
		t.Fatalf("read %d events, the rings held %d", len(evs), total)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].TS < evs[i-1].TS {
			t.Fatalf("event %d: ts %d after %d", i, evs[i].TS, evs[i-1].TS)
		}
		if evs[i].TS%5 != uint64(evs[i].CPU) {
			t.Fatalf("event %d: ts %d from cpu %d", i, evs[i].TS, evs[i].CPU)
		}
	}
}

// A batch's records stay the reader's until the next Fill: the caller is
// reading them in place. Fill publishes them first thing.
func TestMergePublishesOnNextFill(t *testing.T) {
	r := &sliceRing{recs: [][]byte{rec(1, 1), rec(2, 1)}}
	m := NewMerge([]*sliceRing{r})
	if n, err := m.Fill(); n != 2 || err != nil {
		t.Fatalf("Fill = %d, %v; want 2 events", n, err)
	}
	if len(r.recs) != 2 {
		t.Fatalf("%d records left in the ring after Fill; want both until the next Fill", len(r.recs))
	}
	if e := m.Buffered(); e == nil || e.TS != 1 {
		t.Fatalf("first event %v, want ts 1", e)
	}
	if e := m.Buffered(); e == nil || e.TS != 2 {
		t.Fatalf("second event %v, want ts 2", e)
	}
	if e := m.Buffered(); e != nil {
		t.Fatalf("third event ts %d from a batch of 2", e.TS)
	}
	if n, _ := m.Fill(); n != 0 || len(r.recs) != 0 {
		t.Fatalf("second Fill: %d events, %d records left; want 0 and 0", n, len(r.recs))
	}
}

// A run is taken without looking at the other rings per event: with one
// busy ring, a batch costs about one look at each ring, not one per event.
func TestMergeTakesRuns(t *testing.T) {
	busy := &sliceRing{cpu: 0}
	for ts := uint64(0); ts < BatchSize; ts++ {
		busy.recs = append(busy.recs, rec(ts, 1))
	}
	idle := &sliceRing{cpu: 1}
	m := NewMerge([]*sliceRing{busy, idle})
	if n, err := m.Fill(); n != BatchSize || err != nil {
		t.Fatalf("Fill = %d, %v; want %d", n, err, BatchSize)
	}
	// Once, and once more after the clock is read (see horizon): not
	// once per event.
	if idle.peeks > 2 {
		t.Fatalf("the idle ring was looked at %d times for one batch", idle.peeks)
	}
}

// TestMergeHoldsEventsNewerThanAnEmptyRing: while a ring is empty, events
// of other rings stamped after the clock read at the start of Fill wait
// for a later Fill; an event that lands in the empty ring meanwhile, as
// when a thread moves from one CPU to another, comes first.
func TestMergeHoldsEventsNewerThanAnEmptyRing(t *testing.T) {
	idle := &sliceRing{cpu: 0}
	busy := &sliceRing{cpu: 1, recs: [][]byte{rec(100, 7), rec(300, 7)}}
	m := NewMerge([]*sliceRing{idle, busy})
	clock := &fakeClock{t: 200}
	m.clock = clock
	if n, err := m.Fill(); n != 1 || err != nil {
		t.Fatalf("Fill = %d, %v; want only the event stamped before the clock", n, err)
	}
	if e := m.Buffered(); e.TS != 100 {
		t.Fatalf("first event stamped %d, want 100", e.TS)
	}
	// The thread's next event was written on the idle CPU, stamped 250,
	// after the busy ring's 300 had been seen: it must come first.
	idle.recs = append(idle.recs, rec(250, 7))
	clock.t = 400
	var got []uint64
	eachMerged(t, m, func(e *Event) { got = append(got, e.TS) })
	if fmt.Sprint(got) != "[250 300]" {
		t.Fatalf("events stamped %v, want [250 300]", got)
	}
	// Every ring has records: no clock read, nothing held.
	clock.t, clock.reads = 0, 0
	idle.recs = append(idle.recs, rec(500, 7))
	busy.recs = append(busy.recs, rec(600, 8))
	if n, err := m.Fill(); n != 2 || err != nil {
		t.Fatalf("Fill = %d, %v; want both events", n, err)
	}
	if a, b := m.Buffered(), m.Buffered(); a.TS != 500 || b.TS != 600 {
		t.Fatalf("events stamped %d, %d; want 500, 600", a.TS, b.TS)
	}
	if clock.reads != 0 {
		t.Fatalf("the clock was read %d times with no ring empty", clock.reads)
	}
	// A clock estimate behind the events (a suspend moved CLOCK_BOOTTIME)
	// is set right, not left to hold every event back.
	clock.t, clock.synced = 650, 1000
	busy.recs = append(busy.recs, rec(700, 8))
	if n, err := m.Fill(); n != 1 || err != nil || clock.syncs != 1 {
		t.Fatalf("Fill = %d, %v after %d syncs; want the event, after one sync of the clock", n, err, clock.syncs)
	}
}

// fakeClock is a bootTime whose time the test sets; sync moves it to
// synced, when set.
type fakeClock struct {
	t, synced    uint64
	reads, syncs int
}

func (c *fakeClock) now() uint64 { c.reads++; return c.t }
func (c *fakeClock) sync() {
	c.syncs++
	if c.synced != 0 {
		c.t = c.synced
	}
}

func TestMergeCorruptRecordNamesCPU(t *testing.T) {
	bad := rec(5, 1)
	bad[16] = 200 // total length beyond the record
	r := &sliceRing{cpu: 7, recs: [][]byte{rec(1, 1), bad, rec(9, 1)}}
	m := NewMerge([]*sliceRing{r})
	// The event before the bad one first, then the error, then the rest.
	if n, err := m.Fill(); n != 1 || err != nil {
		t.Fatalf("Fill = %d, %v; want the event before the bad one", n, err)
	}
	m.Buffered()
	_, err := m.Fill()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if want := "event from cpu 7"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to name %q", err, want)
	}
	if n, err := m.Fill(); n != 1 || err != nil || m.Buffered().TS != 9 {
		t.Fatalf("Fill after the error = %d, %v; want the event after the bad one", n, err)
	}
}

// A record too short for a timestamp is an error, not a ring stuck
// forever behind it.
func TestMergeShortRecord(t *testing.T) {
	r := &sliceRing{cpu: 2, recs: [][]byte{{1, 2, 3}, rec(4, 1)}}
	m := NewMerge([]*sliceRing{r})
	if _, err := m.Fill(); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "cpu 2") {
		t.Fatalf("Fill = %v, want ErrMalformed naming cpu 2", err)
	}
	if n, err := m.Fill(); n != 1 || err != nil {
		t.Fatalf("Fill after the short record = %d, %v; want the next event", n, err)
	}
}

// Reading merged events allocates nothing.
func TestMergeDoesNotAllocate(t *testing.T) {
	lists := make([][][]byte, 2)
	for ts := uint64(0); ts < 4*BatchSize; ts++ {
		lists[ts%2] = append(lists[ts%2], rec(ts, 1))
	}
	rings := []*sliceRing{{cpu: 0}, {cpu: 1}}
	m := NewMerge(rings)
	read := 0
	allocs := testing.AllocsPerRun(100, func() {
		for i, r := range rings {
			r.recs, r.consumed = lists[i], 0
		}
		for {
			if e := m.Buffered(); e != nil {
				read++
				continue
			}
			if n, err := m.Fill(); n == 0 || err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("merging %d events allocates %.1f times", 4*BatchSize, allocs)
	}
	if read != 101*4*BatchSize {
		t.Fatalf("read %d events in 101 runs of %d", read, 4*BatchSize)
	}
}

func TestCheckRingSize(t *testing.T) {
	page := os.Getpagesize()
	for _, size := range []int{page, 64 << 10, 8 << 20, MaxRingSize} {
		if err := CheckRingSize(size); err != nil {
			t.Errorf("CheckRingSize(%d): %v", size, err)
		}
	}
	// 4 GiB and more once became 0 in the kernel's 32-bit size.
	for _, size := range []int{0, -page, page / 2, 3 << 20, page + 1, MaxRingSize * 2, 1 << 32, 1 << 40} {
		err := CheckRingSize(size)
		if err == nil {
			t.Errorf("CheckRingSize(%d) accepted it", size)
			continue
		}
		for _, want := range []string{fmt.Sprintf("%d bytes", size), "power of two", sizeName(page) + " (one page)", "to 2GiB"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("CheckRingSize(%d) = %q, lacks %q", size, err, want)
			}
		}
	}
	if err := CheckRingSize(4 << 30); !strings.Contains(err.Error(), "size 4GiB (4294967296 bytes):") {
		t.Errorf("CheckRingSize(4 GiB) = %q, want the size in GiB and in bytes", err)
	}
}

// Rest hands out what Buffered would, in the same order, and the two may
// be mixed: a reader that takes some events one by one and the rest of
// the batch at once sees every event once.
func TestMergeRestMixesWithBuffered(t *testing.T) {
	rings := func() []*sliceRing {
		var rs []*sliceRing
		for cpu := 0; cpu < 3; cpu++ {
			r := &sliceRing{cpu: cpu}
			for i := 0; i < 3*BatchSize; i++ {
				r.recs = append(r.recs, rec(uint64(3*i+cpu), uint32(100*cpu+i)))
			}
			rs = append(rs, r)
		}
		return rs
	}
	var want []string
	for _, e := range mergeAll(t, NewMerge(rings())) {
		want = append(want, fmt.Sprintf("%d/%d@%d", e.TS, e.TID, e.CPU))
	}
	m := NewMerge(rings())
	var got []string
	batches := 0
	for i := 0; ; i++ {
		// One event by Buffered, then the rest of the batch by Rest.
		if e := m.Buffered(); e != nil {
			got = append(got, fmt.Sprintf("%d/%d@%d", e.TS, e.TID, e.CPU))
			for _, e := range m.Rest() {
				got = append(got, fmt.Sprintf("%d/%d@%d", e.TS, e.TID, e.CPU))
			}
			if m.Buffered() != nil || len(m.Rest()) != 0 {
				t.Fatal("Rest left events of the batch behind")
			}
			continue
		}
		n, err := m.Fill()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		batches++
	}
	if len(want) != 9*BatchSize {
		t.Fatalf("merged %d events, want %d", len(want), 9*BatchSize)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Buffered and Rest gave %d events:\n%v\nBuffered alone gives %d:\n%v", len(got), got, len(want), want)
	}
	if batches < 9 {
		t.Errorf("%d batches for %d events: Fill should fill batches of %d", batches, len(got), BatchSize)
	}
}

// With HeadersOnly, Fill hands out the same events with only their headers
// read; Full then makes each the event Decode makes. A record whose header
// is sound but whose parameters are not passes Fill and fails Full.
func TestMergeHeadersOnly(t *testing.T) {
	rings := func() []*sliceRing {
		var bad Builder
		bad.Begin(nil, EvClose, 5, 9, 9)
		rec := bad.Int(0).Int(3).End()
		rec[HeaderSize] = 7 // res announces 7 bytes: an s64 has 8
		return []*sliceRing{
			{cpu: 0, recs: [][]byte{rec0(1), rec0(4), rec, rec0(8)}},
			{cpu: 1, recs: [][]byte{rec0(2), rec0(3), rec0(6)}},
		}
	}
	m := NewMerge(rings())
	m.HeadersOnly = true
	var got []string
	fullErrs := 0
	eachMerged(t, m, func(e *Event) {
		if !e.HeaderOnly || e.NParams != 0 || e.Param(0) != nil {
			t.Fatalf("event at %d: HeaderOnly %v, %d parameters: want only the header", e.TS, e.HeaderOnly, e.NParams)
		}
		ts, cpu := e.TS, e.CPU
		if err := e.Full(); err != nil {
			if ts != 5 || !errors.Is(err, ErrMalformed) {
				t.Fatalf("event at %d: %v", ts, err)
			}
			if e.Raw != nil || e.CPU != cpu {
				t.Fatalf("a failed Full left %+v", e)
			}
			fullErrs++
			return
		}
		got = append(got, fmt.Sprintf("%d/%d@%d res=%d fd=%d", e.TS, e.TID, e.CPU, e.Int(0), e.Uint(1)))
	})
	if fullErrs != 1 {
		t.Errorf("Full refused %d events, want the one corrupt record", fullErrs)
	}
	var wantS []string
	for _, e := range mergeAllUpTo(t, rings(), 5) {
		wantS = append(wantS, fmt.Sprintf("%d/%d@%d res=%d fd=%d", e.TS, e.TID, e.CPU, e.Int(0), e.Uint(1)))
	}
	if strings.Join(got, " ") != strings.Join(wantS, " ") {
		t.Errorf("header-only, then Full:\n%v\ndecoded:\n%v", got, wantS)
	}
}

// rec0 is a close event at ts of thread 1.
func rec0(ts uint64) []byte { return rec(ts, 1) }

// mergeAllUpTo merges rings with Decode, skipping the record at skipTS
// (which Decode refuses), as a reader that goes on past an error does.
func mergeAllUpTo(t *testing.T, rings []*sliceRing, skipTS uint64) []*Event {
	t.Helper()
	m := NewMerge(rings)
	var out []*Event
	for {
		e := m.Buffered()
		if e == nil {
			n, err := m.Fill()
			if err != nil {
				if !strings.Contains(err.Error(), "cpu 0") {
					t.Fatal(err)
				}
				continue
			}
			if n == 0 {
				return out
			}
			continue
		}
		if e.TS != skipTS {
			out = append(out, e.Copy())
		}
	}
}
