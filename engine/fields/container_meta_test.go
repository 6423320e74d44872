// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"strconv"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/state"
)

// metaCtx is an event at wall time ts (the zero Clock: event time is wall
// time) in a container with the metadata given.
func metaCtx(t *testing.T, ts uint64, info *container.Info) *Ctx {
	t.Helper()
	var b driver.Builder
	b.Begin(nil, driver.EvSocket, ts, 10, 10)
	var ev driver.Event
	if err := ev.Decode(b.Int(4).Int(1).Int(1).Int(0).End()); err != nil {
		t.Fatal(err)
	}
	p := &state.Process{PID: 10, Comm: "x", FDs: state.NewFDTable(), ContainerID: info.FullID}
	c := &Ctx{Event: &ev, Thread: &state.Thread{TID: 10, PID: 10, Comm: "x", Proc: p}, Container: info}
	c.Reset()
	return c
}

// extract gives a field's value as an output prints it, "<NA>" when the
// field has none.
func extract(t *testing.T, c *Ctx, name, arg string) string {
	t.Helper()
	f, err := Bind(name, arg, arg != "")
	if err != nil {
		t.Fatal(err)
	}
	v, ok := f.Extract(c, 0)
	if !ok {
		return "<NA>"
	}
	switch f.Field.Type {
	case Bool:
		return strconv.FormatBool(v.B)
	case AbsTime, RelTime:
		return strconv.FormatInt(v.N, 10)
	}
	return v.S
}

func TestContainerMetaFields(t *testing.T) {
	full := "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
	sandbox := "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f3f4e2a1b9c8d7e6f5a4b3c2d1e0f"
	started := time.Unix(1_700_000_000, 250)
	pod := &container.Info{ID: full[:12], FullID: full, Runtime: container.Containerd, Status: container.Ready,
		StartedAt: started, PodUID: "uid-1", PodSandboxID: sandbox, IP: "10.1.2.3",
		Labels:          map[string]string{"tier": "front", "app": "shop"},
		Mounts:          []container.Mount{{Source: "/srv", Dest: "/data", Mode: "ro", RW: false, Propagation: "rslave"}},
		NamespacesKnown: true, HostNetwork: true}
	c := metaCtx(t, uint64(started.UnixNano())+3e9, pod)
	for _, tc := range []struct{ field, arg, want string }{
		{"container.start_ts", "", "1700000000000000250"},
		{"container.duration", "", "3000000000"},
		{"container.labels", "", "app:shop,tier:front"},
		{"container.mount.mode", "/srv", "ro"},
		{"container.mount.rdwr", "0", "false"},
		{"container.mount.propagation", "/srv", "rslave"},
		{"container.mount.mode", "/nowhere", "<NA>"},
		{"container.ip", "", "10.1.2.3"},
		{"k8s.pod.ip", "", "10.1.2.3"},
		{"container.host_network", "", "true"},
		{"container.host_pid", "", "false"},
		{"container.host_ipc", "", "false"},
		{"k8s.pod.sandbox_id", "", sandbox[:12]},
		{"k8s.pod.full_sandbox_id", "", sandbox},
		{"k8s.pod.id", "", "uid-1"},
	} {
		if got := extract(t, c, tc.field, tc.arg); got != tc.want {
			t.Errorf("%s[%s] = %q, want %q", tc.field, tc.arg, got, tc.want)
		}
	}

	// An event stamped a little before the runtime's start time (two
	// clocks): the container has just started.
	if got := extract(t, metaCtx(t, uint64(started.UnixNano())-1000, pod), "container.duration", ""); got != "0" {
		t.Errorf("container.duration before the start = %s, want 0", got)
	}

	// A Docker container: an address but no pod; a runtime that did not
	// say which namespaces it shares, and no start time.
	plain := &container.Info{ID: full[:12], FullID: full, Runtime: container.Docker, Status: container.Ready, IP: "172.17.0.2"}
	c = metaCtx(t, uint64(started.UnixNano()), plain)
	for _, tc := range []struct{ field, want string }{
		{"container.start_ts", "<NA>"},
		{"container.duration", "<NA>"},
		{"container.labels", "<NA>"},
		{"container.host_pid", "<NA>"},
		{"container.ip", "172.17.0.2"},
		{"k8s.pod.ip", "<NA>"},
		{"k8s.pod.sandbox_id", "<NA>"},
	} {
		if got := extract(t, c, tc.field, ""); got != tc.want {
			t.Errorf("%s = %q without the metadata, want %q", tc.field, got, tc.want)
		}
	}

	// Metadata not yet fetched: every field <NA>.
	pending := &container.Info{ID: full[:12], FullID: full, Runtime: container.Docker, Status: container.Pending, StartedAt: started}
	if got := extract(t, metaCtx(t, uint64(started.UnixNano()), pending), "container.start_ts", ""); got != "<NA>" {
		t.Errorf("container.start_ts of a Pending container = %q", got)
	}
}
