// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"path/filepath"
	"testing"
)

// The fd of a failed open is named by its clean path, as the state table
// names the fds it keeps: appendCleanPath is filepath.Clean without the
// allocation.
func TestAppendCleanPath(t *testing.T) {
	for _, p := range []string{"/", "//", "/etc/passwd", "/etc/../etc/shadow", "/srv/app/../../etc/passwd",
		"/../../x", "/a/./b/.", "/a//b///c/", "/a/b/..", "/a/b/../..", "/a/b/../../..", "/.hidden/..x/...", "/a/.."} {
		prefix := []byte("keep:")
		got := string(appendCleanPath(prefix, []byte(p)))
		if want := "keep:" + filepath.Clean(p); got != want {
			t.Errorf("appendCleanPath(%q) = %q, want %q", p, got, want)
		}
	}
	if got := string(appendCleanPath(nil, []byte("rel/../x"))); got != "rel/../x" {
		t.Errorf("a relative path changed: %q", got)
	}
	buf, in := make([]byte, 0, 64), []byte("/a/../b/./c")
	if n := testing.AllocsPerRun(100, func() { buf = appendCleanPath(buf[:0], in) }); n != 0 {
		t.Errorf("appendCleanPath allocates %v times", n)
	}
}
