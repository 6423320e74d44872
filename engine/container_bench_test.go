// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/builder"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/ruleset"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
)

// churnLabel marks the benchmark's containers, so that those a failed run
// left behind are found and removed, and no one else's are touched.
const churnLabel = "vigil-bench-churn"

// churn keeps up to max containers of the Docker Engine running, replacing
// the oldest with a new one as fast as the workers can: docker run -d,
// then docker stop and docker rm, over and over.
type churn struct {
	cli   *client.Client
	image string
	max   int

	mu   sync.Mutex
	live []string // ids, oldest first

	started, stopped, failed atomic.Int64
	peak                     atomic.Int64 // most containers running at once
	lastErr                  atomic.Value // error
}

func (c *churn) run(ctx context.Context, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c.step(ctx)
			}
		}()
	}
	return &wg
}

func (c *churn) step(ctx context.Context) {
	c.mu.Lock()
	var victim string
	if len(c.live) >= c.max {
		victim, c.live = c.live[0], c.live[1:]
	}
	c.mu.Unlock()
	if victim != "" {
		// sleep is pid 1 and ignores SIGTERM: no grace period.
		zero := 0
		err := c.cli.ContainerStop(context.Background(), victim, dcontainer.StopOptions{Timeout: &zero})
		if err == nil {
			err = c.cli.ContainerRemove(context.Background(), victim, dcontainer.RemoveOptions{Force: true})
		}
		if err != nil {
			c.fail(err)
			return
		}
		c.stopped.Add(1)
		return
	}
	created, err := c.cli.ContainerCreate(ctx,
		&dcontainer.Config{Image: c.image, Cmd: []string{"sleep", "3600"}, Labels: map[string]string{churnLabel: "1"}},
		&dcontainer.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		c.fail(err)
		return
	}
	if err := c.cli.ContainerStart(ctx, created.ID, dcontainer.StartOptions{}); err != nil {
		c.fail(err)
		_ = c.cli.ContainerRemove(context.Background(), created.ID, dcontainer.RemoveOptions{Force: true})
		return
	}
	c.started.Add(1)
	c.mu.Lock()
	c.live = append(c.live, created.ID)
	if n := int64(len(c.live)); n > c.peak.Load() {
		c.peak.Store(n)
	}
	c.mu.Unlock()
}

func (c *churn) fail(err error) {
	c.failed.Add(1)
	c.lastErr.Store(err)
}

func (c *churn) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.live)
}

// removeChurned removes every container with the benchmark's label.
func removeChurned(cli *client.Client) {
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, dcontainer.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", churnLabel))})
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = cli.ContainerRemove(ctx, c.ID, dcontainer.RemoveOptions{Force: true})
		}()
	}
	wg.Wait()
}

