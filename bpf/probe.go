// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/uname"
)

// pollMillis bounds how long Next blocks before returning driver.ErrTimeout,
// so callers can check their own deadlines without a second goroutine.
const pollMillis = 100

// idleMillis is how often an idle reader looks for events below the
// wakeup watermark: the worst-case latency of a quiet system's events.
const idleMillis = 4

// Probe is the loaded, attached eBPF probe.
type Probe struct {
	objs  probeObjects
	links []link.Link
	inner []*ebpf.Map
	rings []*ring
	epfd  int
	wake  int // eventfd that interrupts a blocked Next on Close
	evs   []unix.EpollEvent

	mu     sync.Mutex // held by Next while it fills a batch; Close takes it before tearing down
	closed atomic.Bool
	// lease says who unmaps the rings: the events Next returns point
	// into them, and Close may come while the reader still reads one.
	lease   driver.Lease
	retired []*ring // rings Close retired, unmapped by the last user
	merge   *driver.Merge[*ring]
	drain   driver.Drain // under mu
	// statsMu lets Stats run on any goroutine (a web server, a drop
	// check) while Close may free the maps: Stats reads under it, and
	// teardown frees under it.
	statsMu sync.RWMutex
	freed   bool // under statsMu

	// linkMu guards links and entry: SetConfig changes which entry
	// programs are attached without waiting for a blocked Next.
	linkMu sync.Mutex
	cfg    driver.Config        // the selection in force, under linkMu
	entry  map[uint16]link.Link // attached entry programs by syscall, under linkMu

	entryMode string          // entryFentry, entryTracepoint or entrySysEnter, see load.go
	fentry    fentryPrograms  // loaded when entryMode is entryFentry
	tpentry   tpentryPrograms // loaded when entryMode is entryTracepoint
	// The exit events come from vigil_sys_exit on the raw sys_exit
	// tracepoint (exitRaw attached), or, for small selections, from the
	// selected syscalls' own exit tracepoints (exitTP, nil where the
	// kernel cannot: exitTPErr says why). Under linkMu.
	exitRaw   link.Link
	exitTP    *exitTracepoints
	exitTPErr error
	exitWhy   string      // why the raw tracepoint serves cfg, where exitTP could not
	rawExit   bool        // tests: the raw tracepoint serves every selection
	dataMaps  []*ebpf.Map // .bss, .data, .rodata
	busy      busyFlag    // under mu
	busyErr   error       // why busy could not be mapped
	// Generic events are written in batches (see bpf/c/builder.h) unless
	// a test turns them off; switchLink is vigil_sched_switch's, attached
	// while they are on.
	batches    bool
	batchHow   string    // how batches are kept whole, for AttachMode
	switchLink link.Link // under linkMu
}

var _ driver.Stopper = (*Probe)(nil)

