// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package uname

import (
	"os"
	"strings"
	"testing"
)

// Read agrees with what the kernel publishes in /proc.
func TestReadMatchesProc(t *testing.T) {
	u, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, got string }{
		{"/proc/sys/kernel/osrelease", u.Release},
		{"/proc/sys/kernel/version", u.Version},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(b)); c.got != want {
			t.Errorf("%s: %q, uname says %q", c.file, want, c.got)
		}
	}
	if u.Machine == "" {
		t.Error("no machine")
	}
}
