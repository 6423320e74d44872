// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package fields

import (
	"testing"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/state"
)

// Pod labels come from the CRI's pod sandbox (containerd, CRI-O).
func TestPodLabels(t *testing.T) {
	var b driver.Builder
	b.Begin(nil, driver.EvSocket, 1, 10, 10)
	var ev driver.Event
	if err := ev.Decode(b.Int(4).Int(1).Int(1).Int(0).End()); err != nil {
		t.Fatal(err)
	}
	full := "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
	p := &state.Process{PID: 10, Comm: "x", FDs: state.NewFDTable(), ContainerID: full}
	c := &Ctx{Event: &ev, Thread: &state.Thread{TID: 10, PID: 10, Comm: "x", Proc: p},
		Container: &container.Info{ID: full[:12], FullID: full, Runtime: container.Containerd, Status: container.Ready,
			PodName: "shop-0", PodLabels: map[string]string{"tier": "front", "app": "shop"}}}
	c.Reset()
	for _, tc := range []struct{ field, arg, want string }{
		{"k8s.pod.label", "app", "shop"},
		{"k8s.pod.labels", "", "app:shop,tier:front"},
	} {
		f, err := Bind(tc.field, tc.arg, tc.arg != "")
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := f.Extract(c, 0); !ok || v.S != tc.want {
			t.Errorf("%s[%s] = %q %v, want %q", tc.field, tc.arg, v.S, ok, tc.want)
		}
	}
	c.Container.PodLabels = nil
	c.Reset()
	for _, name := range []string{"k8s.pod.labels"} {
		f, _ := Bind(name, "", false)
		if _, ok := f.Extract(c, 0); ok {
			t.Errorf("%s without pod labels should read <NA>", name)
		}
	}
}
