// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"os"
	"sync"
	"testing"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
)

func TestMain(m *testing.M) {
	selftest.RunChild()
	if os.Getenv("VIGIL_OPEN_HELPER") != "" {
		openHelper()
	}
	os.Exit(m.Run())
}

var (
	sharedOnce  sync.Once
	sharedProbe *Probe
	sharedErr   error
)

func agentConfig() driver.Config { return driver.Config{IgnorePID: uint32(os.Getpid())} }

// probe returns one probe shared by the tests: loading takes ~0.5 s.
func probe(t testing.TB) *Probe {
	testenv.RequireProbe(t)
	sharedOnce.Do(func() { sharedProbe, sharedErr = Open(agentConfig(), Options{}) })
	if sharedErr != nil {
		t.Fatalf("open probe: %v", sharedErr)
	}
	return sharedProbe
}

// TestSelftest runs the workloads and assertions that the QEMU matrix runs
// in every guest, here on the host's kernel.
func TestSelftest(t *testing.T) {
	env := &selftest.Env{Src: probe(t), Config: agentConfig(), TempDir: t.TempDir()}
	for _, c := range selftest.Checks() {
		t.Run(c.Name, func(t *testing.T) {
			out, err := c.Exec(env)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Events) == 0 {
				t.Fatal("passed without seeing an event")
			}
		})
	}
}
