// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package libbpf loads vigil's probe through libbpf (libbpfgo, linked with
// the system's libbpf), as a third party would: the same embedded object
// the default loader (package bpf, cilium/ebpf) opens, sized, configured
// and attached the same way, its events read through libbpf's ring buffer
// consumer. It proves the object is libbpf-compatible; cilium/ebpf stays
// vigil's loader.
//
// The loader is behind the libbpfgo build tag, as it needs cgo, libbpf,
// libelf and zlib (Debian: libbpf-dev, libelf-dev, zlib1g-dev):
//
//	go build -tags libbpfgo ./...
//
// Without the tag this package is empty.
package libbpf
