// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"os"
	"path/filepath"
	"strconv"
)

// HostPID is this process's pid as the host counts it, which is how both
// drivers name processes (the kernel's init pid namespace). In a container
// with its own pid namespace os.Getpid() is another number; the host's
// proc, mounted at <hostRoot>/proc, resolves "self" in the host's
// namespace. Without it, os.Getpid() is the best there is.
func HostPID(hostRoot string) uint32 {
	if hostRoot != "" {
		if s, err := os.Readlink(filepath.Join(hostRoot, "proc", "self")); err == nil {
			if pid, err := strconv.ParseUint(s, 10, 32); err == nil && pid > 0 {
				return uint32(pid)
			}
		}
	}
	return uint32(os.Getpid())
}
