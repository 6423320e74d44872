// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vigil-dev/vigil/driver"
)

// Format is how an alert is written: Falco's text line or its json_output
// object.
type Format uint8

// Formats.
const (
	Text Format = iota
	JSON
)

func (f Format) String() string {
	if f == JSON {
		return "json"
	}
	return "text"
}

// ParseFormat reads a format name as the CLI takes it.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "text", "":
		return Text, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("unknown output format %q: use \"text\" or \"json\"", s)
}

// Falco prints evt.time as local wall-clock time with nanoseconds and no
// date; json_output's "time" is always UTC with nine fractional digits.
const (
	textTimeLayout = "15:04:05.000000000"
	jsonTimeLayout = "2006-01-02T15:04:05.000000000Z"
)

// Encoder turns Alerts into Falco's text or JSON lines. It keeps scratch
// space between calls, so encoding allocates nothing once warm; one Encoder
// serves one goroutine.
type Encoder struct {
	Format Format
	// Location is the zone of the text time prefix (also inside JSON's
	// "output"), as Falco prints it in the host's local time; nil means
	// time.Local.
	Location *time.Location

	keys    []string
	tags    []string
	scratch []byte
}

// AppendLine appends the encoded alert and a newline to dst.
func (e *Encoder) AppendLine(dst []byte, a *Alert) []byte {
	if e.Format == JSON {
		dst = e.AppendJSON(dst, a)
	} else {
		dst = e.AppendText(dst, a)
	}
	return append(dst, '\n')
}

func (e *Encoder) loc() *time.Location {
	if e.Location == nil {
		return time.Local
	}
	return e.Location
}

// AppendText appends Falco's text form, "<time>: <Priority> <output>".
// Newlines and carriage returns inside the output are written as \n and
// \r: field values such as a command line are chosen by whoever is being
// watched, and a raw newline would let them forge a second alert line.
func (e *Encoder) AppendText(dst []byte, a *Alert) []byte {
	dst = appendPrefix(dst, a, e.loc())
	s := a.Output
	for {
		i := strings.IndexAny(s, "\n\r")
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		if s[i] == '\n' {
			dst = append(dst, '\\', 'n')
		} else {
			dst = append(dst, '\\', 'r')
		}
		s = s[i+1:]
	}
}

func appendPrefix(dst []byte, a *Alert, loc *time.Location) []byte {
	dst = a.Time.In(loc).AppendFormat(dst, textTimeLayout)
	dst = append(dst, ':', ' ')
	dst = append(dst, a.Priority...)
	dst = append(dst, ' ')
	return dst
}

// AppendJSON appends the object Falco's json_output writes. Keys come in
// Falco's order (its JSON library sorts them): hostname, output,
// output_fields, priority, rule, source, tags, time. "output" is the whole
// text line, time prefix included; "output_fields" carries evt.time as
// nanoseconds since the epoch, as Falco adds it from the prefix; tags are
// sorted and unique (Falco keeps them in a set) and an empty list is [].
func (e *Encoder) AppendJSON(dst []byte, a *Alert) []byte {
	dst = append(dst, `{"hostname":`...)
	dst = appendString(dst, a.Hostname)

	e.scratch = appendPrefix(e.scratch[:0], a, e.loc())
	e.scratch = append(e.scratch, a.Output...)
	dst = append(dst, `,"output":`...)
	dst = driver.AppendJSONString(dst, e.scratch)

	dst = append(dst, `,"output_fields":{`...)
	dst = e.appendFields(dst, a)
	dst = append(dst, `},"priority":`...)
	dst = appendString(dst, a.Priority)
	dst = append(dst, `,"rule":`...)
	dst = appendString(dst, a.Rule)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, a.Source)

	dst = append(dst, `,"tags":[`...)
	e.tags = append(e.tags[:0], a.Tags...)
	slices.Sort(e.tags)
	e.tags = slices.Compact(e.tags)
	for i, t := range e.tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, t)
	}
	clear(e.tags) // do not pin the alert's strings until the next call

	dst = append(dst, `],"time":"`...)
	dst = a.Time.UTC().AppendFormat(dst, jsonTimeLayout)
	return append(dst, '"', '}')
}

const evtTime = "evt.time"

func (e *Encoder) appendFields(dst []byte, a *Alert) []byte {
	e.keys = append(e.keys[:0], evtTime)
	for k := range a.OutputFields {
		if k != evtTime {
			e.keys = append(e.keys, k)
		}
	}
	slices.Sort(e.keys)
	for i, k := range e.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		if k == evtTime {
			dst = strconv.AppendInt(dst, a.Time.UnixNano(), 10)
			continue
		}
		dst = appendValue(dst, a.OutputFields[k])
	}
	clear(e.keys)
	return dst
}

// appendValue writes a field value with the JSON type Falco gives it:
// numbers for integer fields, true/false, null for <NA>, strings otherwise.
func appendValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int8:
		return strconv.AppendInt(dst, int64(v), 10)
	case int16:
		return strconv.AppendInt(dst, int64(v), 10)
	case int32:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case float32:
		return appendFloat(dst, float64(v), 32)
	case float64:
		return appendFloat(dst, v, 64)
	case []byte:
		return driver.AppendJSONString(dst, v)
	case []string:
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		return append(dst, ']')
	case time.Time:
		return appendString(dst, v.UTC().Format(time.RFC3339Nano))
	case fmt.Stringer:
		return appendString(dst, v.String())
	case error:
		return appendString(dst, v.Error())
	default:
		return appendString(dst, fmt.Sprint(v))
	}
}

// JSON has no NaN or infinities; null is what Falco's library writes.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// appendString escapes s without copying it to a []byte first: the escaper
// only reads its input, so viewing the string's bytes is safe and saves an
// allocation per string.
func appendString(dst []byte, s string) []byte {
	return driver.AppendJSONString(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}
