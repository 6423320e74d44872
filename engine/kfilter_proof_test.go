// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/kfilter"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// The kernel filter's proof: two probes see the same busy workload at
// once, one without the filter and one with the filter derived from the
// upstream stable rules. Over the same window of time both capture every
// syscall, so the engine with the stable rules must raise the same alerts,
// byte for byte, from either capture, and the filtered one must hold
// fewer events. The filtered capture must also be exactly what the Go
// reference (driver.KernelFilter.Keep) keeps of the unfiltered one.
func TestKernelFilterSameAlerts(t *testing.T) {
	testenv.RequireProbe(t)
	stable := "../../shared/fixtures/falco-rules/falco_rules.yaml"
	if _, err := os.Stat(stable); err != nil {
		testenv.Unavailable(t, "upstream Falco rules fixture missing (expected beside the repository in ../shared/fixtures/falco-rules): "+err.Error())
	}
	set, err := rules.LoadFiles(stable)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kf := kfilter.Derive(prog)
	if kf.Filter == nil {
		t.Fatalf("no filter derived from the stable rules: %v", kf.Notes)
	}
	t.Logf("filter: %s", kf.Filter)
	tab, err := driver.NewSyscallTable(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	sel := Syscalls(prog, tab)

	var plain, filtered []*driver.Event
	var fstats driver.Stats
	for attempt := 1; ; attempt++ {
		var st [2]driver.Stats
		plain, filtered, st, err = recordTwice(t, sel, kf.Filter)
		if err != nil {
			t.Fatal(err)
		}
		fstats = st[1]
		lost := st[0].Drops + st[1].Drops + st[0].Missed + st[1].Missed
		if lost == 0 {
			break
		}
		// A lost event makes the two streams differ for reasons of
		// their own: record again.
		if attempt == 3 {
			t.Fatalf("events lost in 3 recordings (last: %+v / %+v): the machine is too busy for the comparison", st[0], st[1])
		}
		t.Logf("attempt %d lost events (%d): again", attempt, lost)
	}

	// The probe follows the Go reference exactly: thread by thread (the
	// order across CPUs may differ between two probes by a tie), away
	// from the window's edges (each probe stamps a syscall itself, a few
	// microseconds apart, so an event at an edge may fall in one window
	// only).
	if d := perThreadDiff(modelKeep(kf.Filter, plain), filtered, edge(plain, filtered)); d != "" {
		t.Errorf("the filtered capture is not what driver.KernelFilter.Keep keeps of the unfiltered one: %s", d)
	}

	clock := driver.NewClock()
	dir := t.TempDir()
	a0, t0 := alertsOf(t, prog, clock, capture(t, filepath.Join(dir, "plain.vcap"), clock, plain))
	a1, t1 := alertsOf(t, prog, clock, capture(t, filepath.Join(dir, "filtered.vcap"), clock, filtered))
	t.Logf("events read: %d without the filter, %d with it (%.1f%%); the probe counted %d filtered; alerts: %d",
		len(plain), len(filtered), 100*float64(len(filtered))/float64(len(plain)), fstats.Filtered, bytes.Count(a0, []byte("\n")))
	t.Logf("by type, without -> with: %s", byType(plain, filtered))
	// The alerts are compared byte for byte but for their time: each
	// probe stamps the syscall itself. The times must agree closely.
	if !bytes.Equal(a0, a1) {
		t.Errorf("alerts differ: %s", lineDiff(a0, a1))
	}
	if len(t0) == len(t1) {
		var skew time.Duration
		for i := range t0 {
			d := t0[i].Sub(t1[i])
			if d < 0 {
				d = -d
			}
			skew = max(skew, d)
		}
		t.Logf("alert times differ by at most %v between the probes", skew)
		if skew > 10*time.Millisecond {
			t.Errorf("alert times differ by %v: not the same syscalls", skew)
		}
	}
	if len(filtered) >= len(plain) {
		t.Errorf("the filter kept %d of %d events: none dropped", len(filtered), len(plain))
	}
	if fstats.Filtered == 0 {
		t.Error("the probe counted no filtered event")
	}
	for _, r := range []string{"Read sensitive file untrusted", "Directory traversal monitored file read",
		"Create Symlink Over Sensitive Files", "Clear Log Activities"} {
		if !bytes.Contains(a0, []byte(strconv.Quote(r))) {
			t.Errorf("the workload raised no %q alert: the comparison proves less than it should", r)
		}
	}
}

// recordTwice runs the workload under two probes and returns the events
// each read within one window of time, and their counters.
func recordTwice(t *testing.T, sel []bool, f *driver.KernelFilter) (plain, filtered []*driver.Event, st [2]driver.Stats, err error) {
	cfg := driver.Config{Syscalls: sel, Snaplen: driver.DefaultSnaplen, IgnorePID: uint32(os.Getpid())}
	p0, err := bpf.Open(cfg, bpf.Options{BufferSize: 64 << 20})
	if err != nil {
		return nil, nil, st, err
	}
	defer p0.Close()
	cfg.Filter = f
	p1, err := bpf.Open(cfg, bpf.Options{BufferSize: 64 << 20})
	if err != nil {
		return nil, nil, st, err
	}
	defer p1.Close()

	var wg sync.WaitGroup
	var got [2][]*driver.Event
	var rerr [2]error
	for i, p := range []*bpf.Probe{p0, p1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				e, err := p.Next()
				switch {
				case err == nil:
					got[i] = append(got[i], e.Copy())
				case errors.Is(err, driver.ErrTimeout):
				case errors.Is(err, io.EOF):
					return
				default:
					rerr[i] = err
					return
				}
			}
		}()
	}
	start := bootNow()
	werr := runKFWorkload(t)
	time.Sleep(200 * time.Millisecond)
	end := bootNow()
	time.Sleep(100 * time.Millisecond)
	_ = p0.Stop()
	_ = p1.Stop()
	wg.Wait()
	if werr != nil {
		return nil, nil, st, fmt.Errorf("workload: %w", werr)
	}
	for i, p := range []*bpf.Probe{p0, p1} {
		if rerr[i] != nil {
			return nil, nil, st, rerr[i]
		}
		if st[i], err = p.Stats(); err != nil {
			return nil, nil, st, err
		}
	}
	window := func(evs []*driver.Event) []*driver.Event {
		var out []*driver.Event
		for _, e := range evs {
			if e.TS > start && e.TS < end {
				out = append(out, e)
			}
		}
		return out
	}
	return window(got[0]), window(got[1]), st, nil
}

func bootNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return uint64(ts.Nano())
}

// runKFWorkload is the bench's busy workload and selftest workloads, plus
// what the stable rules alert on: a traversal read (and a failed one) by
// a process whose parent is no shell, a log cleared, a symlink to
// /etc/shadow.
func runKFWorkload(t *testing.T) error {
	dir := t.TempDir()
	sh := exec.Command("sh", "-c", busyWorkload)
	sh.Env = append(os.Environ(), "DIR="+dir)
	err := sh.Run()
	for _, args := range [][]string{{"cat", "../../etc/passwd"}, {"cat", "../../etc/vigil-kf-absent"}} {
		c := exec.Command(args[0], args[1:]...)
		c.Dir = "/usr/share"
		_ = c.Run() // the second fails: that is the point
	}
	// Paths at the edges of what the probe calls plain: the per-thread
	// comparison holds it to driver.PlainPath.
	edges := exec.Command("cat", "/etc/./vigil-x", "/etc//vigil-x", "//etc/vigil-x", "/tmp/a../b", "/etc/.", "/etc/..",
		"/etc/.vigil", "vigil-rel", "./vigil-rel", "/"+strings.Repeat("v", driver.KFScanMax-2), "/"+strings.Repeat("v", driver.KFScanMax-1))
	edges.Dir = "/usr/share"
	_ = edges.Run() // every open fails
	logf := "/var/log/vigil-kfilter-test.log"
	if werr := exec.Command("sh", "-c", "echo x > "+logf+"; echo y > "+logf+"; ln -s /etc/shadow "+filepath.Join(dir, "shadow-link")).Run(); werr != nil {
		err = errors.Join(err, werr)
	}
	os.Remove(logf)
	for i, name := range []string{"files", "tcp"} {
		sub := filepath.Join(dir, strconv.Itoa(i))
		if werr := os.Mkdir(sub, 0o755); werr != nil {
			err = errors.Join(err, werr)
			continue
		}
		cmd, out, werr := selftest.StartWorkload(name, sub)
		if werr == nil {
			werr = cmd.Wait()
			os.Remove(out.Name())
		}
		err = errors.Join(err, werr)
	}
	return err
}

// modelKeep is what driver.KernelFilter.Keep keeps of evs, with the
// probe's entry marks: an open-family entry path holding ".." (or longer
// than the probe scans) marks its thread until an exit the filter would
// drop consumes the mark.
func modelKeep(f *driver.KernelFilter, evs []*driver.Event) []*driver.Event {
	marks := map[uint32]bool{}
	var out []*driver.Event
	for _, e := range evs {
		switch e.Type {
		case driver.EvOpenE, driver.EvOpenatE, driver.EvOpenat2E, driver.EvCreatE:
			i := e.Type.ParamIndex("name")
			p := e.Param(i)
			name := e.Bytes(i)
			if j := bytes.IndexByte(name, 0); j >= 0 {
				name = name[:j]
			}
			if len(p) > driver.KFScanMax || bytes.Contains(name, []byte("..")) {
				marks[e.TID] = true
			}
		}
		if !f.Keep(e, false) {
			if driver.KFOpenBit(e.Type) == 0 || !marks[e.TID] {
				continue
			}
			delete(marks, e.TID)
		}
		out = append(out, e)
	}
	return out
}

