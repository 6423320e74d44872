// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/engine/container"
)

// containerOf says where the event's process runs: host, or a container
// with its id, and its metadata when Ready.
func (c *Ctx) containerOf() (id string, host bool, meta *container.Info, ok bool) {
	p := c.proc()
	if p == nil {
		return "", false, nil, false
	}
	if p.ContainerID == "" {
		return "host", true, nil, true
	}
	id = p.ContainerID
	if info := c.Container; info != nil {
		if info.ID != "" {
			id = info.ID
		}
		if info.Status == container.Ready {
			meta = info
		}
	} else if len(id) > 12 {
		id = id[:12]
	}
	return id, false, meta, true
}

func metaField(name, desc string, get func(c *Ctx, b *Bound, m *container.Info, v *Value) bool) *Field {
	return metaFieldT(name, String, ArgNone, desc, get)
}

func metaFieldT(name string, t Type, arg ArgKind, desc string, get func(c *Ctx, b *Bound, m *container.Info, v *Value) bool) *Field {
	return &Field{Name: name, Type: t, Arg: arg, ArgRequired: arg != ArgNone, Desc: desc, ext: func(c *Ctx, b *Bound, v *Value) bool {
		_, _, m, ok := c.containerOf()
		return ok && m != nil && get(c, b, m, v)
	}}
}

func appendMount(dst []byte, m container.Mount) []byte {
	dst = append(dst, m.Source...)
	dst = append(append(dst, ':'), m.Dest...)
	dst = append(append(dst, ':'), m.Mode...)
	dst = strconv.AppendBool(append(dst, ':'), m.RW)
	dst = append(append(dst, ':'), m.Propagation...)
	return dst
}

// mountArg finds container.mount*[ARG]: a number is an index, anything
// else the mount's source path.
func mountArg(m *container.Info, arg string) (container.Mount, bool) {
	if n, err := strconv.Atoi(arg); err == nil {
		if n >= 0 && n < len(m.Mounts) {
			return m.Mounts[n], true
		}
		return container.Mount{}, false
	}
	for _, mt := range m.Mounts {
		if mt.Source == arg {
			return mt, true
		}
	}
	return container.Mount{}, false
}

// appendLabels gives labels as key:value, sorted by key, separated by
// commas; none reads <NA>.
func appendLabels(c *Ctx, v *Value, labels map[string]string) bool {
	if len(labels) == 0 {
		return false
	}
	start := len(c.buf)
	for i, k := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = append(append(append(c.buf, k...), ':'), labels[k]...)
	}
	v.S = c.str(start)
	return true
}

// hostNSField is a container.host_* flag: <NA> when the runtime did not
// say which namespaces the container shares.
func hostNSField(name, desc string, get func(*container.Info) bool) *Field {
	return metaFieldT(name, Bool, ArgNone, desc, func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
		if !m.NamespacesKnown {
			return false
		}
		v.B = get(m)
		return true
	})
}

