// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package selftest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/driver"
)

// ParityWorkloads are the workloads both drivers watch at once: between
// them every event type with parameters beyond a result.
var ParityWorkloads = []string{"files", "tcp", "setuid", "ptrace", "memfd", "mount", "dup2"}

// ParitySelection is a selection as rules make one, small enough for the
// probe to serve from the syscalls' own tracepoints: the syscalls of the
// files and tcp workloads with events of their own, and generic ones.
var ParitySelection = []string{
	"execve", "execveat", "clone", "clone3", "open", "openat", "creat", "close",
	"rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat",
	"socket", "bind", "listen", "accept", "accept4", "connect",
	"getppid", "getpid", "fstat", "newfstatat", "getsockname", "setsockopt",
}

// ParityResult is what one workload showed under two drivers.
type ParityResult struct {
	Workload string
	Events   int // events of the workload's processes, per driver
	// Tolerated is how many events one driver had and the other did not,
	// explained by events the other counted as lost (drops, or probe runs
	// the kernel skipped). 0 when the drivers agreed exactly.
	Tolerated int
}

// Parity runs a workload while both sources capture, and compares what
// they saw. Both drivers' probes hang off the same tracepoints, so for each
// thread they must report the same events, in the same order, with the
// same parameters, byte for byte; only timestamps and CPUs may differ.
// Per-thread order is what is compared: the merge of per-CPU buffers may
// legitimately interleave two threads differently.
//
// A difference is an error naming the thread, the position and both
// events.
func Parity(a, b Source, aName, bName, workload, dir string) (ParityResult, error) {
	res := ParityResult{Workload: workload}
	lostA0, lostB0 := Lost(a), Lost(b)
	cmd, out, err := StartWorkload(workload, dir)
	if err != nil {
		return res, err
	}
	defer os.Remove(out.Name())
	root := uint32(cmd.Process.Pid)

	var wg sync.WaitGroup
	var evA, evB []*driver.Event
	var errA, errB error
	wg.Add(2)
	go func() { defer wg.Done(); evA, errA = collectTree(a, root) }()
	go func() { defer wg.Done(); evB, errB = collectTree(b, root) }()
	werr := cmd.Wait()
	wg.Wait()
	if werr != nil {
		return res, fmt.Errorf("workload %s failed: %w", workload, werr)
	}
	if err := errors.Join(errA, errB); err != nil {
		return res, err
	}
	res.Events = len(evA)

	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		return res, err
	}
	budget := [2]uint64{Lost(a) - lostA0, Lost(b) - lostB0}
	res.Tolerated, err = compareThreads(byThread(evA), byThread(evB), aName, bName, tab, budget)
	if err != nil {
		return res, fmt.Errorf("%s: %w", workload, err)
	}
	return res, nil
}

// Lost is what a driver counted as lost so far: events dropped for want of
// buffer space, and probe runs the kernel skipped.
func Lost(s driver.Source) uint64 {
	st, err := s.Stats()
	if err != nil {
		return 0
	}
	return st.Drops + st.Missed
}

// collectTree reads src until the process root has exited and the events
// of its processes stop coming, keeping the events of root and of every
// process it forked.
func collectTree(src Source, root uint32) ([]*driver.Event, error) {
	tree := map[uint32]bool{root: true}
	var evs []*driver.Event
	deadline := time.Now().Add(60 * time.Second)
	exited := false
	// lastSeen is when an event of the tree last arrived: after root's
	// exit, a reader may still be behind on other CPUs' buffers (much
	// behind, on a KASAN kernel under TCG).
	var lastSeen time.Time
	for {
		now := time.Now()
		if now.After(deadline) {
			if exited {
				return evs, nil
			}
			return evs, fmt.Errorf("pid %d: no proc_exit event within 60s (%d events seen)", root, len(evs))
		}
		if exited && now.Sub(lastSeen) > 500*time.Millisecond {
			return evs, nil
		}
		e, err := src.Next()
		if errors.Is(err, driver.ErrTimeout) {
			if exited {
				return evs, nil // the buffers are empty
			}
			continue
		}
		if err != nil {
			return evs, fmt.Errorf("read events: %w", err)
		}
		if !tree[e.PID] {
			continue
		}
		lastSeen = time.Now()
		if e.Type == driver.EvProcFork {
			tree[uint32(e.Int(1))] = true
		}
		evs = append(evs, e.Copy())
		if e.Type == driver.EvProcExit && e.TID == root {
			exited = true
		}
	}
}