// Open loads the probe into the running kernel, configures it with cfg and
// attaches it. Capture starts at once. A kernel that lacks what the probe
// needs gives an error wrapping driver.ErrNotSupported.
func Open(cfg driver.Config, opts Options) (_ *Probe, err error) {
	size := opts.BufferSize
	if size == 0 {
		size = DefaultBufferSize
	}
	// Before the privileges: a wrong size is wrong for root too. Past
	// 32 bits the map's size would silently become 0.
	if err := driver.CheckRingSize(size); err != nil {
		return nil, err
	}
	if err := checkPrivileges(); err != nil {
		return nil, err
	}
	if err := checkKernel(); err != nil {
		return nil, err
	}
	// Loading parses the kernel's BTF and the objects: garbage by the
	// MiB, which a collector waiting for the heap to double lets pile up
	// into the agent's resident peak (vigil run's: 40.0-41.7 MiB without,
	// 38.8-39.0 with).
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	readTypes := func() (*btf.Spec, error) {
		if opts.KernelBTF != "" {
			return btf.LoadSpec(opts.KernelBTF)
		}
		return btf.LoadKernelSpec()
	}
	kernelTypes, err := readTypes()
	if err != nil {
		return nil, fmt.Errorf("read kernel BTF: %w: %w; the eBPF probe needs a kernel built with CONFIG_DEBUG_INFO_BTF=y "+
			"(or a BTF file for it, --kernel-btf), else use the kernel module driver", driver.ErrNotSupported, err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK for BPF maps: %w", err)
	}

	spec, err := loadProbe()
	if err != nil {
		return nil, fmt.Errorf("read embedded probe object: %w", err)
	}
	if err := checkSchema(spec); err != nil {
		return nil, err
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count possible CPUs: %w", err)
	}

	p := &Probe{epfd: -1, wake: -1, cfg: cfg, batches: !noBatches, batchHow: batchGuard(kernelTypes)}
	defer func() {
		if err != nil {
			p.teardown()
			p.unmapRetired() // no reader yet
		}
	}()

	// One ring buffer per possible CPU, made here so that their size is
	// ours to choose and their fds are ours to mmap.
	rbSpec := spec.Maps[probeMapRingbufs]
	rbSpec.MaxEntries = uint32(ncpu)
	rbSpec.InnerMap.MaxEntries = uint32(size)
	rbSpec.Contents = nil
	for cpu := 0; cpu < ncpu; cpu++ {
		m, err := ebpf.NewMap(rbSpec.InnerMap)
		if err != nil {
			return nil, fmt.Errorf("create ring buffer for cpu %d (%d bytes): %w", cpu, size, err)
		}
		p.inner = append(p.inner, m)
		rbSpec.Contents = append(rbSpec.Contents, ebpf.MapKV{Key: uint32(cpu), Value: m})
	}
	spec.Maps[probeMapScratchMap].MaxEntries = uint32(ncpu * scratchSlots)

	if err := setConfig(spec.Variables, cfg); err != nil {
		return nil, err
	}
	for name, v := range watermarks(size) {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set probe wakeup watermark %s: %w", name, err)
		}
	}
	if err := p.load(spec, &ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{KernelTypes: kernelTypes},
	}, readTypes); err != nil {
		return nil, err
	}
	// The kernel's BTF (several MiB, parsed and mapped) is garbage once
	// the programs are loaded: hand it back before the rings are mapped,
	// or the agent's resident set peaks with both.
	debug.FreeOSMemory()

	if err := p.openRings(size); err != nil {
		return nil, err
	}
	// Without it the reader is woken as before; AttachMode says why.
	p.busy, p.busyErr = mapBusyFlag(p.dataMaps[0], spec.Variables[probeVarReaderBusy])
	if err := p.attach(); err != nil {
		return nil, err
	}
	if err := p.objs.CfgCapture.Set(uint32(1)); err != nil {
		return nil, fmt.Errorf("start capture: %w", err)
	}
	return p, nil
}

// tracepointPrograms are the programs always attached to tracepoints:
// process lifecycle. The exit events' programs are attached by syncExit.
func (p *Probe) tracepointPrograms() []*ebpf.Program {
	return []*ebpf.Program{p.objs.VigilProcFork, p.objs.VigilProcExec, p.objs.VigilProcExit}
}

// entryPrograms are the programs that capture the entry of the syscalls
// whose entry is captured, by syscall number: fentry programs on their
// wrappers, or programs on their own tracepoints. Each is attached only
// while its syscall is selected: a tp_btf program on sys_enter would run
// for every syscall of every task, selected or not.
func (p *Probe) entryPrograms() map[uint16]*ebpf.Program {
	switch p.entryMode {
	case entryFentry:
		return map[uint16]*ebpf.Program{
			nrOpen: p.fentry.VigilE_open, nrOpenat: p.fentry.VigilE_openat,
			nrOpenat2: p.fentry.VigilE_openat2, nrCreat: p.fentry.VigilE_creat,
			nrConnect: p.fentry.VigilE_connect, nrExecveat: p.fentry.VigilE_execveat,
		}
	case entryTracepoint:
		return map[uint16]*ebpf.Program{
			nrOpen: p.tpentry.VigilT_open, nrOpenat: p.tpentry.VigilT_openat,
			nrOpenat2: p.tpentry.VigilT_openat2, nrCreat: p.tpentry.VigilT_creat,
			nrConnect: p.tpentry.VigilT_connect, nrExecveat: p.tpentry.VigilT_execveat,
		}
	}
	return nil
}