func describe(e *driver.Event) string {
	s := fmt.Sprintf("%s tid %d ts %d", e.Type, e.TID, e.TS)
	if i := e.Type.ParamIndex("name"); i >= 0 {
		s += fmt.Sprintf(" name %q", e.Bytes(i))
	}
	if r, ok := e.Res(); ok {
		s += fmt.Sprintf(" res %d", r)
	}
	return s
}

func byType(a, b []*driver.Event) string {
	count := func(evs []*driver.Event) map[string]int {
		m := map[string]int{}
		for _, e := range evs {
			n := e.Type.String()
			if e.Type.Info() != nil && e.Type.Info().Dir == driver.Enter {
				n += ">"
			}
			m[n]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var names []string
	for n := range ca {
		if ca[n] != cb[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&out, "%s %d->%d; ", n, ca[n], cb[n])
	}
	return out.String()
}

func capture(t *testing.T, path string, clock driver.Clock, evs []*driver.Event) string {
	w, err := driver.CreateCapture(path, driver.NewCaptureMeta(clock))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// alertsOf runs the rules over a capture and returns the alerts as JSON
// lines without their time, and the times.
func alertsOf(t *testing.T, prog *eval.Program, clock driver.Clock, path string) ([]byte, []time.Time) {
	r, err := driver.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	var times []time.Time
	eng, err := New(Config{Program: prog, Clock: clock, Hostname: "kfilter-test", Emit: func(a *output.Alert) {
		c := *a
		times = append(times, c.Time)
		c.Time = time.Time{}
		b, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(b, '\n'))
	}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		eng.Process(e)
	}
	return out.Bytes(), times
}

func lineDiff(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(la) && i < len(lb); i++ {
		if !bytes.Equal(la[i], lb[i]) {
			return fmt.Sprintf("line %d:\nwithout the filter: %s\nwith it:            %s", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("%d lines without the filter, %d with it", len(la), len(lb))
}

// edge is the span at each end of the window left out of the per-thread
// comparison.
func edge(a, b []*driver.Event) [2]uint64 {
	if len(a) == 0 || len(b) == 0 {
		return [2]uint64{}
	}
	const margin = uint64(time.Millisecond)
	return [2]uint64{max(a[0].TS, b[0].TS) + margin, min(a[len(a)-1].TS, b[len(b)-1].TS) - margin}
}

// perThreadDiff compares two event streams thread by thread, by content
// (the header but the time, and the parameters), within the span.
func perThreadDiff(want, got []*driver.Event, span [2]uint64) string {
	split := func(evs []*driver.Event) map[uint32][]*driver.Event {
		m := map[uint32][]*driver.Event{}
		for _, e := range evs {
			if e.TS >= span[0] && e.TS <= span[1] {
				m[e.TID] = append(m[e.TID], e)
			}
		}
		return m
	}
	w, g := split(want), split(got)
	var tids []uint32
	for tid := range w {
		tids = append(tids, tid)
	}
	for tid := range g {
		if _, ok := w[tid]; !ok {
			tids = append(tids, tid)
		}
	}
	sort.Slice(tids, func(i, j int) bool { return tids[i] < tids[j] })
	var bad []string
	for _, tid := range tids {
		a, b := w[tid], g[tid]
		// A thread's first or last event may straddle the span's edge in
		// one stream only: compare what both hold.
		near := span[0] + uint64(100*time.Microsecond)
		for len(a) > 0 && len(b) > 0 && !sameEvent(a[0], b[0]) && min(a[0].TS, b[0].TS) < near {
			if a[0].TS < b[0].TS {
				a = a[1:]
			} else {
				b = b[1:]
			}
		}
		for i := 0; i < len(a) || i < len(b); i++ {
			if i >= len(a) || i >= len(b) {
				if i >= len(a) && b[i].TS+uint64(100*time.Microsecond) > span[1] || i >= len(b) && a[i].TS+uint64(100*time.Microsecond) > span[1] {
					break
				}
				bad = append(bad, fmt.Sprintf("thread %d: %d events kept, want %d", tid, len(b), len(a)))
				break
			}
			if !sameEvent(a[i], b[i]) {
				bad = append(bad, fmt.Sprintf("thread %d event %d: want %s, got %s", tid, i, describe(a[i]), describe(b[i])))
				break
			}
		}
		if len(bad) >= 5 {
			break
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprint(bad)
}

func sameEvent(a, b *driver.Event) bool {
	return len(a.Raw) > 8 && len(b.Raw) > 8 && bytes.Equal(a.Raw[8:], b.Raw[8:])
}
