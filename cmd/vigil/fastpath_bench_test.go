// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// The fast-path table: what a syscall costs with nothing attached, with
// every syscall captured to a file, with the probe attached but the
// syscall not selected, and under `vigil run` with vigil's default rules
// and with upstream's stable rules, with and without the kernel filter.
// Rounds are interleaved (every variant once per round), so that the
// machine's drift hits them alike; medians are reported. The timed loop
// runs pinned to one CPU and vigil to the other, as the issue measured
// it. BPF run-time statistics must be off: they add their own cost to
// every program run.
//
// VIGIL_BENCH_ROUNDS and VIGIL_BENCH_CALLS change the rounds and the
// getppid calls per loop (open+close pairs are a tenth of that).
func BenchmarkFastPath(b *testing.B) {
	testenv.RequireProbe(b)
	if runtime.NumCPU() < 2 {
		testenv.Unavailable(b, "the fast-path table needs two CPUs: the loop on one, the consumer on the other")
	}
	if on, _ := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); strings.TrimSpace(string(on)) != "0" {
		b.Fatalf("kernel.bpf_stats_enabled is %q: run-time statistics inflate every program run; turn them off (sysctl kernel.bpf_stats_enabled=0)", strings.TrimSpace(string(on)))
	}
	rounds, calls := envInt(b, "VIGIL_BENCH_ROUNDS", 5), envInt(b, "VIGIL_BENCH_CALLS", 2_000_000)
	stable := "../../../shared/fixtures/falco-rules/falco_rules.yaml"
	if _, err := os.Stat(stable); err != nil {
		testenv.Unavailable(b, "no upstream ruleset in ../shared beside the repository: "+err.Error())
	}
	dir := shmDir(b)
	variants := []*fastVariant{
		{name: "bare"},
		{name: "every syscall captured", args: []string{"capture", "-w", filepath.Join(dir, "all.vcap")}},
		{name: "getppid not selected (execve,openat,open)", args: []string{"capture", "--type", "execve,openat,open", "-w", filepath.Join(dir, "some.vcap")}},
		{name: "vigil run, default rules", args: []string{"run", "--no-stdout", "--output-file", os.DevNull}},
		{name: "vigil run, upstream stable rules", args: []string{"run", "-r", stable, "--no-stdout", "--output-file", os.DevNull}},
		// The same without rules in the kernel: what the kernel filter
		// saves in events read.
		{name: "the same, --kernel-filter=false", args: []string{"run", "-r", stable, "--kernel-filter=false", "--no-stdout", "--output-file", os.DevNull}},
	}
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for _, v := range variants {
				v.measure(b, calls, dir)
			}
		}
	}
	printFastPath(os.Stdout, variants, rounds, calls)
	bare, all := variants[0], variants[1]
	b.ReportMetric(median(bare.getppid), "bare-ns/call")
	b.ReportMetric(median(all.getppid)-median(bare.getppid), "captured-added-ns")
	b.ReportMetric(median(variants[2].getppid)-median(bare.getppid), "unselected-added-ns")
	b.ReportMetric(median(all.consumer), "consumer-ns/event")
}

// fastVariant is one row of the table: a vigil command line (none for the
// bare rows) and what each round measured under it.
type fastVariant struct {
	name string
	args []string

	getppid, open []float64 // ns per call, ns per open+close pair
	consumer      []float64 // vigil's CPU ns per event read
	events, drops uint64
}

func (v *fastVariant) measure(b *testing.B, calls int, dir string) {
	if v.args == nil {
		v.getppid = append(v.getppid, pinnedLoop(b, "timedloop", calls))
		v.open = append(v.open, pinnedLoop(b, "openloop", calls/10))
		return
	}
	p := startPinned(b, v.args)
	cpu0 := p.cpuNs()
	v.getppid = append(v.getppid, pinnedLoop(b, "timedloop", calls))
	v.open = append(v.open, pinnedLoop(b, "openloop", calls/10))
	cpu := p.settle() - cpu0
	events, drops := p.stop(b)
	v.events += events
	v.drops += drops
	if events > 0 {
		v.consumer = append(v.consumer, float64(cpu)/float64(events))
	}
	for _, f := range []string{"all.vcap", "some.vcap"} {
		os.Remove(filepath.Join(dir, f))
	}
}

// pinnedLoop runs a timed workload on CPU 0 and returns its ns per call.
func pinnedLoop(b *testing.B, workload string, n int) float64 {
	cmd, out, err := selftest.StartWorkload(workload, b.TempDir(), fmt.Sprintf("VIGIL_N=%d", n), "VIGIL_CPU=0")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(out.Name())
	if err := cmd.Wait(); err != nil {
		b.Fatalf("workload %s: %v", workload, err)
	}
	v, err := strconv.ParseFloat(selftest.Facts(out)["ns_per_call"], 64)
	if err != nil {
		b.Fatalf("workload %s printed no time: %v", workload, err)
	}
	return v
}

// pinnedVigil is a vigil process bound to CPU 1.
type pinnedVigil struct {
	cmd    *exec.Cmd
	stderr *os.File
	args   []string
}

