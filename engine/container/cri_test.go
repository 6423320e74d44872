// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeCRI answers as containerd's CRI plugin does, for one pod with one
// container, so that the client's reading of each answer is tested without
// a runtime.
type fakeCRI struct {
	cri.UnimplementedRuntimeServiceServer
	cri.UnimplementedImageServiceServer
	ctr, pod, imageID string
	sandboxCalls      atomic.Int32
}

func (f *fakeCRI) ContainerStatus(_ context.Context, req *cri.ContainerStatusRequest) (*cri.ContainerStatusResponse, error) {
	if req.ContainerId != f.ctr {
		return nil, status.Errorf(codes.NotFound, "an error occurred when try to find container %q: not found", req.ContainerId)
	}
	return &cri.ContainerStatusResponse{
		Status: &cri.ContainerStatus{
			Id:        f.ctr,
			Metadata:  &cri.ContainerMetadata{Name: "web"},
			State:     cri.ContainerState_CONTAINER_RUNNING,
			StartedAt: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano(),
			Image:     &cri.ImageSpec{Image: "registry.example:5000/library/nginx:1.27"},
			ImageRef:  "sha256:" + f.imageID,
			Labels:    map[string]string{"io.kubernetes.container.name": "web", labelPodName: "shop-0"},
			Mounts: []*cri.Mount{
				{ContainerPath: "/data", HostPath: "/srv/data", Propagation: cri.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
				{ContainerPath: "/etc/hosts", HostPath: "/var/lib/hosts", Readonly: true},
			},
		},
		Info: map[string]string{"info": `{"sandboxID":"` + f.pod + `","pid":42,"config":{"linux":{"security_context":{"privileged":true}}}}`},
	}, nil
}

func (f *fakeCRI) PodSandboxStatus(_ context.Context, req *cri.PodSandboxStatusRequest) (*cri.PodSandboxStatusResponse, error) {
	f.sandboxCalls.Add(1)
	if req.PodSandboxId != f.pod {
		return nil, status.Errorf(codes.NotFound, "an error occurred when try to find sandbox %q: not found", req.PodSandboxId)
	}
	return &cri.PodSandboxStatusResponse{Status: &cri.PodSandboxStatus{
		Id:       f.pod,
		Metadata: &cri.PodSandboxMetadata{Name: "shop-0", Namespace: "prod", Uid: "0b3c5a2e-uid"},
		State:    cri.PodSandboxState_SANDBOX_READY,
		Labels:   map[string]string{"app": "shop"},
	}}, nil
}

func (f *fakeCRI) ImageStatus(_ context.Context, req *cri.ImageStatusRequest) (*cri.ImageStatusResponse, error) {
	if req.GetImage().GetImage() != "sha256:"+f.imageID {
		return &cri.ImageStatusResponse{}, nil // the CRI's "no such image"
	}
	return &cri.ImageStatusResponse{Image: &cri.Image{
		Id:          "sha256:" + f.imageID,
		RepoTags:    []string{"registry.example:5000/library/nginx:1.27"},
		RepoDigests: []string{"registry.example:5000/library/nginx@sha256:" + strings.Repeat("d", 64)},
	}}, nil
}

func serveFakeCRI(t *testing.T, f *fakeCRI) string {
	t.Helper()
	return serveFakeCRIAt(t, f, filepath.Join(t.TempDir(), "containerd.sock"))
}

func serveFakeCRIAt(t *testing.T, f *fakeCRI, sock string) string {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	cri.RegisterRuntimeServiceServer(s, f)
	cri.RegisterImageServiceServer(s, f)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return sock
}

func TestCRIMetadata(t *testing.T) {
	f := &fakeCRI{ctr: testID(1), pod: testID(2), imageID: strings.Repeat("e", 64)}
	sock := serveFakeCRI(t, f)
	r, w := newTestResolver(t, Config{ContainerdSocket: sock})

	info := waitStatus(t, r, Containerd, f.ctr, 5*time.Second)
	if info.Status != Ready {
		t.Fatalf("%+v", info)
	}
	want := Info{ID: ShortID(f.ctr), FullID: f.ctr, Runtime: Containerd, Status: Ready, Name: "web",
		Image: "registry.example:5000/library/nginx:1.27", ImageID: f.imageID, ImageRepo: "registry.example:5000/library/nginx", ImageTag: "1.27",
		ImageDigest: "sha256:" + strings.Repeat("d", 64), Privileged: true,
		PodName: "shop-0", PodNamespace: "prod", PodUID: "0b3c5a2e-uid", PodSandboxID: f.pod}
	got := *info
	got.Mounts, got.Labels, got.PodLabels, got.StartedAt = nil, nil, nil, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if info.PodLabels["app"] != "shop" || info.Labels["io.kubernetes.container.name"] != "web" {
		t.Errorf("labels %v, pod labels %v", info.Labels, info.PodLabels)
	}
	if !info.StartedAt.Equal(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("started %v", info.StartedAt)
	}
	wantMounts := []Mount{{Source: "/srv/data", Dest: "/data", Mode: "rw", RW: true, Propagation: "rslave"},
		{Source: "/var/lib/hosts", Dest: "/etc/hosts", Mode: "ro", Propagation: "rprivate"}}
	if len(info.Mounts) != 2 || info.Mounts[0] != wantMounts[0] || info.Mounts[1] != wantMounts[1] {
		t.Errorf("mounts %+v", info.Mounts)
	}

	// The pause process names its pod; an id the runtime does not know
	// fails without a warning: it is that container's trouble.
	pod := waitStatus(t, r, Containerd, f.pod, 5*time.Second)
	if pod.Status != Ready || pod.Name != "shop-0" || pod.PodNamespace != "prod" || pod.PodLabels["app"] != "shop" {
		t.Errorf("sandbox %+v", pod)
	}
	gone := waitStatus(t, r, Containerd, testID(3), 5*time.Second)
	if gone.Status != Failed || !strings.Contains(gone.Reason, "the containerd CRI at "+sock+" does not know this container") {
		t.Errorf("unknown container %+v", gone)
	}
	if ws := w.list(); len(ws) != 0 {
		t.Errorf("warnings %v", ws)
	}
}

func TestCRIConnectionRefused(t *testing.T) {
	sock := staleSocket(t)
	r, w := newTestResolver(t, Config{CRIOSocket: sock})
	for i := range 5 {
		if info := waitStatus(t, r, CRIO, testID(i), 5*time.Second); info.Status != Failed {
			t.Fatalf("%+v", info)
		}
	}
	ws := w.list()
	if len(ws) != 1 {
		t.Fatalf("warnings %v", ws)
	}
	if x := ws[0]; x.Runtime != "cri-o" || x.Socket != sock || !strings.Contains(x.Cause, "connection refused") ||
		!strings.Contains(x.Cause, "crio is not running") || !strings.Contains(x.Fix, "start crio") ||
		!strings.Contains(x.Err, "connection refused") {
		t.Errorf("warning %+v", x)
	}
}

// A host root with only var/run mounted (as vigil's DaemonSet does) finds
// containerd's socket there.
func TestCRISocketUnderVarRun(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "var/run/containerd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fakeCRI{ctr: testID(1), pod: testID(2), imageID: strings.Repeat("e", 64)}
	sock := serveFakeCRIAt(t, f, filepath.Join(dir, "containerd.sock"))
	r, _ := newTestResolver(t, Config{HostRoot: root})
	if r.cfg.ContainerdSocket != sock {
		t.Errorf("containerd socket %s, want %s", r.cfg.ContainerdSocket, sock)
	}
	if want := filepath.Join(root, "var/run/crio/crio.sock"); r.cfg.CRIOSocket != want {
		t.Errorf("CRI-O socket %s with neither present, want %s", r.cfg.CRIOSocket, want)
	}
	if info := waitStatus(t, r, Containerd, f.ctr, 5*time.Second); info.Status != Ready || info.PodName != "shop-0" {
		t.Errorf("%+v", info)
	}
}

// A containerd whose cri plugin is disabled answers on its socket, but not
// the CRI: one warning says so and how to enable it.
func TestCRIUnimplemented(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer() // no CRI services registered
	go s.Serve(l)
	t.Cleanup(s.Stop)
	r, w := newTestResolver(t, Config{ContainerdSocket: sock})
	for i := range 4 {
		if info := waitStatus(t, r, Containerd, testID(i), 5*time.Second); info.Status != Failed {
			t.Fatalf("%+v", info)
		}
	}
	ws := w.list()
	if len(ws) != 1 {
		t.Fatalf("warnings %v", ws)
	}
	if x := ws[0]; x.Socket != sock || x.Cause != "the containerd socket "+sock+" answers, but not with the CRI v1 API" ||
		!strings.Contains(x.Fix, "disabled_plugins") || !strings.Contains(x.Err, "Unimplemented") {
		t.Errorf("warning %+v", x)
	}
}

func TestCRISocketForms(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"/run/containerd/containerd.sock":        "/run/containerd/containerd.sock",
		"unix:///run/containerd/containerd.sock": "/run/containerd/containerd.sock",
		"crio.sock":                              filepath.Join(wd, "crio.sock"),
	} {
		if got := newCRIAPI(CRIO, in).endpoint().String(); got != want {
			t.Errorf("%q: socket %q, want %q", in, got, want)
		}
	}
}
