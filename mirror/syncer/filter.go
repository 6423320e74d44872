// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package syncer

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/vigil-dev/vigil/mirror"
)

// Filter picks the artifacts Sync copies. Each list keeps an artifact
// whose value is one of its items; an empty list keeps every artifact.
// An artifact must pass every list, and the inventory when there is one.
type Filter struct {
	Releases       []string // Target.Release (uname -r)
	Distros        []string // Target.Distro ("debian", "ubuntu-aws", ...)
	Arches         []string // the arch directory of the artifact's path (x86_64)
	DriverVersions []string // the driver version directory of its path
	// Inventory, when not nil, keeps only the artifacts its nodes need.
	Inventory *Inventory
}

// IsZero reports whether f keeps every artifact.
func (f Filter) IsZero() bool {
	return len(f.Releases) == 0 && len(f.Distros) == 0 && len(f.Arches) == 0 &&
		len(f.DriverVersions) == 0 && f.Inventory == nil
}

// Select returns the entries of ix that f keeps, and the artifacts the
// inventory's nodes need that ix does not list.
func (f Filter) Select(ix *mirror.Index) (keep []mirror.Entry, unavailable []string) {
	for _, e := range ix.Entries {
		if f.keeps(e) {
			keep = append(keep, e)
		}
	}
	if f.Inventory != nil {
		for _, n := range f.Inventory.Nodes {
			if !slices.ContainsFunc(ix.Entries, n.matches) {
				unavailable = append(unavailable, n.String())
			}
		}
	}
	return keep, unavailable
}

func (f Filter) keeps(e mirror.Entry) bool {
	dv, arch := pathDirs(e.Name)
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	if !in(f.Releases, e.Target.Release) || !in(f.Distros, e.Target.Distro) ||
		!in(f.Arches, arch) || !in(f.DriverVersions, dv) {
		return false
	}
	return f.Inventory == nil || slices.ContainsFunc(f.Inventory.Nodes, func(n Node) bool { return n.matches(e) })
}

// pathDirs returns the driver version and arch directories of a mirror
// path, "<driver-version>/<arch>/<file>", which is what a loader asks for.
func pathDirs(name string) (dv, arch string) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return "", ""
	}
	return parts[0], parts[1]
}

// Inventory is the kernels a site runs, read from the output of `vigil
// driver printenv` on each of its nodes.
type Inventory struct {
	Nodes []Node // one per distinct artifact
}

// Node is one artifact a node's loader asks a mirror for.
type Node struct {
	Release       string // VIGIL_KERNEL_RELEASE, for messages
	Arch          string // VIGIL_ARCH
	DriverVersion string // VIGIL_DRIVER_VERSION
	Artifact      string // VIGIL_ARTIFACT: the module's file name
}

// Path is the artifact's path in a mirror, or its file name alone when
// the node's arch or driver version is not known.
func (n Node) Path() string {
	if n.Arch == "" || n.DriverVersion == "" {
		return n.Artifact
	}
	return n.DriverVersion + "/" + n.Arch + "/" + n.Artifact
}

func (n Node) String() string {
	if n.Release == "" {
		return n.Path()
	}
	return n.Path() + " (kernel " + n.Release + ")"
}

// matches reports whether e is n's artifact: the same path, or the same
// file name under any directory when n's arch or driver version is not
// known.
func (n Node) matches(e mirror.Entry) bool {
	if n.Arch == "" || n.DriverVersion == "" {
		return path.Base(e.Name) == n.Artifact
	}
	return e.Name == n.Path()
}

// field returns the field of n that printenv's key fills, or nil.
func (n *Node) field(key string) *string {
	switch key {
	case "VIGIL_KERNEL_RELEASE":
		return &n.Release
	case "VIGIL_ARCH":
		return &n.Arch
	case "VIGIL_DRIVER_VERSION":
		return &n.DriverVersion
	case "VIGIL_ARTIFACT":
		return &n.Artifact
	}
	return nil
}

// ParseInventory reads the VIGIL_*= lines of `vigil driver printenv` run on
// many nodes and concatenated; every other line is ignored. A node's block
// begins at VIGIL_KERNEL_RELEASE= (or when a key repeats). Lines prefixed
// by a host name ("node1: VIGIL_ARCH=x86_64", as pdsh or kubectl --prefix
// print them) are grouped by that prefix, so interleaved output is read
// right. name names the input in errors.
func ParseInventory(r io.Reader, name string) (*Inventory, error) {
	inv := &Inventory{}
	seen := map[string]bool{}
	add := func(n *Node) {
		if n != nil && n.Artifact != "" && !seen[n.Path()] {
			seen[n.Path()] = true
			inv.Nodes = append(inv.Nodes, *n)
		}
	}
	cur := map[string]*Node{} // by line prefix
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := sc.Text()
		i := strings.Index(line, "VIGIL_")
		if i < 0 {
			continue
		}
		prefix := strings.TrimSpace(line[:i])
		key, value, ok := strings.Cut(strings.TrimSpace(line[i:]), "=")
		if !ok {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"'`)
		n := cur[prefix]
		if n == nil {
			n = &Node{}
			cur[prefix] = n
			order = append(order, prefix)
		}
		field := n.field(key)
		if field == nil {
			continue
		}
		if key == "VIGIL_ARTIFACT" && (value == "" || strings.ContainsAny(value, "/\\")) {
			return nil, fmt.Errorf("sync: inventory %s, line %d: VIGIL_ARTIFACT=%q is not a module's file name", name, lineNo, value)
		}
		if *field != "" || key == "VIGIL_KERNEL_RELEASE" && *n != (Node{}) {
			// The next node's block.
			add(n)
			n = &Node{}
			cur[prefix] = n
			field = n.field(key)
		}
		*field = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sync: reading inventory %s: %w", name, err)
	}
	for _, p := range order {
		add(cur[p])
	}
	if len(inv.Nodes) == 0 {
		return nil, fmt.Errorf("sync: inventory %s has no VIGIL_ARTIFACT= line: give the output of `vigil driver printenv` on each node, concatenated", name)
	}
	return inv, nil
}
