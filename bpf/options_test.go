// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/driver"
)

// A buffer size the kernel cannot take is refused with the range, before
// anything needs root: 4 GiB once became a 0-byte map and a cilium error.
func TestOpenBufferSizeRange(t *testing.T) {
	for _, size := range []int{4 << 30, 1 << 40, 3 << 20} {
		_, err := Open(driver.Config{}, Options{BufferSize: size})
		if err == nil {
			t.Fatalf("Open with a %d-byte buffer succeeded", size)
		}
		for _, want := range []string{"ring buffer size", "power of two", "to 2GiB"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open with a %d-byte buffer: %q lacks %q", size, err, want)
			}
		}
	}
}
