// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// TestExitModesGiveTheSameEvents: two probes watch the same workloads at
// once, one with its exit events from the raw sys_exit tracepoint, the
// other from each selected syscall's own exit tracepoint. Both must tell
// the same events, byte for byte but the time stamp: syscalls with exit
// events of their own (files, sockets, setuid, clone, execve, and the
// execveat that a successful exec reports through execve's tracepoint),
// and generic ones.
func TestExitModesGiveTheSameEvents(t *testing.T) {
	testenv.RequireProbe(t)
	cfg, err := selftest.OnlySyscalls(uint32(os.Getpid()),
		"execve", "execveat", "openat", "open", "creat", "close", "rename", "unlink", "unlinkat",
		"mkdirat", "socket", "bind", "listen", "accept", "accept4", "connect", "setuid",
		"memfd_create", "clone", "clone3", "dup", "dup3", "getppid", "getpid", "fstat", "newfstatat")
	if err != nil {
		t.Fatal(err)
	}
	forceRawExit = true
	raw, err := Open(cfg, Options{})
	forceRawExit = false
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tp, err := Open(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if raw.exitRaw == nil || raw.exitTP != nil {
		t.Fatal("the probe opened with forceRawExit does not use the raw sys_exit tracepoint")
	}
	if tp.exitTP == nil || tp.exitRaw != nil {
		testenv.Unavailable(t, fmt.Sprintf("the kernel cannot serve exits from the syscalls' tracepoints: %v", tp.exitTPErr))
	}

	pids := map[uint32]bool{}
	for _, w := range []string{"files", "tcp", "setuid", "memfd"} {
		cmd, out, err := selftest.StartWorkload(w, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(out.Name())
		if err := cmd.Wait(); err != nil {
			t.Fatalf("workload %s: %v", w, err)
		}
		pids[uint32(cmd.Process.Pid)] = true
	}
	a, b := eventsOf(t, raw, pids), eventsOf(t, tp, pids)
	types := map[driver.EventType]int{}
	for _, e := range a {
		var typ driver.EventType
		fmt.Sscanf(e, "type %d", &typ)
		types[typ]++
	}
	for _, want := range []driver.EventType{driver.EvExecveat, driver.EvOpenat, driver.EvConnect, driver.EvSetuid, driver.EvGeneric} {
		if types[want] == 0 {
			t.Errorf("the workloads made no event of type %d: the comparison misses it", want)
		}
	}
	if !slices.Equal(a, b) {
		t.Fatalf("the exit modes disagree:\nraw sys_exit (%d events):\n%s\nsyscall tracepoints (%d events):\n%s",
			len(a), strings.Join(a, "\n"), len(b), strings.Join(b, "\n"))
	}
	t.Logf("raw sys_exit and the syscalls' own tracepoints: the same %d events, %d types", len(a), len(types))
}

// eventsOf returns the events of pids in p, sorted: the two probes
// stamp the same events each with its own clock, and may merge events
// from two CPUs in another order.
func eventsOf(t *testing.T, p *Probe, pids map[uint32]bool) []string {
	out := drainText(t, p, true, func(e *driver.Event) bool { return pids[e.PID] })
	slices.Sort(out)
	return out
}

// TestExitModeSwitchKeepsTheStream: a child closes six million fds that
// are not open, each a different number, while the selection flips
// between close alone (its own exit tracepoint serves) and many syscalls
// (the raw sys_exit tracepoint serves), again and again. Only the calls
// in flight at a switch may come out twice or, preempted between their
// two hooks across the whole switch, not at all: at most one per CPU a
// switch. A switch with a gap between the two sides loses thousands.
func TestExitModeSwitchKeepsTheStream(t *testing.T) {
	testenv.RequireProbe(t)
	small := onlySyscall(t, "close")
	// More syscalls than the syscalls' own tracepoints serve, so that
	// the raw one does; close, and none that this machine's other
	// processes make often (futex, epoll, openat...), so that the rings
	// keep up.
	big := onlySyscall(t, "close")
	busy := map[int]bool{186: true, 202: true, 228: true, 230: true, 232: true, 233: true, 234: true,
		257: true, 262: true, 270: true, 271: true, 281: true}
	for nr := 160; nr < 300; nr++ {
		big.Syscalls[nr] = !busy[nr]
	}
	p, err := Open(small, Options{BufferSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.exitTP == nil {
		testenv.Unavailable(t, fmt.Sprintf("the kernel cannot serve exits from the syscalls' tracepoints: %v", p.exitTPErr))
	}
	const calls = 6_000_000
	cmd, out, err := selftest.StartWorkload("closeloop", t.TempDir(), fmt.Sprintf("VIGIL_N=%d", calls))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	pid := uint32(cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The reader reads throughout, as vigil run's engine does while a
	// reload changes the selection.
	seen := make([]uint8, calls)
	stop := make(chan struct{})
	read := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				read <- nil
				return
			default:
			}
			e, err := p.Next()
			if errors.Is(err, driver.ErrTimeout) {
				continue
			}
			if err != nil {
				read <- err
				return
			}
			if e.PID != pid || e.Type != driver.EvClose {
				continue
			}
			if i := e.Int(1) - selftest.CloseLoopBase; i >= 0 && i < calls && seen[i] < 255 {
				seen[i]++
			}
		}
	}()
	switches := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("workload: %v", err)
			}
			running = false
			continue
		case <-time.After(2 * time.Millisecond):
		}
		cfg := big
		if switches%2 == 1 {
			cfg = small
		}
		if err := p.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
		switches++
	}
	// Let the reader reach the end of the child's events.
	time.Sleep(time.Second)
	close(stop)
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if st, err := p.Stats(); err != nil || st.Drops+st.Missed > 0 {
		t.Fatalf("the probe lost events (%+v, %v): the count is void; a machine this busy cannot run this test", st, err)
	}
	if switches < 10 {
		t.Fatalf("only %d switches while the child ran: the test proves nothing", switches)
	}
	var lost, twice []int
	for i, n := range seen {
		switch {
		case n == 0:
			lost = append(lost, selftest.CloseLoopBase+i)
		case n > 1:
			twice = append(twice, selftest.CloseLoopBase+i)
		}
	}
	if len(lost)+len(twice) > switches*runtime.NumCPU() {
		t.Fatalf("%d closes across %d switches of exit mode: %d never told (fds %v), %d told twice; at most %d in flight may be either",
			calls, switches, len(lost), head(lost), len(twice), switches*runtime.NumCPU())
	}
	t.Logf("%d closes across %d switches between the raw sys_exit and close's own exit tracepoint: %d never told, %d told twice",
		calls, switches, len(lost), len(twice))
}

// head is the first few of xs, for a message.
func head(xs []int) []int {
	if len(xs) > 10 {
		return xs[:10]
	}
	return xs
}
