// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"fmt"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

// maxErrno: return values in [-4095, -1] are errors.
const maxErrno = 4095

func init() {
	add(
		&Field{Name: "evt.num", Type: Uint64, Desc: "event number", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.N = int64(c.Num)
			return true
		}},
		&Field{Name: "evt.time", Type: String, Desc: "event time of day with nanoseconds (local time)", ext: evtTime("15:04:05.000000000", false)},
		&Field{Name: "evt.time.s", Type: String, Desc: "event time of day (local time)", ext: evtTime("15:04:05", false)},
		&Field{Name: "evt.time.iso8601", Type: String, Desc: "event time in ISO 8601 with nanoseconds, UTC", ext: evtTime("2006-01-02T15:04:05.000000000Z", true)},
		&Field{Name: "evt.datetime", Type: String, Desc: "event date and time with nanoseconds (local time)", ext: evtTime("2006-01-02 15:04:05.000000000", false)},
		&Field{Name: "evt.datetime.s", Type: String, Desc: "event date and time (local time)", ext: evtTime("2006-01-02 15:04:05", false)},
		&Field{Name: "evt.rawtime", Type: AbsTime, Desc: "event time, nanoseconds since the epoch", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.N = c.Clock.WallNano(c.Event.TS)
			return true
		}},
		&Field{Name: "evt.rawtime.s", Type: AbsTime, Desc: "event time, seconds since the epoch", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.N = c.Clock.WallNano(c.Event.TS) / 1e9
			return true
		}},
		&Field{Name: "evt.rawtime.ns", Type: AbsTime, Desc: "fractional part of evt.rawtime, in ns", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.N = c.Clock.WallNano(c.Event.TS) % 1e9
			return true
		}},
		&Field{Name: "evt.type", Type: String, Desc: "event type: the syscall's name (open, execve, ...)", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.S = driver.EventName(c.Event, c.Syscalls)
			return true
		}},
		&Field{Name: "evt.dir", Type: String, Desc: "'>' for entry events, '<' for exit (and lifecycle) events", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.S = "<"
			if info := c.Event.Type.Info(); info != nil && info.Dir == driver.Enter {
				v.S = ">"
			}
			return true
		}},
		&Field{Name: "evt.cpu", Type: Int64, Desc: "CPU that delivered the event", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			if c.Event.CPU < 0 {
				return false
			}
			v.N = int64(c.Event.CPU)
			return true
		}},
		&Field{Name: "evt.category", Type: String, Desc: "event category: process, file, net, system, fd or other", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			info := c.Event.Type.Info()
			if info == nil {
				return false
			}
			v.S = categoryNames[info.Category]
			return true
		}},
		&Field{Name: "evt.hostname", Type: String, Desc: "host name", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.S = c.Hostname
			return c.Hostname != ""
		}},
		&Field{Name: "evt.source", Type: String, Desc: "event source: syscall", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			v.S = "syscall"
			return true
		}},
		&Field{Name: "evt.res", Type: String, Desc: "return value as text: SUCCESS, or the error name (ENOENT)", ext: evtRes},
		&Field{Name: "evt.rawres", Type: Int64, Desc: "return value", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			r, ok := res(c)
			v.N = r
			return ok
		}},
		&Field{Name: "evt.failed", Type: Bool, Desc: "true for a syscall that returned an error", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			r, ok := res(c)
			v.B = r < 0 && r >= -maxErrno
			return ok
		}},
		&Field{Name: "evt.is_open_read", Type: Bool, Desc: "open family event opening for reading", ext: openIs(func(f uint64) bool {
			return f&unix.O_ACCMODE == unix.O_RDONLY || f&unix.O_ACCMODE == unix.O_RDWR
		})},
		&Field{Name: "evt.is_open_write", Type: Bool, Desc: "open family event opening for writing", ext: openIs(func(f uint64) bool {
			return f&unix.O_ACCMODE == unix.O_WRONLY || f&unix.O_ACCMODE == unix.O_RDWR
		})},
		&Field{Name: "evt.is_open_create", Type: Bool, Desc: "open family event creating the file (O_CREAT)", ext: openIs(func(f uint64) bool {
			return f&unix.O_CREAT != 0
		})},
		&Field{Name: "evt.is_open_exec", Type: Bool, Desc: "open family or creat event creating a file (O_CREAT, O_TMPFILE) with an execute bit in its mode", ext: isOpenExec},
		&Field{Name: "evt.buffer", Type: String, Never: "vigil's drivers do not capture the data of read, write, send or recv calls",
			Desc: "data buffer of I/O events (read, recvfrom, ...): never available, vigil's drivers do not capture I/O data",
			ext:  func(*Ctx, *Bound, *Value) bool { return false }},
		&Field{Name: "evt.args", Type: String, Desc: "all parameters as text: name=value ...", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			start := len(c.buf)
			c.buf = driver.AppendParamsText(c.buf, c.Event, c.Syscalls)
			v.S = c.str(start)
			return true
		}},
		&Field{Name: "evt.arg", Type: String, Arg: ArgIndex, ArgRequired: true, Desc: "parameter N as text (evt.arg[0]); evt.arg.NAME by name", ext: evtArgIndex},
		&Field{Name: "evt.arg", Type: String, prefix: true, Desc: "the parameter NAME as text, e.g. evt.arg.flags", ext: evtArgName, bind: bindArgName},
		&Field{Name: "evt.rawarg", Type: String, prefix: true, Desc: "the parameter NAME, raw (numbers as numbers)", ext: evtRawArg, bind: bindRawArg},
	)
}

