// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// BenchmarkConsumerCapture measures the consumer as users run it: a real
// `vigil capture --driver bpf --type getppid` while two processes flood
// getppid for 10 s (VIGIL_BENCH_FOR changes that). The figure is the
// capture process's CPU time (user and system, every thread: decode,
// merge, the thread table and filter, the capture writer, its write
// syscalls, the Go runtime) from the moment the flood starts to its exit
// after draining, divided by the events it read. The process's CPU before
// the flood (loading the probe, the verifier, the /proc snapshot) is left
// out. Run it with -benchtime=1x. VIGIL_BENCH_BUFFER sets --buffer-size
// (vigil's default otherwise): on a machine busy with other work, 8 MiB
// may not cover the consumer's waits for a CPU, and the drops it reports
// then are the scheduler's, not the consumer's.
//
// tmpfs writes the capture to a file on /dev/shm; devnull to /dev/null,
// which vigil writes to as it is: the difference is what the kernel
// charges for copying the file's bytes into tmpfs pages.
func BenchmarkConsumerCapture(b *testing.B) {
	testenv.RequireProbe(b)
	dur := 10 * time.Second
	if s := os.Getenv("VIGIL_BENCH_FOR"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("VIGIL_BENCH_FOR=%q: %v", s, err)
		}
		dur = d
	}
	bin, err := testenv.BuildVigil("../cmd/vigil")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(filepath.Dir(bin))
	for _, to := range []string{"tmpfs", "devnull"} {
		b.Run(to, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				path := os.DevNull
				if to == "tmpfs" {
					// /dev/shm, so that the figure is the consumer's and
					// not a disk's.
					dir := "/dev/shm"
					if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
						dir = ""
					}
					tmp, err := os.MkdirTemp(dir, "vigil-consumer-bench-")
					if err != nil {
						b.Fatal(err)
					}
					defer os.RemoveAll(tmp)
					path = filepath.Join(tmp, "flood.vcap")
				}
				r := consumerRun(b, bin, path, dur)
				nsPerEvent := float64(r.cpu.Nanoseconds()) / float64(max(r.events, 1))
				b.ReportMetric(nsPerEvent, "consumer-cpu-ns/event")
				b.ReportMetric(float64(r.events)/r.flood.Seconds(), "events/s")
				b.ReportMetric(float64(r.drops), "drops")
				fmt.Fprintf(os.Stderr, "consumer (vigil capture to %s): 2 flooders for %s: %d events read (%.0f/s), %d drops, capture CPU %s: %.1f ns CPU/event\n",
					to, dur, r.events, float64(r.events)/r.flood.Seconds(), r.drops, r.cpu.Round(time.Millisecond), nsPerEvent)
				if r.drops > 0 {
					b.Logf("%d drops: the figure is not the sustained one; rerun on a quieter machine", r.drops)
				}
			}
		})
	}
}

type consumerResult struct {
	events, drops uint64
	cpu           time.Duration // capture process CPU from the flood's start to its exit
	flood         time.Duration
}

