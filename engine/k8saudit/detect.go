// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package k8saudit

import (
	"context"
	"sync/atomic"

	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/output"
)

// Detector runs the k8s_audit rules of a program on audit events. The
// syscall engine never sees these events, nor these rules its events.
type Detector struct {
	prog atomic.Pointer[eval.Program]
	emit func(*output.Alert)
	ctx  fields.Ctx

	events, alerts atomic.Uint64
}

// NewDetector returns a Detector raising alerts through emit
// (output.Dispatcher.Send); hostname is the alerts' hostname.
func NewDetector(prog *eval.Program, hostname string, emit func(*output.Alert)) *Detector {
	d := &Detector{emit: emit, ctx: fields.Ctx{Hostname: hostname}}
	d.prog.Store(prog)
	return d
}

// Reload hands the Detector a new program (the rules reloaded on SIGHUP),
// used from the next event on; safe from any goroutine.
func (d *Detector) Reload(p *eval.Program) {
	if p != nil {
		d.prog.Store(p)
	}
}

// Eval runs the rules on one event and returns the number of matches. One
// goroutine at a time: the Detector reuses its fields.Ctx.
func (d *Detector) Eval(e *Event) int {
	d.ctx.Ext, d.ctx.ExtTime = e, e.Time
	n := d.prog.Load().EvalSource(Source, &d.ctx, d.emit)
	d.ctx.Ext = nil
	d.events.Add(1)
	d.alerts.Add(uint64(n))
	return n
}

// Run evaluates every event of events until the channel is closed or ctx
// ends.
func (d *Detector) Run(ctx context.Context, events <-chan *Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			d.Eval(e)
		}
	}
}

// Counts returns the events evaluated and the alerts raised so far; safe
// from any goroutine.
func (d *Detector) Counts() (events, alerts uint64) { return d.events.Load(), d.alerts.Load() }