// entryNames are the syscalls with an entry program (or served by
// vigil_sys_enter), by number.
var entryNames = map[uint16]string{
	nrOpen: "open", nrOpenat: "openat", nrOpenat2: "openat2",
	nrCreat: "creat", nrConnect: "connect", nrExecveat: "execveat",
}

// AttachMode says what the probe runs on the syscall paths now: which
// entry programs serve (fentry, tracepoint, sys_enter) and whether the
// exits come from the selected syscalls' own tracepoints or the raw
// sys_exit tracepoint (and why, when the former is out of reach).
func (p *Probe) AttachMode() string {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	exit := "raw sys_exit"
	switch {
	case p.exitRaw == nil && p.exitTP != nil:
		exit = fmt.Sprintf("the %d selected syscalls' tracepoints", len(p.exitTP.links))
	case p.exitTP == nil && p.exitTPErr != nil:
		exit += fmt.Sprintf(" (no syscall tracepoints: %v)", p.exitTPErr)
	case p.exitWhy != "":
		exit += " (" + p.exitWhy + ")"
	}
	mode := fmt.Sprintf("entry programs: %s; exits: %s", p.entryMode, exit)
	if p.batches {
		mode += "; generic events: eight to a record, " + p.batchHow
	} else {
		mode += "; generic events: a record each"
	}
	if p.busyErr != nil {
		mode += fmt.Sprintf("; the reader is woken even while it reads (%v)", p.busyErr)
	}
	return mode
}

// batchGuard says how the probe keeps a batch whole on this kernel: as
// bpf/c/builder.h decides, by whether the kernel has the kfuncs.
func batchGuard(kernel *btf.Spec) string {
	var fn *btf.Func
	if kernel.TypeByName("bpf_preempt_disable", &fn) == nil && kernel.TypeByName("bpf_preempt_enable", &fn) == nil {
		return "changed with preemption off"
	}
	return "changed under claims (no bpf_preempt_disable: before 6.10)"
}

// x86_64 numbers of the syscalls with an entry program.
const (
	nrOpen     = 2
	nrExecve   = 59
	nrConnect  = 42
	nrCreat    = 85
	nrOpenat   = 257
	nrExecveat = 322
	nrOpenat2  = 437
)

// attachedPrograms are every program that may be attached, for counters.
func (p *Probe) attachedPrograms() []*ebpf.Program {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	progs := append(p.tracepointPrograms(), p.objs.VigilSysExit)
	for _, prog := range p.entryPrograms() {
		progs = append(progs, prog)
	}
	if p.objs.VigilSysEnter != nil {
		progs = append(progs, p.objs.VigilSysEnter)
	}
	if p.exitTP != nil {
		progs = append(progs, p.exitTP.programs()...)
	}
	return progs
}

func selected(cfg driver.Config, nr uint16) bool {
	return cfg.Syscalls == nil || int(nr) < len(cfg.Syscalls) && cfg.Syscalls[nr]
}

// attach hooks the programs to their tracepoints, and the entry programs
// of the selected syscalls to those syscalls.
func (p *Probe) attach() error {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	// Batches first: no event may go into one before a thread leaving
	// its CPU writes it out.
	if p.batches {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.objs.VigilSchedSwitch, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.objs.VigilSchedSwitch, err)
		}
		p.switchLink = l
		if err := p.objs.CfgBatch.Set(uint32(1)); err != nil {
			return fmt.Errorf("turn batches on: %w", err)
		}
	}
	for _, prog := range p.tracepointPrograms() {
		l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach %s: %w", prog, err)
		}
		p.links = append(p.links, l)
	}
	if err := p.syncExit(p.cfg); err != nil {
		return err
	}
	return p.syncEntry(p.cfg)
}

