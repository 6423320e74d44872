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
		r.Consume()
	}
	if r.Peek() != nil || r.pos != end {
		t.Fatalf("after three records: pos %d, want %d and nothing more", r.pos, end)
	}
}
