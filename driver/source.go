// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"time"

	"golang.org/x/sys/unix"
)

// Source is a stream of events: a live driver or a capture file. It is all
// the rule engine knows of a driver.
type Source interface {
	// Next returns the next event. The event and its bytes are valid only
	// until the following call. It returns ErrClosed after Close, io.EOF at
	// the end of a finite source, and ErrTimeout when a live source had no
	// event within its poll interval (callers simply call again).
	Next() (*Event, error)
	// Stats returns the driver's counters. Live sources allow it from
	// any goroutine, also while or after Close runs.
	Stats() (Stats, error)
	// Close releases the source; it interrupts a blocked Next.
	Close() error
}

// Batcher is a Source that hands out its events a batch at a time, for a
// consumer whose work per event is so small that a call per event (Next,
// through an interface) is a large part of it.
type Batcher interface {
	Source
	// NextBatch returns the events Next would return next, in the same
	// order, at least one unless err is set (the errors are Next's). They
	// are valid until the next call of NextBatch or Next. Calls of Next
	// and NextBatch may be mixed: each takes up where the other stopped.
	NextBatch() ([]Event, error)
}

// HeaderSource is a Source that can hand out events with only their
// headers decoded (Event.HeaderOnly), for a consumer that rejects most of
// them by type, thread or process: it decodes the parameters of those it
// keeps (Event.Full), and the others cost no more than their header.
type HeaderSource interface {
	Source
	// SetHeadersOnly turns header-only events on or off, from the next
	// batch the source reads.
	SetHeadersOnly(on bool)
}

// Stopper is a live Source that can stop capturing yet hand out what its
// driver already wrote: after Stop, Next returns the events still in the
// buffers, then io.EOF, so that the events read add up to the driver's
// count. Stop is final.
type Stopper interface {
	Stop() error
}

// Drain is what a live reader keeps to end a stopped capture exactly: how
// many events it returned, and when its driver stopped writing.
type Drain struct {
	returned uint64
	stopped  time.Time
}

const (
	// drainGrace is how long a stopped driver may still complete events
	// that had begun: a probe run past its capture check, maybe preempted.
	drainGrace = 20 * time.Millisecond
	// drainTimeout bounds the wait for events the driver counted and the
	// reader cannot see: past it the reader ends, and the counters show
	// the difference.
	drainTimeout = time.Second
)

// Returned counts an event the reader returned.
func (d *Drain) Returned() { d.returned++ }

// ReturnedBatch counts n events a reader decoded for returning, one batch
// (Merge.Fill) at a time: Done is asked only once the batch is used up,
// when they have all been returned.
func (d *Drain) ReturnedBatch(n int) { d.returned += uint64(n) }

// Stop notes that the driver was told to stop writing.
func (d *Drain) Stop() {
	if d.stopped.IsZero() {
		d.stopped = time.Now()
	}
}

// Stopped says whether Stop was called.
func (d *Drain) Stopped() bool { return !d.stopped.IsZero() }

// Done says whether a stopped reader whose buffers look empty may return
// io.EOF: it has returned every event its driver counted written, and
// events begun before the stop had time to complete.
func (d *Drain) Done(written uint64) bool {
	since := time.Since(d.stopped)
	return since >= drainGrace && written <= d.returned || since >= drainTimeout
}

// Stats are a driver's counters, summed over CPUs, with the per-CPU detail.
type Stats struct {
	Events uint64     // events written to a buffer
	Drops  uint64     // events lost because a buffer was full
	PerCPU []CPUStats // one entry per possible CPU (live drivers only)
	// Missed counts probe runs the kernel skipped because the same probe
	// was already running on that CPU (eBPF recursion protection): events
	// lost before the driver saw them.
	Missed uint64
	// Filtered counts events Config.Filter discarded: neither events
	// nor drops.
	Filtered uint64
}

// CPUStats are one CPU's counters.
type CPUStats struct {
	Events uint64
	Drops  uint64
}

// Config is what user space tells a driver: which syscalls to capture and
// how much of each variable-size parameter.
type Config struct {
	// Syscalls selects the syscalls to capture by number; nil captures
	// every syscall. Process lifecycle events are always captured.
	Syscalls []bool
	// Snaplen bounds strings and buffers other than paths, in bytes.
	Snaplen uint32
	// IgnorePID is a thread-group id whose events are dropped in the
	// kernel: the agent's own, so that reading events does not feed itself.
	IgnorePID uint32
	// Filter discards events no rule and no state table can use before
	// they reach the buffers; nil keeps them all. Only the eBPF probe
	// applies it.
	Filter *KernelFilter
}

// DefaultSnaplen matches what rules need of argv and names without copying
// whole buffers.
const DefaultSnaplen = 256

// Clock converts boot-time event timestamps to wall-clock time.
type Clock struct {
	offset int64 // realtime - boottime, in ns
}

// NewClock measures the offset between CLOCK_REALTIME and CLOCK_BOOTTIME now.
func NewClock() Clock {
	var rt, bt unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt)
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	return Clock{offset: rt.Nano() - bt.Nano()}
}

// ClockWithOffset returns a clock with a known offset (read from a capture).
func ClockWithOffset(ns int64) Clock { return Clock{offset: ns} }

// Offset returns realtime minus boottime in nanoseconds.
func (c Clock) Offset() int64 { return c.offset }

// Wall returns the wall-clock time of boot-time timestamp ts.
func (c Clock) Wall(ts uint64) time.Time { return time.Unix(0, int64(ts)+c.offset) }

// WallNano returns the wall-clock time of ts as Unix nanoseconds.
func (c Clock) WallNano(ts uint64) int64 { return int64(ts) + c.offset }