// syncExit attaches what serves the exit events under cfg: the selected
// syscalls' own exit tracepoints where the selection is small and the
// kernel has them, else vigil_sys_exit on the raw sys_exit tracepoint.
// Switching, the new side is attached, both tell every exit for an
// instant (cfg_exit_tp EXIT_BOTH), then the old side stops: an exit whose
// two hooks run on either side of that instant is told twice. Since
// 6.14 a syscall tracepoint may be preempted between its hooks (it may
// fault); one preempted across the whole switch is lost. Nothing else is,
// and switches come only with a selection that crosses the line (a rules
// reload). Under linkMu.
func (p *Probe) syncExit(cfg driver.Config) error {
	p.exitWhy = ""
	if p.exitTP != nil && !p.rawExit {
		hooks, why := p.exitTP.hooks(cfg)
		p.exitWhy = why
		if why == "" {
			err := p.exitTP.sync(hooks)
			if err == nil {
				if err := p.switchExit(exitSideTP); err != nil {
					return fmt.Errorf("switch exit events to the syscalls' tracepoints: %w", err)
				}
				if p.exitRaw != nil {
					_ = p.exitRaw.Close()
					p.exitRaw = nil
				}
				return nil
			}
			// The raw tracepoint serves every selection: use it from now on.
			p.exitTP.detach()
			_ = p.exitTP.close()
			p.exitTP, p.exitTPErr = nil, err
		}
	}
	if p.exitRaw == nil {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.objs.VigilSysExit, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.objs.VigilSysExit, err)
		}
		p.exitRaw = l
	}
	if err := p.switchExit(exitSideRaw); err != nil {
		return fmt.Errorf("switch exit events to the raw sys_exit tracepoint: %w", err)
	}
	if p.exitTP != nil {
		p.exitTP.detach()
	}
	return nil
}

// Values of cfg_exit_tp (EXIT_* in c/builder.h).
const (
	exitSideRaw  = 0
	exitSideTP   = 1
	exitSideBoth = 2
)

// switchExit makes side tell the exits, through both for an instant.
func (p *Probe) switchExit(side uint32) error {
	var cur uint32
	if err := p.objs.CfgExitTp.Get(&cur); err != nil {
		return err
	}
	if cur == side {
		return nil
	}
	if err := p.objs.CfgExitTp.Set(uint32(exitSideBoth)); err != nil {
		return err
	}
	return p.objs.CfgExitTp.Set(side)
}

// syncEntry attaches the entry programs of the syscalls cfg selects and
// detaches the others. Under linkMu.
func (p *Probe) syncEntry(cfg driver.Config) error {
	if p.entry == nil {
		p.entry = make(map[uint16]link.Link)
	}
	attach := func(key uint16, want bool, hook func() (link.Link, error)) error {
		l, on := p.entry[key]
		switch {
		case want && !on:
			l, err := hook()
			if err != nil {
				return err
			}
			p.entry[key] = l
		case !want && on:
			_ = l.Close()
			delete(p.entry, key)
		}
		return nil
	}
	tracing := func(prog *ebpf.Program, typ ebpf.AttachType) func() (link.Link, error) {
		return func() (link.Link, error) {
			l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: typ})
			if err != nil {
				return nil, fmt.Errorf("attach %s: %w", prog, err)
			}
			return l, nil
		}
	}
	if p.entryMode == entrySysEnter {
		want := false
		for nr := range entryNames {
			want = want || selected(cfg, nr)
		}
		return attach(sysEnterKey, want, tracing(p.objs.VigilSysEnter, ebpf.AttachTraceRawTp))
	}
	for nr, prog := range p.entryPrograms() {
		hook := tracing(prog, ebpf.AttachTraceFEntry)
		if p.entryMode == entryTracepoint {
			hook = func() (link.Link, error) { return attachSyscallTracepoint("sys_enter_"+entryNames[nr], prog) }
		}
		if err := attach(nr, selected(cfg, nr), hook); err != nil {
			return err
		}
	}
	return nil
}

// sysEnterKey is vigil_sys_enter's key in Probe.entry: no syscall's number.
const sysEnterKey = 0xffff