var categoryNames = [...]string{driver.CatOther: "other", driver.CatProcess: "process", driver.CatFile: "file",
	driver.CatNet: "net", driver.CatPriv: "system", driver.CatFD: "fd"}

func evtTime(layout string, utc bool) func(c *Ctx, _ *Bound, v *Value) bool {
	return func(c *Ctx, _ *Bound, v *Value) bool {
		t := time.Unix(0, c.Clock.WallNano(c.Event.TS))
		if utc {
			t = t.UTC()
		}
		start := len(c.buf)
		c.buf = t.AppendFormat(c.buf, layout)
		v.S = c.str(start)
		return true
	}
}

func res(c *Ctx) (int64, bool) {
	r, ok := c.Event.Res()
	if ok && !c.Event.Has(0) {
		return 0, false
	}
	return r, ok
}

func evtRes(c *Ctx, _ *Bound, v *Value) bool {
	r, ok := res(c)
	if !ok {
		return false
	}
	if r >= 0 || r < -maxErrno {
		v.S = "SUCCESS"
		return true
	}
	v.S = unix.ErrnoName(syscall.Errno(-r))
	if v.S == "" {
		start := len(c.buf)
		c.buf = strconv.AppendInt(c.buf, r, 10)
		v.S = c.str(start)
	}
	return true
}

// openFlagsParam is the index of the flags parameter of each open-family
// event, -1 for other events.
var openFlagsParam = func() (t [driver.EvTypeMax]int8) {
	for i := range t {
		t[i] = -1
	}
	for _, et := range []driver.EventType{driver.EvOpen, driver.EvOpenat, driver.EvOpenat2,
		driver.EvOpenE, driver.EvOpenatE, driver.EvOpenat2E} {
		t[et] = int8(et.ParamIndex("flags"))
	}
	return t
}()

func isCreat(t driver.EventType) bool { return t == driver.EvCreat || t == driver.EvCreatE }

func openIs(test func(uint64) bool) func(c *Ctx, _ *Bound, v *Value) bool {
	return func(c *Ctx, _ *Bound, v *Value) bool {
		t := c.Event.Type
		switch {
		case isCreat(t):
			// creat(2) is open(O_CREAT|O_WRONLY|O_TRUNC).
			v.B = test(unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC)
		case t < driver.EvTypeMax && openFlagsParam[t] >= 0:
			i := int(openFlagsParam[t])
			if !c.Event.Has(i) {
				return false
			}
			v.B = test(c.Event.Uint(i))
		default:
			v.B = false
		}
		return true
	}
}

// modeParam is the index of the mode parameter of each open-family and
// creat event, -1 for other events.
var modeParam = func() (t [driver.EvTypeMax]int8) {
	for i := range t {
		t[i] = -1
	}
	for _, et := range []driver.EventType{driver.EvOpen, driver.EvOpenat, driver.EvOpenat2, driver.EvCreat,
		driver.EvOpenE, driver.EvOpenatE, driver.EvOpenat2E, driver.EvCreatE} {
		t[et] = int8(et.ParamIndex("mode"))
	}
	return t
}()

// isOpenExec is Falco's evt.is_open_exec: a call that creates a file
// (O_CREAT or O_TMPFILE; creat always does) with any execute bit in the
// mode it asks for.
func isOpenExec(c *Ctx, _ *Bound, v *Value) bool {
	t := c.Event.Type
	v.B = false
	if t >= driver.EvTypeMax || modeParam[t] < 0 {
		return true
	}
	if !isCreat(t) {
		i := int(openFlagsParam[t])
		if !c.Event.Has(i) {
			return false
		}
		if c.Event.Uint(i)&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) == 0 {
			return true
		}
	}
	i := int(modeParam[t])
	if !c.Event.Has(i) {
		return false
	}
	v.B = c.Event.Uint(i)&(unix.S_IXUSR|unix.S_IXGRP|unix.S_IXOTH) != 0
	return true
}

// argAlias maps Falco's parameter names to vigil's where they differ.
func argAlias(t driver.EventType, name string) string {
	if (t == driver.EvExecve || t == driver.EvExecveat) && name == "flags" {
		return "exe_flags"
	}
	return name
}

