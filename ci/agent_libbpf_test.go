// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import "testing"

// TestLibbpfKernel: the libbpf driver runs on one kernel, trixie's when
// the matrix has it, else the last one.
func TestLibbpfKernel(t *testing.T) {
	ks := []Kernel{{Name: "a", Suite: "bullseye"}, {Name: "b", Suite: "trixie"}, {Name: "c", Suite: "sid"}}
	if got := libbpfKernel(ks); got != 1 {
		t.Errorf("with trixie: kernel %d, want 1", got)
	}
	if got := libbpfKernel([]Kernel{ks[0], ks[2]}); got != 1 {
		t.Errorf("without trixie: kernel %d, want the last, 1", got)
	}
}