func consumerRun(b *testing.B, bin, path string, dur time.Duration) consumerResult {
	var stderr testenv.Buffer
	args := []string{"capture", "--driver", "bpf", "--type", "getppid", "-w", path}
	if size := os.Getenv("VIGIL_BENCH_BUFFER"); size != "" {
		args = append(args, "--buffer-size", size)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	// The .tmp file appears once the probe is loaded and capturing; with
	// /dev/null, the log line that says the driver is ready.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if path == os.DevNull {
			if strings.Contains(stderr.String(), "driver ready") {
				break
			}
		} else if fi, err := os.Stat(path + ".tmp"); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("vigil capture did not start within 30 s: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the snapshot, then the first idle polls
	before, err := procCPU(cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var waits []*exec.Cmd
	for c := 0; c < 2; c++ {
		w, out, err := selftest.StartWorkload("floodfor", b.TempDir(), "VIGIL_FOR="+dur.String())
		if err != nil {
			b.Fatal(err)
		}
		defer os.Remove(out.Name())
		waits = append(waits, w)
	}
	for _, w := range waits {
		if err := w.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	flood := time.Since(start)
	// SIGINT stops the probe; capture drains what is buffered and exits.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		b.Fatal(err)
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		b.Fatalf("vigil capture: %v\n%s", err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	after := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	m := regexp.MustCompile(`events: (\d+) read, (\d+) matched; driver: \d+ events, (\d+) drops`).FindStringSubmatch(stderr.String())
	if m == nil {
		b.Fatalf("vigil capture printed no counters:\n%s", stderr.String())
	}
	read, _ := strconv.ParseUint(m[1], 10, 64)
	drops, _ := strconv.ParseUint(m[3], 10, 64)
	if !strings.Contains(stderr.String(), "wrote ") {
		b.Fatalf("vigil capture wrote no file:\n%s", stderr.String())
	}
	return consumerResult{events: read, drops: drops, cpu: after - before, flood: flood}
}

// procCPU returns a process's CPU time so far, user and system, all
// threads, from /proc/PID/stat (in clock ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: state is 3,
	// utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// BenchmarkConsumerDrain measures the consumer alone, without producers
// beside it: two processes fill 256 MiB buffers with getppid events while
// nothing reads, the probe stops, and one locked thread reads them all
// (Next) into the capture writer, to a file on /dev/shm (tmpfs) or to
// io.Discard (discard). The figure is that thread's CPU time per event
// (getrusage RUSAGE_THREAD), which other processes' load barely moves,
// unlike the sustained figure: use it to compare changes to the read
// path on a busy machine. Run it with -benchtime=1x.
func BenchmarkConsumerDrain(b *testing.B) {
	testenv.RequireProbe(b)
	const perFlooder = 2_500_000
	for _, to := range []string{"tmpfs", "discard"} {
		b.Run(to, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p, err := Open(onlySyscall(b, "getppid"), Options{BufferSize: 256 << 20})
				if err != nil {
					b.Fatal(err)
				}
				var waits []*exec.Cmd
				for c := 0; c < 2; c++ {
					w, out, err := selftest.StartWorkload("flood", b.TempDir(), fmt.Sprintf("VIGIL_N=%d", perFlooder))
					if err != nil {
						b.Fatal(err)
					}
					defer os.Remove(out.Name())
					waits = append(waits, w)
				}
				for _, w := range waits {
					if err := w.Wait(); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Stop(); err != nil {
					b.Fatal(err)
				}
				var w io.Writer = io.Discard
				if to == "tmpfs" {
					dir := "/dev/shm"
					if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
						dir = b.TempDir()
					}
					f, err := os.CreateTemp(dir, "vigil-drain-bench-*.vcap")
					if err != nil {
						b.Fatal(err)
					}
					defer os.Remove(f.Name())
					defer f.Close()
					w = f
				}
				cw, err := driver.NewCaptureWriter(w, driver.CaptureMeta{})
				if err != nil {
					b.Fatal(err)
				}
				events, cpu, err := drainInto(p, cw)
				if err != nil {
					b.Fatal(err)
				}
				st, _ := p.Stats()
				p.Close()
				// Drops (other processes' getppid floods filling the
				// buffers too) do not change the cost per event read.
				if events != st.Events {
					b.Fatalf("read %d events, the probe wrote %d", events, st.Events)
				}
				if events < 2*perFlooder {
					b.Fatalf("read %d events of the floods' %d", events, 2*perFlooder)
				}
				ns := float64(cpu.Nanoseconds()) / float64(events)
				b.ReportMetric(ns, "consumer-cpu-ns/event")
				fmt.Fprintf(os.Stderr, "consumer (Next into the capture writer, %s): %d buffered events drained (%d dropped), thread CPU %s: %.1f ns CPU/event\n",
					to, events, st.Drops, cpu.Round(time.Millisecond), ns)
			}
		})
	}
}

// drainInto reads a stopped probe to its end into cw on one locked thread
// and returns the events read and that thread's CPU time.
func drainInto(p *Probe, cw *driver.CaptureWriter) (uint64, time.Duration, error) {
	type result struct {
		n   uint64
		cpu time.Duration
		err error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var r result
		start := consumerThreadCPU()
		for {
			e, err := p.Next()
			if err == io.EOF {
				break
			}
			if errors.Is(err, driver.ErrTimeout) {
				continue
			}
			if err == nil {
				err = cw.Write(e)
			}
			if err != nil {
				r.err = err
				break
			}
			r.n++
		}
		if err := cw.Flush(); err != nil && r.err == nil {
			r.err = err
		}
		r.cpu = consumerThreadCPU() - start
		done <- r
	}()
	r := <-done
	return r.n, r.cpu, r.err
}

func consumerThreadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
