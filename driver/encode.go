// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"encoding/binary"
	"fmt"
)

// Builder writes events in the wire format from Go. The drivers write
// events in C; Builder serves tests, fuzz seeds, benchmarks and tools that
// synthesise events (replays, converters).
type Builder struct {
	buf    []byte
	typ    EventType
	np     int
	i      int
	params []Param
	start  int
}

// Begin starts an event of type t at dst's end. Add exactly as many
// parameters as the schema lists, then call End.
func (b *Builder) Begin(dst []byte, t EventType, ts uint64, tid, pid uint32) {
	b.params = Events[t].Params
	b.typ, b.np, b.i = t, len(b.params), 0
	b.buf = dst
	start := len(dst)
	b.buf = append(b.buf, make([]byte, HeaderSize+2*b.np)...)
	h := b.buf[start:]
	binary.LittleEndian.PutUint64(h[0:], ts)
	binary.LittleEndian.PutUint32(h[8:], tid)
	binary.LittleEndian.PutUint32(h[12:], pid)
	binary.LittleEndian.PutUint16(h[20:], uint16(t))
	binary.LittleEndian.PutUint16(h[22:], uint16(b.np))
	b.start = start
}

func (b *Builder) add(p []byte) {
	if b.i >= b.np {
		panic(fmt.Sprintf("driver.Builder: %s takes %d parameters", b.typ, b.np))
	}
	binary.LittleEndian.PutUint16(b.buf[b.start+HeaderSize+2*b.i:], uint16(len(p)))
	b.buf = append(b.buf, p...)
	b.i++
}

// Int adds an integer parameter, sized by the schema's type.
func (b *Builder) Int(v int64) *Builder {
	var tmp [8]byte
	n := b.params[b.i].Type.FixedSize()
	switch n {
	case 8:
		binary.LittleEndian.PutUint64(tmp[:], uint64(v))
	case 4:
		binary.LittleEndian.PutUint32(tmp[:], uint32(v))
	case 2:
		binary.LittleEndian.PutUint16(tmp[:], uint16(v))
	default:
		panic(fmt.Sprintf("driver.Builder: %s parameter %s is not an integer", b.typ, b.params[b.i].Name))
	}
	b.add(tmp[:n])
	return b
}

// Str adds a string parameter (the trailing NUL is added here).
func (b *Builder) Str(s string) *Builder {
	p := make([]byte, len(s)+1)
	copy(p, s)
	b.add(p)
	return b
}

// Raw adds a parameter's bytes as they are (nil: absent).
func (b *Builder) Raw(p []byte) *Builder { b.add(p); return b }

// End finishes the event and returns the buffer with it appended.
func (b *Builder) End() []byte {
	if b.i != b.np {
		panic(fmt.Sprintf("driver.Builder: %s got %d of %d parameters", b.typ, b.i, b.np))
	}
	binary.LittleEndian.PutUint32(b.buf[b.start+16:], uint32(len(b.buf)-b.start))
	return b.buf
}
