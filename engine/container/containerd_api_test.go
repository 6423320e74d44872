// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/vigil-dev/vigil/internal/testenv/critest"
)

// Containers made with ctr (containerd's own API, no CRI, no pod) are
// named by their /k8s.io/<id> cgroups and asked of containerd in their
// namespace.
func TestContainerdOwnAPI(t *testing.T) {
	tc := critest.Start(t)
	tc.ImportImage(t, "k8s.io", "moby")
	shared := t.TempDir()
	start := time.Now()
	pid := tc.RunCtr(t, critest.CtrContainer{ID: "vigil-web", Labels: map[string]string{"tier": "front"}, Mounts: []string{shared}})
	privPID := tc.RunCtr(t, critest.CtrContainer{ID: "vigil-priv", Privileged: true})
	// The same id in Docker's namespace: another container.
	mobyPID := tc.RunCtr(t, critest.CtrContainer{Namespace: "moby", ID: "vigil-web", Labels: map[string]string{"tier": "back"}})

	rt, fullID := cgroupContainer(t, pid)
	if rt != Containerd || fullID != "k8s.io/vigil-web" {
		t.Fatalf("cgroup of pid %d names %s %q, want containerd k8s.io/vigil-web", pid, rt, fullID)
	}
	r, w := newTestResolver(t, Config{ContainerdSocket: tc.Sock})
	info := waitStatus(t, r, rt, fullID, 10*time.Second)
	if info.Status != Ready {
		t.Fatalf("%+v (warnings %v)", info, w.list())
	}
	// What the CRI says of the same image, to check the id against.
	conn, err := grpc.NewClient("unix://"+tc.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	img, err := cri.NewImageServiceClient(conn).ImageStatus(ctx, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: critest.Image}})
	if err != nil || img.GetImage() == nil {
		t.Fatalf("the CRI's ImageStatus of %s: %v", critest.Image, err)
	}
	wantDigest := strings.Fields(string(tc.Ctr(t, "images", "ls", "name=="+critest.Image)))
	if info.ID != "vigil-web" || info.FullID != "vigil-web" || info.Name != "vigil-web" || info.Runtime != Containerd {
		t.Errorf("names: id %q full id %q name %q runtime %q", info.ID, info.FullID, info.Name, info.Runtime)
	}
	if info.Image != critest.Image || info.ImageRepo != "localhost/vigil/sleeper" || info.ImageTag != "cri-test" {
		t.Errorf("image %q: repository %q tag %q", info.Image, info.ImageRepo, info.ImageTag)
	}
	if info.ImageID == "" || "sha256:"+info.ImageID != img.GetImage().GetId() {
		t.Errorf("image id %q, the CRI says %q", info.ImageID, img.GetImage().GetId())
	}
	if !strings.HasPrefix(info.ImageDigest, "sha256:") || !slices.Contains(wantDigest, info.ImageDigest) {
		t.Errorf("image digest %q is not in ctr images ls: %q", info.ImageDigest, wantDigest)
	}
	if info.Labels["tier"] != "front" || info.Privileged {
		t.Errorf("labels %v, privileged %v", info.Labels, info.Privileged)
	}
	if !slices.Contains(info.Mounts, Mount{Source: shared, Dest: shared, Mode: "ro", RW: false, Propagation: "rprivate"}) {
		t.Errorf("mounts %+v lack %s read-only", info.Mounts, shared)
	}
	if info.StartedAt.Before(start.Add(-time.Second)) || info.StartedAt.After(time.Now()) {
		t.Errorf("started at %v, the test started it at %v", info.StartedAt, start)
	}
	// ctr run --net-host: the host's network, a pid and ipc namespace of
	// its own.
	if !info.NamespacesKnown || !info.HostNetwork || info.HostPID || info.HostIPC {
		t.Errorf("namespaces known %v: host network %v pid %v ipc %v", info.NamespacesKnown, info.HostNetwork, info.HostPID, info.HostIPC)
	}
	if info.PodName != "" || info.PodLabels != nil || info.PodSandboxID != "" {
		t.Errorf("a ctr container has pod metadata: %q %v", info.PodName, info.PodLabels)
	}

	prt, pID := cgroupContainer(t, privPID)
	priv := waitStatus(t, r, prt, pID, 10*time.Second)
	if priv.Status != Ready || !priv.Privileged || priv.Name != "vigil-priv" {
		t.Errorf("ctr run --privileged: %+v", priv)
	}

	mrt, mID := cgroupContainer(t, mobyPID)
	if mrt != Containerd || mID != "moby/vigil-web" {
		t.Fatalf("cgroup of pid %d names %s %q, want containerd moby/vigil-web", mobyPID, mrt, mID)
	}
	moby := waitStatus(t, r, mrt, mID, 10*time.Second)
	if moby.Status != Ready || moby.Name != "vigil-web" || moby.Labels["tier"] != "back" || moby.ImageDigest != info.ImageDigest {
		t.Errorf("moby/vigil-web: %+v", moby)
	}

	// A container of the namespace containerd does not know fails alone.
	gone := waitStatus(t, r, Containerd, "k8s.io/vigil-gone", 10*time.Second)
	if gone.Status != Failed || !strings.Contains(gone.Reason, "containerd API (namespace k8s.io) at "+tc.Sock+" does not know this container") {
		t.Errorf("unknown container: %+v", gone)
	}
	if ws := w.list(); len(ws) != 0 {
		t.Errorf("warnings %v", ws)
	}
	if _, err := os.Stat(tc.Sock); err != nil {
		t.Fatal(err)
	}
}

