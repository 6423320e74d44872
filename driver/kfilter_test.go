// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"strings"
	"testing"
)

// A plain path is one the state table leaves as it is (but a trailing
// '/'): the probe compares only those with the filter's prefixes.
func TestPlainPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/etc/shadow": true, "/etc/": true, "/root/.ssh/id_rsa": true, "/a.b/c..d": false,
		"/etc/../etc/shadow": false, "/etc/./shadow": false, "/etc/.": false, "/etc/..": false,
		"//etc/shadow": false, "/etc//shadow": false, "etc/shadow": false, "": false, "/x../y": false,
		"/" + strings.Repeat("a", KFScanMax-2): true, "/" + strings.Repeat("a", KFScanMax-1): false,
	} {
		if got := PlainPath([]byte(p)); got != want {
			t.Errorf("PlainPath(%.40q) = %v, want %v", p, got, want)
		}
	}
}
