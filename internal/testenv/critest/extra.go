// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package critest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// StartOverlay is Start with containerd's overlayfs snapshotter instead of
// the native one: a container's root is then an overlayfs mount, as on a
// Kubernetes node, and a file written in the container lands in its upper
// layer (what proc.is_exe_upper_layer looks for). It needs a file system
// that can carry overlayfs below the temporary directory (not an overlayfs
// itself, as in some nested containers). ImportImage's image is unpacked
// for overlayfs by the CRI when a container is first created from it.
func StartOverlay(t testing.TB) *Containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root to run containerd")
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		testenv.Unavailable(t, "no containerd (scripts/deps test installs it)")
	}
	dir, err := os.MkdirTemp("", "vigil-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	tc := &Containerd{Sock: filepath.Join(dir, "c.sock"), log: filepath.Join(dir, "containerd.log")}
	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[6]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), tc.Sock, tc.Sock+".ttrpc", Image, filepath.Join(dir, "cni"), filepath.Join(dir, "runc"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(tc.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(tc.log)
			t.Logf("containerd log:\n%s", tail(b, 4000))
		}
		// Overlay mounts of containers still up would make RemoveAll
		// delete through them; RemovePodSandbox unmounted them, and
		// whatever is left mounted is unmounted first.
		unmountBelow(dir)
		os.RemoveAll(dir)
	})
	conn, err := grpc.NewClient("unix://"+tc.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tc.Runtime = cri.NewRuntimeServiceClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := tc.Runtime.Version(ctx, &cri.VersionRequest{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(tc.log)
			t.Fatalf("containerd's CRI did not answer within 30s: %v\n%s", err, tail(b, 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return tc
}

// unmountBelow detaches every mount under dir, deepest first.
func unmountBelow(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = unix.Unmount(points[i], unix.MNT_DETACH)
	}
}
