// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/driver/kmod"
	"github.com/vigil-dev/vigil/loader"
)

// runParity loads both drivers at once and runs each parity workload
// under both: the module and the probe must report the same events.
func runParity(r AgentResult, logf func(string, ...any)) AgentResult {
	ko, err := findModule(kmodName)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	t0 := time.Now()
	// Large rings: a drop on either side would show as a difference.
	if _, err := loader.LoadModule(ko, "ring_pages=1024"); err != nil {
		r.Error = err.Error()
		return r
	}
	defer func() {
		if err := loader.UnloadModule(kmodName); err != nil {
			logf("parity: %v", err)
		}
	}()
	cfg := driver.Config{IgnorePID: uint32(os.Getpid())}
	km, err := kmod.Open("/dev", cfg)
	if err != nil {
		r.Error = fmt.Sprintf("open module devices: %v", err)
		return r
	}
	defer km.Close()
	probe, err := bpf.Open(cfg, bpf.Options{BufferSize: 4 << 20})
	if err != nil {
		r.Error = fmt.Sprintf("load bpf probe: %v", err)
		return r
	}
	defer probe.Close()
	r.LoadMS = time.Since(t0).Milliseconds()

	var failed []string
	// check runs workload w as check name, in dir, under both drivers.
	check := func(name, w, dir string) {
		t := time.Now()
		res, err := selftest.Parity(km, probe, "kmod", "bpf", w, dir)
		cr := CheckResult{Name: name, Pass: err == nil, Events: res.Events, MS: time.Since(t).Milliseconds()}
		if res.Tolerated > 0 {
			cr.Note = fmt.Sprintf("%d events seen by one driver only, which the other counted as lost", res.Tolerated)
			logf("parity/%s: %s", name, cr.Note)
		}
		if err == nil && res.Events == 0 {
			err = fmt.Errorf("%s: no event seen", name)
			cr.Pass = false
		}
		if err != nil {
			cr.Error = err.Error()
			failed = append(failed, name)
			logf("parity/%s: FAIL: %v", name, err)
		}
		r.Checks = append(r.Checks, cr)
		r.Events += uint64(res.Events)
	}
	for _, w := range selftest.ParityWorkloads {
		check(w, w, os.TempDir())
	}
	// Again under a small selection, as rules make: the probe's exits
	// then come from the selected syscalls' own tracepoints where the
	// kernel has them, and must still match the module's byte for byte.
	small, err := selftest.OnlySyscalls(cfg.IgnorePID, selftest.ParitySelection...)
	if err == nil {
		err = km.SetConfig(small)
	}
	if err == nil {
		err = probe.SetConfig(small)
	}
	if err != nil {
		r.Error = fmt.Sprintf("parity: select syscalls: %v", err)
		return r
	}
	logf("parity: probe under a selection of %d syscalls: %s", len(selftest.ParitySelection), probe.AttachMode())
	for _, w := range []string{"files", "tcp"} {
		// A directory of its own: the files workload makes the same
		// names again.
		dir, err := os.MkdirTemp("", "vigil-parity-")
		if err != nil {
			r.Error = err.Error()
			return r
		}
		check(w+"/selected", w, dir)
	}
	for name, src := range map[string]driver.Source{"kmod": km, "bpf": probe} {
		if st, err := src.Stats(); err == nil && st.Drops+st.Missed > 0 {
			logf("parity: %s lost %d events (drops %d, missed %d)", name, st.Drops+st.Missed, st.Drops, st.Missed)
			r.Drops += st.Drops
			r.Missed += st.Missed
		}
	}
	r.Pass = len(failed) == 0
	if !r.Pass {
		r.Error = "differ: " + strings.Join(failed, ", ")
	}
	return r
}
