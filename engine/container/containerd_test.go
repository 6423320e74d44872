// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv/critest"
)

func TestContainerdCRI(t *testing.T) {
	tc := critest.Start(t)
	tc.ImportImage(t)
	pod := critest.Pod{Name: "shop-0", Namespace: "prod", UID: "5d3c1e0a-0000-4000-8000-00000000c0de",
		Labels: map[string]string{"app": "shop"}, Container: "web", ContainerLabels: map[string]string{"tier": "front"}}
	id, pid := tc.RunPod(t, pod)
	rt, fullID := cgroupContainer(t, pid)
	if rt != Containerd || fullID != id {
		t.Fatalf("cgroup of pid %d names %s %s, want containerd %s", pid, rt, fullID, id)
	}
	r, w := newTestResolver(t, Config{ContainerdSocket: tc.Sock})
	info := waitStatus(t, r, rt, fullID, 10*time.Second)
	if info.Status != Ready {
		t.Fatalf("%+v (warnings %v)", info, w.list())
	}
	if info.Name != "web" || info.Image != critest.Image || info.ImageRepo != "localhost/vigil/sleeper" || info.ImageTag != "cri-test" ||
		info.ImageID == "" || info.PodName != "shop-0" || info.PodNamespace != "prod" || info.PodUID != pod.UID ||
		info.PodLabels["app"] != "shop" || info.Labels["tier"] != "front" || info.Privileged || info.StartedAt.IsZero() {
		t.Errorf("metadata %+v", info)
	}
	// RunPod shares the host's network and IPC, not its PIDs.
	if !info.NamespacesKnown || !info.HostNetwork || !info.HostIPC || info.HostPID || len(info.PodSandboxID) != 64 {
		t.Errorf("namespaces known %v: host network %v ipc %v pid %v; sandbox %q",
			info.NamespacesKnown, info.HostNetwork, info.HostIPC, info.HostPID, info.PodSandboxID)
	}
	if strings.Contains(info.ImageID, ":") {
		t.Errorf("image id %q keeps its algorithm", info.ImageID)
	}
	if ws := w.list(); len(ws) != 0 {
		t.Errorf("warnings %v", ws)
	}
}
