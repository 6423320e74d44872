// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"testing"

	"github.com/vigil-dev/vigil/ci/selftest"
)

// TestParityTwoProbes runs the matrix's parity comparison with two
// instances of the probe: the comparison must find them equal on every
// workload. (In the matrix the module is the second driver.)
func TestParityTwoProbes(t *testing.T) {
	a := probe(t)
	b, err := Open(agentConfig(), Options{BufferSize: 4 << 20})
	if err != nil {
		t.Fatalf("open a second probe: %v", err)
	}
	defer b.Close()
	for _, w := range selftest.ParityWorkloads {
		t.Run(w, func(t *testing.T) {
			res, err := selftest.Parity(a, b, "first", "second", w, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if res.Events == 0 {
				t.Fatal("no event of the workload seen")
			}
		})
	}
}
