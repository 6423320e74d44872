// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// The benchmarks here run the vigil binary as users do, against the real
// driver, and report whole-process figures (CPU share, peak RSS) read from
// /proc; run them with -benchtime=1x. Their durations are parameters:
//
//	VIGIL_BENCH_EVENTS_FOR  the syscall flood under vigil events (default 10s)
//	VIGIL_BENCH_RUN_FOR     the exec and open flood under vigil run (default 60s)
//	VIGIL_BENCH_RUN_ARGS    more flags for vigil run, split on spaces
//	                        (--buffer-size 8MiB: the figure at another size)
//
// VIGIL_BENCH_PROFILE=DIR also writes each vigil's CPU and heap profiles
// there (go tool pprof).

func benchDuration(b *testing.B, env string, def time.Duration) time.Duration {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 10s", env, v)
	}
	return d
}

// profileArgs are the global flags that make vigil profile itself when
// VIGIL_BENCH_PROFILE names a directory.
func profileArgs(name string) []string {
	dir := os.Getenv("VIGIL_BENCH_PROFILE")
	if dir == "" {
		return nil
	}
	return []string{"--cpuprofile", filepath.Join(dir, name+".cpu.pprof"), "--memprofile", filepath.Join(dir, name+".heap.pprof")}
}

// onCPU runs fn on a thread bound to cpu: a process started from it
// inherits the binding, all its threads included, as under taskset.
func onCPU(cpu int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is not unlocked: it dies with the goroutine, so its
		// binding never leaks to other goroutines.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("bind to cpu %d: %w", cpu, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// cpuTicks is a process's user+system time in clock ticks (USER_HZ),
// from /proc/PID/stat: the whole process, every thread.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return ut + st, nil
}

// statusKiB reads a "Name:   N kB" line of /proc/PID/status.
func statusKiB(pid int, name string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, name)
}

// vigilProc is a vigil started for a benchmark, its stderr collected.
type vigilProc struct {
	cmd    *exec.Cmd
	stderr *testenv.Buffer
	done   chan error
}

