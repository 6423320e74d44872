// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package container names the container a process runs in, from its cgroup
// path, and fetches what the container runtime knows of it.
//
// # Naming a container: ParseCgroup
//
// runc-based runtimes put the 64-hex-digit container id in the name of the
// container's cgroup. These layouts are recognised, in any cgroup v1
// hierarchy or the v2 unified one:
//
//	docker      /docker/<id>                          (cgroupfs)
//	            /system.slice/docker-<id>.scope       (systemd, also under kubepods.slice)
//	            /<parent>/<id>                        (--cgroup-parent)
//	containerd  /kubepods/<qos>/pod<uid>/<id>         (CRI, cgroupfs)
//	            /kubepods.slice/.../cri-containerd-<id>.scope
//	            .../<slice>:cri-containerd:<id>        (systemd notation taken literally)
//	            /<namespace>/<id>                     (containerd's own API: ctr, nerdctl;
//	                                                   namespaces k8s.io and moby only)
//	cri-o       .../crio-<id>.scope, .../crio-<id>, /crio/<id>
//	podman      .../libpod-<id>.scope (also rootless, under user@<uid>.service,
//	            with its /container sub-cgroup), /libpod_parent/libpod-<id>,
//	            libpod-payload-<id> (cgroup mode "split")
//
// A bare <id> is the kubelet's CRI runtime under a kubepods tree, CRI-O
// under /crio, and Docker anywhere else. Ids are lowercase hex, as every
// runtime writes them; anything else, conmon's own scopes
// (crio-conmon-<id>, libpod-conmon-<id>) included, is the host.
//
// containerd's own clients name a container as they like (letters, digits
// and '.', '_', '-' between them, up to 76) and put it, with cgroupfs, in
// /<namespace>/<id> at the top of the hierarchy. That layout is taken only
// for the namespaces in ContainerdNamespaces, the kubelet's k8s.io (where
// an operator's `ctr -n k8s.io run` goes) and Docker's moby, and only at
// the top: /default/<name> or /system.slice/k8s.io/<name> may be the
// host's own cgroups. ParseCgroup names such a container <namespace>/<id>,
// since containerd must be asked in its namespace; container.id is the
// whole name (the first 12 digits of a hex id), container.full_id the id.
//
// Nested cgroups: the innermost container wins. Path components are read
// from the right, so sub-cgroups that a container makes below its own
// (/docker/<id>/init.scope for systemd in a container, a kube-proxy
// sub-cgroup) are looked through, and a container inside a container
// (docker-in-docker, /docker/<outer>/docker/<inner>; kind's node
// containers, /system.slice/docker-<node>.scope/kubelet.slice/...) is named
// by the inner id. That is the container the process runs in, and the id
// Falco reports; its metadata belongs to the inner engine, so the host's
// engine answers "not found" and that container reads Failed (with no
// runtime warning).
//
// # Metadata: Resolver
//
// Resolver.Lookup never waits for a runtime. A container seen for the first
// time reads Pending while one of a few workers fetches it (one fetch per
// container however often it is looked up); later Lookups return it Ready,
// or Failed with a Reason. A failed fetch is retried on a later Lookup after
// a wait that doubles per failure (Config.RetryAfter up to
// Config.MaxRetryAfter); while a runtime's socket cannot be talked to,
// fetches for all its containers fail at once without touching it. The cache
// is bounded (Config.MaxEntries): containers that died (Forget, the engine
// reporting them stopped or unknown) go first, after Config.DeadGrace at
// the latest, then failed ones, then the least recently used.
//
// Docker metadata comes from the Docker Engine API (ContainerInspect) on
// <HostRoot>/var/run/docker.sock, DOCKER_HOST when it names a unix socket,
// or Config.DockerSocket (unix:///path, a path or tcp://host:port, as
// ParseEndpoint reads them). Podman's containers are asked on the rootful
// podman service's Docker-compatible API, <HostRoot>/run/podman/podman.sock
// (or <HostRoot>/var/run/podman/podman.sock) or Config.PodmanSocket, read
// as Config.DockerSocket is; its answers are Docker's, except that an image
// named without a registry is podman's localhost/<name> (the repository
// reads so, as podman shows it), a container made from an image id names
// the image by its first name, and a loaded image has a digest. Rootless
// podman's containers (each user's own service and socket) are not asked.
// containerd
// and CRI-O are asked over the CRI (the kubelet's gRPC API, which both
// serve) on <HostRoot>/run/containerd/containerd.sock and
// <HostRoot>/var/run/crio/crio.sock: ContainerStatus (verbose, for the
// sandbox id and privileged), PodSandboxStatus for the pod's name,
// namespace, uid and labels (cached per pod), ImageStatus for the image's
// id, tags and digests. No Kubernetes API server is needed. A pod's pause
// process, whose cgroup names the sandbox, reads as its pod.
//
// Containers of containerd's own API (<namespace>/<id>) are asked on the
// same socket, over that API, with the namespace in the
// containerd-namespace gRPC header: Containers.Get for the labels, the
// image name, the creation time (containerd keeps no start time; its
// clients start the task at once) and the OCI spec, whose bind mounts are
// the mounts and which reads privileged when it keeps CAP_SYS_ADMIN and
// masks no path (what --privileged makes; the spec has no flag); Images.Get
// and the content store for the image's digest and id (its config's
// digest, on this machine's platform); Tasks.Get for whether it runs. The
// name is the id, or nerdctl's or the kubelet's name label. Both APIs are
// one runtime for the warnings: one socket, one warning.
//
// The image reference (Config.Image) is split as Falco splits it: the
// repository keeps a registry host and port; a container created from an
// image id, or whose reference has no digest or tag, takes what is missing
// from the image's RepoDigests and RepoTags (a tag or digest the reference
// names is kept, where Falco would take the image's first); a tag still
// missing reads "latest", as Falco's Docker engine has it.
//
// # Warnings
//
// When a runtime's metadata cannot be had, Config.Warn receives exactly one
// Warning for the runtime (not per container, not per event), naming the
// socket, the cause and the fix: no socket (mount it), permission denied
// (as non-root: run as root or in the docker group; as root: the AppArmor
// profile or SELinux label confining vigil, read from /proc/self/attr, or a
// user namespace), connection refused (dockerd is not running), timeout, or
// API errors that persist. A container the engine does not know fails alone,
// with no warning. Once the runtime answers again, Config.Recovered receives
// the warning that was in force, and a later outage warns again.
package container
