// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

// BPF ring buffer record header bits (include/uapi/linux/bpf.h).
const (
	ringBusyBit    = 1 << 31
	ringDiscardBit = 1 << 30
	ringHdrSize    = 8
)

// ring is the consumer side of one BPF ring buffer, read in place through
// mmap: events are decoded straight from the shared pages, with no copy and
// no syscall while data is there.
//
// The kernel can map the data area twice back to back, so that a record
// that wraps around the end is contiguous; we map it once and gather the
// rare record that wraps into a buffer of the ring's own: each mapped page
// counts in the agent's resident set, and a second view of every ring
// doubled the rings' share of it.
type ring struct {
	cpu     int
	consMem []byte  // consumer position page, read-write
	prodMem []byte  // producer position page + data, read-only
	cons    *uint64 // published consumer position
	prod    *uint64 // producer position
	data    []byte
	mask    uint64

	pos     uint64 // consumed locally, published by Publish()
	pub     uint64 // position Publish last gave the kernel
	avail   uint64 // producer position last seen
	headLen uint64 // size of the record peek() returned, header and padding included
	wrap    []byte // the record that wraps around the end, gathered

	// A record may hold several events (a batch of generic events, see
	// bpf/c/builder.h), each at an 8-byte aligned offset: rec is the
	// record Peek is in (nil between records), sub the offset of the
	// event it returns, evLen that event's length.
	rec     []byte
	sub     uint64
	evLen   uint64
	records uint64 // records read, for tests
}

func newRing(cpu, fd, size int) (*ring, error) {
	page := os.Getpagesize()
	consMem, err := unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap ring buffer consumer page of cpu %d: %w", cpu, err)
	}
	prodMem, err := unix.Mmap(fd, int64(page), page+size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(consMem)
		return nil, fmt.Errorf("mmap ring buffer data of cpu %d: %w", cpu, err)
	}
	r := &ring{
		cpu:     cpu,
		consMem: consMem,
		prodMem: prodMem,
		cons:    (*uint64)(unsafe.Pointer(&consMem[0])),
		prod:    (*uint64)(unsafe.Pointer(&prodMem[0])),
		data:    prodMem[page:],
		mask:    uint64(size - 1),
	}
	r.pos = atomic.LoadUint64(r.cons)
	r.avail, r.pub = r.pos, r.pos
	return r, nil
}

// Peek returns the next event without consuming it, or nil when the ring
// is empty or the next record is still being written.
func (r *ring) Peek() []byte {
	if r.rec != nil {
		return r.event()
	}
	for {
		if r.pos == r.avail {
			r.avail = atomic.LoadUint64(r.prod)
			if r.pos == r.avail {
				return nil
			}
		}
		off := r.pos & r.mask
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[off])))
		if hdr&ringBusyBit != 0 {
			return nil
		}
		n := uint64(hdr &^ (ringBusyBit | ringDiscardBit))
		size := (n + ringHdrSize + 7) &^ 7
		if hdr&ringDiscardBit != 0 {
			r.pos += size
			continue
		}
		r.headLen = size
		r.records++
		// Headers are 8-byte aligned and never wrap; data may.
		start, end := off+ringHdrSize, off+ringHdrSize+n
		if end <= uint64(len(r.data)) {
			r.rec = r.data[start:end]
		} else {
			// At most one record wraps per lap, and the kernel cannot
			// lap what we have not published: the buffer is reused
			// safely.
			r.wrap = append(r.wrap[:0], r.data[start:]...)
			r.wrap = append(r.wrap, r.data[:end-uint64(len(r.data))]...)
			r.rec = r.wrap
		}
		r.sub = 0
		return r.event()
	}
}

// event returns the event at r.sub of the current record: as long as its
// length field says when that is shorter than the rest of the record,
// else the whole rest, so that a bad length is Decode's to report.
func (r *ring) event() []byte {
	rest := r.rec[r.sub:]
	r.evLen = uint64(len(rest))
	if len(rest) >= driver.HeaderSize {
		if n := uint64(binary.LittleEndian.Uint32(rest[16:])); n >= driver.HeaderSize && n < r.evLen {
			r.evLen = n
		}
	}
	return rest[:r.evLen]
}

// Consume consumes the event Peek returned, locally (the kernel may not
// write over its record before Publish), and returns the next as Peek
// would.
func (r *ring) Consume() []byte {
	if next := r.sub + (r.evLen+7)&^7; next < uint64(len(r.rec)) {
		r.sub = next
		return r.event()
	}
	r.pos += r.headLen
	r.headLen, r.rec, r.sub = 0, nil, 0
	return r.Peek()
}

// CPU is the CPU the ring belongs to.
func (r *ring) CPU() int { return r.cpu }

// Publish tells the kernel the space up to pos is free again. Merge calls
// it once per batch: the consumer position is a cache line the producer
// reads on every write.
//
// It compares with its own copy, not with the shared position: reading
// that line back from the producer's cache would cost a miss per batch.
func (r *ring) Publish() {
	if r.pub != r.pos {
		atomic.StoreUint64(r.cons, r.pos)
		r.pub = r.pos
	}
}

// retire lets the kernel's pages go while a reader may still look (see
// driver.Lease); close unmaps afterwards.
func (r *ring) retire() {
	_ = driver.Retire(r.prodMem)
	_ = driver.Retire(r.consMem)
}

func (r *ring) close() {
	_ = unix.Munmap(r.prodMem)
	_ = unix.Munmap(r.consMem)
}
