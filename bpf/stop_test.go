// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// After Stop, Next hands out every event the probe counted, then io.EOF:
// a capture that ends reads exactly what the driver wrote (it used to end
// with events still in the buffers: 1467 read of 1474 written, 0 drops).
func TestStopDrains(t *testing.T) {
	testenv.RequireProbe(t)
	p, err := Open(onlySyscall(t, "getppid"), Options{})
	if err != nil {
		t.Fatalf("open probe: %v", err)
	}
	defer p.Close()
	cmd, out, err := selftest.StartWorkload("flood", t.TempDir(), "VIGIL_N=50000")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	// Read a little while the flood runs, then stop with most of it
	// still in the buffers.
	var read, ofFlood uint64
	next := func() error {
		e, err := p.Next()
		if err == nil {
			read++
			if e.PID == uint32(cmd.Process.Pid) {
				ofFlood++
			}
		}
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for ofFlood < 1000 && time.Now().Before(deadline) {
		if err := next(); err != nil && !errors.Is(err, driver.ErrTimeout) {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	for {
		err := next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, driver.ErrTimeout) {
			t.Fatalf("draining: %v", err)
		}
	}
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Drops != 0 {
		t.Fatalf("%d drops into 8 MiB buffers; the test needs none", st.Drops)
	}
	if read != st.Events {
		t.Fatalf("read %d events, the probe counted %d written", read, st.Events)
	}
	if ofFlood < 50000 {
		t.Errorf("read %d events of the flood's 50000 getppid", ofFlood)
	}
	// Stopped is stopped: nothing more is written, Next stays at the end.
	time.Sleep(50 * time.Millisecond)
	if after, _ := p.Stats(); after.Events != st.Events {
		t.Errorf("the probe wrote %d events after Stop", after.Events-st.Events)
	}
	if _, err := p.Next(); err != io.EOF {
		t.Errorf("Next after the drain: %v, want io.EOF", err)
	}
	if err := p.Resume(); err == nil {
		t.Error("Resume after Stop succeeded")
	}
}
