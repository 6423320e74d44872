// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package engine runs rules over a stream of events: for each event it
// brings the state tables up to date (threads, processes, fds), names the
// container of the event's process, evaluates the rules indexed under the
// event's type and hands the alerts to the outputs.
//
// One goroutine owns an Engine: the state tables are not locked, because
// the event stream is one ordered sequence and locking every event would
// cost more than evaluating it.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/dns"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/fields"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/state"
)

// Config is what an Engine runs with.
type Config struct {
	// Program is the compiled rules.
	Program *eval.Program
	// Emit receives every alert. The Alert is the engine's until Emit
	// returns; output.Dispatcher.Send copies it.
	Emit func(*output.Alert)
	// HostRoot is where the host's file system is seen ("/", or "/host" in
	// a container). Live sources seed the thread table from its /proc and
	// read users and groups from its /etc.
	HostRoot string
	// Live says the events come from this host now (a driver), not from a
	// capture file: only then is /proc a source of truth.
	Live bool
	// Containers resolves container metadata; nil: container fields other
	// than the id read <NA>.
	Containers *container.Resolver
	// Clock turns event timestamps into wall time.
	Clock driver.Clock
	// Syscalls names syscall numbers; nil: this machine's table.
	Syscalls *driver.SyscallTable
	// Hostname is evt.hostname and the alerts' hostname.
	Hostname string
}

// Stats are an engine's counters.
type Stats struct {
	Events  uint64 // events processed
	Alerts  uint64 // alerts raised
	Threads int    // threads in the table now
}

// Engine evaluates rules over events.
type Engine struct {
	cfg     Config
	threads *state.Threads
	ctx     fields.Ctx
	stats   Stats
	// lastPurge is when threads whose exit was missed were last dropped.
	lastPurge time.Time
	// known holds containers known by id alone (no resolver), so that
	// replaying a capture does not allocate one per event.
	known map[string]*container.Info
	// lastCtr is the ContainerID whose Ready metadata lastInfo holds
	// ("" none).
	lastCtr  string
	lastInfo *container.Info
	// dns resolves the names the rules compare fd.*ip.name with; nil when
	// they compare none, or the events are not live (a capture's
	// addresses are not today's).
	dns *dns.Cache
	// next is a program Reload handed over; Run's loop takes it between
	// two events, so that no event is evaluated half by one program and
	// half by the other, and the loop pays one atomic load per event.
	next atomic.Pointer[eval.Program]
	// pub is what Published hands to other goroutines.
	pub published
}

// published holds copies of the counters that other goroutines (a web
// server) may read while Run runs. Run stores them every publishEvery
// events and whenever the source is idle, so that the event loop pays a
// few atomic stores now and then rather than on every event.
type published struct {
	events, alerts atomic.Uint64
	threads        atomic.Int64
	processes      atomic.Int64
	full, purged   atomic.Uint64 // state.Stats.Full and Purged
	procLoads      atomic.Uint64
	beat           atomic.Int64 // unix ns of the last store
	reloads        atomic.Uint64
	programAt      atomic.Int64 // unix ns when Run took its current program
}

// publishEvery is a power of two: Run publishes when the event count is a
// multiple of it.
const publishEvery = 64

// Published are an Engine's counters as Run last published them.
type Published struct {
	Stats
	// State are the thread table's counters.
	State state.Stats
	// At is when Run last published: a few events ago or, on a quiet
	// host, within the source's poll interval. A stale At means the event
	// loop is stuck.
	At time.Time
	// Reloads counts the programs Reload handed over that Run took, and
	// ProgramAt is when Run took the current one (or started).
	Reloads   uint64
	ProgramAt time.Time
}

// purgeEvery is how often a live engine drops threads /proc no longer
// has (their exit event was lost, or came before the table knew them).
const purgeEvery = 5 * time.Second

