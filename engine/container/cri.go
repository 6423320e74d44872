// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criAPI talks to a runtime's CRI socket (the kubelet's API: containerd's
// CRI plugin, CRI-O). It needs no API server: the pod's name, namespace, uid
// and labels come from the pod sandbox the runtime keeps.
type criAPI struct {
	rt   Runtime
	ep   Endpoint
	sock string

	mu        sync.Mutex
	conn      *grpc.ClientConn
	images    map[string]criImage // by the container's image ref
	sandboxes map[string]*cri.PodSandboxStatus
}

type criImage struct {
	id    string
	names imageNames
}

// maxSandboxes bounds the sandbox cache, dropped whole when full like the
// image cache: the runtime answers again.
const maxSandboxes = 512

// maxCRIMessage allows the verbose status, which carries the OCI spec.
const maxCRIMessage = 16 << 20

// newCRIAPI takes the socket as a path or unix:///path, as crictl's
// --runtime-endpoint has it.
func newCRIAPI(rt Runtime, sock string) *criAPI {
	sock = strings.TrimPrefix(sock, "unix://")
	if abs, err := filepath.Abs(sock); err == nil {
		sock = abs // the gRPC target below wants an absolute path
	}
	return &criAPI{rt: rt, ep: Endpoint{Network: "unix", Address: sock}, sock: sock,
		images: make(map[string]criImage), sandboxes: make(map[string]*cri.PodSandboxStatus)}
}

func (c *criAPI) endpoint() Endpoint { return c.ep }

func (c *criAPI) client() (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		// NewClient connects on first use, not here.
		conn, err := grpc.NewClient("unix://"+c.sock,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxCRIMessage)))
		if err != nil {
			return nil, fmt.Errorf("%s CRI client for %s: %w", c.rt, c.sock, err)
		}
		c.conn = conn
	}
	return c.conn, nil
}

func (c *criAPI) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// criVerbose is what containerd and CRI-O put in a verbose status's "info":
// the sandbox id, and privileged (CRI-O at the top, containerd in the
// container's config), which the plain status lacks.
type criVerbose struct {
	SandboxID  string `json:"sandboxID"`
	Privileged bool   `json:"privileged"`
	Config     struct {
		Linux struct {
			SecurityContext struct {
				Privileged bool `json:"privileged"`
			} `json:"security_context"`
		} `json:"linux"`
	} `json:"config"`
}

// inspect is engineAPI.inspect over the CRI. An id the runtime knows as a
// pod sandbox (its pause process) gives the pod's metadata.
func (c *criAPI) inspect(ctx context.Context, fullID string) (*Info, bool, error) {
	conn, err := c.client()
	if err != nil {
		return nil, false, err
	}
	rs := cri.NewRuntimeServiceClient(conn)
	resp, err := rs.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: fullID, Verbose: true})
	if status.Code(err) == codes.NotFound {
		return c.inspectSandbox(ctx, rs, fullID, err)
	}
	if err != nil {
		return nil, false, criError(err)
	}
	st := resp.GetStatus()
	if st == nil {
		return nil, false, fmt.Errorf("status of %s: the runtime's answer has no container", ShortID(fullID))
	}
	info := &Info{
		ID:      ShortID(fullID),
		FullID:  fullID,
		Runtime: c.rt,
		Status:  Ready,
		Name:    st.GetMetadata().GetName(),
		Image:   st.GetImage().GetImage(),
		Labels:  st.GetLabels(),
	}
	if st.StartedAt > 0 {
		info.StartedAt = time.Unix(0, st.StartedAt)
	}
	for _, m := range st.GetMounts() {
		info.Mounts = append(info.Mounts, criMount(m))
	}
	var v criVerbose
	if raw := resp.GetInfo()["info"]; raw != "" {
		// A runtime that says more or less than expected still gives
		// the rest: privileged reads false, the sandbox comes from the
		// listing below.
		_ = json.Unmarshal([]byte(raw), &v)
	}
	info.Privileged = v.Privileged || v.Config.Linux.SecurityContext.Privileged
	sandboxID := v.SandboxID
	if sandboxID == "" {
		if l, err := rs.ListContainers(ctx, &cri.ListContainersRequest{Filter: &cri.ContainerFilter{Id: fullID}}); err == nil && len(l.Containers) == 1 {
			sandboxID = l.Containers[0].PodSandboxId
		}
	}
	// The kubelet's labels name the pod even when its sandbox is gone.
	info.PodName = info.Labels[labelPodName]
	info.PodNamespace = info.Labels[labelPodNamespace]
	info.PodUID = info.Labels[labelPodUID]
	info.PodSandboxID = sandboxID
	if sb := c.sandbox(ctx, rs, sandboxID); sb != nil {
		fillPod(info, sb)
	}
	c.fillImage(ctx, conn, info, st.GetImageRef())
	return info, st.State == cri.ContainerState_CONTAINER_RUNNING || st.State == cri.ContainerState_CONTAINER_CREATED, nil
}

