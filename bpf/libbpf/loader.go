// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build libbpfgo

package libbpf

/*
#cgo LDFLAGS: -lbpf -lelf -lz
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

// One CPU's records as libbpf's consumer hands them over: each copied out
// of the ring (which frees its space at once) as a 32-bit length and the
// bytes, for Go to merge with the other CPUs' by timestamp. Past limit the
// callback stops the ring's consumption (libbpf has consumed the record
// that made it stop), so a busy CPU cannot grow the queue without bound.
struct vq {
	char *buf;
	size_t len, cap, limit;
};

static int vq_sample(void *ctx, void *data, size_t size)
{
	struct vq *q = ctx;
	size_t need = q->len + 4 + size;
	__u32 n = size;

	if (need > q->cap) {
		size_t cap = q->cap ? q->cap : 1 << 16;
		char *buf;

		while (cap < need)
			cap *= 2;
		buf = realloc(q->buf, cap);
		if (!buf)
			return -ENOMEM;
		q->buf = buf;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, &n, 4);
	memcpy(q->buf + q->len + 4, data, size);
	q->len = need;
	return q->len >= q->limit ? -E2BIG : 0;
}

static struct ring_buffer *vq_ring(int fd, struct vq *q)
{
	return ring_buffer__new(fd, vq_sample, q, NULL);
}

static int ringbuf_create(__u32 size)
{
	return bpf_map_create(BPF_MAP_TYPE_RINGBUF, "vigil_ring", 0, 0, size, NULL);
}
*/
import "C"

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/aquasecurity/libbpfgo"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/driver"
)

// The reader's timing, as the default loader's: Next returns
// driver.ErrTimeout after pollMillis without an event, and looks every
// idleMillis for events below the probe's wakeup watermark.
const (
	pollMillis = 100
	idleMillis = 4
	// queueLimit bounds what one refill copies out of one CPU's ring.
	queueLimit = 1 << 20
)

// Version is the libbpf version the loader was built against.
func Version() string { return libbpfgo.LibbpfVersionString() }

// Probe is vigil's probe loaded and attached through libbpf: a
// driver.Source, and a selftest.Source (SetConfig).
type Probe struct {
	mod   *libbpfgo.Module // the probe object: the maps, and the programs but the entry ones
	entry *libbpfgo.Module // the entry object; nil without one, or where the kernel refused it
	// fallback: the kernel refused the entry object, the probe's
	// fallback programs serve in its stead.
	fallback bool
	hooks    []*hook // under linkMu
	stats    *libbpfgo.BPFMap
	globals  map[string]global
	ncpu     int
	rings    []C.int // per-CPU BPF ring buffers, ours (not the object's)
	rbs      []*C.struct_ring_buffer
	queues   []*queue
	merge    *driver.Merge[*queue]
	epfd     int
	wake     int // eventfd that interrupts a blocked Next on Close
	evs      []unix.EpollEvent

	mu     sync.Mutex // held by Next; Close takes it before freeing
	cfgMu  sync.Mutex // one writer of the globals at a time
	linkMu sync.Mutex // SetConfig attaches and detaches beside a blocked Next
	closed atomic.Bool
	// Stats may run on any goroutine while Close frees the maps.
	statsMu sync.RWMutex
	freed   bool // under statsMu
}

var _ driver.Source = (*Probe)(nil)