func paramTable(name string) (t [driver.EvTypeMax]int8, any bool) {
	for et := driver.EventType(0); et < driver.EvTypeMax; et++ {
		t[et] = int8(et.ParamIndex(argAlias(et, name)))
		if t[et] >= 0 {
			any = true
		}
	}
	return t, any
}

func bindArgName(b *Bound) error {
	t, ok := paramTable(b.Arg)
	if !ok {
		return &Error{Msg: fmt.Sprintf("unknown event argument '%s' in field '%s'", b.Arg, b.Text),
			Hint: "no event has a parameter of that name; see `vigil events` for the parameters of each event"}
	}
	b.param = t
	return nil
}

// bindRawArg types evt.rawarg.NAME: numeric when every event with such a
// parameter has an integer there.
func bindRawArg(b *Bound) error {
	if err := bindArgName(b); err != nil {
		return err
	}
	numeric := true
	for et, i := range b.param {
		if i >= 0 && driver.Events[et].Params[i].Type.FixedSize() == 0 {
			numeric = false
		}
	}
	if numeric {
		b.typ = Int64
	}
	return nil
}

func evtArgName(c *Ctx, b *Bound, v *Value) bool {
	t := c.Event.Type
	if t >= driver.EvTypeMax || b.param[t] < 0 {
		return false
	}
	return argText(c, int(b.param[t]), v)
}

func evtArgIndex(c *Ctx, b *Bound, v *Value) bool {
	if b.Index >= c.Event.NParams {
		return false
	}
	return argText(c, b.Index, v)
}

func evtRawArg(c *Ctx, b *Bound, v *Value) bool {
	t := c.Event.Type
	if t >= driver.EvTypeMax || b.param[t] < 0 {
		return false
	}
	i := int(b.param[t])
	if !c.Event.Has(i) {
		return false
	}
	p := driver.Events[t].Params[i]
	if b.typ == Int64 {
		if p.Type == driver.PTInt64 {
			v.N = c.Event.Int(i)
		} else {
			v.N = int64(c.Event.Uint(i))
		}
		return true
	}
	if p.Type.FixedSize() != 0 {
		return argText(c, i, v)
	}
	v.S = bstr(c.Event.Bytes(i))
	return true
}

// argText renders parameter i of the event as Falco's evt.arg does.
func argText(c *Ctx, i int, v *Value) bool {
	e := c.Event
	raw := e.Param(i)
	if raw == nil {
		return false
	}
	p := driver.Events[e.Type].Params[i]
	start := len(c.buf)
	switch p.Type {
	case driver.PTString, driver.PTPath:
		v.S = bstr(e.Bytes(i))
		return true
	case driver.PTStrArray:
		for _, ch := range e.Bytes(i) {
			if ch == 0 {
				ch = ' '
			}
			c.buf = append(c.buf, ch)
		}
	case driver.PTSockAddr:
		a, err := driver.ParseSockAddr(raw)
		if err != nil {
			return false
		}
		c.buf = append(c.buf, a.String()...)
	case driver.PTSockTuple:
		t, err := driver.ParseSockTuple(raw)
		if err != nil {
			return false
		}
		c.buf = append(c.buf, t.String()...)
	default:
		c.buf = appendIntParam(c, c.buf, i, p)
	}
	v.S = c.str(start)
	return true
}

func appendIntParam(c *Ctx, dst []byte, i int, p driver.Param) []byte {
	e := c.Event
	u := e.Uint(i)
	if e.Type == driver.EvGeneric && p.Name == "id" && c.Syscalls != nil {
		if n := c.Syscalls.Name(uint16(u)); n != "" {
			return append(dst, n...)
		}
	}
	if r := argRenderers[e.Type][i]; r != nil {
		if out, ok := r(c, dst, u); ok {
			return out
		}
	}
	switch p.Format {
	case driver.FmtHex:
		return strconv.AppendUint(append(dst, "0x"...), u, 16)
	case driver.FmtOct:
		if u == 0 {
			return append(dst, '0')
		}
		return strconv.AppendUint(append(dst, '0'), u, 8)
	case driver.FmtFD:
		if int64(u) == unix.AT_FDCWD || (p.Type != driver.PTInt64 && int32(u) == unix.AT_FDCWD) {
			return append(dst, "AT_FDCWD"...)
		}
	case driver.FmtErrno:
		n := e.Int(i)
		dst = strconv.AppendInt(dst, n, 10)
		if n < 0 && n >= -maxErrno {
			if name := unix.ErrnoName(syscall.Errno(-n)); name != "" {
				dst = append(append(append(dst, '('), name...), ')')
			}
		}
		return dst
	}
	if p.Type == driver.PTInt64 {
		return strconv.AppendInt(dst, e.Int(i), 10)
	}
	return strconv.AppendUint(dst, u, 10)
}