// inspectSandbox answers for a pod sandbox's own processes; notFound is
// the container lookup's error, returned when the id is no sandbox either.
func (c *criAPI) inspectSandbox(ctx context.Context, rs cri.RuntimeServiceClient, id string, notFound error) (*Info, bool, error) {
	resp, err := rs.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || resp.GetStatus() == nil {
		return nil, false, fmt.Errorf("%w: %v", errNotFound, notFound)
	}
	sb := resp.GetStatus()
	info := &Info{ID: ShortID(id), FullID: id, Runtime: c.rt, Status: Ready,
		Name: sb.GetMetadata().GetName(), Labels: sb.GetLabels(), PodSandboxID: id}
	if sb.CreatedAt > 0 {
		info.StartedAt = time.Unix(0, sb.CreatedAt)
	}
	fillPod(info, sb)
	return info, sb.State == cri.PodSandboxState_SANDBOX_READY, nil
}

// sandbox returns a pod sandbox's status, cached: a pod's metadata does not
// change, and its containers ask for it in turn. nil when unknown.
func (c *criAPI) sandbox(ctx context.Context, rs cri.RuntimeServiceClient, id string) *cri.PodSandboxStatus {
	if id == "" {
		return nil
	}
	c.mu.Lock()
	sb := c.sandboxes[id]
	c.mu.Unlock()
	if sb != nil {
		return sb
	}
	resp, err := rs.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || resp.GetStatus() == nil {
		return nil
	}
	sb = resp.GetStatus()
	c.mu.Lock()
	if len(c.sandboxes) >= maxSandboxes {
		clear(c.sandboxes)
	}
	c.sandboxes[id] = sb
	c.mu.Unlock()
	return sb
}

func fillPod(info *Info, sb *cri.PodSandboxStatus) {
	if md := sb.GetMetadata(); md != nil {
		info.PodName, info.PodNamespace, info.PodUID = md.Name, md.Namespace, md.Uid
	}
	info.PodLabels = sb.GetLabels()
	// The pod's containers share its network: its address is theirs.
	info.IP = sb.GetNetwork().GetIp()
	if ns := sb.GetLinux().GetNamespaces().GetOptions(); ns != nil {
		info.HostNetwork = ns.Network == cri.NamespaceMode_NODE
		info.HostPID = ns.Pid == cri.NamespaceMode_NODE
		info.HostIPC = ns.Ipc == cri.NamespaceMode_NODE
		info.NamespacesKnown = true
	}
}

// fillImage names the image from the container's reference and the image's
// status (its id, tags and digests). ref is the status's image_ref: an image
// id (sha256:…) or a repository digest, depending on the runtime.
func (c *criAPI) fillImage(ctx context.Context, conn *grpc.ClientConn, info *Info, ref string) {
	img, ok := c.image(ctx, conn, ref)
	switch {
	case ok:
		info.ImageID = strings.TrimPrefix(img.id, "sha256:")
	case strings.HasPrefix(ref, "sha256:"):
		info.ImageID = strings.TrimPrefix(ref, "sha256:")
	}
	// A container created from an image id (as the kubelet does) takes
	// its names from the image's tags and digests.
	fillImage(ctx, info, func(context.Context, string) (imageNames, bool) { return img.names, ok })
	if info.ImageDigest == "" {
		if _, d, found := strings.Cut(ref, "@"); found {
			info.ImageDigest = d
		}
	}
}

func (c *criAPI) image(ctx context.Context, conn *grpc.ClientConn, ref string) (criImage, bool) {
	if ref == "" {
		return criImage{}, false
	}
	c.mu.Lock()
	img, ok := c.images[ref]
	c.mu.Unlock()
	if ok {
		return img, true
	}
	resp, err := cri.NewImageServiceClient(conn).ImageStatus(ctx, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: ref}})
	if err != nil || resp.GetImage() == nil {
		return criImage{}, false
	}
	i := resp.GetImage()
	img = criImage{id: i.Id, names: imageNames{tags: i.RepoTags, digests: i.RepoDigests}}
	c.mu.Lock()
	if len(c.images) >= maxImages {
		clear(c.images)
	}
	c.images[ref] = img
	c.mu.Unlock()
	return img, true
}

func criMount(m *cri.Mount) Mount {
	mode := "rw"
	if m.Readonly {
		mode = "ro"
	}
	prop := "rprivate"
	switch m.Propagation {
	case cri.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		prop = "rslave"
	case cri.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		prop = "rshared"
	}
	return Mount{Source: m.HostPath, Dest: m.ContainerPath, Mode: mode, RW: !m.Readonly, Propagation: prop}
}

// errNoCRI is a runtime whose socket does not serve the CRI: containerd
// with its cri plugin disabled (as Docker's bundled containerd has it), or
// another server on the socket.
var errNoCRI = errors.New("no CRI service")

// criError makes a gRPC error what the resolver tells apart: a deadline is
// a context error, so that it reads "did not answer in time".
func criError(err error) error {
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	case codes.Unimplemented:
		return fmt.Errorf("%w: %v", errNoCRI, err)
	}
	return err
}
