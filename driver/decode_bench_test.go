// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"bytes"
	"reflect"
	"testing"
)

// benchStream is a mix shaped like a busy host: mostly small generic and fd
// events, some opens with paths, a few execs.
func benchStream(tb testing.TB) [][]byte {
	var b Builder
	var out [][]byte
	for i := 0; i < 64; i++ {
		b.Begin(nil, EvGeneric, uint64(i), 100, 100)
		out = append(out, b.Int(0).Int(110).End())
		b.Begin(nil, EvOpenat, uint64(i), 100, 100)
		out = append(out, b.Int(3).Int(-100).Str("/etc/ld.so.cache").Int(0x80000).Int(0).Int(0x801).Int(1234).End())
		b.Begin(nil, EvClose, uint64(i), 100, 100)
		out = append(out, b.Int(0).Int(3).End())
		if i%16 == 0 {
			b.Begin(nil, EvExecve, uint64(i), 100, 100)
			b.Int(0).Str("/usr/bin/bash").Raw([]byte("bash\x00-c\x00echo hi\x00")).Str("/root").Str("bash")
			for j := 0; j < 5; j++ {
				b.Int(int64(j))
			}
			for j := 0; j < 6; j++ {
				b.Int(0)
			}
			b.Str("/system.slice/x.scope").Int(0).Int(-1).Int(-1).Int(0).Int(42)
			out = append(out, b.End())
		}
	}
	return out
}

// BenchmarkDecode measures decoding alone: events/s and allocations/event.
func BenchmarkDecode(b *testing.B) {
	evs := benchStream(b)
	var e Event
	var bytes int
	for _, ev := range evs {
		bytes += len(ev)
	}
	b.SetBytes(int64(bytes / len(evs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.Decode(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	evs := benchStream(t)
	var e Event
	allocs := testing.AllocsPerRun(1000, func() {
		for _, ev := range evs {
			if err := e.Decode(ev); err != nil {
				t.Fatal(err)
			}
			_ = e.Uint(0)
			_ = e.Bytes(2)
		}
	})
	if allocs != 0 {
		t.Fatalf("decode allocates %.1f times per stream of %d events", allocs, len(evs))
	}
}

// BenchmarkDecodeGeneric decodes the commonest event of a syscall flood:
// the generic one (result and syscall id).
func BenchmarkDecodeGeneric(b *testing.B) {
	var bl Builder
	bl.Begin(nil, EvGeneric, 1, 100, 100)
	raw := bl.Int(0).Int(110).End()
	var e Event
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMergeFill merges two rings whose events interleave one by one,
// the worst case for runs, and reports the cost per event of Fill and
// Buffered together.
func BenchmarkMergeFill(b *testing.B) {
	lists := make([][][]byte, 2)
	for ts := uint64(0); ts < 64*BatchSize; ts++ {
		var bl Builder
		bl.Begin(nil, EvGeneric, ts, 100, 100)
		lists[ts%2] = append(lists[ts%2], bl.Int(0).Int(110).End())
	}
	rings := []*sliceRing{{cpu: 0}, {cpu: 1}}
	m := NewMerge(rings)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if m.Buffered() != nil {
			n++
			continue
		}
		if k, _ := m.Fill(); k == 0 {
			for i, r := range rings {
				r.recs, r.consumed = lists[i], 0
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(n, 1)), "ns/event")
}

// decode (the fast path) and decodeSlow (the one with the messages) must
// agree on every input: decode accepting what decodeSlow refuses would let
// a corrupt event through. Over every event of benchStream, cut at every
// length and with each byte of its header and parameter lengths changed,
// both take or refuse the same ones, and what they take decodes alike.
func TestDecodeFastAgreesWithSlow(t *testing.T) {
	var inputs [][]byte
	for _, ev := range benchStream(t) {
		for n := 0; n <= len(ev); n++ {
			inputs = append(inputs, ev[:n])
		}
		nl := HeaderSize + 2*int(ev[22])
		for i := 16; i < nl && i < len(ev); i++ {
			for _, v := range []byte{0, 1, 2, 4, 7, 8, 0x10, 0x20, 0x7f, 0xff, ev[i] + 1, ev[i] - 1} {
				b := bytes.Clone(ev)
				b[i] = v
				inputs = append(inputs, b)
			}
		}
	}
	accepted, refused := 0, 0
	for _, b := range inputs {
		var fast, slow Event
		ok := fast.decode(b)
		err := slow.decodeSlow(b)
		if ok != (err == nil) {
			t.Fatalf("% x: decode says %v, decodeSlow says %v", b, ok, err)
		}
		if !ok {
			refused++
			continue
		}
		accepted++
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("% x: decode gives %+v, decodeSlow %+v", b, fast, slow)
		}
	}
	// Not vacuous: both kinds of input are many.
	if accepted < 100 || refused < 100 {
		t.Fatalf("%d inputs accepted, %d refused: want many of each", accepted, refused)
	}
}