// detach unhooks the programs; the maps and buffers stay.
func (p *Probe) detach() {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	for _, l := range p.links {
		_ = l.Close()
	}
	p.links = nil
	for nr, l := range p.entry {
		_ = l.Close()
		delete(p.entry, nr)
	}
	if p.exitRaw != nil {
		_ = p.exitRaw.Close()
		p.exitRaw = nil
	}
	if p.exitTP != nil {
		p.exitTP.detach()
	}
	if p.switchLink != nil {
		// No program adds to a batch now but runs already under way:
		// make every CPU switch, so that each writes out its batch.
		_ = p.objs.CfgBatch.Set(uint32(0))
		switchEveryCPU(len(p.rings))
		_ = p.switchLink.Close()
		p.switchLink = nil
	}
}

// switchEveryCPU runs the calling thread on each of the first n CPUs in
// turn, its affinity widened for the while (a taskset agent still visits
// them all): whatever thread ran there leaves it. A CPU its cgroup keeps
// it off is left alone; its batch is written when its thread next leaves
// it.
func switchEveryCPU(n int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		return
	}
	defer func() { _ = unix.SchedSetaffinity(0, &was) }()
	for cpu := 0; cpu < n; cpu++ {
		var one unix.CPUSet
		one.Set(cpu)
		_ = unix.SchedSetaffinity(0, &one)
	}
}

// Pause detaches the probe from its tracepoints: syscalls cost what they
// cost without it, and no event is written, until Resume. Loading is the
// slow part (the verifier); this is not.
func (p *Probe) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.detach()
}

// Resume attaches the probe again after Pause.
func (p *Probe) Resume() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return driver.ErrClosed
	}
	if p.drain.Stopped() {
		return errors.New("resume the probe: it was stopped, for good; open a new one")
	}
	if len(p.links) > 0 {
		return nil
	}
	if err := p.attach(); err != nil {
		p.detach()
		return err
	}
	return nil
}

func (p *Probe) openRings(size int) error {
	var err error
	if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create: %w", err)
	}
	if p.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	add := func(fd, tag int, events uint32) error {
		ev := unix.EpollEvent{Events: events, Fd: int32(tag)}
		return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err := add(p.wake, -1, unix.EPOLLIN); err != nil {
		return fmt.Errorf("epoll add eventfd: %w", err)
	}
	for cpu, m := range p.inner {
		r, err := newRing(cpu, m.FD(), size)
		if err != nil {
			return err
		}
		p.rings = append(p.rings, r)
		// Edge-triggered: epoll_wait returns when the probe wakes us
		// (past the watermark), not whenever a record is there; see wait.
		if err := add(m.FD(), cpu, unix.EPOLLIN|unix.EPOLLET); err != nil {
			return fmt.Errorf("epoll add ring buffer of cpu %d: %w", cpu, err)
		}
	}
	p.evs = make([]unix.EpollEvent, len(p.rings)+1)
	p.merge = driver.NewMerge(p.rings)
	return nil
}

// scratchSlots is SLOT_COUNT of c/builder.h: each raw tracepoint program
// has its own scratch entry per CPU, as probes may interleave on one CPU,
// and the entry programs and those on the syscalls' exit tracepoints
// claim one of three.
const scratchSlots = 7

// Next returns the oldest event at the head of the per-CPU buffers. Events
// still being written on another CPU may be older: the merge is by the
// timestamps that are visible, like every per-CPU tracer's.
//
// Events come in batches (driver.Merge): most calls return the next event
// of the batch, already decoded, without the lock or a look at the rings.
func (p *Probe) Next() (*driver.Event, error) {
	return leased(p, p.next, func(e *driver.Event) bool { return e == nil })
}

// leased runs read, which returns events in the rings, under the lease
// (see Close): the rings are unmapped by whichever of Close and the
// reader comes last. none says read returned no event.
func leased[T any](p *Probe, read func() (T, error), none func(T) bool) (T, error) {
	ok, unmap := p.lease.Acquire()
	if !ok {
		if unmap {
			p.unmapRetired()
		}
		var zero T
		return zero, driver.ErrClosed
	}
	v, err := read()
	if none(v) {
		if p.lease.Idle() {
			p.unmapRetired()
		}
		if err != nil && p.closed.Load() {
			// A batch Close retired under us reads as zeros: that is
			// the close, not a damaged event.
			err = driver.ErrClosed
		}
	}
	return v, err
}

