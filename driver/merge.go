// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"encoding/binary"
	"fmt"
	"os"
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
	// Peek returns the next record (an event, header first) without
	// consuming it, or nil when the ring has nothing ready.
	Peek() []byte
	// Consume drops the record Peek returned.
	Consume()
	// CPU is the CPU whose events the ring holds.
	CPU() int
}

// Merge turns per-CPU rings into one stream ordered by the timestamps that
// are visible: an event still being written on another CPU may be older,
// as with every per-CPU tracer. Kernel buffers are per CPU because one
// shared buffer collapses under contention (see DESIGN.md).
type Merge[R Ring] struct {
	Rings []R
	last  int // ring of the event returned last, -1 when none
	ev    Event
}

// NewMerge returns a Merge over rings, one per CPU.
func NewMerge[R Ring](rings []R) *Merge[R] { return &Merge[R]{Rings: rings, last: -1} }

// Next consumes the event it returned last and returns the oldest event at
// the head of the rings; nil when every ring is empty. consumed says
// whether an event was consumed, for readers that publish in batches.
// The event is valid until the next call.
func (m *Merge[R]) Next() (e *Event, consumed bool, err error) {
	if m.last >= 0 {
		m.Rings[m.last].Consume()
		m.last, consumed = -1, true
	}
	best := -1
	var bestRec []byte
	var bestTS uint64
	for i, r := range m.Rings {
		rec := r.Peek()
		if len(rec) < 8 {
			continue
		}
		if ts := binary.LittleEndian.Uint64(rec); best < 0 || ts < bestTS {
			best, bestRec, bestTS = i, rec, ts
		}
	}
	if best < 0 {
		return nil, consumed, nil
	}
	m.last = best
	if err := m.ev.Decode(bestRec); err != nil {
		return nil, consumed, fmt.Errorf("event from cpu %d: %w", m.Rings[best].CPU(), err)
	}
	m.ev.CPU = m.Rings[best].CPU()
	return &m.ev, consumed, nil
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