// The cgroup layout ctr makes is routed to containerd's own API on the
// same socket as the CRI: with the socket missing, one warning for
// containerd, whichever API its containers needed.
func TestContainerdOwnAPIOneWarning(t *testing.T) {
	missing := t.TempDir() + "/containerd.sock"
	r, w := newTestResolver(t, Config{ContainerdSocket: missing, RetryAfter: time.Millisecond, MaxRetryAfter: time.Millisecond})
	for i := range 3 {
		// Asked of containerd, not refused as no id: the reason is the
		// socket's.
		if info := waitStatus(t, r, Containerd, "k8s.io/ctr-"+string(rune('a'+i)), 5*time.Second); info.Status != Failed || !strings.Contains(info.Reason, missing) {
			t.Fatalf("%+v with no socket", info)
		}
		if info := waitStatus(t, r, Containerd, testID(i), 5*time.Second); info.Status != Failed {
			t.Fatalf("%+v with no socket", info)
		}
	}
	ws := w.list()
	if len(ws) != 1 || ws[0].Socket != missing || !strings.Contains(ws[0].Cause, "no containerd socket") {
		t.Fatalf("warnings %+v, want one naming %s", ws, missing)
	}
}

// Ids of containerd's own API are checked as containerd checks them, and
// only containerd has them.
func TestLookupNamespacedIDs(t *testing.T) {
	r, w := newTestResolver(t, Config{ContainerdSocket: t.TempDir() + "/none.sock"})
	for _, c := range []struct {
		rt     Runtime
		id     string
		reason string
	}{
		{Containerd, "k8s.io/-web", "a containerd container is named <namespace>/<id>"},
		{Containerd, "/web", "a containerd container is named <namespace>/<id>"},
		{Containerd, "k8s.io/a/b", "a containerd container is named <namespace>/<id>"},
		{Docker, "k8s.io/web", "a containerd container is named <namespace>/<id>"},
		{Containerd, "web", "12 to 64 lowercase hex digits"},
	} {
		info := r.Lookup(c.rt, c.id)
		if info.Status != Failed || !strings.Contains(info.Reason, c.reason) {
			t.Errorf("Lookup(%s, %q) = %+v, want Failed: %s", c.rt, c.id, info, c.reason)
		}
	}
	// A good one is fetched (and fails for want of a socket), named by
	// its id alone.
	info := r.Lookup(Containerd, "moby/web.1")
	if info.Status != Pending || info.ID != "web.1" || info.FullID != "web.1" || info.Runtime != Containerd {
		t.Errorf("first lookup %+v, want Pending, id and full id web.1", info)
	}
	if info := waitStatus(t, r, Containerd, "moby/web.1", 5*time.Second); info.Status != Failed || len(w.list()) != 1 {
		t.Errorf("%+v, warnings %v: want Failed and one warning", info, w.list())
	}
	if n := r.Stats().Entries; n != 1 {
		t.Errorf("%d cache entries, want 1: ids refused at once are not kept", n)
	}
}
