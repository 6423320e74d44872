// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import "time"

// This file is the contract with the rule engine's field extractors: they
// read Info; the resolver fills it. Add fields, do not rename.

// Runtime is a container runtime as named in container.type.
type Runtime string

// Runtimes recognised from cgroup paths.
const (
	Host       Runtime = "host"
	Docker     Runtime = "docker"
	Containerd Runtime = "containerd"
	CRIO       Runtime = "cri-o"
	Podman     Runtime = "podman"
)

// Status says whether an Info's metadata is known yet.
type Status uint8

// Metadata states.
const (
	Pending Status = iota // fetch in flight; metadata fields read <NA>
	Ready                 // metadata fetched
	Failed                // metadata cannot be had; fields read <NA>, a warning said why
)

// Mount is one mount of a container.
type Mount struct {
	Source      string
	Dest        string
	Mode        string
	RW          bool
	Propagation string
}

// Info is one container.
type Info struct {
	ID      string // short id: the first 12 hex digits, as Falco's container.id
	FullID  string // the whole id from the cgroup path
	Runtime Runtime
	Status  Status

	Name        string
	Image       string // as the container was created: repository[:tag][@digest]
	ImageID     string // hex digest of the image config, without "sha256:"
	ImageRepo   string
	ImageTag    string
	ImageDigest string
	Privileged  bool
	Mounts      []Mount
	Labels      map[string]string

	// From the labels the kubelet sets (io.kubernetes.*); "" when absent.
	PodName      string
	PodNamespace string
	PodUID       string
	// PodLabels are the pod's own labels, from its CRI sandbox; nil for
	// Docker and podman containers.
	PodLabels map[string]string

	// PodSandboxID is the full id of the container's pod sandbox (CRI);
	// "" otherwise.
	PodSandboxID string
	// IP is the container's (its pod's, for the CRI) primary address, as
	// the runtime reports it; "" when not known.
	IP string

	// StartedAt is when the container started; zero when not known.
	StartedAt time.Time

	// The host namespaces the container shares (Docker's --pid=host and
	// the like, a pod's hostPID, hostNetwork, hostIPC), when
	// NamespacesKnown: a runtime that does not say leaves it false.
	HostPID, HostNetwork, HostIPC bool
	NamespacesKnown               bool

	// Reason says why the metadata cannot be had, when Status is Failed.
	Reason string
}
