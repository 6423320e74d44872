// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package kmod reads events from vigil's kernel module: one ring buffer per
// CPU, mapped from /dev/vigilN, merged by timestamp. The layout and ioctls
// are kmod/vigil_ring.h's.
package kmod

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
)

// APIVersion is the module interface this reader speaks.
const APIVersion = 1

const (
	ringPad     = 0xffff
	iocMagic    = 'v'
	maskBytes   = driver.MaxSyscalls / 8
	pollEvery   = 4 * time.Millisecond
	timeoutPoll = 100 * time.Millisecond
)

// ioctl numbers, as _IOR/_IOW/_IO compute them on x86-64.
func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | iocMagic<<8 | nr }

var (
	iocAPIVersion    = ioc(2, 0, 4)
	iocSchemaVersion = ioc(2, 1, 12)
	iocStart         = ioc(0, 2, 0)
	iocStop          = ioc(0, 3, 0)
	iocSetSnaplen    = ioc(1, 4, 4)
	iocSetMask       = ioc(1, 5, maskBytes)
	iocIgnoreTGID    = ioc(1, 6, 4)
)

// Versions asks the loaded module, through its first device under devDir,
// which interface and event schema it speaks, without starting capture.
// It fails with EBUSY while a reader holds that device.
func Versions(devDir string) (api uint32, schema string, err error) {
	devs, _ := filepath.Glob(filepath.Join(devDir, "vigil[0-9]*"))
	if len(devs) == 0 {
		return 0, "", fmt.Errorf("no %s/vigilN devices: %w", devDir, driver.ErrNotSupported)
	}
	sort.Slice(devs, func(i, j int) bool { return cpuOf(devs[i]) < cpuOf(devs[j]) })
	f, err := os.OpenFile(devs[0], os.O_RDONLY, 0)
	if err != nil {
		return 0, "", fmt.Errorf("ask the vigil module its versions: %w", err)
	}
	defer f.Close()
	if err := ioctlPtr(f.Fd(), iocAPIVersion, unsafe.Pointer(&api)); err != nil {
		return 0, "", fmt.Errorf("module API version: %w", err)
	}
	var sv [3]uint32
	if err := ioctlPtr(f.Fd(), iocSchemaVersion, unsafe.Pointer(&sv)); err != nil {
		return api, "", fmt.Errorf("module schema version: %w", err)
	}
	return api, fmt.Sprintf("%d.%d.%d", sv[0], sv[1], sv[2]), nil
}

// ctl is struct vigil_ring_ctl.
type ctl struct {
	head, tail, events, drops uint64
	ringSize, apiVersion      uint32
	features, wakeupBytes     uint32
}

// featurePoll is VIGIL_FEATURE_POLL: the devices support poll/epoll.
const featurePoll = 0x1

type ring struct {
	cpu  int
	f    *os.File
	ctlM []byte
	data []byte
	ctl  *ctl
	mask uint64
	pos  uint64 // consumed locally
	pub  uint64 // tail Publish last gave the module
	head uint64 // producer position last seen
	size uint64 // bytes of the record Peek returned
}

// Reader is a driver.Source over the module's devices.
type Reader struct {
	mu     sync.Mutex // held by Next while it fills a batch; Close takes it before retiring the rings
	closed atomic.Bool
	rings  []*ring
	// lease says who unmaps the rings: the events Next returns point
	// into them, and Close may come while the reader still reads one.
	lease   driver.Lease
	retired []*ring // rings Close retired, unmapped by the last user
	merge   *driver.Merge[*ring]
	// epfd waits on every device at once, when the module supports poll
	// (-1 otherwise: Next then looks every pollEvery).
	epfd  int
	evs   []unix.EpollEvent
	drain driver.Drain // under mu
	// statsMu lets Stats run on any goroutine (a web server, a drop
	// check) while Close unmaps the rings' counters: Stats reads under
	// it, Close unmaps under it. Next holds mu, not statsMu, while it
	// waits.
	statsMu sync.RWMutex
}

var (
	_ driver.Source  = (*Reader)(nil)
	_ driver.Stopper = (*Reader)(nil)
)

