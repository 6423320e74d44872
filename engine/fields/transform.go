// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// Transformer is a function applied to a field's value before comparison:
// tolower(proc.name).
type Transformer uint8

// Transformers, as Falco names them.
const (
	NoTransform Transformer = iota
	ToLower
	ToUpper
	B64      // base64-decodes; a value that is not base64 is not available
	Basename // the last path element ("" for a path ending in '/')
	Len      // the length of a string (bytes) or of a list
)

var transformerNames = map[string]Transformer{"tolower": ToLower, "toupper": ToUpper, "b64": B64, "basename": Basename, "len": Len}

// ParseTransformer maps a transformer's name to it.
func ParseTransformer(name string) (Transformer, bool) {
	t, ok := transformerNames[name]
	return t, ok
}

func (t Transformer) String() string {
	for n, x := range transformerNames {
		if x == t {
			return n
		}
	}
	return ""
}

// ResultType is the type of t applied to values of type in, or an error
// when t does not apply to that type.
func (t Transformer) ResultType(in Type) (Type, error) {
	switch t {
	case NoTransform:
		return in, nil
	case Len:
		if in == String || in == StringList {
			return Int64, nil
		}
	default:
		if in == String {
			return String, nil
		}
	}
	return 0, fmt.Errorf("transformer %s applies to strings, not to %s values", t, in)
}

// Apply transforms v (of type in) in place, writing new strings into c's
// scratch buffer. It reports false when the result is not available.
func (t Transformer) Apply(c *Ctx, in Type, v *Value) bool {
	switch t {
	case NoTransform:
		return true
	case ToLower, ToUpper:
		start := len(c.buf)
		for i := 0; i < len(v.S); i++ {
			ch := v.S[i]
			if t == ToLower && 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			} else if t == ToUpper && 'a' <= ch && ch <= 'z' {
				ch -= 'a' - 'A'
			}
			c.buf = append(c.buf, ch)
		}
		v.S = c.str(start)
	case B64:
		enc := base64.StdEncoding
		if !strings.HasSuffix(v.S, "=") && len(v.S)%4 != 0 {
			enc = base64.RawStdEncoding
		}
		n := enc.DecodedLen(len(v.S))
		start := len(c.buf)
		c.buf = slices.Grow(c.buf, n)[:start+n]
		m, err := enc.Decode(c.buf[start:], unsafeBytes(v.S))
		if err != nil {
			c.buf = c.buf[:start]
			return false
		}
		c.buf = c.buf[:start+m]
		v.S = c.str(start)
	case Basename:
		if i := strings.LastIndexByte(v.S, '/'); i >= 0 {
			v.S = v.S[i+1:]
		}
	case Len:
		if in == StringList {
			v.N = int64(len(v.L))
		} else {
			v.N = int64(len(v.S))
		}
	}
	return true
}