// New returns an engine; with a live source it seeds the thread table
// from the host's /proc.
func New(cfg Config) (*Engine, error) {
	if cfg.Program == nil || cfg.Emit == nil {
		return nil, errors.New("engine: a Program and an Emit function are required")
	}
	if cfg.HostRoot == "" {
		cfg.HostRoot = "/"
	}
	if cfg.Syscalls == nil {
		tab, err := driver.NewSyscallTable(runtime.GOARCH)
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		cfg.Syscalls = tab
	}
	proc := ""
	if cfg.Live {
		proc = filepath.Join(cfg.HostRoot, "proc")
	}
	e := &Engine{cfg: cfg, threads: state.NewThreads(proc), lastPurge: time.Now(), known: map[string]*container.Info{}}
	e.threads.ContainerOf = containerKey
	if err := e.threads.Seed(); err != nil {
		return nil, fmt.Errorf("engine: %w (is %s the host's root?)", err, cfg.HostRoot)
	}
	e.ctx = fields.Ctx{
		Parent:   e.threads.Parent,
		Env:      e.threads.Env,
		Syscalls: cfg.Syscalls,
		Clock:    cfg.Clock,
		Hostname: cfg.Hostname,
	}
	if names := cfg.Program.Domains(); len(names) > 0 && cfg.Live {
		e.dns = dns.New(names)
		e.ctx.DNS = e.dns
	}
	if cfg.Live {
		users, err := state.NewUsers(cfg.HostRoot)
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		e.ctx.Users = users
	}
	return e, nil
}

// containerKey is what the thread table keeps as a process's ContainerID:
// "runtime:full-id", so that the resolver can be asked without parsing the
// cgroup path again on every event. "" is the host.
func containerKey(cgroup string) string {
	rt, id := container.ParseCgroup(cgroup)
	if rt == container.Host || id == "" {
		return ""
	}
	return string(rt) + ":" + id
}

// containerOf returns the container metadata of a process (nil: an
// unknown thread, taken for the host's).
func (e *Engine) containerOf(p *state.Process) *container.Info {
	r := e.cfg.Containers
	if p == nil || p.ContainerID == "" {
		if r == nil {
			return hostOnly
		}
		return r.Lookup(container.Host, "")
	}
	if r != nil {
		// Events come in runs from one process: the container of the
		// last event, once Ready (final: the resolver replaces an Info,
		// never changes it), is had without the resolver's lock and map.
		if p.ContainerID == e.lastCtr {
			return e.lastInfo
		}
		rt, id, _ := strings.Cut(p.ContainerID, ":")
		info := r.Lookup(container.Runtime(rt), id)
		if info.Status == container.Ready {
			e.lastCtr, e.lastInfo = p.ContainerID, info
		}
		return info
	}
	// No resolver (a capture): the id is known, nothing else.
	info := e.known[p.ContainerID]
	if info == nil {
		if len(e.known) > 4096 {
			clear(e.known)
		}
		info = idOnly(p.ContainerID)
		e.known[p.ContainerID] = info
	}
	return info
}

var hostOnly = &container.Info{ID: "host", FullID: "host", Name: "host", Runtime: container.Host, Status: container.Ready}

// idOnly is a container known by its id alone: metadata reads <NA>.
func idOnly(key string) *container.Info {
	rt, id, _ := strings.Cut(key, ":")
	return &container.Info{ID: container.ShortID(id), FullID: id, Runtime: container.Runtime(rt), Status: container.Failed,
		Reason: "no container runtime consulted (events from a capture)"}
}

// Process applies one event: state first, then the rules. It returns the
// number of alerts raised.
func (e *Engine) Process(ev *driver.Event) int {
	e.stats.Events++
	th := e.threads.Update(ev)
	c := &e.ctx
	c.Reset()
	var p *state.Process
	if th != nil {
		p = th.Proc
	}
	c.Event, c.Thread, c.Num, c.Container = ev, th, e.stats.Events, e.containerOf(p)
	n := e.cfg.Program.Eval(c, e.cfg.Emit)
	e.stats.Alerts += uint64(n)
	return n
}

// Reload hands a new program to the running engine: Run switches to it
// before the next event, keeping the state tables and counters. It may be
// called from any goroutine. The names fd.*ip.name is compared with stay
// those of the program the engine started with.
func (e *Engine) Reload(p *eval.Program) {
	if p != nil {
		e.next.Store(p)
	}
}