func (p *Probe) next() (*driver.Event, error) {
	if !p.closed.Load() {
		if e := p.merge.Buffered(); e != nil {
			return e, nil
		}
	}
	if err := p.fill(); err != nil {
		return nil, err
	}
	return p.merge.Buffered(), nil
}

// NextBatch returns the events Next would return next, a batch at a time
// (see driver.Batcher).
func (p *Probe) NextBatch() ([]driver.Event, error) {
	return leased(p, p.nextBatch, func(evs []driver.Event) bool { return len(evs) == 0 })
}

func (p *Probe) nextBatch() ([]driver.Event, error) {
	if !p.closed.Load() {
		if evs := p.merge.Rest(); len(evs) > 0 {
			return evs, nil
		}
	}
	if err := p.fill(); err != nil {
		return nil, err
	}
	return p.merge.Rest(), nil
}

var _ driver.Batcher = (*Probe)(nil)

// SetHeadersOnly makes the next batches hand out events with only their
// headers decoded (see driver.HeaderSource).
func (p *Probe) SetHeadersOnly(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.merge.HeadersOnly = on
}

var _ driver.HeaderSource = (*Probe)(nil)

// unmapRetired unmaps the rings Close retired; only the lease's last user
// calls it.
func (p *Probe) unmapRetired() {
	for _, r := range p.retired {
		r.close()
	}
	p.retired = nil
}

// fill decodes the next batch, waiting for events up to pollMillis; it
// returns an error when it has no event.
func (p *Probe) fill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return driver.ErrClosed
	}
	for waited := false; ; {
		n, err := p.merge.Fill()
		if n > 0 {
			p.drain.ReturnedBatch(n)
			return nil
		}
		if err != nil {
			return err
		}
		if p.drain.Stopped() {
			if st, err := p.Stats(); err != nil || p.drain.Done(st.Events) {
				return io.EOF
			}
		}
		if waited {
			return driver.ErrTimeout
		}
		// Publish before sleeping: the kernel wakes us only for records
		// written after it saw the consumer catch up (Fill published
		// before it looked; its look may have skipped discarded records).
		p.merge.Publish()
		if err := p.wait(); err != nil {
			return err
		}
		waited = true
	}
}

// wait sleeps until a buffer has data, for at most pollMillis. The probe
// wakes us only when a buffer fills past its watermark (a wakeup per event
// would cost more than the event), so below that we look every idleMillis.
//
// It sleeps first and looks after: fill calls it when the buffers were
// empty, and a look then finds the few records written since, which a
// level-triggered epoll_wait would also return at once. Under a flood the
// reader then woke every 400 events, 21000 times a second (vigil events
// --comm nomatch 21.5 -> 18.1 ns/event without). Sleeping until the probe
// wakes us or idleMillis pass reads them in batches of some 10000.
func (p *Probe) wait() error {
	// Asleep from here on for the producers, until the reader is back.
	p.busy.set(0)
	defer p.busy.set(1)
	for slept := 0; slept < pollMillis; slept += idleMillis {
		if err := epollWaitRaw(p.epfd, p.evs, idleMillis); err != nil && err != unix.EINTR {
			return fmt.Errorf("wait for events: %w", err)
		}
		if p.closed.Load() {
			return driver.ErrClosed
		}
		if !p.merge.Empty() {
			return nil
		}
	}
	return nil
}