// Open loads the embedded probe through libbpf, sizes its per-CPU ring
// buffers to opts.BufferSize (0: bpf.DefaultBufferSize), configures it with
// cfg and attaches its programs by their ELF section names. Capture
// starts at once.
func Open(cfg driver.Config, opts bpf.Options) (_ *Probe, err error) {
	size := opts.BufferSize
	if size == 0 {
		size = bpf.DefaultBufferSize
	}
	if err := driver.CheckRingSize(size); err != nil {
		return nil, err
	}
	if err := bpf.CheckHost(); err != nil {
		return nil, err
	}
	if err := bpf.CheckObject(); err != nil {
		return nil, err
	}
	btfPath := opts.KernelBTF
	if btfPath == "" {
		btfPath = "/sys/kernel/btf/vmlinux"
	}
	if _, err := os.Stat(btfPath); err != nil {
		return nil, fmt.Errorf("read kernel BTF: %w: %w; the eBPF probe needs a kernel built with CONFIG_DEBUG_INFO_BTF=y "+
			"(or a BTF file for it, --kernel-btf), else use the kernel module driver", driver.ErrNotSupported, err)
	}
	ncpu := int(C.libbpf_num_possible_cpus())
	if ncpu <= 0 {
		return nil, fmt.Errorf("libbpf: count possible CPUs: %w", syscall.Errno(-ncpu))
	}

	hooks, err := bpf.Hooks()
	if err != nil {
		return nil, err
	}
	obj := bpf.Object()
	mod, err := openModule(obj, btfPath)
	if err != nil {
		return nil, fmt.Errorf("libbpf: open the probe object: %w", err)
	}
	p := &Probe{mod: mod, ncpu: ncpu, epfd: -1, wake: -1}
	defer func() {
		if err != nil {
			p.teardown()
		}
	}()
	// Sized before loading, as the default loader sizes them: one ring
	// buffer slot and scratch slots per possible CPU.
	for name, n := range map[string]uint32{bpf.RingbufsMap: uint32(ncpu), bpf.ScratchMap: bpf.ScratchEntries(ncpu)} {
		m, err := mod.GetMap(name)
		if err != nil {
			return nil, fmt.Errorf("libbpf: the probe object has no map %s: %w", name, err)
		}
		if err := m.Resize(n); err != nil {
			return nil, fmt.Errorf("libbpf: size map %s to %d entries: %w", name, n, err)
		}
	}
	// The fallbacks of the entry object's programs are loaded too, and
	// attached only if the kernel refuses the entry object: libbpf loads
	// an object once, whole, and loading it again for them would verify
	// every program twice.
	if err := mod.BPFLoadObject(); err != nil {
		return nil, fmt.Errorf("libbpf: load the probe (libbpf's log above has the verifier's reason): %w", err)
	}
	if err := p.loadEntry(btfPath); err != nil {
		return nil, err
	}
	if p.stats, err = mod.GetMap(bpf.StatsMap); err != nil {
		return nil, fmt.Errorf("libbpf: the probe object has no map %s: %w", bpf.StatsMap, err)
	}
	if p.globals, err = findGlobals(mod, obj); err != nil {
		return nil, err
	}
	// Before attaching: the programs' first run sees the configuration.
	if err := p.setGlobals(bpf.LoadGlobals(cfg, size)); err != nil {
		return nil, err
	}
	if err := p.openRings(size); err != nil {
		return nil, err
	}
	if err := p.attach(hooks, cfg); err != nil {
		return nil, err
	}
	if err := p.setGlobals(map[string]any{bpf.CaptureGlobal: uint32(1)}); err != nil {
		return nil, fmt.Errorf("start capture: %w", err)
	}
	return p, nil
}