// Open opens /dev/vigil* under devDir ("/dev"), checks the module's API and
// schema versions, applies cfg and starts capture.
func Open(devDir string, cfg driver.Config) (_ *Reader, err error) {
	devs, _ := filepath.Glob(filepath.Join(devDir, "vigil[0-9]*"))
	if len(devs) == 0 {
		return nil, fmt.Errorf("no %s/vigilN devices: is the vigil module loaded? (%w)", devDir, driver.ErrNotSupported)
	}
	sort.Slice(devs, func(i, j int) bool { return cpuOf(devs[i]) < cpuOf(devs[j]) })
	r := &Reader{epfd: -1}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	for _, d := range devs {
		rg, err := openRing(d)
		if err != nil {
			return nil, err
		}
		r.rings = append(r.rings, rg)
	}
	r.merge = driver.NewMerge(r.rings)
	if err := r.setupPoll(); err != nil {
		return nil, err
	}
	fd := r.rings[0].f.Fd()
	var api uint32
	if err := ioctlPtr(fd, iocAPIVersion, unsafe.Pointer(&api)); err != nil {
		return nil, fmt.Errorf("module API version: %w", err)
	}
	if api != APIVersion {
		return nil, fmt.Errorf("the loaded vigil module speaks API %d, this vigil %d: load the module built with this vigil", api, APIVersion)
	}
	var sv [3]uint32
	if err := ioctlPtr(fd, iocSchemaVersion, unsafe.Pointer(&sv)); err != nil {
		return nil, fmt.Errorf("module schema version: %w", err)
	}
	if major, _, _ := strings.Cut(driver.SchemaVersion, "."); strconv.Itoa(int(sv[0])) != major {
		want := driver.SchemaVersion
		return nil, fmt.Errorf("the loaded vigil module writes schema %d.%d.%d, this vigil reads %s: load the module built with this vigil", sv[0], sv[1], sv[2], want)
	}
	if err := r.SetConfig(cfg); err != nil {
		return nil, err
	}
	if err := ioctlPtr(fd, iocStart, nil); err != nil {
		return nil, fmt.Errorf("start capture: %w", err)
	}
	return r, nil
}

func cpuOf(dev string) int {
	var n int
	fmt.Sscanf(filepath.Base(dev), "vigil%d", &n)
	return n
}

func openRing(dev string) (*ring, error) {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("open %s: another reader has it (one reader per device): %w", dev, err)
		}
		return nil, fmt.Errorf("open %s: %w", dev, err)
	}
	page := os.Getpagesize()
	ctlM, err := unix.Mmap(int(f.Fd()), 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mmap control page of %s: %w", dev, err)
	}
	c := (*ctl)(unsafe.Pointer(&ctlM[0]))
	size := int(c.ringSize)
	// Positions are masked with size-1: any other size would misread.
	if err := driver.CheckRingSize(size); err != nil {
		_ = unix.Munmap(ctlM)
		f.Close()
		return nil, fmt.Errorf("%s: %w: load the module with ring_pages a power of two", dev, err)
	}
	data, err := unix.Mmap(int(f.Fd()), int64(page), size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(ctlM)
		f.Close()
		return nil, fmt.Errorf("mmap data of %s: %w", dev, err)
	}
	rg := &ring{cpu: cpuOf(dev), f: f, ctlM: ctlM, data: data, ctl: c, mask: uint64(size - 1)}
	// Start from what is there now: older events belong to no one.
	rg.pos = atomic.LoadUint64(&c.head)
	atomic.StoreUint64(&c.tail, rg.pos)
	rg.head, rg.pub = rg.pos, rg.pos
	return rg, nil
}

// Peek returns the next event of the ring without consuming it, or nil.
func (rg *ring) Peek() []byte {
	for {
		if rg.pos == rg.head {
			rg.head = atomic.LoadUint64(&rg.ctl.head)
			if rg.pos == rg.head {
				return nil
			}
		}
		off := rg.pos & rg.mask
		left := uint64(len(rg.data)) - off
		if left < driver.HeaderSize {
			rg.pos += left // no room for a header: the writer wrapped
			continue
		}
		n := uint64(binary.LittleEndian.Uint32(rg.data[off+16:]))
		typ := binary.LittleEndian.Uint16(rg.data[off+20:])
		if typ == ringPad {
			rg.pos += n
			continue
		}
		if n < driver.HeaderSize || n > left {
			// A length the writer cannot have written: skip to the head
			// rather than loop or read out of bounds.
			rg.pos = rg.head
			return nil
		}
		rg.size = n
		return rg.data[off : off+n]
	}
}

// Consume moves past the event Peek returned and returns the next; its
// space stays the reader's until Publish.
func (rg *ring) Consume() []byte {
	rg.pos += rg.size
	rg.size = 0
	return rg.Peek()
}

// Publish frees the space of the consumed events for the module, once a
// batch: the tail is a cache line the module reads on every write.
func (rg *ring) Publish() {
	if rg.pub != rg.pos {
		atomic.StoreUint64(&rg.ctl.tail, rg.pos)
		rg.pub = rg.pos
	}
}

// CPU is the CPU whose events the ring holds.
func (rg *ring) CPU() int { return rg.cpu }

// setupPoll registers every device with one epoll instance, when the
// module wakes readers (older modules do not: Next then polls by timer).
func (r *Reader) setupPoll() error {
	if r.rings[0].ctl.features&featurePoll == 0 {
		return nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	r.epfd = epfd
	for _, rg := range r.rings {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(rg.f.Fd())}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(rg.f.Fd()), &ev); err != nil {
			return fmt.Errorf("epoll add /dev/vigil%d: %w", rg.cpu, err)
		}
	}
	r.evs = make([]unix.EpollEvent, len(r.rings))
	return nil
}

