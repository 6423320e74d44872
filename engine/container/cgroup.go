// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"fmt"
	"strings"
)

// idLen is the length of the container ids runc-based runtimes put in cgroup
// names (64 lowercase hex digits: a sha256).
const idLen = 64

// ShortIDLen is the length of container.id: the first 12 hex digits.
const ShortIDLen = 12

// ParseCgroup names the container a process runs in from its cgroup path: the
// content of the 0:: line of /proc/<pid>/cgroup, a cgroup v1 path, or a whole
// line of that file. It returns Host and "" when the path names no container.
// fullID is a substring of path; ParseCgroup never allocates. A container
// of containerd's own API (made with ctr or another containerd client, not
// the CRI) is named <namespace>/<id>: its id alone says nothing of the
// namespace containerd must be asked in, and need not be hex.
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
		if id := matchNamespaced(p, start, end); id != "" {
			return Containerd, id
		}
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

// ContainerdNamespaces are the containerd namespaces whose /<namespace>/<id>
// cgroups (what containerd's clients make by default with cgroupfs, ctr
// among them) name containers: the kubelet's (k8s.io, where an operator's
// ctr containers also go) and Docker's (moby). Other namespaces are not
// taken, since a top-level cgroup named like one ("default", say) may well
// be the host's.
var ContainerdNamespaces = [...]string{"k8s.io", "moby"}

// matchNamespaced tells whether p[start:end] is <id> in a top-level
// /<namespace>/<id> of a namespace in ContainerdNamespaces; it returns
// "<namespace>/<id>", a substring of p, or "".
func matchNamespaced(p string, start, end int) string {
	if start < 2 {
		return ""
	}
	parent := p[:start-1] // without its trailing '/'
	for _, ns := range ContainerdNamespaces {
		if !strings.HasSuffix(parent, ns) {
			continue
		}
		// The namespace must be the path's first component: what comes
		// before it is nothing or a line's "hierarchy:controllers:".
		nsStart := len(parent) - len(ns)
		if head := parent[:nsStart]; head != "" {
			if head[len(head)-1] != '/' {
				continue
			}
			head = head[:len(head)-1]
			if head != "" && (head[len(head)-1] != ':' || strings.IndexByte(head, '/') >= 0) {
				continue
			}
		}
		if !validContainerdID(p[start:end]) {
			return ""
		}
		return p[nsStart:end]
	}
	return ""
}

// maxContainerdID is containerd's limit on identifiers.
const maxContainerdID = 76

// validContainerdID reports whether s is a containerd identifier:
// alphanumerics, and '.', '_' or '-' between them (containerd's
// identifiers package).
func validContainerdID(s string) bool {
	if s == "" || len(s) > maxContainerdID {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(s); i++ {
		c := s[i]
		if alnum(c) {
			continue
		}
		if c != '.' && c != '_' && c != '-' || i == 0 || i == len(s)-1 || !alnum(s[i-1]) {
			return false
		}
	}
	return true
}

// SplitNamespaced splits a full id as ParseCgroup gives it for a container
// of containerd's own API, <namespace>/<id>; ok is false for other ids.
func SplitNamespaced(fullID string) (namespace, id string, ok bool) {
	return strings.Cut(fullID, "/")
}

// validFullID says why a full id cannot name a container of rt; "" when
// it can.
func validFullID(rt Runtime, fullID string) string {
	if ns, id, ok := SplitNamespaced(fullID); ok {
		if rt == Containerd && ns != "" && validContainerdID(ns) && validContainerdID(id) {
			return ""
		}
		return fmt.Sprintf("%q is no container id: a containerd container is named <namespace>/<id>", fullID)
	}
	if len(fullID) < ShortIDLen || len(fullID) > idLen || !isID(fullID) {
		return fmt.Sprintf("%q is no container id: 12 to 64 lowercase hex digits", fullID)
	}
	return ""
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

// ShortID returns container.id for a full id: its first 12 characters. A
// containerd container (<namespace>/<id>) named by a name rather than a
// hex id reads its whole name: cut, it could name another.
func ShortID(fullID string) string {
	if _, id, ok := SplitNamespaced(fullID); ok {
		if len(id) != idLen || !isID(id) {
			return id
		}
		fullID = id
	}
	if len(fullID) > ShortIDLen {
		return fullID[:ShortIDLen]
	}
	return fullID
}

// displayID is container.full_id for a full id: a containerd container's
// id without its namespace.
func displayID(fullID string) string {
	if _, id, ok := SplitNamespaced(fullID); ok {
		return id
	}
	return fullID
}