// openRings makes a BPF ring buffer per possible CPU, puts it in the
// object's outer map and registers it with a libbpf consumer of its own,
// so that one busy CPU's records do not hold the others' back.
func (p *Probe) openRings(size int) error {
	outer, err := p.mod.GetMap(bpf.RingbufsMap)
	if err != nil {
		return fmt.Errorf("libbpf: the probe object has no map %s: %w", bpf.RingbufsMap, err)
	}
	if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create: %w", err)
	}
	if p.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	add := func(fd int) error {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err := add(p.wake); err != nil {
		return fmt.Errorf("epoll add eventfd: %w", err)
	}
	for cpu := 0; cpu < p.ncpu; cpu++ {
		fd := C.ringbuf_create(C.__u32(size))
		if fd < 0 {
			return fmt.Errorf("libbpf: create the ring buffer of cpu %d (%d bytes): %w", cpu, size, syscall.Errno(-fd))
		}
		p.rings = append(p.rings, fd)
		key, val := uint32(cpu), uint32(fd)
		if err := outer.Update(unsafe.Pointer(&key), unsafe.Pointer(&val)); err != nil {
			return fmt.Errorf("libbpf: put the ring buffer of cpu %d in %s: %w", cpu, bpf.RingbufsMap, err)
		}
		q := &queue{cpu: cpu, c: (*C.struct_vq)(C.calloc(1, C.sizeof_struct_vq))}
		if q.c == nil {
			return errors.New("libbpf: allocate a ring buffer queue: out of memory")
		}
		q.c.limit = queueLimit
		p.queues = append(p.queues, q)
		rb, errno := C.vq_ring(fd, q.c)
		if rb == nil {
			return fmt.Errorf("libbpf: ring_buffer__new for cpu %d: %w", cpu, errno)
		}
		p.rbs = append(p.rbs, rb)
		if err := add(int(fd)); err != nil {
			return fmt.Errorf("epoll add ring buffer of cpu %d: %w", cpu, err)
		}
	}
	p.evs = make([]unix.EpollEvent, p.ncpu+1)
	p.merge = driver.NewMerge(p.queues)
	return nil
}

// openModule opens an object with libbpf. Every module is named alike,
// so that their maps' names match (libbpf names a data section's map
// after the object: vigil.bss).
func openModule(obj []byte, btfPath string) (*libbpfgo.Module, error) {
	mod, err := libbpfgo.NewModuleFromBufferArgs(libbpfgo.NewModuleArgs{
		BPFObjBuff: obj, BPFObjName: "vigil", BTFObjPath: btfPath,
	})
	if err != nil && strings.Contains(err.Error(), "rlimit") {
		return nil, fmt.Errorf("%w: libbpfgo raises RLIMIT_MEMLOCK to 512 MiB first, "+
			"which needs CAP_SYS_RESOURCE or a hard limit that high (ulimit -l 524288)", err)
	}
	return mod, err
}

// loadEntry loads the entry object with the probe's maps, as the default
// loader does; where the kernel refuses it (no fentry), the probe's
// fallback programs serve in its stead.
func (p *Probe) loadEntry(btfPath string) error {
	obj := bpf.EntryObject()
	if obj == nil {
		return nil
	}
	err := refuseEntry
	if err == nil {
		if p.entry, err = p.loadShared(obj, btfPath); err == nil {
			return nil
		}
	}
	// libbpf's log (stderr) has said why; EntryMode says what serves.
	p.fallback = true
	return nil
}

// EntryMode says how the entry events' arguments are captured: "fentry"
// (the entry object's programs), "sys_enter" (the probe's fallback, where
// the kernel refused them) or "probe" (an object without an entry object).
func (p *Probe) EntryMode() string {
	switch {
	case p.fallback:
		return "sys_enter"
	case p.entry == nil:
		return "probe"
	}
	return "fentry"
}

// refuseEntry, set by tests, stands for a kernel that refuses the entry
// object, so that the fallback runs here too.
var refuseEntry error

// loadShared loads obj with every map taken from the probe object's,
// which it pins for libbpf to reuse (the one way libbpf shares maps
// between objects that libbpfgo offers), and unpins once loaded.
func (p *Probe) loadShared(obj []byte, btfPath string) (_ *libbpfgo.Module, err error) {
	mod, err := openModule(obj, btfPath)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			mod.Close()
		}
	}()
	dir, done, err := pinDir()
	if err != nil {
		return nil, err
	}
	defer done()
	it := mod.Iterator()
	for m := it.NextMap(); m != nil; m = it.NextMap() {
		shared, err := p.mod.GetMap(m.Name())
		if err != nil {
			return nil, fmt.Errorf("map %s is not the probe's: rebuild both objects with `make bpf`: %w", m.Name(), err)
		}
		path := dir + "/" + strings.ReplaceAll(m.Name(), ".", "_")
		if err := shared.Pin(path); err != nil {
			return nil, err
		}
		defer func() { _ = shared.Unpin(path) }()
		if err := m.Resize(shared.GetMaxEntries()); err != nil {
			return nil, err
		}
		if err := m.SetPinPath(path); err != nil {
			return nil, err
		}
	}
	if err := mod.BPFLoadObject(); err != nil {
		return nil, fmt.Errorf("load (libbpf's log above says why): %w", err)
	}
	return mod, nil
}