// Next returns the oldest event at the head of the per-CPU rings. With
// nothing to read it sleeps until the module wakes it (a ring past its
// watermark, or the module's timer) or timeoutPoll passes.
//
// Events come in batches (driver.Merge): most calls return the next event
// of the batch, already decoded, without the lock or a look at the rings.
func (r *Reader) Next() (*driver.Event, error) {
	ok, unmap := r.lease.Acquire()
	if !ok {
		if unmap {
			r.unmapRetired()
		}
		return nil, driver.ErrClosed
	}
	var e *driver.Event
	if !r.closed.Load() {
		e = r.merge.Buffered()
	}
	var err error
	if e == nil {
		e, err = r.fill()
	}
	if e == nil {
		if r.lease.Idle() {
			r.unmapRetired()
		}
		if err != nil && r.closed.Load() {
			// A batch Close retired under us reads as zeros: that is
			// the close, not a damaged event.
			err = driver.ErrClosed
		}
	}
	return e, err
}

// unmapRetired unmaps the rings Close retired; only the lease's last user
// calls it.
func (r *Reader) unmapRetired() {
	for _, rg := range r.retired {
		_ = unix.Munmap(rg.data)
		_ = unix.Munmap(rg.ctlM)
	}
	r.retired = nil
}

// fill decodes the next batch, waiting for events up to timeoutPoll.
func (r *Reader) fill() (*driver.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rings == nil {
		return nil, driver.ErrClosed
	}
	deadline := time.Now().Add(timeoutPoll)
	for {
		n, err := r.merge.Fill()
		if n > 0 {
			r.drain.ReturnedBatch(n)
			return r.merge.Buffered(), nil
		}
		if err != nil {
			return nil, err
		}
		if r.drain.Stopped() {
			if st, _ := r.Stats(); r.drain.Done(st.Events) {
				return nil, io.EOF
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, driver.ErrTimeout
		}
		if r.epfd < 0 {
			time.Sleep(min(pollEvery, left))
			continue
		}
		// The module reports a ring readable while head != tail: publish
		// what Fill's look skipped (padding) before sleeping.
		r.merge.Publish()
		ms := int(left.Milliseconds()) + 1
		if _, err := unix.EpollWait(r.epfd, r.evs, ms); err != nil && err != unix.EINTR {
			return nil, fmt.Errorf("wait for events: %w", err)
		}
	}
}

// Stats sums the rings' counters.
func (r *Reader) Stats() (driver.Stats, error) {
	r.statsMu.RLock()
	defer r.statsMu.RUnlock()
	var st driver.Stats
	for _, rg := range r.rings {
		c := driver.CPUStats{Events: atomic.LoadUint64(&rg.ctl.events), Drops: atomic.LoadUint64(&rg.ctl.drops)}
		st.Events += c.Events
		st.Drops += c.Drops
		st.PerCPU = append(st.PerCPU, c)
	}
	return st, nil
}

// SetConfig applies the syscall mask, snaplen and the ignored process.
func (r *Reader) SetConfig(cfg driver.Config) error {
	if len(r.rings) == 0 {
		return driver.ErrClosed
	}
	fd := r.rings[0].f.Fd()
	var mask [maskBytes]byte
	for i := range driver.MaxSyscalls {
		if cfg.Syscalls == nil || (i < len(cfg.Syscalls) && cfg.Syscalls[i]) {
			mask[i/8] |= 1 << (i % 8)
		}
	}
	snap := cfg.Snaplen
	if snap == 0 {
		snap = driver.DefaultSnaplen
	}
	tgid := cfg.IgnorePID
	for _, op := range []struct {
		what string
		nr   uintptr
		arg  unsafe.Pointer
	}{{"syscall mask", iocSetMask, unsafe.Pointer(&mask)}, {"snaplen", iocSetSnaplen, unsafe.Pointer(&snap)}, {"ignored process", iocIgnoreTGID, unsafe.Pointer(&tgid)}} {
		if err := ioctlPtr(fd, op.nr, op.arg); err != nil {
			return fmt.Errorf("set %s: %w", op.what, err)
		}
	}
	return nil
}

// Stop ends capture for good: the module writes no more events, and Next
// returns those already in the rings, then io.EOF. Events read then match
// Stats' count. Close still releases the devices.
func (r *Reader) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rings == nil {
		return driver.ErrClosed
	}
	if err := ioctlPtr(r.rings[0].f.Fd(), iocStop, nil); err != nil {
		return fmt.Errorf("stop capture: %w", err)
	}
	r.drain.Stop()
	return nil
}

// Close stops capture and releases the devices.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rings == nil {
		return nil
	}
	r.closed.Store(true)
	if r.epfd >= 0 {
		unix.Close(r.epfd)
		r.epfd = -1
	}
	_ = ioctlPtr(r.rings[0].f.Fd(), iocStop, nil)
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	// Retired, not unmapped: the reader may hold an event in them (see
	// lease).
	for _, rg := range r.rings {
		_ = driver.Retire(rg.data)
		_ = driver.Retire(rg.ctlM)
		rg.f.Close()
	}
	r.retired, r.rings = r.rings, nil
	if r.lease.Close() {
		r.unmapRetired()
	}
	return nil
}

func ioctlPtr(fd uintptr, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}
