// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// fuzzSeeds are real events of every shape the formatters handle.
func fuzzSeeds(t testing.TB) [][]byte {
	seeds := testEvents(t, 6)
	seeds = append(seeds,
		buildRaw(t, EvGeneric, 0, 511),
		buildRaw(t, EvUnlink, 0, "a\"b\\c\n\xff\u2028"),
		buildRaw(t, EvConnect, -115, 3, tuple4([4]byte{10, 0, 0, 1}, 5, [4]byte{1, 1, 1, 1}, 53)),
		buildRaw(t, EvConnectE, 3, inet4([4]byte{1, 2, 3, 4}, 80)),
		buildRaw(t, EvAccept4, 4, 3, []byte{1}, 0),
		buildRaw(t, EvBind, 0, 3, []byte{10, 1}),
		buildRaw(t, EvOpenat, 3, -100, absent{}, absent{}, absent{}, absent{}, absent{}),
	)
	// A newer minor schema appends a parameter: still decodable.
	extra := buildRaw(t, EvClose, 0, 3)
	extra = append(extra[:HeaderSize+4], append([]byte{8, 0}, extra[HeaderSize+4:]...)...)
	extra[22] = 3
	extra = append(extra, 1, 2, 3, 4, 5, 6, 7, 8)
	extra[16] = byte(len(extra))
	return append(seeds, extra)
}

// FuzzDecode feeds arbitrary bytes to the decoder and then uses the result
// every way a consumer can. The Event is reused from a valid decode first,
// as every Source reuses its Event: a failed Decode must not leave it in a
// state whose accessors misbehave.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	tab, err := NewSyscallTable("amd64")
	if err != nil {
		f.Fatal(err)
	}
	prev := buildRaw(f, EvExecve, execArgs(0, "/usr/bin/ls", "ls\x00-l\x00/tmp")...)
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		if err := e.Decode(prev); err != nil {
			t.Fatal(err)
		}
		err := e.Decode(data)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		}
		if err == nil {
			if n, perr := PeekLen(data); perr != nil || n != len(e.Raw) {
				t.Fatalf("PeekLen = %d, %v; decoded %d bytes", n, perr, len(e.Raw))
			}
		}
		info := e.Type.Info()
		for i := -1; i <= MaxParams+1; i++ {
			p := e.Param(i)
			_ = e.Int(i)
			_ = e.Uint(i)
			_ = e.Has(i)
			_ = e.Bytes(i)
			_ = e.Args(i)
			_ = e.Str(i)
			if err == nil && p != nil && info != nil && i >= 0 && i < len(info.Params) {
				switch info.Params[i].Type {
				case PTSockAddr:
					if a, err := ParseSockAddr(p); err == nil {
						_ = a.String()
					}
				case PTSockTuple:
					if tu, err := ParseSockTuple(p); err == nil {
						_ = tu.String()
					}
				}
			}
		}
		_, _ = e.Res()
		_ = EventName(&e, tab)
		_ = AppendParamsText(nil, &e, tab)
		js := AppendParamsJSON(nil, &e, tab)
		if err == nil {
			if !json.Valid(js) {
				t.Fatalf("invalid JSON for %s: %s", e.Type, js)
			}
			c := e.Copy()
			if !bytes.Equal(c.Raw, e.Raw) {
				t.Fatal("Copy differs")
			}
		}
	})
}

// FuzzCaptureReader reads arbitrary bytes as a capture file: it must fail
// with an error, never panic or allocate without bound.
func FuzzCaptureReader(f *testing.F) {
	seeds := fuzzSeeds(f)
	f.Add(writeCapture(f, seeds))
	f.Add(writeCapture(f, nil))
	f.Add(appendBlock(writeCapture(f, seeds[:2]), 5, 0, []byte("future")))
	f.Add(appendBlock(writeCapture(f, nil), blockSnapshot, 0, bytes.Join(seeds[:3], nil)))
	f.Add(append(appendBlock(writeCapture(f, nil), blockSnapshot, 0, bytes.Join(seeds[:3], nil)), 0))
	f.Add(appendBlock(writeCapture(f, nil), blockEvents, 0, append(bytes.Clone(seeds[0]), 1, 2, 3)))
	// A damaged block, then a good one: the reader resynchronises.
	damaged := appendBlock(writeCapture(f, nil), blockEvents, 0, seeds[0])
	damaged[len(damaged)-3] ^= 1
	f.Add(appendBlock(damaged, blockEvents, 0, bytes.Join(seeds[1:4], nil)))
	f.Add([]byte("VIGILCAP\x01\x00"))
	f.Add([]byte("VIGILCAP"))
	tab, _ := NewSyscallTable("amd64")
	f.Fuzz(func(t *testing.T, data []byte) {
		readCaptureFuzz(t, data, tab)
		// Mutations rarely get past a CRC; read the input again with its
		// checksums repaired so the meta and event decoding inside blocks
		// get fuzzed too.
		readCaptureFuzz(t, fixCRCs(data), tab)
	})
}