// pinDir returns a new directory on a BPF file system, and the function
// that removes it (and unmounts the file system it mounted, where none
// was at /sys/fs/bpf).
func pinDir() (string, func(), error) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		dir, err := os.MkdirTemp("/sys/fs/bpf", "vigil-libbpf-")
		if err != nil {
			return "", nil, fmt.Errorf("libbpf: a directory to pin the probe's maps in: %w", err)
		}
		return dir, func() { _ = os.RemoveAll(dir) }, nil
	}
	dir, err := os.MkdirTemp("", "vigil-bpffs-")
	if err != nil {
		return "", nil, fmt.Errorf("libbpf: a directory to pin the probe's maps in: %w", err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		_ = os.Remove(dir)
		return "", nil, fmt.Errorf("libbpf: mount a BPF file system to pin the probe's maps in (none at /sys/fs/bpf): %w", err)
	}
	return dir, func() {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		_ = os.Remove(dir)
	}, nil
}

// hook is a program the loader attaches, and its link while attached.
type hook struct {
	bpf.Hook
	prog *libbpfgo.BPFProg
	link *libbpfgo.BPFLink
}

// attach hooks the programs the default loader hooks, each where its ELF
// section says (libbpf's auto-attach): the always-attached ones, and those
// on the wrappers of the syscalls cfg selects (or their fallback). The
// rest run by tail call from the program arrays libbpf filled at load.
func (p *Probe) attach(hooks []bpf.Hook, cfg driver.Config) error {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	for _, h := range hooks {
		mod := p.mod
		switch {
		case h.Fallback && !p.fallback:
			continue
		case h.Object == bpf.EntryObj:
			if p.entry == nil {
				continue
			}
			mod = p.entry
		}
		prog, err := mod.GetProgram(h.Program)
		if err != nil {
			return fmt.Errorf("libbpf: the loaded %s object has no program %s: %w", h.Object, h.Program, err)
		}
		p.hooks = append(p.hooks, &hook{Hook: h, prog: prog})
	}
	return p.syncLinks(cfg)
}

// syncLinks attaches the programs cfg wants and detaches the others.
// Under linkMu.
func (p *Probe) syncLinks(cfg driver.Config) error {
	for _, h := range p.hooks {
		switch want := h.Wants(cfg); {
		case want && h.link == nil:
			l, err := h.prog.AttachGeneric()
			if err != nil {
				return fmt.Errorf("libbpf: attach %s (section %s): %w", h.prog.Name(), h.prog.SectionName(), err)
			}
			h.link = l
		case !want && h.link != nil:
			if err := h.link.Destroy(); err != nil {
				return fmt.Errorf("libbpf: detach %s: %w", h.prog.Name(), err)
			}
			h.link = nil
		}
	}
	return nil
}

// global is where one of the probe's globals lives: a byte range of the
// value of its section's array map (.data, .bss), which the programs only
// read.
type global struct {
	m         *libbpfgo.BPFMap
	off, size int
}

// findGlobals locates the globals that configure the probe, from the
// object's symbol table, as libbpf lays sections out in their maps.
func findGlobals(mod *libbpfgo.Module, obj []byte) (map[string]global, error) {
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		return nil, fmt.Errorf("read the probe object's symbols: %w", err)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("read the probe object's symbols: %w", err)
	}
	want := bpf.LoadGlobals(driver.Config{}, 0)
	want[bpf.CaptureGlobal] = nil
	out := map[string]global{}
	// One *BPFMap per section: setGlobals writes a section's value once.
	maps := map[string]*libbpfgo.BPFMap{}
	for _, s := range syms {
		if _, ok := want[s.Name]; !ok || int(s.Section) >= len(f.Sections) {
			continue
		}
		sec := f.Sections[s.Section].Name
		m, ok := maps[sec]
		if !ok {
			if m, err = mod.GetMap(sec); err != nil {
				return nil, fmt.Errorf("libbpf: no map for section %s of global %s: %w", sec, s.Name, err)
			}
			maps[sec] = m
		}
		out[s.Name] = global{m: m, off: int(s.Value), size: int(s.Size)}
	}
	for name := range want {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("the probe object has no global %s: rebuild it with `make bpf`", name)
		}
	}
	return out, nil
}

