// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import "strings"

// SplitImage splits an image reference, [host[:port]/]path[:tag][@digest],
// into container.image.repository, container.image.tag and
// container.image.digest. The repository keeps the registry host and port,
// as Falco's does; a ':' before the last '/' is a port, not a tag. Parts the
// reference lacks are "" (the Docker resolver, like Falco's, then reads the
// tag "latest").
func SplitImage(ref string) (repo, tag, digest string) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	slash := strings.LastIndexByte(ref, '/')
	if c := strings.LastIndexByte(ref, ':'); c > slash {
		ref, tag = ref[:c], ref[c+1:]
	}
	return ref, tag, digest
}