func init() {
	str := func(get func(*container.Info) string) func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
		return func(c *Ctx, b *Bound, m *container.Info, v *Value) bool { return nonEmpty(v, get(m)) }
	}
	add(
		&Field{Name: "container.id", Type: String, Desc: "container id (12 hex digits), or 'host'", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			id, _, _, ok := c.containerOf()
			v.S = id
			return ok
		}},
		&Field{Name: "container.full_id", Type: String, Desc: "whole container id, or 'host'", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			_, host, _, ok := c.containerOf()
			if !ok {
				return false
			}
			if host {
				v.S = "host"
			} else {
				v.S = c.proc().ContainerID
				if c.Container != nil && c.Container.FullID != "" {
					v.S = c.Container.FullID
				}
			}
			return true
		}},
		&Field{Name: "container.name", Type: String, Desc: "container name, or 'host'", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			_, host, m, ok := c.containerOf()
			switch {
			case !ok:
				return false
			case host:
				v.S = "host"
				return true
			case m == nil:
				return false
			}
			return nonEmpty(v, strings.TrimPrefix(m.Name, "/"))
		}},
		&Field{Name: "container.type", Type: String, Desc: "container runtime: docker, containerd, cri-o, podman", ext: func(c *Ctx, _ *Bound, v *Value) bool {
			_, host, _, ok := c.containerOf()
			if !ok || host || c.Container == nil {
				return false
			}
			return nonEmpty(v, string(c.Container.Runtime))
		}},
		metaField("container.image", "image as the container was created", str(func(m *container.Info) string { return m.Image })),
		metaField("container.image.id", "image id", str(func(m *container.Info) string { return m.ImageID })),
		metaField("container.image.repository", "image repository", str(func(m *container.Info) string { return m.ImageRepo })),
		metaField("container.image.tag", "image tag", str(func(m *container.Info) string { return m.ImageTag })),
		metaField("container.image.digest", "image digest", str(func(m *container.Info) string { return m.ImageDigest })),
		metaFieldT("container.privileged", Bool, ArgNone, "the container runs privileged", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			v.B = m.Privileged
			return true
		}),
		metaField("container.mounts", "mounts, each source:dest:mode:rw:propagation, separated by commas", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			start := len(c.buf)
			for i, mt := range m.Mounts {
				if i > 0 {
					c.buf = append(c.buf, ',')
				}
				c.buf = appendMount(c.buf, mt)
			}
			v.S = c.str(start)
			return true
		}),
		metaFieldT("container.mount", String, ArgKey, "one mount (by index or source path) as source:dest:mode:rw:propagation", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			mt, ok := mountArg(m, b.Arg)
			if !ok {
				return false
			}
			start := len(c.buf)
			c.buf = appendMount(c.buf, mt)
			v.S = c.str(start)
			return true
		}),
		metaFieldT("container.mount.source", String, ArgKey, "source of a mount (by index or destination path)", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			for i, mt := range m.Mounts {
				if mt.Dest == b.Arg || strconv.Itoa(i) == b.Arg {
					return nonEmpty(v, mt.Source)
				}
			}
			return false
		}),
		metaFieldT("container.mount.dest", String, ArgKey, "destination of a mount (by index or source path)", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			mt, ok := mountArg(m, b.Arg)
			return ok && nonEmpty(v, mt.Dest)
		}),
		metaFieldT("container.label", String, ArgKey, "a container label", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			return nonEmpty(v, m.Labels[b.Arg])
		}),
		metaField("container.labels", "container labels, each key:value, sorted by key, separated by commas", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			return appendLabels(c, v, m.Labels)
		}),
		metaFieldT("container.mount.mode", String, ArgKey, "mode of a mount (by index or source path)", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			mt, ok := mountArg(m, b.Arg)
			return ok && nonEmpty(v, mt.Mode)
		}),
		metaFieldT("container.mount.rdwr", String, ArgKey, "whether a mount (by index or source path) is writable: true or false", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			mt, ok := mountArg(m, b.Arg)
			if !ok {
				return false
			}
			v.S = strconv.FormatBool(mt.RW)
			return true
		}),
		metaFieldT("container.mount.propagation", String, ArgKey, "propagation of a mount (by index or source path)", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			mt, ok := mountArg(m, b.Arg)
			return ok && nonEmpty(v, mt.Propagation)
		}),
		metaField("container.ip", "the container's primary IP address (its pod's, for the CRI), as the runtime reports it", str(func(m *container.Info) string { return m.IP })),
		hostNSField("container.host_pid", "the container shares the host's PID namespace", func(m *container.Info) bool { return m.HostPID }),
		hostNSField("container.host_network", "the container shares the host's network namespace", func(m *container.Info) bool { return m.HostNetwork }),
		hostNSField("container.host_ipc", "the container shares the host's IPC namespace", func(m *container.Info) bool { return m.HostIPC }),
		metaFieldT("container.start_ts", AbsTime, ArgNone, "when the container started, ns since the epoch, as its runtime says "+
			"(containerd's own API: when it was created)", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			if m.StartedAt.IsZero() {
				return false
			}
			v.N = m.StartedAt.UnixNano()
			return true
		}),
		metaFieldT("container.duration", RelTime, ArgNone, "ns since container.start_ts", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			if m.StartedAt.IsZero() {
				return false
			}
			d := c.Clock.WallNano(c.Event.TS) - m.StartedAt.UnixNano()
			if d < 0 {
				// The event's clock and the runtime's disagree by
				// a little: the container has just started.
				d = 0
			}
			v.N = d
			return true
		}),
		metaField("k8s.ns.name", "Kubernetes namespace", str(func(m *container.Info) string { return m.PodNamespace })),
		metaField("k8s.pod.name", "Kubernetes pod name", str(func(m *container.Info) string { return m.PodName })),
		metaField("k8s.pod.uid", "Kubernetes pod uid", str(func(m *container.Info) string { return m.PodUID })),
		metaField("k8s.pod.id", "Kubernetes pod uid (Falco's legacy name for k8s.pod.uid)", str(func(m *container.Info) string { return m.PodUID })),
		metaField("k8s.pod.sandbox_id", "the pod sandbox's id, its first 12 hex digits (CRI)", str(func(m *container.Info) string { return container.ShortID(m.PodSandboxID) })),
		metaField("k8s.pod.full_sandbox_id", "the pod sandbox's whole id (CRI)", str(func(m *container.Info) string { return m.PodSandboxID })),
		metaField("k8s.pod.ip", "the pod's primary IP address (CRI)", str(func(m *container.Info) string {
			if m.PodSandboxID == "" {
				return ""
			}
			return m.IP
		})),
		metaFieldT("k8s.pod.label", String, ArgKey, "a Kubernetes pod label (containerd and CRI-O)", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			return nonEmpty(v, m.PodLabels[b.Arg])
		}),
		metaField("k8s.pod.labels", "Kubernetes pod labels, each key:value, sorted by key, separated by commas", func(c *Ctx, b *Bound, m *container.Info, v *Value) bool {
			return appendLabels(c, v, m.PodLabels)
		}),
	)
}
