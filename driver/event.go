// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Wire format of one event, as both drivers write it (little-endian):
//
//	off  size  field
//	  0     8  ts       nanoseconds since boot (CLOCK_BOOTTIME)
//	  8     4  tid      thread id, as seen from the initial pid namespace
//	 12     4  pid      thread-group id, ditto
//	 16     4  len      total length of the event, header included
//	 20     2  type     EventType
//	 22     2  nparams  number of parameters
//	 24  2*np  lens     length of each parameter (0: absent/unreadable)
//	  …        params   the parameters, back to back, unaligned
//
// A driver may append parameters in a newer minor schema version; the
// decoder accepts more parameters than it knows and ignores the extra ones.

// Event is a decoded view over one event's bytes. It does not own them: an
// Event returned by Source.Next is valid until the next call to Next.
type Event struct {
	Raw     []byte
	TS      uint64 // boot-time nanoseconds; see Clock for wall time
	TID     uint32
	PID     uint32
	Type    EventType
	NParams int // parameters known to this schema (extra ones ignored)

	// CPU is the CPU whose buffer delivered the event, or -1 when unknown
	// (read from a capture file).
	CPU int
	// HeaderOnly is set on an event whose parameters were not decoded
	// (DecodeHeader): it has none (NParams 0) until Full decodes them.
	HeaderOnly bool

	offs [MaxParams + 1]uint32 // param i spans Raw[offs[i]:offs[i+1]]
}

// PeekLen returns the total length an event header announces, so a reader
// of a byte stream knows how much to take. b must hold a whole header.
func PeekLen(b []byte) (int, error) {
	if len(b) < HeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(b), HeaderSize)
	}
	return int(binary.LittleEndian.Uint32(b[16:20])), nil
}

// Decode makes e a view of the event at the start of b. It checks every
// length against the schema and the buffer, so a corrupt event is an error,
// never an out-of-range read. It allocates only when it returns an error.
// On error e is left empty (no parameters, CPU kept), never half-updated.
func (e *Event) Decode(b []byte) error {
	if e.decode(b) {
		return nil
	}
	return e.decodeSlow(b)
}

// decode is Decode for a good event: the same checks, without the
// messages. Building them made Decode's frame large enough to cost a third
// of its time; decodeSlow repeats the checks to say which one failed.
// decode may leave e half-updated when it returns false.
func (e *Event) decode(b []byte) bool {
	if len(b) < HeaderSize {
		return false
	}
	le := binary.LittleEndian
	n := le.Uint32(b[16:20])
	typ := EventType(le.Uint16(b[20:22]))
	np := int(le.Uint16(b[22:24]))
	if n < HeaderSize || uint64(n) > uint64(len(b)) || typ >= EvTypeMax {
		return false
	}
	fixed := fixedSizes[typ]
	if np < len(fixed) || np > MaxParams {
		return false
	}
	off := uint32(HeaderSize + 2*np)
	if off > n {
		return false
	}
	lens := b[HeaderSize:off]
	offs := &e.offs
	i := 0
	for ; i < len(fixed); i++ {
		l := uint32(lens[2*i]) | uint32(lens[2*i+1])<<8
		if fs := uint32(fixed[i]); fs != 0 && l != fs && l != 0 {
			return false
		}
		offs[i] = off
		off += l
	}
	for ; i < np; i++ {
		offs[i] = off
		off += uint32(lens[2*i]) | uint32(lens[2*i+1])<<8
	}
	if off > n {
		return false
	}
	offs[np] = off
	e.Raw = b[:n]
	e.TS = le.Uint64(b[0:8])
	e.TID = le.Uint32(b[8:12])
	e.PID = le.Uint32(b[12:16])
	e.Type = typ
	e.NParams = len(fixed)
	e.HeaderOnly = false
	return true
}

// DecodeHeader makes e a view of the event at the start of b, like Decode,
// but reads only its header (TS, TID, PID, Type) and checks only its
// length and type: e has no parameter, and HeaderOnly is set, until Full.
// It is for a consumer that rejects most events by what the header says;
// it decodes the parameters of those it keeps.
func (e *Event) DecodeHeader(b []byte) error {
	if len(b) < HeaderSize {
		return e.decodeSlow(b)
	}
	le := binary.LittleEndian
	n := le.Uint32(b[16:20])
	typ := EventType(le.Uint16(b[20:22]))
	if n < HeaderSize || uint64(n) > uint64(len(b)) || typ >= EvTypeMax {
		return e.decodeSlow(b)
	}
	e.Raw = b[:n]
	e.TS = le.Uint64(b[0:8])
	e.TID = le.Uint32(b[8:12])
	e.PID = le.Uint32(b[12:16])
	e.Type = typ
	e.NParams = 0
	e.HeaderOnly = true
	return nil
}

// Full decodes the parameters of an event DecodeHeader read, with Decode's
// checks; it does nothing to an event already decoded.
func (e *Event) Full() error {
	if !e.HeaderOnly {
		return nil
	}
	return e.Decode(e.Raw)
}