// epollWaitRaw is epoll_wait without telling the Go runtime: a goroutine
// in a syscall it knows of has its processor taken away after 20 µs (at
// once with one processor), and the runtime's monitor thread, woken when
// it returns, polls every 20 µs for a while. At a wait per 4 ms that cost
// the reader of a flood 1000 futex calls and 1300 context switches a
// second (vigil events --comm nomatch 18.1 -> 15.6 ns/event without it).
// The wait is bounded (idleMillis), and a signal ends it early (EINTR):
// the runtime's preemption of a goroutine that runs too long, a stop of
// the world, Ctrl-C. With a single processor (a one-CPU container) the
// others would wait for those, up to the monitor's 10 ms: there the
// runtime is told.
func epollWaitRaw(epfd int, evs []unix.EpollEvent, msec int) error {
	if runtime.GOMAXPROCS(0) == 1 {
		_, err := unix.EpollWait(epfd, evs, msec)
		return err
	}
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), uintptr(msec), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// Stats reads the per-CPU counters the probe keeps.
func (p *Probe) Stats() (driver.Stats, error) {
	p.statsMu.RLock()
	defer p.statsMu.RUnlock()
	if p.freed {
		return driver.Stats{}, driver.ErrClosed
	}
	var per []probeCpuStats
	if err := p.objs.Stats.Lookup(uint32(0), &per); err != nil {
		return driver.Stats{}, fmt.Errorf("read probe counters: %w", err)
	}
	st := driver.Stats{PerCPU: make([]driver.CPUStats, len(per))}
	for i, c := range per {
		st.PerCPU[i] = driver.CPUStats{Events: c.Events, Drops: c.Drops}
		st.Events += c.Events
		st.Drops += c.Drops
	}
	n, err := p.filtered()
	if err != nil {
		return driver.Stats{}, err
	}
	st.Filtered = n
	for _, prog := range p.attachedPrograms() {
		if ps, err := prog.Stats(); err == nil {
			st.Missed += ps.RecursionMisses
		}
	}
	return st, nil
}

// SetConfig changes what the probe captures, effective at once.
func (p *Probe) SetConfig(cfg driver.Config) error {
	if err := cfg.Filter.Valid(); err != nil {
		return err
	}
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	attached := len(p.links) > 0
	// Entry programs of newly selected syscalls go in before the bitmap
	// says so, and out after it stopped saying so: their first and last
	// runs find it in agreement with the exit side.
	if attached {
		if err := p.syncExit(union(p.cfg, cfg)); err != nil {
			return err
		}
		if err := p.syncEntry(union(p.cfg, cfg)); err != nil {
			return err
		}
	}
	vars := map[string]*ebpf.Variable{
		probeVarCfgInteresting: p.objs.CfgInteresting,
		probeVarCfgSnaplen:     p.objs.CfgSnaplen,
		probeVarCfgIgnoreTgid:  p.objs.CfgIgnoreTgid,
	}
	for name, v := range configValues(cfg) {
		if err := vars[name].Set(v); err != nil {
			return fmt.Errorf("set probe %s: %w", name, err)
		}
	}
	if err := p.setFilter(cfg.Filter); err != nil {
		return err
	}
	p.cfg = cfg
	if attached {
		if err := p.syncEntry(cfg); err != nil {
			return err
		}
		return p.syncExit(cfg)
	}
	return nil
}

// union selects what a or b selects.
func union(a, b driver.Config) driver.Config {
	if a.Syscalls == nil || b.Syscalls == nil {
		return driver.Config{}
	}
	u := make([]bool, max(len(a.Syscalls), len(b.Syscalls)))
	for i := range u {
		u[i] = i < len(a.Syscalls) && a.Syscalls[i] || i < len(b.Syscalls) && b.Syscalls[i]
	}
	return driver.Config{Syscalls: u}
}

// Stop ends capture for good: the programs write no more events, and Next
// returns those already in the buffers, then io.EOF. Events read then
// match Stats' count. Close still frees the probe.
func (p *Probe) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return driver.ErrClosed
	}
	// Capture off, then detach: runs already past the check complete,
	// and Next's drain waits for them.
	if err := p.objs.CfgCapture.Set(uint32(0)); err != nil {
		return fmt.Errorf("stop capture: %w", err)
	}
	p.detach()
	p.drain.Stop()
	return nil
}

