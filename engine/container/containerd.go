// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// containerdAPI is containerd's socket as the resolver sees it: one
// runtime, one socket, one warning, and two APIs on it. Containers the
// kubelet made (hex ids, named by their cgroups under a kubepods tree) are
// asked over the CRI, which also knows their pod; containers of
// containerd's own API (ctr, nerdctl, BuildKit: ParseCgroup names them
// <namespace>/<id>) are asked over that API, in their namespace.
type containerdAPI struct {
	cri *criAPI

	mu  sync.Mutex
	ids map[string]string // image ids (config digests) by manifest or index digest
}

// ctrdImage is what containerd's image store says of an image name.
type ctrdImage struct {
	digest string // the manifest's (or index's) digest: the repository digest
	id     string // the config's digest: the image id, as Docker and the CRI call it
}

func newContainerdAPI(sock string) *containerdAPI {
	return &containerdAPI{cri: newCRIAPI(Containerd, sock), ids: make(map[string]string)}
}

func (c *containerdAPI) endpoint() Endpoint { return c.cri.endpoint() }

func (c *containerdAPI) close() { c.cri.close() }

// namespaceHeader is the gRPC metadata key containerd reads the namespace
// of a request from.
const namespaceHeader = "containerd-namespace"

func (c *containerdAPI) inspect(ctx context.Context, fullID string) (*Info, bool, error) {
	ns, id, ok := SplitNamespaced(fullID)
	if !ok {
		return c.cri.inspect(ctx, fullID)
	}
	// The CRI's client connection serves containerd's other services too.
	conn, err := c.cri.client()
	if err != nil {
		return nil, false, err
	}
	ctx = metadata.AppendToOutgoingContext(ctx, namespaceHeader, ns)
	resp, err := containersapi.NewContainersClient(conn).Get(ctx, &containersapi.GetContainerRequest{ID: id})
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, false, fmt.Errorf("%w: containerd namespace %s: %v", errNotFound, ns, err)
		}
		return nil, false, ctrdError(err)
	}
	ctr := resp.GetContainer()
	if ctr == nil {
		return nil, false, fmt.Errorf("container %s in containerd namespace %s: containerd's answer has no container", id, ns)
	}
	info := &Info{
		ID:      ShortID(fullID),
		FullID:  id,
		Runtime: Containerd,
		Status:  Ready,
		Name:    containerdName(id, ctr.GetLabels()),
		Image:   ctr.GetImage(),
		Labels:  ctr.GetLabels(),
	}
	if ts := ctr.GetCreatedAt(); ts != nil {
		// containerd keeps no start time; clients start the task right
		// after creating the container.
		info.StartedAt = ts.AsTime()
	}
	if spec := ctr.GetSpec(); spec != nil {
		// A spec that does not parse leaves privileged false and no
		// mounts: the rest of the metadata still holds.
		var s ociSpec
		if json.Unmarshal(spec.GetValue(), &s) == nil {
			info.Privileged = s.privileged()
			info.Mounts = s.mounts()
			if s.Linux != nil {
				info.HostPID, info.HostNetwork, info.HostIPC = !s.hasNamespace("pid"), !s.hasNamespace("network"), !s.hasNamespace("ipc")
				info.NamespacesKnown = true
			}
		}
	}
	info.PodName = info.Labels[labelPodName]
	info.PodNamespace = info.Labels[labelPodNamespace]
	info.PodUID = info.Labels[labelPodUID]
	if info.Image != "" {
		img := c.image(ctx, conn, info.Image)
		info.ImageID = strings.TrimPrefix(img.id, "sha256:")
		fillImage(ctx, info, func(context.Context, string) (imageNames, bool) {
			repo, _, _ := SplitImage(info.Image)
			return imageNames{digests: []string{repo + "@" + img.digest}}, img.digest != ""
		})
		if info.ImageDigest == "" {
			info.ImageDigest = img.digest
		}
	}
	return info, c.alive(ctx, conn, id), nil
}

// containerdName is container.name: containerd containers have an id and
// no name, but nerdctl and the kubelet keep one in a label.
func containerdName(id string, labels map[string]string) string {
	for _, k := range [...]string{"nerdctl/name", "io.kubernetes.container.name"} {
		if n := labels[k]; n != "" {
			return n
		}
	}
	return id
}

// alive tells whether the container's task runs: a container without one
// (never started, or its task deleted) runs nothing. When containerd does
// not say, the container is taken to run: Forget will tell when it stops.
func (c *containerdAPI) alive(ctx context.Context, conn *grpc.ClientConn, id string) bool {
	resp, err := tasksapi.NewTasksClient(conn).Get(ctx, &tasksapi.GetRequest{ContainerID: id})
	if status.Code(err) == codes.NotFound {
		return false
	}
	if err != nil {
		return true
	}
	switch resp.GetProcess().GetStatus() {
	case task.Status_STOPPED:
		return false
	}
	return true
}

