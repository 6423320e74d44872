// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package uname is the one reader of uname(2) in vigil: the running
// kernel's identity, which a container shares with its host.
package uname

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Info is what uname -r, -v and -m print.
type Info struct {
	Release string // "6.1.0-50-cloud-amd64"
	Version string // "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)"
	Machine string // "x86_64"
}

// Read returns the running kernel's uname.
func Read() (Info, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Info{}, fmt.Errorf("uname: %w", err)
	}
	return Info{
		Release: unix.ByteSliceToString(u.Release[:]),
		Version: unix.ByteSliceToString(u.Version[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]),
	}, nil
}