// setGlobals writes globals by name, each section's map value read,
// patched and written back whole: nothing else writes them.
func (p *Probe) setGlobals(vals map[string]any) error {
	p.cfgMu.Lock()
	defer p.cfgMu.Unlock()
	values := map[*libbpfgo.BPFMap][]byte{}
	key := uint32(0)
	for name, v := range vals {
		g, ok := p.globals[name]
		if !ok {
			return fmt.Errorf("set probe %s: the probe has no such global", name)
		}
		sec, ok := values[g.m]
		if !ok {
			var err error
			if sec, err = g.m.GetValue(unsafe.Pointer(&key)); err != nil {
				return fmt.Errorf("set probe %s: read %s: %w", name, g.m.Name(), err)
			}
			values[g.m] = sec
		}
		var b bytes.Buffer
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			return fmt.Errorf("set probe %s: %w", name, err)
		}
		if b.Len() != g.size || g.off+g.size > len(sec) {
			return fmt.Errorf("set probe %s: a %d-byte value for a %d-byte global at %d of %s (%d bytes)",
				name, b.Len(), g.size, g.off, g.m.Name(), len(sec))
		}
		copy(sec[g.off:], b.Bytes())
	}
	for m, sec := range values {
		if err := m.Update(unsafe.Pointer(&key), unsafe.Pointer(&sec[0])); err != nil {
			return fmt.Errorf("write probe globals to %s: %w", m.Name(), err)
		}
	}
	return nil
}

// SetConfig changes what the probe captures, effective at once.
func (p *Probe) SetConfig(cfg driver.Config) error {
	p.statsMu.RLock()
	defer p.statsMu.RUnlock()
	if p.freed {
		return driver.ErrClosed
	}
	if err := p.setGlobals(bpf.ConfigGlobals(cfg)); err != nil {
		return err
	}
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	return p.syncLinks(cfg)
}

// queue is one CPU's records, as copied out by libbpf's consumer: a
// driver.Ring for the merge. Its bytes are ours until the next refill, so
// Publish has nothing to give back.
type queue struct {
	cpu  int
	c    *C.struct_vq
	data []byte // the C buffer, valid until the next refill
	pos  int
	head int // size of the record Peek returned, length included
}

func (q *queue) Publish() {}

func (q *queue) Peek() []byte {
	if q.pos+4 > len(q.data) {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(q.data[q.pos:]))
	q.head = 4 + n
	return q.data[q.pos+4 : q.pos+4+n]
}

func (q *queue) Consume() []byte { q.pos += q.head; q.head = 0; return q.Peek() }

func (q *queue) CPU() int { return q.cpu }

// refill copies what every ring holds into the queues, which the merge
// has emptied: the events of its last batch are invalid from here on, as
// Source.Next allows once they were all returned. It returns how many
// bytes were copied.
func (p *Probe) refill() (int, error) {
	total := 0
	for i, q := range p.queues {
		q.c.len = 0
		if n := C.ring_buffer__consume(p.rbs[i]); n < 0 && -n != C.E2BIG {
			return 0, fmt.Errorf("libbpf: consume the ring buffer of cpu %d: %w", q.cpu, syscall.Errno(-n))
		}
		q.data, q.pos, q.head = nil, 0, 0
		if q.c.len > 0 {
			q.data = unsafe.Slice((*byte)(unsafe.Pointer(q.c.buf)), int(q.c.len))
		}
		total += len(q.data)
	}
	return total, nil
}

