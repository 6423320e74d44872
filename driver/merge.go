// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxRingSize is the largest per-CPU ring buffer either driver can have: a
// BPF ring buffer's size and the module's ring_size are 32-bit, and both
// are powers of two, so 2 GiB.
const MaxRingSize = 1 << 31

// CheckRingSize says whether size bytes can be a per-CPU ring buffer of both
// drivers: a power of two (the readers mask positions with size-1), at
// least a page (the kernel maps whole pages), at most MaxRingSize.
func CheckRingSize(size int) error {
	page := os.Getpagesize()
	if size >= page && size <= MaxRingSize && size&(size-1) == 0 {
		return nil
	}
	value := sizeName(size)
	if value != fmt.Sprintf("%d bytes", size) {
		value += fmt.Sprintf(" (%d bytes)", size)
	}
	return fmt.Errorf("ring buffer size %s: want a power of two from %s (one page) to %s, e.g. 8MiB",
		value, sizeName(page), sizeName(MaxRingSize))
}

// sizeName writes a byte count in the largest binary unit that divides it:
// "4GiB", "12KiB", "100 bytes".
func sizeName(n int) string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// Ring is one CPU's buffer as Merge reads it. Both drivers' readers
// implement it over their own memory layouts.
type Ring interface {
	// Peek returns the next event (header first) without consuming it,
	// or nil when the ring has nothing ready. A ring's events are in
	// order for each thread; a thread's generic events may wait in a
	// batch (see bpf/c/builder.h) while other threads' newer events
	// reach the ring.
	Peek() []byte
	// Consume moves past the event Peek returned, and returns the next
	// as Peek would: one call per event in the merge's loop. The bytes
	// of consumed events stay valid, and the writer may not reuse them,
	// until Publish.
	Consume() []byte
	// Publish gives the space of the records consumed so far back to the
	// writer. It is batched: the consumer position is a cache line the
	// writer reads on every write.
	Publish()
	// CPU is the CPU whose events the ring holds.
	CPU() int
}

// BatchSize is how many events Merge decodes at a time: enough that the
// per-batch work (a look at every ring, publishing positions, the reader's
// lock) vanishes per event, few enough that the decoded events stay in
// the CPU's cache until they are read.
const BatchSize = 128

// Merge turns per-CPU rings into one stream ordered by the timestamps that
// are visible: an event still being written on another CPU may be older,
// as with every per-CPU tracer. Kernel buffers are per CPU because one
// shared buffer collapses under contention (see DESIGN.md).
//
// It works in batches: Fill decodes up to BatchSize events in place, in
// order, and Buffered hands them out one by one with no other work.
type Merge[R Ring] struct {
	Rings []R
	// HeadersOnly makes Fill decode only the events' headers (see
	// Event.DecodeHeader).
	HeadersOnly bool
	heads       []head // each ring's next record, as Fill last saw it
	batch       []Event
	next        int      // batch[next] is the next event Buffered returns
	n           int      // events in batch
	err         error    // a bad record that ended the last batch, for the next Fill
	clock       bootTime // tests set their own
}

// head is a ring's next record and its timestamp; rec is nil when the
// ring had none.
type head struct {
	rec []byte
	ts  uint64
}

// NewMerge returns a Merge over rings, one per CPU.
func NewMerge[R Ring](rings []R) *Merge[R] {
	return &Merge[R]{Rings: rings, batch: make([]Event, BatchSize), clock: newBootClock()}
}

// horizon is called when a ring had no record at the start of Fill: it
// reads the clock, looks at the empty rings again, and returns the
// clock's time if one is still empty (else no limit). An event written
// to that ring later was finished after this look, so a later event of
// the same thread, on any CPU, is stamped after the clock was read: Fill
// keeps every event newer than that for a later Fill. Without it, a
// thread that moved from an idle CPU could have its events handed on out
// of order (seen in the matrix's parity check under TCG).
func (m *Merge[R]) horizon(heads []head) uint64 {
	now := m.clock.now()
	for i := range heads {
		// Seen before the clock was read: newer means the estimate lags.
		if heads[i].rec != nil && heads[i].ts > now {
			m.clock.sync()
			now = m.clock.now()
			break
		}
	}
	still := false
	for i, r := range m.Rings {
		if heads[i].rec == nil {
			rec := r.Peek()
			heads[i] = head{rec, recordTS(rec)}
			still = still || rec == nil
		}
	}
	if still {
		return now
	}
	return ^uint64(0)
}

// bootTime tells CLOCK_BOOTTIME, the clock the drivers stamp events with.
type bootTime interface {
	now() uint64
	sync()
}

