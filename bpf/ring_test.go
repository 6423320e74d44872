// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The data area is mapped once: a record that runs past its end comes
// back whole, gathered from the end and the start, and the records around
// it are read in place.
func TestRingRecordThatWraps(t *testing.T) {
	const size = 64
	var prod, cons uint64
	r := &ring{data: make([]byte, size), mask: size - 1, prod: &prod, cons: &cons}
	// Records are written at positions 40.. (header 8 + data): one of 8
	// bytes at 40 (ends at 56), then one of 20 bytes at 56 that wraps
	// (header 56..64, data 64..84 = 0..20), then one of 4 at 88 (24..32).
	put := func(pos uint64, data []byte) uint64 {
		binary.LittleEndian.PutUint32(r.data[pos&r.mask:], uint32(len(data)))
		for i, b := range data {
			r.data[(pos+8+uint64(i))&r.mask] = b
		}
		return pos + (uint64(len(data))+8+7)&^7
	}
	first := []byte("12345678")
	wraps := []byte("abcdefghijklmnopqrst")
	last := []byte("wxyz")
	r.pos, r.pub, r.avail = 40, 40, 40
	end := put(put(put(40, first), wraps), last)
	prod = end
	for i, want := range [][]byte{first, wraps, last} {
		got := r.Peek()
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: %q, want %q", i, got, want)
		}
		_ = r.Consume()
	}
	if r.Peek() != nil || r.pos != end {
		t.Fatalf("after three records: pos %d, want %d and nothing more", r.pos, end)
	}
}

// A record may hold a batch of events, each at an 8-byte aligned offset
// (bpf/c/builder.h): Peek and Consume hand them out one by one, also from
// a batch that wraps around the end, and a length field that cannot be
// right hands out the rest of the record whole, for Decode to refuse.
func TestRingSplitsBatches(t *testing.T) {
	const size = 512
	var prod, cons uint64
	r := &ring{data: make([]byte, size), mask: size - 1, prod: &prod, cons: &cons}
	event := func(ts byte, n int) []byte {
		e := make([]byte, n)
		e[0] = ts
		binary.LittleEndian.PutUint32(e[16:], uint32(n))
		return e
	}
	batch := func(evs ...[]byte) []byte {
		var b []byte
		for i, e := range evs {
			b = append(b, e...)
			if i < len(evs)-1 {
				b = append(b, make([]byte, (len(e)+7)&^7-len(e))...)
			}
		}
		return b
	}
	put := func(pos uint64, data []byte) uint64 {
		binary.LittleEndian.PutUint32(r.data[pos&r.mask:], uint32(len(data)))
		for i, b := range data {
			r.data[(pos+8+uint64(i))&r.mask] = b
		}
		return pos + (uint64(len(data))+8+7)&^7
	}
	a, b, c := event(1, 38), event(2, 38), event(3, 38)
	lone := event(4, 30)
	liar := event(5, 38)
	binary.LittleEndian.PutUint32(liar[16:], 200) // more than the record
	short := event(6, 38)
	binary.LittleEndian.PutUint32(short[16:], 8) // less than a header
	// At 392: a batch of three (118 bytes) that wraps past 512, then a
	// lone event, then a batch whose second length lies, then one whose
	// first is too short.
	r.pos, r.pub, r.avail = 392, 392, 392
	end := put(392, batch(a, b, c))
	end = put(end, lone)
	end = put(end, batch(a, liar))
	end = put(end, batch(short, b))
	prod = end
	want := [][]byte{a, b, c, lone, a, liar, batch(short, b)}
	got := [][]byte{}
	for e := r.Peek(); e != nil; e = r.Consume() {
		if again := r.Peek(); !bytes.Equal(again, e) {
			t.Fatalf("event %d: Peek again gave %x, want %x", len(got), again, e)
		}
		got = append(got, bytes.Clone(e))
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("event %d: %x, want %x", i, got[i], want[i])
		}
	}
	if r.pos != end || r.records != 4 {
		t.Errorf("after four records: pos %d (want %d), %d records read", r.pos, end, r.records)
	}
}