// startPinned starts vigil on CPU 1 (taskset, so that every thread it
// makes inherits the CPU) and returns once its driver reads events.
func startPinned(b *testing.B, args []string) *pinnedVigil {
	errf, err := os.CreateTemp(b.TempDir(), "stderr")
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("taskset", append([]string{"-c", "1", vigilBin}, args...)...)
	cmd.Stderr = errf
	if err := cmd.Start(); err != nil {
		b.Fatalf("start vigil %v: %v", args, err)
	}
	p := &pinnedVigil{cmd: cmd, stderr: errf, args: args}
	ready := "driver ready"
	if args[0] == "run" {
		ready = `"msg":"detecting"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		log, _ := os.ReadFile(errf.Name())
		if strings.Contains(string(log), ready) {
			break
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			cmd.Process.Kill()
			cmd.Wait()
			b.Fatalf("vigil %v did not start within 30s:\n%s", args, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let what loading stirred up (the loader's own children, /proc
	// reads) pass before the clock starts.
	time.Sleep(300 * time.Millisecond)
	return p
}

// cpuNs sums the CPU time of vigil's threads, in ns (schedstat's first
// field; /proc/PID/stat counts in clock ticks, too coarse here).
func (p *pinnedVigil) cpuNs() int64 {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tasks, _ := os.ReadDir(dir)
	var sum int64
	for _, t := range tasks {
		s, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(s)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	return sum
}

// settle waits until vigil has consumed what the loops left in the
// buffers (its CPU time stops growing) and returns its CPU time then.
func (p *pinnedVigil) settle() int64 {
	last := p.cpuNs()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		now := p.cpuNs()
		if now-last < int64(2*time.Millisecond) {
			return now
		}
		last = now
	}
	return last
}

var (
	captureCounts = regexp.MustCompile(`events: (\d+) read, \d+ matched; driver: \d+ events, (\d+) drops, (\d+) missed`)
)

// stop interrupts vigil and returns the events it read and the events its
// driver lost, from what it reports on the way out.
func (p *pinnedVigil) stop(b *testing.B) (events, drops uint64) {
	p.cmd.Process.Signal(syscall.SIGINT)
	err := p.cmd.Wait()
	log, _ := os.ReadFile(p.stderr.Name())
	p.stderr.Close()
	if err != nil {
		b.Fatalf("vigil %v: %v\n%s", p.args, err, log)
	}
	if p.args[0] == "capture" {
		m := captureCounts.FindSubmatch(log)
		if m == nil {
			b.Fatalf("vigil %v reported no counts:\n%s", p.args, log)
		}
		events, _ = strconv.ParseUint(string(m[1]), 10, 64)
		d, _ := strconv.ParseUint(string(m[2]), 10, 64)
		miss, _ := strconv.ParseUint(string(m[3]), 10, 64)
		return events, d + miss
	}
	return runCounts(b, p.args, log)
}

// runCounts reads the events from `vigil run`'s "detection stopped" line
// and the losses from its "events were lost" warning (absent when none).
func runCounts(b *testing.B, args []string, log []byte) (events, drops uint64) {
	var found bool
	sc := bufio.NewScanner(strings.NewReader(string(log)))
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Events uint64 `json:"events"`
			Drops  uint64 `json:"drops"`
			Missed uint64 `json:"missed"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "detection stopped":
			events, found = line.Events, true
		case "events were lost: raise --buffer-size":
			drops = line.Drops + line.Missed
		}
	}
	if !found {
		b.Fatalf("vigil %v logged no \"detection stopped\" line:\n%s", args, log)
	}
	return events, drops
}

func printFastPath(w io.Writer, vs []*fastVariant, rounds, calls int) {
	base, baseOpen := median(vs[0].getppid), median(vs[0].open)
	fmt.Fprintf(w, "\nfast path: medians of %d interleaved rounds; getppid x %d and open+close of /dev/null x %d pinned to cpu 0, vigil on cpu 1; BPF run-time stats off\n\n", rounds, calls, calls/10)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "variant\tgetppid ns\tadded ns\tx bare\topen+close ns\tadded ns\tconsumer ns/event\tevents read\tdrops\t")
	for _, v := range vs {
		g, o := median(v.getppid), median(v.open)
		cons := "-"
		if len(v.consumer) > 0 {
			cons = fmt.Sprintf("%.1f", median(v.consumer))
		}
		events := "-"
		if v.args != nil {
			events = strconv.FormatUint(v.events/uint64(len(v.getppid)), 10)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%+.1f\t%.2f\t%.1f\t%+.1f\t%s\t%s\t%d\t\n",
			v.name, g, g-base, g/base, o, o-baseOpen, cons, events, v.drops)
	}
	tw.Flush()
	fmt.Fprintln(w, "\n(events read: per round, the mean; consumer: vigil's CPU over both loops and the drain, per event read)")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// shmDir is a tmpfs directory for the captures: the issue times a capture
// to a tmpfs file, so that the disk is not what is measured.
func shmDir(b *testing.B) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil || st.Type != 0x01021994 {
		return b.TempDir()
	}
	d, err := os.MkdirTemp("/dev/shm", "vigil-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}
