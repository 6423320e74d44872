// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/driver/kmod"
	"github.com/vigil-dev/vigil/loader"
)

// Bench is the per-syscall cost of each driver on one kernel: medians of
// interleaved rounds of a getppid loop, so that drift (TCG's above all)
// hits every variant alike.
type Bench struct {
	Rounds     int     `json:"rounds"`
	Calls      int     `json:"calls"`
	BaseNs     float64 `json:"base_ns"`     // nothing attached
	KmodNs     float64 `json:"kmod_ns"`     // the module capturing every syscall
	BpfNs      float64 `json:"bpf_ns"`      // the probe capturing every syscall
	KmodAddNs  float64 `json:"kmod_add_ns"` // KmodNs - BaseNs
	BpfAddNs   float64 `json:"bpf_add_ns"`  // BpfNs - BaseNs
	KmodPerBpf float64 `json:"kmod_per_bpf"`
	// Events each driver lost (buffer full, probe runs skipped) over all
	// its rounds: a lost event costs less than a written one.
	KmodLost uint64 `json:"kmod_lost"`
	BpfLost  uint64 `json:"bpf_lost"`
}

const (
	benchRounds = 7
	benchCalls  = 100000
)

// runBench measures the syscall overhead of the module against the probe.
// The module is loaded for its rounds only: its tracepoint callbacks stay
// registered while it is loaded, and would tax the other rounds.
func runBench(r AgentResult, logf func(string, ...any)) AgentResult {
	ko, err := findModule(kmodName)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	cfg := driver.Config{IgnorePID: uint32(os.Getpid())}
	t0 := time.Now()
	probe, err := bpf.Open(cfg, bpf.Options{BufferSize: 4 << 20})
	if err != nil {
		r.Error = fmt.Sprintf("load bpf probe: %v", err)
		return r
	}
	defer probe.Close()
	r.LoadMS = time.Since(t0).Milliseconds()
	probe.Pause()

	var base, km, bp []float64
	var kmLost, bpLost uint64
	round := func() error {
		ns, err := loopNs()
		if err != nil {
			return err
		}
		base = append(base, ns)

		if _, err := loader.LoadModule(ko, "ring_pages=1024"); err != nil {
			return err
		}
		src, err := kmod.Open("/dev", cfg)
		if err != nil {
			_ = loader.UnloadModule(kmodName)
			return fmt.Errorf("open module devices: %w", err)
		}
		ns, n, lost, err := withDrain(src, loopNs)
		src.Close()
		if uerr := loader.UnloadModule(kmodName); err == nil {
			err = uerr
		}
		if err != nil {
			return fmt.Errorf("kmod round: %w", err)
		}
		if n+lost < benchCalls {
			return fmt.Errorf("kmod round: %d events and %d lost for %d calls: the module was not capturing", n, lost, benchCalls)
		}
		km, kmLost = append(km, ns), kmLost+lost

		if err := probe.Resume(); err != nil {
			return err
		}
		ns, n, lost, err = withDrain(probe, loopNs)
		probe.Pause()
		if err != nil {
			return fmt.Errorf("bpf round: %w", err)
		}
		if n+lost < benchCalls {
			return fmt.Errorf("bpf round: %d events and %d lost for %d calls: the probe was not capturing", n, lost, benchCalls)
		}
		bp, bpLost = append(bp, ns), bpLost+lost
		return nil
	}
	for i := 0; i < benchRounds; i++ {
		if err := round(); err != nil {
			r.Error = err.Error()
			return r
		}
	}
	b := &Bench{Rounds: benchRounds, Calls: benchCalls, BaseNs: median(base), KmodNs: median(km), BpfNs: median(bp),
		KmodLost: kmLost, BpfLost: bpLost}
	b.KmodAddNs, b.BpfAddNs = b.KmodNs-b.BaseNs, b.BpfNs-b.BaseNs
	if b.BpfAddNs > 0 {
		b.KmodPerBpf = b.KmodAddNs / b.BpfAddNs
	}
	r.Bench = b
	r.Pass = true
	logf("bench: base %.0f ns, kmod %.0f ns (+%.0f), bpf %.0f ns (+%.0f), kmod/bpf added cost %.2f",
		b.BaseNs, b.KmodNs, b.KmodAddNs, b.BpfNs, b.BpfAddNs, b.KmodPerBpf)
	return r
}

// loopNs times the getppid loop in a child process: ns per call.
func loopNs() (float64, error) {
	cmd, out, err := selftest.StartWorkload("timedloop", os.TempDir(), "VIGIL_N="+strconv.Itoa(benchCalls))
	if err != nil {
		return 0, err
	}
	defer os.Remove(out.Name())
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("timed loop: %w", err)
	}
	v, err := strconv.ParseFloat(selftest.Facts(out)["ns_per_call"], 64)
	if err != nil {
		return 0, fmt.Errorf("timed loop printed no time: %w", err)
	}
	return v, nil
}

// withDrain runs fn while a goroutine consumes src, as a real reader
// would, and returns fn's figure with the number of events read and lost.
func withDrain(src driver.Source, fn func() (float64, error)) (float64, uint64, uint64, error) {
	lost0 := selftest.Lost(src)
	// finishing: the workload is done; read until the buffers are empty
	// (Next times out), so that nothing still queued counts as missing.
	var finishing atomic.Bool
	var n uint64
	var rerr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Time{}
		for {
			_, err := src.Next()
			if errors.Is(err, driver.ErrTimeout) {
				if finishing.Load() {
					return
				}
				continue
			}
			if err != nil {
				rerr = err
				return
			}
			n++
			if finishing.Load() {
				if deadline.IsZero() {
					deadline = time.Now().Add(time.Minute)
				} else if time.Now().After(deadline) {
					rerr = errors.New("the buffers did not drain within a minute")
					return
				}
			}
		}
	}()
	v, err := fn()
	finishing.Store(true)
	wg.Wait()
	return v, n, selftest.Lost(src) - lost0, errors.Join(err, rerr)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