// fixCRCs returns a copy of data with every block's CRC made to match.
func fixCRCs(data []byte) []byte {
	data = bytes.Clone(data)
	for off := fileHeaderSize; off+blockHdrSize <= len(data); {
		h := data[off : off+blockHdrSize]
		n := int(binary.LittleEndian.Uint32(h[4:]))
		if n > len(data)-off-blockHdrSize {
			break
		}
		binary.LittleEndian.PutUint32(h[8:], blockCRC(h, data[off+blockHdrSize:off+blockHdrSize+n]))
		off += blockHdrSize + n
	}
	return data
}

func readCaptureFuzz(t *testing.T, data []byte, tab *SyscallTable) {
	cr, err := NewCaptureReader(bytes.NewReader(data))
	if err != nil {
		if !errors.Is(err, ErrBadCapture) {
			t.Fatalf("header error does not wrap ErrBadCapture: %v", err)
		}
		return
	}
	defer cr.Close()
	_ = cr.Meta()
	// Inputs with an odd length read the snapshot first: both paths into
	// the first blocks get fuzzed.
	if len(data)%2 == 1 {
		snap, err := cr.Snapshot()
		if err != nil && !errors.Is(err, ErrBadCapture) {
			t.Fatalf("snapshot error does not wrap ErrBadCapture: %v", err)
		}
		for _, e := range snap {
			_ = AppendParamsJSON(nil, e, tab)
		}
	}
	var buf []byte
	for n := 0; ; n++ {
		e, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !errors.Is(err, ErrBadCapture) {
				t.Fatalf("error does not wrap ErrBadCapture: %v", err)
			}
			if _, again := cr.Next(); again != err {
				t.Fatalf("error is not sticky: %v, then %v", err, again)
			}
			break
		}
		if n > len(data) {
			t.Fatalf("read %d events from %d bytes", n, len(data))
		}
		buf = AppendParamsText(buf[:0], e, tab)
		buf = AppendParamsJSON(buf[:0], e, tab)
		if !json.Valid(buf) {
			t.Fatalf("invalid JSON: %s", buf)
		}
	}
	for _, sk := range cr.Skipped() {
		if !errors.Is(sk, ErrBadCapture) || sk.Bytes <= 0 || sk.Offset < fileHeaderSize || sk.Offset+sk.Bytes > int64(len(data)) {
			t.Fatalf("skip of %d bytes at %d in %d bytes: %v", sk.Bytes, sk.Offset, len(data), sk)
		}
	}
	if st, _ := cr.Stats(); st.Drops != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// Found by FuzzDecode (testdata/fuzz/FuzzDecode/ee593d41b6ab1ce7): a Decode
// that failed halfway left new offsets over the previous event's bytes, and
// Param then sliced out of range. A failed Decode now leaves e empty.
func TestDecodeFailureLeavesEventEmpty(t *testing.T) {
	var e Event
	e.CPU = 3
	if err := e.Decode(buildRaw(t, EvExecve, execArgs(0, "/usr/bin/ls", "ls")...)); err != nil {
		t.Fatal(err)
	}
	bad := buildRaw(t, EvExecve, execArgs(0, "/usr/bin/ls", "ls")...)
	binary.LittleEndian.PutUint16(bad[HeaderSize+2*3:], 0xffff) // cwd overruns the event
	if err := e.Decode(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode = %v, want ErrMalformed", err)
	}
	if e.NParams != 0 || e.Raw != nil || e.CPU != 3 {
		t.Fatalf("after a failed Decode: NParams %d, Raw %d bytes, CPU %d; want an empty event on CPU 3", e.NParams, len(e.Raw), e.CPU)
	}
	for i := range MaxParams {
		if e.Param(i) != nil {
			t.Fatalf("param %d present after a failed Decode", i)
		}
	}
	// Res must not index the schema with a type it does not have.
	if _, ok := (&Event{Type: EvTypeMax + 1}).Res(); ok {
		t.Error("Res of an unknown type reports a result")
	}
}

// The appended-parameter seed must decode: it stands for a newer driver.
func TestDecodeExtraParam(t *testing.T) {
	seeds := fuzzSeeds(t)
	var e Event
	if err := e.Decode(seeds[len(seeds)-1]); err != nil {
		t.Fatal(err)
	}
	if e.Type != EvClose || e.NParams != 2 || e.Int(1) != 3 {
		t.Fatalf("decoded %s with %d params, fd %d", e.Type, e.NParams, e.Int(1))
	}
}