func byThread(evs []*driver.Event) map[uint32][]*driver.Event {
	m := make(map[uint32][]*driver.Event)
	for _, e := range evs {
		m[e.TID] = append(m[e.TID], e)
	}
	return m
}

// sameEvent says whether two events are the same but for time and CPU.
func sameEvent(x, y *driver.Event) bool {
	if x.Type != y.Type || x.TID != y.TID || x.PID != y.PID || x.NParams != y.NParams {
		return false
	}
	for i := 0; i < x.NParams; i++ {
		if !bytes.Equal(x.Param(i), y.Param(i)) {
			return false
		}
	}
	return true
}

func describe(e *driver.Event, tab *driver.SyscallTable) string {
	if e == nil {
		return "nothing"
	}
	return fmt.Sprintf("%s(%s)", driver.EventName(e, tab), driver.AppendParamsText(nil, e, tab))
}

// compareThreads reports every thread whose sequences differ (at most a
// few, each at its first difference). lost[0] and lost[1] are the events
// each side counted as lost meanwhile: that many events missing from that
// side alone are tolerated (and counted), as long as the rest agrees in
// order. Nothing else is: an event that differs, or one that is missing
// from a side that lost nothing, is a difference.
func compareThreads(a, b map[uint32][]*driver.Event, aName, bName string, tab *driver.SyscallTable, lost [2]uint64) (int, error) {
	tids := make([]uint32, 0, len(a)+len(b))
	for tid := range a {
		tids = append(tids, tid)
	}
	for tid := range b {
		if _, ok := a[tid]; !ok {
			tids = append(tids, tid)
		}
	}
	sort.Slice(tids, func(i, j int) bool { return tids[i] < tids[j] })
	budgetA, budgetB := lost[0], lost[1]
	tolerated := 0
	var diffs []string
	for _, tid := range tids {
		sa, sb := a[tid], b[tid]
		common := lcs(sa, sb)
		onlyA, onlyB := uint64(len(sa)-common), uint64(len(sb)-common)
		// Events a has and b lacks are b's losses, and the other way round.
		if onlyA <= budgetB && onlyB <= budgetA {
			budgetB -= onlyA
			budgetA -= onlyB
			tolerated += int(onlyA + onlyB)
			continue
		}
		k := 0
		for k < len(sa) && k < len(sb) && sameEvent(sa[k], sb[k]) {
			k++
		}
		var x, y *driver.Event
		if k < len(sa) {
			x = sa[k]
		}
		if k < len(sb) {
			y = sb[k]
		}
		diffs = append(diffs, fmt.Sprintf("tid %d event %d of %d/%d (%d only in %s, %d only in %s): %s saw %s, %s saw %s",
			tid, k+1, len(sa), len(sb), onlyA, aName, onlyB, bName, aName, describe(x, tab), bName, describe(y, tab)))
	}
	if len(diffs) == 0 {
		return tolerated, nil
	}
	const show = 4
	more := ""
	if len(diffs) > show {
		more = fmt.Sprintf("; and %d more threads differ", len(diffs)-show)
		diffs = diffs[:show]
	}
	if lost[0]+lost[1] > 0 {
		more += fmt.Sprintf(" (%s lost %d events meanwhile, %s %d)", aName, lost[0], bName, lost[1])
	}
	return tolerated, fmt.Errorf("the drivers disagree: %s%s", strings.Join(diffs, "; "), more)
}

// lcs is the length of the longest common subsequence of two threads'
// events: what both drivers saw, in the same order.
func lcs(a, b []*driver.Event) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			switch {
			case sameEvent(a[i], b[j]):
				cur[j+1] = prev[j] + 1
			case prev[j+1] >= cur[j]:
				cur[j+1] = prev[j+1]
			default:
				cur[j+1] = cur[j]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
