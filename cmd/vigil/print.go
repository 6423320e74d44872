// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"io"
	"strconv"
	"time"

	"github.com/vigil-dev/vigil/driver"
)

// printer renders events as text or JSON lines into a buffer it reuses, so
// printing allocates nothing per event.
type printer struct {
	w    *bufio.Writer
	json bool
	s    *stream
	line []byte
}

func newPrinter(w io.Writer, json bool, s *stream) *printer {
	return &printer{w: bufio.NewWriterSize(w, 64<<10), json: json, s: s}
}

func (p *printer) flush() error { return p.w.Flush() }

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func dirName(d driver.Direction) string {
	switch d {
	case driver.Enter:
		return "enter"
	case driver.Proc:
		return "proc"
	}
	return "exit"
}

// print writes one line:
//
//	2026-11-23T10:00:00.123456789Z cpu=1 sh 1234:1234 ppid=1000 openat res=3 fd=3 …
//	{"type":"openat","dir":"exit","ts":…,"time":"…","cpu":1,"pid":…,"tid":…,"ppid":…,"comm":"sh","res":3,"params":{…}}
//
// A thread the table does not know has ppid 0 and comm "<NA>" (text) or
// null (JSON).
func (p *printer) print(e *driver.Event) error {
	th := p.s.threads.Get(e.TID, e.PID)
	b := p.line[:0]
	name := driver.EventName(e, p.s.tab)
	if p.json {
		b = append(b, `{"type":"`...)
		b = append(b, name...)
		b = append(b, `","dir":"`...)
		b = append(b, dirName(e.Type.Info().Dir)...)
		b = append(b, `","ts":`...)
		b = strconv.AppendInt(b, p.s.clock.WallNano(e.TS), 10)
		b = append(b, `,"time":"`...)
		b = p.s.clock.Wall(e.TS).UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","cpu":`...)
		b = strconv.AppendInt(b, int64(e.CPU), 10)
		b = append(b, `,"pid":`...)
		b = strconv.AppendUint(b, uint64(e.PID), 10)
		b = append(b, `,"tid":`...)
		b = strconv.AppendUint(b, uint64(e.TID), 10)
		if th != nil {
			b = append(b, `,"ppid":`...)
			b = strconv.AppendUint(b, uint64(th.PPID), 10)
			b = append(b, `,"comm":`...)
			b = driver.AppendJSONString(b, []byte(th.Comm))
		} else {
			b = append(b, `,"ppid":null,"comm":null`...)
		}
		b = append(b, `,"res":`...)
		if res, ok := e.Res(); ok {
			b = strconv.AppendInt(b, res, 10)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"params":`...)
		b = driver.AppendParamsJSON(b, e, p.s.tab)
		b = append(b, "}\n"...)
	} else {
		b = p.s.clock.Wall(e.TS).UTC().AppendFormat(b, timeLayout)
		b = append(b, " cpu="...)
		b = strconv.AppendInt(b, int64(e.CPU), 10)
		b = append(b, ' ')
		if th != nil {
			b = append(b, th.Comm...)
		} else {
			b = append(b, "<NA>"...)
		}
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(e.PID), 10)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(e.TID), 10)
		b = append(b, " ppid="...)
		if th != nil {
			b = strconv.AppendUint(b, uint64(th.PPID), 10)
		} else {
			b = append(b, "<NA>"...)
		}
		b = append(b, ' ')
		b = append(b, name...)
		if e.Type.Info().Dir == driver.Enter {
			b = append(b, '<')
		}
		b = append(b, ' ')
		b = driver.AppendParamsText(b, e, p.s.tab)
		b = append(b, '\n')
	}
	p.line = b
	_, err := p.w.Write(b)
	return err
}