// bootClock estimates CLOCK_BOOTTIME from Go's monotonic clock (read
// without a syscall) and the offset between the two, which a syscall
// reads at the start and again when the estimate falls behind: a suspend
// moves CLOCK_BOOTTIME alone.
type bootClock struct {
	base time.Time
	off  int64
}

func newBootClock() *bootClock {
	c := &bootClock{base: time.Now()}
	c.sync()
	return c
}

func (c *bootClock) sync() { c.off = int64(bootNanos()) - int64(time.Since(c.base)) }

func (c *bootClock) now() uint64 { return uint64(int64(time.Since(c.base)) + c.off) }

// Buffered returns the next event of the batch Fill decoded, or nil when
// every one was returned. The event is valid until the next Fill.
func (m *Merge[R]) Buffered() *Event {
	if m.next < m.n {
		e := &m.batch[m.next]
		m.next++
		return e
	}
	return nil
}

// Rest returns the events of the batch Fill decoded that Buffered has not
// returned, and marks them returned: a consumer that loops over them makes
// no call per event. They are valid until the next Fill.
func (m *Merge[R]) Rest() []Event {
	evs := m.batch[m.next:m.n]
	m.next = m.n
	return evs
}

// Fill publishes the space of the events decoded before (their readers
// are done with them: call Fill only once Buffered returned nil), then
// decodes the next batch and returns how many events it holds; 0 when
// every ring is empty.
//
// It takes runs, not single events: from the ring whose head is oldest,
// every event up to the timestamp at the head of the next oldest ring.
// Each ring is looked at once when Fill begins; after that only the ring
// a run is taken from, once per event, and the choice of the next run
// compares the heads already seen. While a ring is empty, events newer
// than the moment it was seen empty wait for a later Fill (see horizon).
//
// A record that does not decode ends the batch; the events before it are
// returned first, and the next Fill returns its error (naming the CPU)
// with no event. The record is skipped.
func (m *Merge[R]) Fill() (int, error) {
	m.Publish()
	m.next, m.n = 0, 0
	if err := m.err; err != nil {
		m.err = nil
		return 0, err
	}
	if len(m.heads) != len(m.Rings) {
		m.heads = make([]head, len(m.Rings))
	}
	heads := m.heads
	empty := false
	for i, r := range m.Rings {
		rec := r.Peek()
		heads[i] = head{rec, recordTS(rec)}
		empty = empty || rec == nil
	}
	horizon := ^uint64(0)
	if empty {
		horizon = m.horizon(heads)
	}
	for m.n < len(m.batch) {
		best, bestTS, limit := -1, uint64(0), horizon
		for i := range heads {
			h := &heads[i]
			switch {
			case h.rec == nil:
			case best < 0 || h.ts < bestTS:
				if best >= 0 {
					limit = bestTS
				}
				best, bestTS = i, h.ts
			case h.ts < limit:
				limit = h.ts
			}
		}
		if best < 0 || bestTS > horizon {
			break
		}
		r := m.Rings[best]
		cpu := r.CPU()
		rec := heads[best].rec
		for {
			e := &m.batch[m.n]
			var err error
			if m.HeadersOnly {
				err = e.DecodeHeader(rec)
			} else {
				err = e.Decode(rec)
			}
			next := r.Consume()
			if err != nil {
				err = fmt.Errorf("event from cpu %d: %w", cpu, err)
				if m.n == 0 {
					return 0, err
				}
				m.err = err
				return m.n, nil
			}
			e.CPU = cpu
			if m.n++; m.n == len(m.batch) {
				return m.n, nil
			}
			rec = next
			if ts := recordTS(rec); rec == nil || ts > limit {
				heads[best] = head{rec, ts}
				break
			}
		}
	}
	return m.n, nil
}

// recordTS is the timestamp of a record; 0 for one too short to hold it,
// so that it is taken at once and Decode reports it.
func recordTS(rec []byte) uint64 {
	if len(rec) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(rec)
}

// Publish gives the space of every consumed record back to the writers.
func (m *Merge[R]) Publish() {
	for _, r := range m.Rings {
		r.Publish()
	}
}

// Empty says whether no ring has a record ready.
func (m *Merge[R]) Empty() bool {
	for _, r := range m.Rings {
		if r.Peek() != nil {
			return false
		}
	}
	return true
}

// bootNanos reads CLOCK_BOOTTIME with a syscall.
func bootNanos() uint64 {
	var ts unix.Timespec
	if _, _, errno := unix.RawSyscall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_BOOTTIME, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return ^uint64(0) >> 1 // no limit rather than no events
	}
	return uint64(ts.Nano())
}