// startVigil starts vigil with args on cpu (-1: any) and waits until its
// log says ready.
func startVigil(b *testing.B, cpu int, ready string, args ...string) *vigilProc {
	b.Helper()
	p := &vigilProc{stderr: &testenv.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(vigilBin, args...)
	p.cmd.Stdout = nil // alerts or events: not what is measured
	p.cmd.Stderr = p.stderr
	p.cmd.Env = append(os.Environ(), "VIGIL_LOG_FORMAT=json")
	start := p.cmd.Start
	if cpu >= 0 {
		start = func() error { return onCPU(cpu, p.cmd.Start) }
	}
	if err := start(); err != nil {
		b.Fatalf("start vigil %v: %v", args, err)
	}
	var exited atomic.Bool
	go func() { err := p.cmd.Wait(); exited.Store(true); p.done <- err }()
	// A benchmark that fails must not leave its vigil running.
	b.Cleanup(func() {
		if !exited.Load() {
			_ = p.cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.stderr.String(), ready) {
		select {
		case err := <-p.done:
			b.Fatalf("vigil %v exited before %q (%v):\n%s", args, ready, err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			b.Fatalf("vigil %v: no %q within 60s:\n%s", args, ready, p.stderr.String())
		}
	}
	return p
}

// stop interrupts vigil and waits for it to write its counters.
func (p *vigilProc) stop(b *testing.B) string {
	b.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		if err != nil {
			b.Errorf("vigil: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		b.Fatalf("vigil did not stop within 30s of SIGINT:\n%s", p.stderr.String())
	}
	return p.stderr.String()
}

var eventsReport = regexp.MustCompile(`events: (\d+) read, (\d+) matched; driver: (\d+) events, (\d+) drops`)

// BenchmarkEventsDiscard is issue 15's consumer row: vigil events --comm
// nomatch (every event read, decoded, put through the thread table and
// discarded) on CPU 0 while a getppid flood runs on CPU 1. It reports the
// consumer's CPU as a share of one core over the flood's wall time, from
// /proc/PID/stat, and the events it read.
func BenchmarkEventsDiscard(b *testing.B) {
	testenv.RequireProbe(b)
	if runtime.NumCPU() < 2 {
		b.Skip("needs two CPUs: the flood on one, the consumer on the other")
	}
	dur := benchDuration(b, "VIGIL_BENCH_EVENTS_FOR", 10*time.Second)
	for i := 0; i < b.N; i++ {
		args := append(profileArgs("events"), "events", "--comm", "nomatch")
		p := startVigil(b, 0, "driver ready", args...)
		t0, err := cpuTicks(p.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		flood := exec.Command(vigilBin)
		flood.Env = append(os.Environ(), "VIGIL_WORKLOAD=floodfor", "VIGIL_FOR="+dur.String())
		var floodOut bytes.Buffer
		flood.Stdout, flood.Stderr = &floodOut, &floodOut
		if err := onCPU(1, flood.Run); err != nil {
			p.stop(b)
			b.Fatalf("flood: %v\n%s", err, floodOut.String())
		}
		wall := time.Since(start)
		t1, err := cpuTicks(p.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		hwm, _ := statusKiB(p.cmd.Process.Pid, "VmHWM")
		out := p.stop(b)
		m := eventsReport.FindStringSubmatch(out)
		if m == nil {
			b.Fatalf("no counters in vigil events' stderr:\n%s", out)
		}
		read, _ := strconv.ParseUint(m[1], 10, 64)
		drops, _ := strconv.ParseUint(m[4], 10, 64)
		cpu := float64(t1-t0) * 1e7 / float64(wall.Nanoseconds()) // ticks are 10 ms
		nsPer := float64(t1-t0) * 1e7 / float64(max(read, 1))
		b.ReportMetric(100*cpu, "consumer-%core")
		b.ReportMetric(float64(read), "events")
		b.ReportMetric(nsPer, "consumer-cpu-ns/event")
		b.ReportMetric(float64(drops), "drops")
		fmt.Printf("vigil events --comm nomatch: consumer %.1f%% of a core over a %s getppid flood (%s); %d events read (%.0f/s), %.1f ns CPU/event, %d drops, peak RSS %.1f MiB (%s)\n",
			100*cpu, dur, strings.TrimSpace(floodOut.String()), read, float64(read)/wall.Seconds(), nsPer, drops, float64(hwm)/1024,
			"consumer on CPU 0, flood on CPU 1")
	}
}

// execOpenFlood runs, until stop, processes that each open a few files
// (cat of three files, so every exec brings opens, closes and an exit),
// and in this process opens and closes files under dir by distinct names,
// as a busy build or web server does. It returns the processes started
// and the files opened.
func execOpenFlood(dir string, stop *atomic.Bool) (execs, opens uint64, err error) {
	var files []string
	for i := 0; i < 256; i++ {
		f := filepath.Join(dir, fmt.Sprintf("file-%03d", i))
		if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
			return 0, 0, err
		}
		files = append(files, f)
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		return 0, 0, err
	}
	var wg sync.WaitGroup
	var execErr error
	var nexec, nopen atomic.Uint64
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			c := exec.Command(cat, files[i%256], files[(i+1)%256], files[(i+2)%256])
			if err := c.Run(); err != nil {
				execErr = fmt.Errorf("%s: %w", c, err)
				return
			}
			nexec.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			fd, err := unix.Open(files[i%256], unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			// A path that does not exist: a failed open is an event too.
			if fd, err := unix.Open(files[i%256]+".missing", unix.O_RDONLY, 0); err == nil {
				unix.Close(fd)
			}
			nopen.Add(2)
		}
	}()
	wg.Wait()
	return nexec.Load(), nopen.Load(), execErr
}

// BenchmarkRunRSS is issue 15's memory row: vigil run with its default
// rules and flags under an exec and open flood, reporting its peak
// resident memory (VmHWM, which counts the ring buffers' mapped pages and
// the binary's too) and its resident memory at the end.
func BenchmarkRunRSS(b *testing.B) {
	testenv.RequireProbe(b)
	dur := benchDuration(b, "VIGIL_BENCH_RUN_FOR", 60*time.Second)
	for i := 0; i < b.N; i++ {
		args := append(profileArgs("run"), "run")
		args = append(args, strings.Fields(os.Getenv("VIGIL_BENCH_RUN_ARGS"))...)
		p := startVigil(b, -1, `"msg":"detecting"`, args...)
		pid := p.cmd.Process.Pid
		startHWM, _ := statusKiB(pid, "VmHWM")
		var stop atomic.Bool
		var execs, opens uint64
		var ferr error
		floodDone := make(chan struct{})
		go func() {
			defer close(floodDone)
			execs, opens, ferr = execOpenFlood(b.TempDir(), &stop)
		}()
		// Sample while the flood runs: the peak is VmHWM, the samples say
		// whether the memory settles or keeps growing.
		var rss []int64
		end := time.Now().Add(dur)
		for time.Now().Before(end) {
			time.Sleep(min(time.Until(end), 5*time.Second))
			if v, err := statusKiB(pid, "VmRSS"); err == nil {
				rss = append(rss, v)
			}
		}
		stop.Store(true)
		<-floodDone
		if ferr != nil {
			p.stop(b)
			b.Fatalf("flood: %v", ferr)
		}
		hwm, err := statusKiB(pid, "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		var detail []string
		for _, name := range []string{"RssAnon", "RssFile", "RssShmem"} {
			if v, err := statusKiB(pid, name); err == nil {
				detail = append(detail, fmt.Sprintf("%s %.1f", name, float64(v)/1024))
			}
		}
		out := p.stop(b)
		events, drops := "?", "0"
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			line := sc.Text()
			if m := regexp.MustCompile(`"events":(\d+)`).FindStringSubmatch(line); m != nil && strings.Contains(line, "detection stopped") {
				events = m[1]
			}
			if m := regexp.MustCompile(`"drops":(\d+)`).FindStringSubmatch(line); m != nil {
				drops = m[1]
			}
		}
		samples := make([]string, len(rss))
		for j, v := range rss {
			samples[j] = fmt.Sprintf("%.0f", float64(v)/1024)
		}
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(rss[len(rss)-1])/1024, "end-RSS-MiB")
		fmt.Printf("vigil run %s(default rules) under a %s exec+open flood (%d execs, %d opens): peak RSS (VmHWM) %.1f MiB (%.1f MiB when ready); at the end %s MiB; RSS every 5s: [%s] MiB; %s events, %s drops\n",
			strings.Join(args[len(args)-len(strings.Fields(os.Getenv("VIGIL_BENCH_RUN_ARGS"))):], " ")+" ", dur, execs, opens, float64(hwm)/1024, float64(startHWM)/1024, strings.Join(detail, ", "), strings.Join(samples, " "), events, drops)
	}
}
