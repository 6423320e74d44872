// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package output

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Sink is one output. The Dispatcher calls Write and Close from the sink's
// own goroutine only, one call at a time, so a sink needs no locking of its
// own for them.
type Sink interface {
	// Name says which output this is in logs and counters ("stdout",
	// "file /var/log/vigil.txt", ...).
	Name() string
	// Write delivers one alert. ctx is cancelled when Close gives up
	// waiting; a Write that blocks should return then.
	Write(ctx context.Context, a *Alert) error
	// Close flushes and releases the output; ctx bounds how long it may
	// wait.
	Close(ctx context.Context) error
}

// Reopener is a Sink that can reopen what it writes to, for log rotation.
type Reopener interface {
	Reopen() error
}

// Defaults.
const (
	DefaultQueueSize        = 1024
	DefaultErrorLogInterval = 10 * time.Second
	// closeGrace is how long Close still waits for a sink's goroutine once
	// its deadline has passed and the sink was told to abort.
	closeGrace = time.Second
)

// Options tune a Dispatcher.
type Options struct {
	// QueueSize is the number of alerts each sink may hold while it is
	// busy; 0 means DefaultQueueSize.
	QueueSize int
	// Log receives each sink's errors, at most one line per
	// ErrorLogInterval and sink (the rest are counted in the next line).
	// Default: logrus.StandardLogger().
	Log              logrus.FieldLogger
	ErrorLogInterval time.Duration
}

// Stats are one sink's counters.
type Stats struct {
	Name string
	// Sent alerts were written to the output (for HTTP: answered 2xx).
	Sent uint64
	// Dropped alerts found the sink's queue full (or the Dispatcher
	// closed) and were never tried.
	Dropped uint64
	// Failed alerts were tried and the output refused them: a write
	// error, a non-2xx answer, a program that could not be started.
	Failed uint64
	// Lost alerts were written to a program that exited before reading
	// them (they are also counted in Sent).
	Lost uint64
	// Unsent alerts were still queued or in flight when Close's deadline
	// passed.
	Unsent uint64
	// Restarts counts how often a program output was started again after
	// it exited.
	Restarts uint64
	// Queued is the queue length when the Stats were taken.
	Queued int
}

// Undelivered is every alert this sink did not deliver.
func (s Stats) Undelivered() uint64 { return s.Dropped + s.Failed + s.Lost + s.Unsent }

func (s Stats) String() string {
	return fmt.Sprintf("%s: sent %d, dropped %d (queue full), failed %d, lost %d, unsent %d",
		s.Name, s.Sent, s.Dropped, s.Failed, s.Lost, s.Unsent)
}

// Dispatcher fans alerts out to sinks. Each sink has a bounded queue and a
// goroutine draining it, so a slow or dead output loses its own alerts,
// counted, and never holds up detection or the other outputs.
type Dispatcher struct {
	mu     sync.RWMutex // held for reading by Send, for writing by Close
	closed bool
	queues []*queue
	// observe sees every alert Send is given (Observe).
	observe atomic.Pointer[func(*Alert)]
	// closeDone is closed once the first Close has set report and err.
	closeDone chan struct{}
	report    []Stats
	err       error
}

type queue struct {
	sink   Sink
	ch     chan Alert
	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	log    logrus.FieldLogger

	// cur is where the goroutine keeps the alert it is delivering: a
	// local variable would escape through the Sink interface and cost an
	// allocation per alert.
	cur Alert

	sent, dropped, failed, unsent atomic.Uint64
	inflight                      atomic.Bool
	closeErr                      error
	// closedLogged is set once an ErrClosed failure was logged.
	closedLogged bool

	errLog, dropLog rateLimit
}

// NewDispatcher starts a goroutine per sink.
func NewDispatcher(opt Options, sinks ...Sink) *Dispatcher {
	if opt.QueueSize <= 0 {
		opt.QueueSize = DefaultQueueSize
	}
	if opt.Log == nil {
		opt.Log = logrus.StandardLogger()
	}
	if opt.ErrorLogInterval <= 0 {
		opt.ErrorLogInterval = DefaultErrorLogInterval
	}
	d := &Dispatcher{closeDone: make(chan struct{})}
	for _, s := range sinks {
		ctx, cancel := context.WithCancel(context.Background())
		q := &queue{
			sink:    s,
			ch:      make(chan Alert, opt.QueueSize),
			stop:    make(chan struct{}),
			done:    make(chan struct{}),
			ctx:     ctx,
			cancel:  cancel,
			log:     opt.Log.WithField("output", s.Name()),
			errLog:  rateLimit{every: opt.ErrorLogInterval},
			dropLog: rateLimit{every: opt.ErrorLogInterval},
		}
		d.queues = append(d.queues, q)
		go q.run()
	}
	return d
}

// Send queues a copy of a for every sink and returns at once: a sink whose
// queue is full drops the alert and counts it. The sinks read a's Tags and
// OutputFields later, from their own goroutines, so the caller must not
// modify them after Send.
func (d *Dispatcher) Send(a *Alert) {
	if f := d.observe.Load(); f != nil {
		(*f)(a)
	}
	d.mu.RLock()
	for _, q := range d.queues {
		if d.closed {
			q.dropped.Add(1)
			continue
		}
		select {
		case q.ch <- *a:
		default:
			q.dropped.Add(1)
			if ok, n := q.dropLog.allow(); ok {
				q.log.WithField("dropped", n+1).Warn("output queue full, dropping alerts: the output is slower than alerts arrive; fix the output or raise the queue size")
			}
		}
	}
	d.mu.RUnlock()
}

// Observe makes f see every alert given to Send, on Send's goroutine,
// before the alert is queued: metrics count alerts by rule there. f must
// be quick and must not keep a. Alerts sent before Observe are not seen.
func (d *Dispatcher) Observe(f func(*Alert)) { d.observe.Store(&f) }