// benchImage is the Debian image vigil's builder makes with debootstrap
// and docker import (cached; no registry): the e2e tests' image.
func benchImage(b testing.TB) string {
	ctx := context.Background()
	cat, err := kernels.NewDebian(kernels.Options{})
	if err != nil {
		b.Fatal(err)
	}
	d, err := builder.NewDocker(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	im := builder.NewImages(d, cat.Mirror(), cat.Keyring(), filepath.Join(cat.CacheDir(), "builder"), io.Discard)
	id, err := im.Ensure(ctx, builder.RecipeFor("bookworm", "gcc-12"))
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// cgroupParams gives, per event type, the index of its cgroup parameter
// (-1: none): execve's and execveat's exits carry the new program's cgroup,
// from which the engine names a process's container.
var cgroupParams = func() (t [driver.EvTypeMax]int) {
	for typ, info := range driver.Events {
		t[typ] = -1
		for i, p := range info.Params {
			if p.Name == "cgroup" {
				t[typ] = i
			}
		}
	}
	return t
}()

// inContainers returns a copy of evs where every exec moves its process
// into one of ids' containers (chosen by pid, so that a process and its
// threads stay in one), with the cgroup path Docker's cgroupfs driver
// gives it: the engine then looks those containers up, for real.
func inContainers(b *testing.B, evs []*driver.Event, ids []string) ([]*driver.Event, map[string]bool) {
	out := slices.Clone(evs)
	named := map[string]bool{}
	var bld driver.Builder
	for i, e := range evs {
		idx := cgroupParams[e.Type]
		if idx < 0 || !e.Has(idx) {
			continue
		}
		id := ids[int(e.PID)%len(ids)]
		named[id] = true
		cg := "/docker/" + id
		bld.Begin(nil, e.Type, e.TS, e.TID, e.PID)
		for p := range driver.Events[e.Type].Params {
			if p == idx {
				bld.Str(cg)
			} else {
				bld.Raw(e.Param(p))
			}
		}
		ne := &driver.Event{CPU: e.CPU}
		if err := ne.Decode(bld.End()); err != nil {
			b.Fatalf("re-encode %s: %v", e.Type, err)
		}
		out[i] = ne
	}
	return out, named
}

// containerized keeps the events that inContainers puts in a container:
// those of the processes that exec during the capture, and their
// children. The rest (threads the capture saw no exec of) would stay the
// host's in both kinds of rounds and only dilute the comparison.
func containerized(b *testing.B, prog *eval.Program, meta driver.CaptureMeta, tab *driver.SyscallTable, evs []*driver.Event) []*driver.Event {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("%064x", i+1)
	}
	cevs, _ := inContainers(b, evs, ids)
	eng, err := New(Config{Program: prog, Emit: func(*output.Alert) {}, Clock: meta.Clock(), Syscalls: tab, Hostname: meta.Hostname})
	if err != nil {
		b.Fatal(err)
	}
	var keep []*driver.Event
	for i, e := range cevs {
		eng.Process(e)
		if c := eng.ctx.Container; c != nil && c.Runtime != container.Host {
			keep = append(keep, evs[i])
		}
	}
	return keep
}

// round is one replay of the capture through a new engine.
type round struct {
	rate    float64 // events/s, wall clock
	cpuNs   float64 // the engine thread's CPU per event
	inCtr   int     // events whose process is in a container
	pending int     // of them, processed while the container's metadata was being fetched
	named   int     // containers the execs were moved into
	ready   int     // of them, with metadata by the round's end
	fetches uint64
	slowest time.Duration // the longest batch of 256 events
	events  int
	alerts  int
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// replay runs evs reps times, each through a new engine (a fresh thread
// table), all with one new resolver asking the Docker Engine: a cold cache
// at the round's start, so every container named is fetched once, while
// the events go on.
func replay(b *testing.B, prog *eval.Program, meta driver.CaptureMeta, tab *driver.SyscallTable, evs []*driver.Event, reps int, named map[string]bool) round {
	return replayWith(b, prog, meta, tab, evs, reps, named, true)
}

// replayWith is replay, with no resolver at all when lookups is false:
// the engine then knows the containers by id alone, as from a capture, and
// asks no runtime.
func replayWith(b *testing.B, prog *eval.Program, meta driver.CaptureMeta, tab *driver.SyscallTable, evs []*driver.Event, reps int, named map[string]bool, lookups bool) round {
	var res *container.Resolver
	if lookups {
		res = container.NewResolver(container.Config{})
		defer res.Close()
	}
	var r round
	engs := make([]*Engine, reps)
	for i := range engs {
		eng, err := New(Config{Program: prog, Emit: func(*output.Alert) { r.alerts++ }, Clock: meta.Clock(), Syscalls: tab,
			Hostname: meta.Hostname, Containers: res})
		if err != nil {
			b.Fatal(err)
		}
		engs[i] = eng
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer pinThread(b, engineCPU)()
	runtime.GC()
	const batch = 256
	c0, t0 := threadCPU(), time.Now()
	last := t0
	for _, eng := range engs {
		for i, e := range evs {
			eng.Process(e)
			if c := eng.ctx.Container; c != nil && c.Runtime != container.Host {
				r.inCtr++
				if c.Status == container.Pending {
					r.pending++
				}
			}
			if i%batch == batch-1 {
				now := time.Now()
				r.slowest = max(r.slowest, now.Sub(last))
				last = now
			}
		}
	}
	el, cpu := time.Since(t0), threadCPU()-c0
	n := len(evs) * reps
	r.events = n
	r.rate = float64(n) / el.Seconds()
	r.cpuNs = float64(cpu.Nanoseconds()) / float64(n)
	r.named = len(named)
	if res == nil {
		return r
	}
	// Give the workers a moment to finish, outside the timing: how many
	// of the lookups the round started the Docker Engine answered.
	time.Sleep(200 * time.Millisecond)
	for id := range named {
		if res.Lookup(container.Docker, id).Status == container.Ready {
			r.ready++
		}
	}
	r.fetches = res.Stats().Fetches
	return r
}

// BenchmarkContainerChurn is the engine's events/s over a recorded capture
// of a busy host while the Docker Engine starts and stops containers, up
// to 100 at once, against its rate with no containers. Three kinds of
// rounds: the capture as recorded (host processes) before any container
// runs (idle); then, while the churn goes on, interleaved, the capture as
// recorded (churn) and the capture with every exec moved into one of the
// containers running at the round's start (containers), through a new
// resolver each round, so that every container the events name is looked
// up in the Docker Engine while they are processed; and the latter with no
// resolver (ids only), which tells the rules' own extra work for events in
// a container from what the lookups cost. No event waits for a
// lookup: the containers' rounds run within 10% of the host's under the
// same load (wall clock, and the engine thread's CPU per event, which the
// churn's own CPU does not inflate on a machine with few cores).
func BenchmarkContainerChurn(b *testing.B) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(b, "needs root for the probe and the Docker Engine")
	}
	testenv.RequireDocker(b)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	removeChurned(cli)
	image := benchImage(b)
	all, meta := loadCapture(b, recordBusy(b))
	prog := compileFile(b, ruleset.Name, ruleset.Default())
	tab, err := driver.NewSyscallTable(meta.Arch)
	if err != nil {
		b.Fatal(err)
	}
	evs := containerized(b, prog, meta, tab, all)
	if len(evs) < len(all)/10 {
		b.Fatalf("only %d of the capture's %d events are of processes that exec in it", len(evs), len(all))
	}
	const rounds, maxLive = 7, 100
	// Rounds of about 2M events, a second or two: long enough for the
	// churn to go on through them, short enough to interleave.
	reps := (2_000_000 + len(evs) - 1) / len(evs)

	// The engine on one CPU, the container runtime on the others: on a
	// machine of two CPUs the churn's own work (dockerd, containerd,
	// shims, runc) would otherwise take the engine's CPU, and the rates
	// would measure the machine, not whether an event waits for a lookup.
	defer pinDaemons(b, "dockerd", "containerd")()

	var idle []round
	for range 3 {
		idle = append(idle, replay(b, prog, meta, tab, evs, reps, nil))
	}

	ch := &churn{cli: cli, image: image, max: maxLive}
	ctx, cancel := context.WithCancel(context.Background())
	wg := ch.run(ctx, 4)
	defer func() {
		cancel()
		wg.Wait()
		removeChurned(cli)
	}()
	rampStart := time.Now()
	for ch.peak.Load() < maxLive && time.Since(rampStart) < 5*time.Minute {
		time.Sleep(250 * time.Millisecond)
	}
	ramp := time.Since(rampStart)
	if n := ch.peak.Load(); n < maxLive {
		b.Fatalf("only %d containers running after %s (%d start/stop failures; last: %v)", n, ramp.Round(time.Second), ch.failed.Load(), ch.lastErr.Load())
	}
	started0, stopped0, churnStart := ch.started.Load(), ch.stopped.Load(), time.Now()

	var host, ctr, bare []round
	kinds := []string{"host", "containers", "ids only"}
	for i := range rounds {
		// Rotate which goes first, so that a drift in the machine's
		// load does not favour one.
		for k := range kinds {
			switch kinds[(i+k)%len(kinds)] {
			case "host":
				host = append(host, replay(b, prog, meta, tab, evs, reps, nil))
			case "containers":
				cevs, named := inContainers(b, evs, ch.snapshot())
				ctr = append(ctr, replay(b, prog, meta, tab, cevs, reps, named))
			default:
				cevs, _ := inContainers(b, evs, ch.snapshot())
				bare = append(bare, replayWith(b, prog, meta, tab, cevs, reps, nil, false))
			}
		}
	}
	churnFor := time.Since(churnStart)
	starts, stops := ch.started.Load()-started0, ch.stopped.Load()-stopped0

	med := func(rs []round, f func(round) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	rate := func(r round) float64 { return r.rate }
	cpu := func(r round) float64 { return r.cpuNs }
	slow := func(r round) float64 { return float64(r.slowest.Microseconds()) }
	idleRate, hostRate, ctrRate := med(idle, rate), med(host, rate), med(ctr, rate)
	hostCPU, ctrCPU, bareCPU := med(host, cpu), med(ctr, cpu), med(bare, cpu)
	bareRate := med(bare, rate)
	var inCtr, pending, named, ready, hostAlerts, ctrAlerts int
	var fetches uint64
	for _, r := range ctr {
		inCtr += r.inCtr
		pending += r.pending
		named += r.named
		ready += r.ready
		fetches += r.fetches
		ctrAlerts += r.alerts
	}
	for _, r := range host {
		hostAlerts += r.alerts
	}
	fmt.Printf("container churn: %d containers running (at most %d), %d started and %d stopped+removed in %.1fs (%.1f/s each way; ramp to %d: %s; %d failures)\n",
		len(ch.snapshot()), ch.peak.Load(), starts, stops, churnFor.Seconds(), float64(starts)/churnFor.Seconds(), maxLive, ramp.Round(time.Second), ch.failed.Load())
	fmt.Printf("capture: %d events, %d of them of processes that exec in it (replayed)\n", len(all), len(evs))
	fmt.Printf("engine, default rules, %d events per round (the capture %d times): idle %.0f events/s; under churn: host events %.0f events/s, events in containers %.0f events/s: ratio %.3f (wall clock, medians of %d interleaved rounds)\n",
		len(evs)*reps, reps, idleRate, hostRate, ctrRate, ctrRate/hostRate, rounds)
	fmt.Printf("engine thread CPU per event under churn: host events %.0f ns, events in containers %.0f ns: rate ratio %.3f; containers against idle (wall): %.3f\n",
		hostCPU, ctrCPU, hostCPU/ctrCPU, ctrRate/idleRate)
	fmt.Printf("the same events in containers with no resolver (ids only, no lookup; what the rules cost more for a container): %.0f events/s, %.0f ns CPU/event; lookups against none: ratio %.3f wall, %.3f CPU\n",
		bareRate, bareCPU, ctrRate/bareRate, bareCPU/ctrCPU)
	fmt.Printf("lookups: %.0f%% of the container rounds' events were in a container, %d of them processed while their container's metadata was being fetched (Pending); %d containers named (%.0f per round), %d fetched from the Docker Engine, %d with metadata by the round's end; slowest 256-event batch: host %.0f µs, containers %.0f µs (medians)\n",
		100*float64(inCtr)/float64(len(evs)*reps*len(ctr)), pending, named, float64(named)/float64(len(ctr)), fetches, ready, med(host, slow), med(ctr, slow))
	fmt.Printf("alerts per round: host events %d, events in containers %d\n", hostAlerts/len(host), ctrAlerts/len(ctr))
	b.ReportMetric(idleRate, "idle-events/s")
	b.ReportMetric(hostRate, "churn-host-events/s")
	b.ReportMetric(ctrRate, "churn-ctr-events/s")
	b.ReportMetric(ctrRate/hostRate, "ctr/host")
	b.ReportMetric(hostCPU/ctrCPU, "ctr/host-cpu")
	b.ReportMetric(bareCPU/ctrCPU, "ctr/ids-only-cpu")
	if pending == 0 {
		b.Errorf("no event was processed while its container's metadata was being fetched: did the engine wait for the lookups?")
	}
	if ready == 0 {
		b.Errorf("no container the events named got its metadata: the lookups did not happen")
	}
}

// engineCPU is the CPU the replaying thread runs on; the container
// runtime's daemons are kept off it (pinDaemons).
const engineCPU = 0

// pinThread binds the calling (locked) thread to cpu and returns the undo,
// which must run before the thread is unlocked.
func pinThread(b *testing.B, cpu int) func() {
	if runtime.NumCPU() < 2 {
		return func() {}
	}
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		b.Fatalf("read this thread's CPUs: %v", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		b.Fatalf("pin the engine's thread to cpu %d: %v", cpu, err)
	}
	return func() { _ = unix.SchedSetaffinity(0, &old) }
}

// pinDaemons moves every thread of the processes of these names to the
// CPUs other than engineCPU (the shims and runc they start inherit it),
// and returns the undo.
func pinDaemons(b *testing.B, names ...string) func() {
	if runtime.NumCPU() < 2 {
		return func() {}
	}
	var others unix.CPUSet
	for c := 0; c < runtime.NumCPU(); c++ {
		if c != engineCPU {
			others.Set(c)
		}
	}
	type saved struct {
		tid  int
		mask unix.CPUSet
	}
	var undo []saved
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, comm := range procs {
		name, err := os.ReadFile(comm)
		if err != nil || !slices.Contains(names, strings.TrimSpace(string(name))) {
			continue
		}
		tasks, _ := filepath.Glob(filepath.Join(filepath.Dir(comm), "task", "[0-9]*"))
		for _, task := range tasks {
			tid, _ := strconv.Atoi(filepath.Base(task))
			var old unix.CPUSet
			if unix.SchedGetaffinity(tid, &old) != nil || unix.SchedSetaffinity(tid, &others) != nil {
				continue // the thread ended
			}
			undo = append(undo, saved{tid, old})
		}
	}
	if len(undo) == 0 {
		b.Fatalf("no %v process to keep off cpu %d", names, engineCPU)
	}
	return func() {
		for _, s := range undo {
			_ = unix.SchedSetaffinity(s.tid, &s.mask)
		}
	}
}
