// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build libbpfgo

package ci

import (
	"fmt"
	"os"

	"github.com/vigil-dev/vigil/bpf"
	"github.com/vigil-dev/vigil/bpf/libbpf"
	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
)

// openLibbpf loads the probe through libbpf (driver "libbpf"): the same
// object and buffer size as the bpf driver's, another loader.
func openLibbpf(cfg driver.Config) (selftest.Source, error) {
	p, err := libbpf.Open(cfg, bpf.Options{BufferSize: 1 << 20})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "vigil-agent: libbpf %s, entry programs: %s\n", libbpf.Version(), p.EntryMode())
	return p, nil
}