// Reopen reopens every sink that writes to a file, after log rotation
// renamed it (what Falco does on SIGUSR1).
func (d *Dispatcher) Reopen() error {
	var errs []error
	for _, q := range d.queues {
		if r, ok := q.sink.(Reopener); ok {
			if err := r.Reopen(); err != nil {
				errs = append(errs, fmt.Errorf("reopen output %s: %w", q.sink.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// Stats returns every sink's counters, in the order the sinks were given.
func (d *Dispatcher) Stats() []Stats {
	out := make([]Stats, len(d.queues))
	for i, q := range d.queues {
		out[i] = q.stats()
	}
	return out
}

func (q *queue) stats() Stats {
	s := Stats{
		Name:    q.sink.Name(),
		Sent:    q.sent.Load(),
		Dropped: q.dropped.Load(),
		Failed:  q.failed.Load(),
		Unsent:  q.unsent.Load(),
		Queued:  len(q.ch),
	}
	if p, ok := q.sink.(interface{ Lost() uint64 }); ok {
		s.Lost = p.Lost()
	}
	if p, ok := q.sink.(interface{ Restarts() uint64 }); ok {
		s.Restarts = p.Restarts()
	}
	return s
}

// Close stops taking alerts, lets every sink drain its queue until ctx is
// done, then aborts the sinks still busy. It returns the final counters; the
// error says which sinks left alerts undelivered at the deadline, or failed
// to close. Calling Close again returns the same result.
func (d *Dispatcher) Close(ctx context.Context) ([]Stats, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		select {
		case <-d.closeDone:
			return d.report, d.err
		case <-ctx.Done():
			return d.Stats(), fmt.Errorf("close outputs: another Close is still draining: %w", ctx.Err())
		}
	}
	d.closed = true
	d.mu.Unlock()
	defer close(d.closeDone)

	for _, q := range d.queues {
		close(q.stop)
	}
	expired := false
	for _, q := range d.queues {
		select {
		case <-q.done:
			continue
		case <-ctx.Done():
			expired = true
		}
		break
	}
	// A sink still blocked after the grace period is in a write nothing
	// can interrupt (a pipe nobody reads). Its goroutine keeps the
	// counters; the report adds what it still holds.
	stuck := map[*queue]uint64{}
	if expired {
		for _, q := range d.queues {
			q.cancel()
		}
		grace, cancel := context.WithTimeout(context.Background(), closeGrace)
		for _, q := range d.queues {
			select {
			case <-q.done:
			case <-grace.Done():
			}
			select {
			case <-q.done:
			default:
				n := uint64(len(q.ch))
				if q.inflight.Load() {
					n++
				}
				stuck[q] = n
			}
		}
		cancel()
	}

	var errs []error
	report := make([]Stats, len(d.queues))
	for i, q := range d.queues {
		q.cancel()
		report[i] = q.stats()
		held, blocked := stuck[q]
		report[i].Unsent += held
		if report[i].Unsent > 0 {
			errs = append(errs, fmt.Errorf("output %s: %d alerts undelivered when the deadline passed", q.sink.Name(), report[i].Unsent))
		}
		if blocked {
			errs = append(errs, fmt.Errorf("output %s: still blocked after the deadline, left behind", q.sink.Name()))
		} else if q.closeErr != nil {
			errs = append(errs, fmt.Errorf("close output %s: %w", q.sink.Name(), q.closeErr))
		}
	}
	if len(errs) > 0 && ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	d.report, d.err = report, errors.Join(errs...)
	return d.report, d.err
}

func (q *queue) run() {
	defer close(q.done)
	for {
		select {
		case q.cur = <-q.ch:
			q.deliver()
		case <-q.stop:
			q.drain()
			q.closeErr = q.sink.Close(q.ctx)
			return
		}
	}
}

// drain delivers what is queued, or counts it as unsent once Close has
// given up waiting.
func (q *queue) drain() {
	for {
		select {
		case q.cur = <-q.ch:
			if q.ctx.Err() != nil {
				q.unsent.Add(1)
				q.cur = Alert{}
				continue
			}
			q.deliver()
		default:
			return
		}
	}
}

func (q *queue) deliver() {
	q.inflight.Store(true)
	err := q.sink.Write(q.ctx, &q.cur)
	q.inflight.Store(false)
	q.cur = Alert{} // let the alert's fields be collected
	switch {
	case err == nil:
		q.sent.Add(1)
	case q.ctx.Err() != nil:
		q.unsent.Add(1)
	case errors.Is(err, ErrClosed):
		q.failed.Add(1)
		if !q.closedLogged {
			q.closedLogged = true
			q.log.WithError(err).Error("output closed: its alerts are counted as failed from now on; detection and the other outputs go on")
		}
	default:
		q.failed.Add(1)
		if ok, n := q.errLog.allow(); ok {
			e := q.log.WithError(err)
			if n > 0 {
				e = e.WithField("suppressed", n)
			}
			e.Error("output failed to deliver an alert")
		}
	}
}

// rateLimit lets one log line through per interval and counts the ones it
// held back, so a dead output logs a line every few seconds, not one per
// alert.
type rateLimit struct {
	every      time.Duration
	next       atomic.Int64
	suppressed atomic.Uint64
}

// allow reports whether to log now and how many were held back since the
// last line.
func (r *rateLimit) allow() (bool, uint64) {
	now := time.Now().UnixNano()
	next := r.next.Load()
	if now < next || !r.next.CompareAndSwap(next, now+int64(r.every)) {
		r.suppressed.Add(1)
		return false, 0
	}
	return true, r.suppressed.Swap(0)
}
