// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/internal/testenv/podmantest"
)

// Against Debian's podman, its API service started by the test: the
// container's cgroup names it as podman's, and podman's Docker-compatible
// API gives its name, image (podman's localhost/ names, and the digest
// podman's storage keeps), labels, privileged, mounts and start time.
func TestPodmanAPI(t *testing.T) {
	p := podmantest.Start(t)
	p.LoadImage(t)
	data := t.TempDir()
	before := time.Now()
	c := p.Run(t, "web", "--label", "tier=front", "--privileged", "--volume", data+":/data:ro")
	plain := p.Run(t, "plain")

	rt, fullID := cgroupContainer(t, c.Pid)
	if rt != Podman || fullID != c.ID {
		t.Fatalf("cgroup of pid %d names %s %s, want podman %s", c.Pid, rt, fullID, c.ID)
	}
	// unix:///path, as podman's own --url takes it.
	r, w := newTestResolver(t, Config{PodmanSocket: "unix://" + p.Sock})
	info := waitStatus(t, r, rt, fullID, 10*time.Second)
	if info.Status != Ready {
		t.Fatalf("%+v (warnings %v)", info, w.list())
	}
	if info.Runtime != Podman || info.ID != c.ID[:12] || info.Name != "web" || info.Image != podmantest.Image ||
		info.ImageRepo != "localhost/vigil-podman" || info.ImageTag != "bookworm" || !isID(info.ImageID) ||
		info.Labels["tier"] != "front" || !info.Privileged {
		t.Errorf("metadata %+v", info)
	}
	// docker save/podman load gives the image a manifest, and podman
	// reports its digest under the image's own name.
	if len(info.ImageDigest) != len("sha256:")+64 || info.ImageDigest[:7] != "sha256:" {
		t.Errorf("image digest %q, want sha256:<64 hex>", info.ImageDigest)
	}
	if info.StartedAt.Before(before.Add(-time.Second)) || info.StartedAt.After(time.Now()) {
		t.Errorf("started at %v, want between %v and now", info.StartedAt, before)
	}
	var found bool
	for _, m := range info.Mounts {
		if m.Source == data && m.Dest == "/data" {
			found = true
			if m.RW {
				t.Errorf("mount %+v is read-write, want read-only", m)
			}
		}
	}
	if !found {
		t.Errorf("mounts %+v lack %s on /data", info.Mounts, data)
	}

	other := waitStatus(t, r, Podman, plain.ID, 10*time.Second)
	if other.Status != Ready || other.Name != "plain" || other.Privileged || len(other.Labels) != 0 {
		t.Errorf("second container %+v", other)
	}

	// The image under a second name, with a registry host and port:
	// podman keeps a digest per name, and the one of the container's own
	// repository is taken.
	const named = "example.test:5000/team/app:v1"
	p.CLI(t, "tag", podmantest.Image, named)
	tagged := waitStatus(t, r, Podman, p.RunImage(t, "tagged", named).ID, 10*time.Second)
	if tagged.Status != Ready || tagged.Image != named || tagged.ImageRepo != "example.test:5000/team/app" ||
		tagged.ImageTag != "v1" || tagged.ImageDigest != info.ImageDigest || tagged.ImageID != info.ImageID {
		t.Errorf("container of %s: %+v", named, tagged)
	}
	// Made from the image's id, the container names the image by one of
	// its names (dockerd would give the id): repository and tag agree.
	byID := waitStatus(t, r, Podman, p.RunImage(t, "byid", info.ImageID[:12]).ID, 10*time.Second)
	if byID.Status != Ready || byID.ImageDigest != info.ImageDigest ||
		!(byID.ImageRepo == "localhost/vigil-podman" && byID.ImageTag == "bookworm" ||
			byID.ImageRepo == "example.test:5000/team/app" && byID.ImageTag == "v1") {
		t.Errorf("container of image id %s: %+v", info.ImageID[:12], byID)
	}

	// A container podman does not know (removed, say) fails alone: podman
	// answers 404 as dockerd does, and the runtime is not warned about.
	gone := waitStatus(t, r, Podman, testID(7), 10*time.Second)
	if gone.Status != Failed || !containsAll(gone.Reason, "does not know this container", p.Sock) {
		t.Errorf("unknown container: %+v", gone)
	}
	if ws := w.list(); len(ws) != 0 {
		t.Errorf("warnings %v", ws)
	}

	// A host root with only var/run mounted (as vigil's DaemonSet does)
	// finds podman's socket there.
	root := t.TempDir()
	varRun := filepath.Join(root, "var/run/podman")
	if err := os.MkdirAll(varRun, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p.Sock, filepath.Join(varRun, "podman.sock")); err != nil {
		t.Fatal(err)
	}
	r2, w2 := newTestResolver(t, Config{HostRoot: root})
	if want := filepath.Join(varRun, "podman.sock"); r2.cfg.PodmanSocket != want {
		t.Errorf("podman socket %s, want %s", r2.cfg.PodmanSocket, want)
	}
	if info := waitStatus(t, r2, Podman, c.ID, 10*time.Second); info.Status != Ready || info.Name != "web" {
		t.Errorf("under <host-root>/var/run: %+v (warnings %v)", info, w2.list())
	}
}

// podman's socket missing, or a socket file nobody listens on (the podman
// service stopped): the container reads Failed, and exactly one warning
// names the socket, the cause and the fix.
func TestPodmanSocketMissingOrRefused(t *testing.T) {
	p := podmantest.Start(t)
	p.LoadImage(t)
	c := p.Run(t, "web")
	refused := stoppedSocket(t)
	for _, tc := range []struct {
		name, sock string
		cause, fix string
	}{
		{"missing", filepath.Join(t.TempDir(), "podman.sock"), "no Podman socket at", "enable the podman.socket unit"},
		{"refused", refused, "connection refused", "start the podman service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := newTestResolver(t, Config{PodmanSocket: tc.sock, RetryAfter: 10 * time.Millisecond})
			for range 5 {
				info := waitStatus(t, r, Podman, c.ID, 10*time.Second)
				if info.Status != Failed || info.Name != "" {
					t.Fatalf("%+v", info)
				}
				time.Sleep(20 * time.Millisecond) // past RetryAfter: looked up again
			}
			ws := w.list()
			if len(ws) != 1 {
				t.Fatalf("%d warnings, want 1: %v", len(ws), ws)
			}
			if ws[0].Runtime != "podman" || ws[0].Socket != tc.sock || !containsAll(ws[0].String(), tc.cause, tc.sock, tc.fix) {
				t.Errorf("warning %q (socket %q) does not name %q, %q and %q", ws[0], ws[0].Socket, tc.cause, tc.sock, tc.fix)
			}
		})
	}
}

// stoppedSocket is a unix socket file left behind with nothing listening,
// as a podman service that was killed leaves it.
func stoppedSocket(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "podman.sock")
	testenv.DeadSocket(t, sock)
	if st, err := os.Stat(sock); err != nil || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("%s is not a socket left behind: %v", sock, err)
	}
	return sock
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
