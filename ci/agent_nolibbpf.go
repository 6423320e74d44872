// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !libbpfgo

package ci

import (
	"errors"

	"github.com/vigil-dev/vigil/ci/selftest"
	"github.com/vigil-dev/vigil/driver"
)

// openLibbpf says how to get an agent that has the libbpf loader: the
// default build is pure Go, and libbpf needs cgo.
func openLibbpf(driver.Config) (selftest.Source, error) {
	return nil, errors.New("this vigil was built without the libbpfgo tag, so without the libbpf loader: " +
		"build the agent with `CGO_ENABLED=1 go build -tags libbpfgo,netgo,osusergo -ldflags '-linkmode external -extldflags -static' ./cmd/vigil` " +
		"(Debian: libbpf-dev libelf-dev zlib1g-dev) and pass it with --agent")
}