// Close detaches the probe and frees its maps; a blocked Next returns
// driver.ErrClosed.
func (p *Probe) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	_ = p.objs.CfgCapture.Set(uint32(0))
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(p.wake, one[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	p.teardown()
	if p.lease.Close() {
		p.unmapRetired()
	}
	return nil
}

func (p *Probe) teardown() {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	p.freed = true
	p.detach()
	// Retired, not unmapped: the reader may hold an event in them (see
	// lease).
	for _, r := range p.rings {
		r.retire()
	}
	p.retired, p.rings = append(p.retired, p.rings...), nil
	_ = p.objs.Close()
	_ = p.fentry.Close()
	_ = p.tpentry.Close()
	if p.exitTP != nil {
		_ = p.exitTP.close()
	}
	p.busy.unmap()
	for _, m := range p.dataMaps {
		_ = m.Close()
	}
	p.dataMaps = nil
	for _, m := range p.inner {
		_ = m.Close()
	}
	p.inner = nil
	for _, fd := range []*int{&p.epfd, &p.wake} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

func configValues(cfg driver.Config) map[string]any {
	var interesting [driver.MaxSyscalls]uint8
	for i := range interesting {
		if cfg.Syscalls == nil || (i < len(cfg.Syscalls) && cfg.Syscalls[i]) {
			interesting[i] = 1
		}
	}
	snap := cfg.Snaplen
	if snap == 0 {
		snap = driver.DefaultSnaplen
	}
	return map[string]any{
		probeVarCfgInteresting: interesting,
		probeVarCfgSnaplen:     snap,
		probeVarCfgIgnoreTgid:  cfg.IgnorePID,
	}
}

func setConfig(vars map[string]*ebpf.VariableSpec, cfg driver.Config) error {
	if err := cfg.Filter.Valid(); err != nil {
		return err
	}
	vals := configValues(cfg)
	maps.Copy(vals, filterValues(cfg.Filter))
	for name, v := range vals {
		if err := vars[name].Set(v); err != nil {
			return fmt.Errorf("set probe %s: %w", name, err)
		}
	}
	return nil
}

// checkSchema refuses an object built from another schema major version:
// its events would be misread.
func checkSchema(spec *ebpf.CollectionSpec) error {
	v := spec.Variables[probeVarVigilSchemaVersion]
	buf := make([]byte, v.Size())
	if err := v.Get(buf); err != nil {
		return fmt.Errorf("read probe schema version: %w", err)
	}
	got := string(bytes.TrimRight(buf, "\x00"))
	if major(got) != major(driver.SchemaVersion) {
		return fmt.Errorf("embedded probe speaks schema %s, this vigil reads %s: rebuild the probe with `make bpf`", got, driver.SchemaVersion)
	}
	return nil
}

func major(v string) string { m, _, _ := strings.Cut(v, "."); return m }

func checkPrivileges() error {
	if os.Geteuid() == 0 {
		return nil
	}
	// CAP_BPF (39) + CAP_PERFMON (38) suffice on 5.8+, CAP_SYS_ADMIN (21) anywhere.
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err == nil {
		eff := uint64(data[1].Effective)<<32 | uint64(data[0].Effective)
		if eff&(1<<21) != 0 || (eff&(1<<39) != 0 && eff&(1<<38) != 0) {
			return nil
		}
	}
	return fmt.Errorf("loading the eBPF probe needs root (or CAP_BPF and CAP_PERFMON); running as uid %d: run vigil as root, e.g. with sudo", os.Geteuid())
}

// checkKernel gives a precise reason before the verifier gives a vague one.
func checkKernel() error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("eBPF probe on %s: %w (built for amd64 only)", runtime.GOARCH, driver.ErrNotSupported)
	}
	u, err := uname.Read()
	if err != nil {
		return err
	}
	release := u.Release
	var maj, min int
	if _, err := fmt.Sscanf(release, "%d.%d", &maj, &min); err == nil && (maj < 5 || maj == 5 && min < 8) {
		return fmt.Errorf("kernel %s is older than 5.8: %w: the eBPF probe needs BPF ring buffers and BTF tracepoints (5.8+); use the kernel module driver",
			release, driver.ErrNotSupported)
	}
	return nil
}

func explainLoadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("the kernel's verifier rejected the probe: %w (please report it with `uname -r`)", err)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("load probe: %w: the kernel refused BPF (lockdown, kernel.unprivileged_bpf_disabled, or a seccomp/LSM policy)", err)
	}
	return fmt.Errorf("load probe: %w", err)
}
