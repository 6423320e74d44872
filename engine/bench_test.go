// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/engine/ruleset"
	"github.com/vigil-dev/vigil/internal/testenv"
)

func TestMain(m *testing.M) {
	selftest.RunChild()
	os.Exit(m.Run())
}

// busyWorkload is what the benchmark records: processes spawned in a
// loop, files opened and written, sockets connected, as a busy host does.
const busyWorkload = `for i in $(seq 150); do
  ls /etc > /dev/null; cat /etc/hostname /etc/passwd > /dev/null; cat /etc/shadow > /dev/null
  echo $i > "$DIR/f$i"; sh -c 'exit 0'; grep -q root /etc/group
done`

// recordBusy captures every syscall of this host while busyWorkload and the
// selftest's file and tcp workloads run, into a capture file.
func recordBusy(b *testing.B) string {
	testenv.RequireProbe(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "busy.vcap")
	p, err := bpf.Open(driver.Config{Snaplen: driver.DefaultSnaplen, IgnorePID: uint32(os.Getpid())}, bpf.Options{BufferSize: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	w, err := driver.CreateCapture(path, driver.NewCaptureMeta(driver.NewClock()))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		sh := exec.Command("sh", "-c", busyWorkload)
		sh.Env = append(os.Environ(), "DIR="+dir)
		err := sh.Run()
		for i, name := range []string{"files", "tcp", "files", "tcp"} {
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
		done <- err
	}()
	var werr error
	var stop time.Time
	for stop.IsZero() || time.Now().Before(stop) {
		select {
		case werr = <-done:
			stop = time.Now().Add(200 * time.Millisecond)
			done = nil
		default:
		}
		e, err := p.Next()
		if errors.Is(err, driver.ErrTimeout) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Write(e); err != nil {
			b.Fatal(err)
		}
	}
	if werr != nil {
		b.Fatalf("workload: %v", werr)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// loadCapture reads every event of a capture into memory, so that the
// benchmark times the engine and not the disk.
func loadCapture(b *testing.B, path string) ([]*driver.Event, driver.CaptureMeta) {
	r, err := driver.OpenCapture(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var evs []*driver.Event
	for {
		e, err := r.Next()
		if err != nil {
			break
		}
		evs = append(evs, e.Copy())
	}
	return evs, r.Meta()
}

func compileFile(b *testing.B, name string, data []byte) *eval.Program {
	set, err := rules.Load(name, data)
	if err != nil {
		b.Fatal(err)
	}
	p, err := eval.Compile(set, eval.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// peakRSS is the process's resident set high-water mark, in bytes.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkRulesets runs a recorded capture of a busy workload through
// the engine with vigil's default rules and with the upstream stable
// ruleset, interleaved: events/s per core, allocations per event, the
// heap the engine keeps, and the process's peak resident memory.
func BenchmarkRulesets(b *testing.B) {
	evs, meta := loadCapture(b, recordBusy(b))
	// ../shared beside the repository, as CI lays it out.
	upstream, err := os.ReadFile(filepath.Join("..", "..", "shared", "fixtures", "falco-rules", "falco_rules.yaml"))
	if err != nil {
		b.Fatalf("upstream ruleset: %v", err)
	}
	progs := map[string]*eval.Program{
		"default":  compileFile(b, ruleset.Name, ruleset.Default()),
		"upstream": compileFile(b, "falco_rules.yaml", upstream),
	}
	tab, err := driver.NewSyscallTable(meta.Arch)
	if err != nil {
		b.Fatal(err)
	}
	type result struct {
		rate          []float64
		allocs, kept  float64
		alerts, total uint64
	}
	res := map[string]*result{"default": {}, "upstream": {}}
	const rounds = 5
	runtime.GC()
	for i := 0; i < rounds; i++ {
		for _, name := range []string{"default", "upstream"} {
			var alerts uint64
			eng, err := New(Config{Program: progs[name], Emit: func(*output.Alert) { alerts++ }, Clock: meta.Clock(), Syscalls: tab, Hostname: meta.Hostname})
			if err != nil {
				b.Fatal(err)
			}
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			t0 := time.Now()
			for _, e := range evs {
				eng.Process(e)
			}
			el := time.Since(t0)
			runtime.ReadMemStats(&m1)
			r := res[name]
			r.rate = append(r.rate, float64(len(evs))/el.Seconds())
			r.allocs = float64(m1.Mallocs-m0.Mallocs) / float64(len(evs))
			runtime.GC()
			var m2 runtime.MemStats
			runtime.ReadMemStats(&m2)
			r.kept = float64(int64(m2.HeapAlloc) - int64(m0.HeapAlloc))
			r.alerts, r.total = alerts, uint64(len(evs))
			runtime.KeepAlive(eng)
		}
	}
	for _, name := range []string{"default", "upstream"} {
		r := res[name]
		rate := median(r.rate)
		b.ReportMetric(rate, name+"-events/s")
		b.ReportMetric(r.allocs, name+"-allocs/event")
		fmt.Printf("ruleset %-8s %d rules running: %8.0f events/s (median of %d), %.3f allocs/event, %.1f MiB state kept, %d alerts over %d events\n",
			name, running(progs[name]), rate, rounds, r.allocs, r.kept/(1<<20), r.alerts, r.total)
	}
	fmt.Printf("peak resident memory of the benchmark process: %.1f MiB (capture in memory: %d events)\n", float64(peakRSS())/(1<<20), len(evs))
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-MiB")
}

func running(p *eval.Program) int {
	n := 0
	for _, r := range p.Rules() {
		if r.Runs {
			n++
		}
	}
	return n
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
