// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"strings"
	"testing"
)

const testDigest = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"

func TestSplitImage(t *testing.T) {
	for _, c := range []struct{ ref, repo, tag, digest string }{
		{"busybox", "busybox", "", ""},
		{"busybox:1.36", "busybox", "1.36", ""},
		{"library/busybox:1.36", "library/busybox", "1.36", ""},
		{"vigil-test/sleeper:t1", "vigil-test/sleeper", "t1", ""},
		{"localhost:5000/team/app", "localhost:5000/team/app", "", ""},
		{"localhost:5000/team/app:1.2", "localhost:5000/team/app", "1.2", ""},
		{"localhost:5000/app:1.2@" + testDigest, "localhost:5000/app", "1.2", testDigest},
		{"localhost:5000/app@" + testDigest, "localhost:5000/app", "", testDigest},
		{"app@" + testDigest, "app", "", testDigest},
		{"[::1]:5000/app:v1", "[::1]:5000/app", "v1", ""},
		{"", "", "", ""},
	} {
		repo, tag, digest := SplitImage(c.ref)
		if repo != c.repo || tag != c.tag || digest != c.digest {
			t.Errorf("SplitImage(%q) = %q %q %q; want %q %q %q", c.ref, repo, tag, digest, c.repo, c.tag, c.digest)
		}
	}
}

func FuzzSplitImage(f *testing.F) {
	for _, s := range []string{"busybox:1.36", "localhost:5000/a/b:1@" + testDigest, "a@b@c", ":", "/:", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		repo, tag, digest := SplitImage(ref)
		// Nothing is lost or invented: the parts put back together are
		// the reference.
		back := repo
		if tag != "" || strings.HasSuffix(strings.SplitN(ref, "@", 2)[0], ":") {
			back += ":" + tag
		}
		if strings.Contains(ref, "@") {
			back += "@" + digest
		}
		if back != ref {
			t.Fatalf("SplitImage(%q) = %q %q %q, which rebuild %q", ref, repo, tag, digest, back)
		}
		if strings.Contains(repo, "@") || strings.Contains(tag, "/") {
			t.Fatalf("SplitImage(%q) = %q %q %q", ref, repo, tag, digest)
		}
	})
}