// decodeSlow is Decode with the messages: for an event decode refused.
func (e *Event) decodeSlow(b []byte) error {
	if len(b) < HeaderSize {
		return e.fail(fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(b), HeaderSize))
	}
	le := binary.LittleEndian
	n := le.Uint32(b[16:20])
	typ := EventType(le.Uint16(b[20:22]))
	np := int(le.Uint16(b[22:24]))
	if n < HeaderSize || uint64(n) > uint64(len(b)) {
		return e.fail(fmt.Errorf("%w: length %d outside [%d, %d]", ErrMalformed, n, HeaderSize, len(b)))
	}
	if typ >= EvTypeMax {
		return e.fail(fmt.Errorf("%w: unknown event type %d (the driver may be newer than this vigil; schema %s)", ErrMalformed, typ, SchemaVersion))
	}
	params := Events[typ].Params
	if np < len(params) || np > MaxParams {
		return e.fail(fmt.Errorf("%w: %s has %d parameters, schema %s wants %d", ErrMalformed, typ, np, SchemaVersion, len(params)))
	}
	off := uint32(HeaderSize + 2*np)
	if off > n {
		return e.fail(fmt.Errorf("%w: %s: %d parameter lengths overrun the %d-byte event", ErrMalformed, typ, np, n))
	}
	lens := b[HeaderSize:off]
	fixed := fixedSizes[typ]
	for i := 0; i < np; i++ {
		l := uint32(le.Uint16(lens[2*i:]))
		if i < len(fixed) {
			if fs := uint32(fixed[i]); fs != 0 && l != fs && l != 0 {
				return e.fail(fmt.Errorf("%w: %s parameter %s: %d bytes, want %d", ErrMalformed, typ, params[i].Name, l, fs))
			}
		}
		e.offs[i] = off
		off += l
	}
	// One check after the loop: each length is below 64 KiB and there
	// are at most MaxParams of them, so the sum cannot wrap.
	if off > n {
		i := 0
		for i < np-1 && e.offs[i+1] <= n {
			i++
		}
		return e.fail(fmt.Errorf("%w: %s parameter %d overruns the %d-byte event", ErrMalformed, typ, i, n))
	}
	e.offs[np] = off
	e.Raw = b[:n]
	e.TS = le.Uint64(b[0:8])
	e.TID = le.Uint32(b[8:12])
	e.PID = le.Uint32(b[12:16])
	e.Type = typ
	e.NParams = len(params)
	e.HeaderOnly = false
	return nil
}

// fixedSizes holds, for each event type, the size of each parameter of a
// fixed size and 0 for the others: Decode checks every parameter's length
// against it, and a table read costs less than asking each type.
var fixedSizes = func() (t [EvTypeMax][]uint8) {
	for typ, info := range Events {
		t[typ] = make([]uint8, len(info.Params))
		for i, p := range info.Params {
			t[typ][i] = uint8(p.Type.FixedSize())
		}
	}
	return t
}()

// fail empties e before Decode returns err: Decode fills e.offs as it
// goes, and a half-updated Event (new offsets over the previous event's Raw
// and NParams) would make Param slice out of range. Sources reuse one Event,
// so a caller that ignores the error must still get a harmless value.
func (e *Event) fail(err error) error {
	*e = Event{CPU: e.CPU}
	return err
}

// Param returns the raw bytes of parameter i (nil when absent).
func (e *Event) Param(i int) []byte {
	if i < 0 || i >= e.NParams {
		return nil
	}
	p := e.Raw[e.offs[i]:e.offs[i+1]]
	if len(p) == 0 {
		return nil
	}
	return p
}

// Int returns parameter i as a signed integer (0 when absent).
func (e *Event) Int(i int) int64 { return int64(e.Uint(i)) }

// Uint returns parameter i as an unsigned integer (0 when absent).
func (e *Event) Uint(i int) uint64 {
	p := e.Param(i)
	switch len(p) {
	case 8:
		return binary.LittleEndian.Uint64(p)
	case 4:
		return uint64(binary.LittleEndian.Uint32(p))
	case 2:
		return uint64(binary.LittleEndian.Uint16(p))
	}
	return 0
}

// Has reports whether parameter i is present.
func (e *Event) Has(i int) bool { return e.Param(i) != nil }

// Bytes returns string parameter i without its trailing NUL. The slice
// aliases the event: copy it to keep it.
func (e *Event) Bytes(i int) []byte {
	p := e.Param(i)
	if n := len(p); n > 0 && p[n-1] == 0 {
		return p[:n-1]
	}
	return p
}

// Str returns string parameter i as a new string (allocates).
func (e *Event) Str(i int) string { return string(e.Bytes(i)) }

// Res returns the return value of a syscall event (its "res" parameter,
// always the first), and false for events without one.
func (e *Event) Res() (int64, bool) {
	info := e.Type.Info()
	if info == nil || info.Dir != Exit || len(info.Params) == 0 || info.Params[0].Name != "res" {
		return 0, false
	}
	return e.Int(0), true
}

// Args splits a PTStrArray parameter into its strings (allocates).
func (e *Event) Args(i int) []string {
	p := e.Bytes(i)
	if p == nil {
		return nil
	}
	parts := bytes.Split(p, []byte{0})
	out := make([]string, len(parts))
	for j, s := range parts {
		out[j] = string(s)
	}
	return out
}

// Copy returns an event that owns its bytes, for keeping past Next.
func (e *Event) Copy() *Event {
	c := *e
	c.Raw = bytes.Clone(e.Raw)
	return &c
}