// Restore applies a capture's snapshot (driver.CaptureReader.Snapshot):
// the processes and files that existed before the capture began. Rules do
// not see these events: they are state, not activity.
func (e *Engine) Restore(evs []*driver.Event) {
	for _, ev := range evs {
		e.threads.Update(ev)
	}
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Threads = e.threads.Len()
	return s
}

// Published returns the counters Run last published. Unlike Stats, it may
// be called from any goroutine.
func (e *Engine) Published() Published {
	return Published{
		Stats: Stats{Events: e.pub.events.Load(), Alerts: e.pub.alerts.Load(), Threads: int(e.pub.threads.Load())},
		State: state.Stats{Threads: int(e.pub.threads.Load()), Processes: int(e.pub.processes.Load()),
			Full: e.pub.full.Load(), Purged: e.pub.purged.Load(), ProcLoads: e.pub.procLoads.Load()},
		At:        unixTime(e.pub.beat.Load()),
		Reloads:   e.pub.reloads.Load(),
		ProgramAt: unixTime(e.pub.programAt.Load()),
	}
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (e *Engine) publish() {
	e.pub.events.Store(e.stats.Events)
	e.pub.alerts.Store(e.stats.Alerts)
	st := e.threads.Stats()
	e.pub.threads.Store(int64(st.Threads))
	e.pub.processes.Store(int64(st.Processes))
	e.pub.full.Store(st.Full)
	e.pub.purged.Store(st.Purged)
	e.pub.procLoads.Store(st.ProcLoads)
	e.pub.beat.Store(time.Now().UnixNano())
}

// Run processes src until it ends (io.EOF), is closed, or ctx is done.
// Meanwhile, the names the rules compare fd.*ip.name with are resolved in
// the background.
func (e *Engine) Run(ctx context.Context, src driver.Source) error {
	if e.dns != nil {
		dctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go e.dns.Run(dctx)
	}
	e.pub.programAt.CompareAndSwap(0, time.Now().UnixNano())
	e.publish()
	defer e.publish()
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		if e.next.Load() != nil {
			e.cfg.Program = e.next.Swap(nil)
			e.pub.reloads.Add(1)
			e.pub.programAt.Store(time.Now().UnixNano())
		}
		ev, err := src.Next()
		switch {
		case err == nil:
			e.Process(ev)
			if e.stats.Events&4095 == 0 {
				e.housekeeping()
			}
			if e.stats.Events&(publishEvery-1) == 0 {
				e.publish()
			}
		case errors.Is(err, driver.ErrTimeout):
			e.housekeeping()
			e.publish()
		case errors.Is(err, io.EOF), errors.Is(err, driver.ErrClosed):
			return nil
		default:
			return fmt.Errorf("read events: %w", err)
		}
	}
}

func (e *Engine) housekeeping() {
	if !e.cfg.Live || time.Since(e.lastPurge) < purgeEvery {
		return
	}
	e.threads.Purge()
	e.lastPurge = time.Now()
}

// StateSyscalls are the syscalls the state tables need whatever the rules
// say: without them processes, fds and containers go stale.
var StateSyscalls = []string{
	"execve", "execveat", "clone", "clone3", "fork", "vfork",
	"open", "openat", "openat2", "creat", "close", "close_range",
	"dup", "dup2", "dup3", "fcntl", "pipe", "pipe2", "memfd_create",
	"socket", "socketpair", "connect", "accept", "accept4", "bind", "listen",
	"chdir", "fchdir", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "capset",
	"setns", "unshare",
}

// Syscalls returns the driver's syscall selection for a program: what the
// rules need and what state tracking needs, by number; unknown names are
// ignored (a rule may name a syscall of another architecture).
func Syscalls(p *eval.Program, tab *driver.SyscallTable) []bool {
	sel := make([]bool, driver.MaxSyscalls)
	for _, list := range [][]string{p.Syscalls(), StateSyscalls} {
		for _, name := range list {
			if nr, ok := tab.Nr(name); ok && int(nr) < len(sel) {
				sel[nr] = true
			}
		}
	}
	return sel
}
