// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"context"
	"io"
	"testing"
	"time"
)

// Send is on the detection path: queueing an alert for every output
// allocates nothing, and neither does delivering it to a writer.
func TestSendAllocs(t *testing.T) {
	d := NewDispatcher(Options{QueueSize: 4096, Log: quietLog()},
		NewWriterSink("text", io.Discard, Text), NewWriterSink("json", io.Discard, JSON))
	a := fixedAlert()
	if n := testing.AllocsPerRun(1000, func() { d.Send(&a) }); n != 0 {
		t.Errorf("%v allocations per Send", n)
	}
	st := closeOK(t, d)
	for _, s := range st {
		if s.Sent != 1001 || s.Undelivered() != 0 {
			t.Errorf("%v", s)
		}
	}
}

func BenchmarkJSON(b *testing.B) {
	a := fixedAlert()
	e := Encoder{Format: JSON}
	buf := e.AppendLine(nil, &a)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendLine(buf[:0], &a)
	}
}

func BenchmarkText(b *testing.B) {
	a := fixedAlert()
	e := Encoder{Format: Text}
	buf := e.AppendLine(nil, &a)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendLine(buf[:0], &a)
	}
}

// BenchmarkDispatch/send is what Send costs detection, with what the JSON
// output's goroutine could not keep up with as dropped/op; /delivered paces
// Send so that nothing is dropped, which gives the time per alert
// delivered.
func BenchmarkDispatch(b *testing.B) {
	for _, paced := range []bool{false, true} {
		name := "send"
		if paced {
			name = "delivered"
		}
		b.Run(name, func(b *testing.B) {
			d := NewDispatcher(Options{QueueSize: 4096, Log: quietLog()}, NewWriterSink("discard", io.Discard, JSON))
			q := d.queues[0].ch
			a := fixedAlert()
			b.ReportAllocs()
			for b.Loop() {
				for paced && len(q) == cap(q) { // let the output catch up
					time.Sleep(time.Microsecond)
				}
				d.Send(&a)
			}
			st, err := d.Close(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(st[0].Dropped)/float64(b.N), "dropped/op")
		})
	}
}
