// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package editdist

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"proc.name", "proc.name", 0},
		{"proc.nmae", "proc.name", 2}, {"execve", "execveat", 2}, {"kitten", "sitting", 3},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
