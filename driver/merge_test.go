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

// sliceRing is a ring over a list of encoded events.
type sliceRing struct {
	cpu  int
	recs [][]byte
}

func (r *sliceRing) Peek() []byte {
	if len(r.recs) == 0 {
		return nil
	}
	return r.recs[0]
}
func (r *sliceRing) Consume() { r.recs = r.recs[1:] }
func (r *sliceRing) CPU() int { return r.cpu }

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
	for {
		e, _, err := m.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
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

// An event is consumed only on the following Next: the caller may still
// be reading it in place.
func TestMergeConsumesOnNextCall(t *testing.T) {
	r := &sliceRing{recs: [][]byte{rec(1, 1), rec(2, 1)}}
	m := NewMerge([]*sliceRing{r})
	if _, consumed, _ := m.Next(); consumed || len(r.recs) != 2 {
		t.Fatalf("first Next consumed=%v, %d records left; want false, 2", consumed, len(r.recs))
	}
	if _, consumed, _ := m.Next(); !consumed || len(r.recs) != 1 {
		t.Fatalf("second Next consumed=%v, %d records left; want true, 1", consumed, len(r.recs))
	}
}

func TestMergeCorruptRecordNamesCPU(t *testing.T) {
	bad := rec(5, 1)
	bad[16] = 200 // total length beyond the record
	m := NewMerge([]*sliceRing{{cpu: 7, recs: [][]byte{bad}}})
	_, _, err := m.Next()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if want := "event from cpu 7"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to name %q", err, want)
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
