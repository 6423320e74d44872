// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import "strings"

// idLen is the length of the container ids runc-based runtimes put in cgroup
// names (64 lowercase hex digits: a sha256).
const idLen = 64

// ShortIDLen is the length of container.id: the first 12 hex digits.
const ShortIDLen = 12

// ParseCgroup names the container a process runs in from its cgroup path: the
// content of the 0:: line of /proc/<pid>/cgroup, a cgroup v1 path, or a whole
// line of that file. It returns Host and "" when the path names no container.
// fullID is a substring of path; ParseCgroup never allocates.
//
// See the package comment for the layouts recognised and how nested
// containers are named.
func ParseCgroup(path string) (rt Runtime, fullID string) {
	p := trimCgroup(path)
	// Innermost first: scan the components from the right, so that
	// sub-cgroups a container makes below its own (init.scope, a
	// container inside it) are looked through, and a container inside a
	// container is named rather than its host container.
	end := len(p)
	for end > 0 {
		start := strings.LastIndexByte(p[:end], '/') + 1
		if rt, id := matchComponent(p[:start], p[start:end]); rt != Host {
			return rt, id
		}
		end = start - 1
	}
	return Host, ""
}

// trimCgroup drops what a line read from a file may carry at its end.
func trimCgroup(p string) string {
	for len(p) > 0 {
		switch p[len(p)-1] {
		case '\n', '\r', ' ', '\t', '/':
			p = p[:len(p)-1]
		default:
			return p
		}
	}
	return p
}

// scopePrefixes are the systemd scope names (<prefix><id>.scope) the
// runtimes create; with cgroupfs, CRI-O and podman use the same name without
// ".scope". Conmon's scopes (crio-conmon-<id>, libpod-conmon-<id>) hold the
// runtime's monitor, outside the container: they match no prefix here since
// what follows the prefix is not an id.
var scopePrefixes = [...]struct {
	prefix string
	rt     Runtime
}{
	{"docker-", Docker},
	{"cri-containerd-", Containerd},
	{"crio-", CRIO},
	{"libpod-payload-", Podman}, // podman's cgroup mode "split"
	{"libpod-", Podman},
}

// matchComponent tells whether one path component names a container; parent
// is the path up to it (with its trailing '/').
func matchComponent(parent, c string) (Runtime, string) {
	switch {
	case len(c) == idLen:
		if isID(c) {
			return bareIDRuntime(parent), c
		}
	case len(c) > idLen && c[len(c)-idLen-1] == ':':
		// <slice>:<prefix>:<id>: the systemd notation of a cgroup
		// path, taken literally by runc's cgroupfs driver (seen in
		// the wild with containerd).
		id := c[len(c)-idLen:]
		if !isID(id) {
			break
		}
		head := c[:len(c)-idLen-1]
		switch head[strings.LastIndexByte(head, ':')+1:] {
		case "cri-containerd":
			return Containerd, id
		case "docker":
			return Docker, id
		case "crio":
			return CRIO, id
		case "libpod":
			return Podman, id
		}
	case len(c) > idLen:
		s := strings.TrimSuffix(c, ".scope")
		if len(s) <= idLen {
			break
		}
		id := s[len(s)-idLen:]
		if !isID(id) {
			break
		}
		head := s[:len(s)-idLen]
		for _, sp := range scopePrefixes {
			if head == sp.prefix {
				// docker and containerd name a bare cgroupfs
				// cgroup by the id alone; "docker-<id>" without
				// ".scope" is no layout of theirs.
				if len(s) == len(c) && (sp.rt == Docker || sp.rt == Containerd) {
					break
				}
				return sp.rt, id
			}
		}
	}
	return Host, ""
}

// bareIDRuntime tells which runtime made a cgroup named by the id alone
// (the cgroupfs layouts): Docker under "docker" (its default cgroup parent),
// CRI-O under "crio", the CRI runtime (containerd) under a kubelet's
// "kubepods" tree, and Docker elsewhere (a custom --cgroup-parent).
func bareIDRuntime(parent string) Runtime {
	dir := strings.TrimSuffix(parent, "/")
	switch dir[strings.LastIndexByte(dir, '/')+1:] {
	case "docker":
		return Docker
	case "crio":
		return CRIO
	}
	if strings.HasPrefix(parent, "kubepods") || strings.Contains(parent, "/kubepods") {
		return Containerd
	}
	return Docker
}

// isID reports whether s is all lowercase hex digits, as the runtimes write
// container ids.
func isID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return len(s) > 0
}

// ShortID returns container.id for a full id: its first 12 characters.
func ShortID(fullID string) string {
	if len(fullID) > ShortIDLen {
		return fullID[:ShortIDLen]
	}
	return fullID
}