// image looks an image name up in containerd's image store. A name may be
// moved to another image (a new pull of the tag): the name is asked each
// time, and only the id, which a target's digest fixes, is cached. A
// failure gives what could be had: the digest without the id, or nothing.
func (c *containerdAPI) image(ctx context.Context, conn *grpc.ClientConn, name string) ctrdImage {
	resp, err := imagesapi.NewImagesClient(conn).Get(ctx, &imagesapi.GetImageRequest{Name: name})
	if err != nil || resp.GetImage().GetTarget() == nil {
		return ctrdImage{}
	}
	target := resp.GetImage().GetTarget()
	img := ctrdImage{digest: target.GetDigest()}
	c.mu.Lock()
	id, ok := c.ids[img.digest]
	c.mu.Unlock()
	if ok {
		img.id = id
		return img
	}
	img.id, err = configDigest(ctx, contentapi.NewContentClient(conn), target.GetMediaType(), img.digest)
	if err != nil {
		return img // not cached: the content may come later (a pull in progress)
	}
	c.mu.Lock()
	if len(c.ids) >= maxImages {
		clear(c.ids)
	}
	c.ids[img.digest] = img.id
	c.mu.Unlock()
	return img
}

// maxManifest bounds what is read of a manifest or index: they are a few
// KiB.
const maxManifest = 4 << 20

// ociManifest is the part of an OCI or Docker manifest or index read here.
type ociManifest struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Manifests []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Platform  *struct {
			Architecture string `json:"architecture"`
			OS           string `json:"os"`
		} `json:"platform"`
	} `json:"manifests"`
}

// configDigest follows an image's target (a manifest, or an index of them:
// the one for this machine's platform) to its config's digest, the image id.
func configDigest(ctx context.Context, cs contentapi.ContentClient, mediaType, dgst string) (string, error) {
	for range 3 { // index -> manifest -> config; an index of indexes is no image
		b, err := readContent(ctx, cs, dgst)
		if err != nil {
			return "", err
		}
		var m ociManifest
		if err := json.Unmarshal(b, &m); err != nil {
			return "", fmt.Errorf("manifest %s: %w", dgst, err)
		}
		if m.Config.Digest != "" {
			return m.Config.Digest, nil
		}
		if len(m.Manifests) == 0 {
			return "", fmt.Errorf("%s (%s) is neither a manifest nor an index", dgst, mediaType)
		}
		next := m.Manifests[0]
		for _, d := range m.Manifests {
			if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				next = d
				break
			}
		}
		mediaType, dgst = next.MediaType, next.Digest
	}
	return "", fmt.Errorf("%s: indexes nested too deep", dgst)
}

func readContent(ctx context.Context, cs contentapi.ContentClient, dgst string) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream if it is left early
	stream, err := cs.Read(ctx, &contentapi.ReadContentRequest{Digest: dgst})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dgst, err)
	}
	var b []byte
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dgst, err)
		}
		b = append(b, resp.GetData()...)
		if len(b) > maxManifest {
			return nil, fmt.Errorf("read %s: more than %d bytes: no manifest", dgst, maxManifest)
		}
	}
}

// ociSpec is the part of a container's OCI runtime spec read here.
type ociSpec struct {
	Process *struct {
		Capabilities *struct {
			Bounding []string `json:"bounding"`
		} `json:"capabilities"`
	} `json:"process"`
	Mounts []struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options"`
	} `json:"mounts"`
	Linux *struct {
		MaskedPaths   []string `json:"maskedPaths"`
		ReadonlyPaths []string `json:"readonlyPaths"`
		Namespaces    []struct {
			Type string `json:"type"`
		} `json:"namespaces"`
	} `json:"linux"`
}

// hasNamespace tells whether the container gets a namespace of the type of
// its own (or joins another container's): a type the spec leaves out is
// the host's, as ctr --net-host makes it.
func (s *ociSpec) hasNamespace(typ string) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == typ {
			return true
		}
	}
	return false
}

// privileged reads a spec as ctr --privileged and the CRI's privileged
// make it (the spec keeps no flag): CAP_SYS_ADMIN, and no path of /proc or
// /sys masked or made read-only. A default spec masks a dozen.
func (s *ociSpec) privileged() bool {
	if s.Process == nil || s.Process.Capabilities == nil || s.Linux == nil {
		return false
	}
	return slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") &&
		len(s.Linux.MaskedPaths) == 0 && len(s.Linux.ReadonlyPaths) == 0
}

// mounts are the spec's bind mounts: what the container was given of the
// host, as Docker's and the CRI's mount lists have it (not the proc, sysfs
// or tmpfs mounts every container gets).
func (s *ociSpec) mounts() []Mount {
	var ms []Mount
	for _, m := range s.Mounts {
		if m.Type != "bind" && !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
			continue
		}
		mt := Mount{Source: m.Source, Dest: m.Destination, Mode: "rw", RW: true, Propagation: "rprivate"}
		for _, o := range m.Options {
			switch o {
			case "ro":
				mt.Mode, mt.RW = "ro", false
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				mt.Propagation = o
			}
		}
		ms = append(ms, mt)
	}
	return ms
}

// ctrdError makes a gRPC error what the resolver tells apart: a deadline is
// a context error, so that it reads "did not answer in time".
func ctrdError(err error) error {
	if status.Code(err) == codes.DeadlineExceeded {
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}