// Next returns the next event of the merge of the per-CPU queues, which
// are refilled from the rings when all are empty: events copied at one
// refill are merged among themselves, later ones come after.
func (p *Probe) Next() (*driver.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return nil, driver.ErrClosed
	}
	for slept := 0; ; {
		if e := p.merge.Buffered(); e != nil {
			return e, nil
		}
		if n, err := p.merge.Fill(); err != nil || n > 0 {
			if err != nil {
				return nil, err
			}
			continue
		}
		n, err := p.refill()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			continue
		}
		if slept >= pollMillis {
			return nil, driver.ErrTimeout
		}
		// The probe wakes us only past its watermark; below it, look again
		// every idleMillis.
		if _, err := unix.EpollWait(p.epfd, p.evs, idleMillis); err != nil && err != unix.EINTR {
			return nil, fmt.Errorf("wait for events: %w", err)
		}
		if p.closed.Load() {
			return nil, driver.ErrClosed
		}
		slept += idleMillis
	}
}

// Stats reads the per-CPU counters the probe keeps, and the runs the
// kernel skipped of each attached program.
func (p *Probe) Stats() (driver.Stats, error) {
	p.statsMu.RLock()
	defer p.statsMu.RUnlock()
	if p.freed {
		return driver.Stats{}, driver.ErrClosed
	}
	// A per-CPU map's value: one 8-byte-aligned entry per possible CPU.
	each := (binary.Size(bpf.CPUStats{}) + 7) &^ 7
	buf := make([]byte, p.ncpu*each)
	key := uint32(0)
	if err := p.stats.GetValueReadInto(unsafe.Pointer(&key), &buf); err != nil {
		return driver.Stats{}, fmt.Errorf("read probe counters: %w", err)
	}
	st := driver.Stats{PerCPU: make([]driver.CPUStats, p.ncpu)}
	for i := range st.PerCPU {
		var c bpf.CPUStats
		if _, err := binary.Decode(buf[i*each:], binary.LittleEndian, &c); err != nil {
			return driver.Stats{}, fmt.Errorf("read probe counters: %w", err)
		}
		st.PerCPU[i] = driver.CPUStats{Events: c.Events, Drops: c.Drops}
		st.Events += c.Events
		st.Drops += c.Drops
	}
	p.linkMu.Lock()
	for _, h := range p.hooks {
		st.Missed += recursionMisses(h.prog.FileDescriptor())
	}
	p.linkMu.Unlock()
	return st, nil
}

// recursionMisses reads a program's count of runs the kernel skipped. The
// program info is a plain bpf(2) query; cilium/ebpf decodes it for us.
func recursionMisses(fd int) uint64 {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	prog, err := ebpf.NewProgramFromFD(dup)
	if err != nil {
		_ = unix.Close(dup)
		return 0
	}
	defer prog.Close()
	st, err := prog.Stats()
	if err != nil {
		return 0
	}
	return st.RecursionMisses
}

// Close detaches the probe and frees it; a blocked Next returns
// driver.ErrClosed.
func (p *Probe) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	_ = p.setGlobals(map[string]any{bpf.CaptureGlobal: uint32(0)})
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(p.wake, one[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	p.teardown()
	return nil
}

func (p *Probe) teardown() {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	if p.freed {
		return
	}
	p.freed = true
	p.linkMu.Lock()
	for _, h := range p.hooks {
		if h.link != nil {
			_ = h.link.Destroy()
		}
	}
	p.hooks = nil
	p.linkMu.Unlock()
	for _, rb := range p.rbs {
		C.ring_buffer__free(rb)
	}
	p.rbs = nil
	for _, q := range p.queues {
		C.free(unsafe.Pointer(q.c.buf))
		C.free(unsafe.Pointer(q.c))
		q.c, q.data = nil, nil
	}
	p.queues = nil
	for _, fd := range p.rings {
		C.close(fd)
	}
	p.rings = nil
	for _, m := range []**libbpfgo.Module{&p.entry, &p.mod} {
		if *m != nil {
			(*m).Close()
			*m = nil
		}
	}
	for _, fd := range []*int{&p.epfd, &p.wake} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}
