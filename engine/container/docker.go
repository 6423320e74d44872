// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dockercontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// Kubelet labels on the containers of a pod.
const (
	labelPodName      = "io.kubernetes.pod.name"
	labelPodNamespace = "io.kubernetes.pod.namespace"
	labelPodUID       = "io.kubernetes.pod.uid"
)

// errNotFound is a container the engine does not know (it died and was
// removed, or belongs to another engine, as in docker-in-docker).
var errNotFound = errors.New("container not found")

// engineAPI talks to a Docker Engine API socket: dockerd's, or podman's
// Docker-compatible one.
type engineAPI struct {
	rt   Runtime
	ep   Endpoint
	sock string // ep as messages name it

	mu     sync.Mutex
	cli    *client.Client
	images map[string]imageNames // by image id, so each image is asked once
}

type imageNames struct{ tags, digests []string }

// names tells whether a tag or digest is of repository repo.
func (n imageNames) names(repo string) bool {
	for _, rd := range n.digests {
		if r, _, ok := strings.Cut(rd, "@"); ok && r == repo {
			return true
		}
	}
	for _, rt := range n.tags {
		if r, _, _ := SplitImage(rt); r == repo {
			return true
		}
	}
	return false
}

// maxImages bounds the image cache; it is dropped whole when full, since
// the engine answers again when asked.
const maxImages = 512

func newEngineAPI(rt Runtime, ep Endpoint) *engineAPI {
	return &engineAPI{rt: rt, ep: ep, sock: ep.String(), images: make(map[string]imageNames)}
}

func (d *engineAPI) client() (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cli == nil {
		// The client connects on first use, not here.
		cli, err := client.NewClientWithOpts(client.WithHost(d.ep.Host()), client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, fmt.Errorf("%s client for %s: %w", d.rt, d.sock, err)
		}
		d.cli = cli
	}
	return d.cli, nil
}

func (d *engineAPI) endpoint() Endpoint { return d.ep }

func (d *engineAPI) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cli != nil {
		d.cli.Close()
		d.cli = nil
	}
}

// inspect fetches one container's metadata, and whether it still runs.
// Errors are errNotFound, a context error (the engine did not answer in
// time), or what the client returned (transport failures and other API
// errors).
func (d *engineAPI) inspect(ctx context.Context, fullID string) (info *Info, alive bool, err error) {
	cli, err := d.client()
	if err != nil {
		return nil, false, err
	}
	c, err := cli.ContainerInspect(ctx, fullID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, false, fmt.Errorf("%w: %v", errNotFound, err)
		}
		return nil, false, err
	}
	if c.ContainerJSONBase == nil {
		return nil, false, fmt.Errorf("inspect %s: the engine's answer has no container", ShortID(fullID))
	}
	info = &Info{
		ID:      ShortID(fullID),
		FullID:  fullID,
		Runtime: d.rt,
		Status:  Ready,
		Name:    strings.TrimPrefix(c.Name, "/"),
		ImageID: strings.TrimPrefix(c.Image, "sha256:"),
	}
	if c.HostConfig != nil {
		info.Privileged = c.HostConfig.Privileged
		info.HostPID, info.HostNetwork, info.HostIPC = c.HostConfig.PidMode.IsHost(), c.HostConfig.NetworkMode.IsHost(), c.HostConfig.IpcMode.IsHost()
		info.NamespacesKnown = true
	}
	if c.State != nil {
		// "0001-01-01T00:00:00Z" for a container never started (dockerd
		// and podman alike): not known.
		if t, err := time.Parse(time.RFC3339Nano, c.State.StartedAt); err == nil && t.Year() > 1 {
			info.StartedAt = t
		}
	}
	info.IP = engineIP(c.NetworkSettings)
	if c.Config != nil {
		info.Image = c.Config.Image
		info.Labels = c.Config.Labels
	}
	for _, m := range c.Mounts {
		info.Mounts = append(info.Mounts, Mount{
			Source:      m.Source,
			Dest:        m.Destination,
			Mode:        m.Mode,
			RW:          m.RW,
			Propagation: string(m.Propagation),
		})
	}
	info.PodName = info.Labels[labelPodName]
	info.PodNamespace = info.Labels[labelPodNamespace]
	info.PodUID = info.Labels[labelPodUID]
	fillImage(ctx, info, func(ctx context.Context, id string) (imageNames, bool) {
		return d.imageNames(ctx, cli, id, info.ImageRepo)
	})
	return info, c.State != nil && c.State.Running, nil
}

// fillImage splits the image reference into repository, tag and digest as
// Falco's Docker engine does: a container created from an image id, or
// whose reference lacks a digest or a tag, takes what is missing from the
// image's RepoDigests and RepoTags (the first of the same repository); a
// tag still missing reads "latest". Unlike Falco, a tag or digest the
// reference has is kept: the image may carry several.
// names gives an image's tags and digests by image id, false when unknown.
func fillImage(ctx context.Context, info *Info, names func(context.Context, string) (imageNames, bool)) {
	short := strings.TrimPrefix(info.Image, "sha256:")
	byID := isID(short) && strings.HasPrefix(info.ImageID, short)
	if !byID {
		info.ImageRepo, info.ImageTag, info.ImageDigest = SplitImage(info.Image)
	}
	if info.ImageID != "" && (info.ImageDigest == "" || info.ImageTag == "") {
		if names, ok := names(ctx, info.ImageID); ok {
			for _, rd := range names.digests {
				if info.ImageDigest != "" {
					break
				}
				repo, digest, ok := strings.Cut(rd, "@")
				if !ok {
					continue
				}
				if info.ImageRepo == "" {
					info.ImageRepo = repo
				}
				if repo == info.ImageRepo {
					info.ImageDigest = digest
				}
			}
			for _, rt := range names.tags {
				if info.ImageTag != "" {
					break
				}
				repo, tag, _ := SplitImage(rt)
				if info.ImageRepo == "" {
					info.ImageRepo = repo
				}
				if repo == info.ImageRepo {
					info.ImageTag = tag
				}
			}
		}
	}
	if info.ImageTag == "" {
		info.ImageTag = "latest"
	}
}

// imageNames returns an image's tags and digests; a failure leaves the
// container's metadata as its own reference gave it. The names cached for
// the image are asked again when they lack repo: the image was tagged
// since (podman keeps a digest per name, which the new name needs).
func (d *engineAPI) imageNames(ctx context.Context, cli *client.Client, id, repo string) (imageNames, bool) {
	d.mu.Lock()
	n, ok := d.images[id]
	d.mu.Unlock()
	if ok && (repo == "" || n.names(repo)) {
		return n, true
	}
	img, err := cli.ImageInspect(ctx, id)
	if err != nil {
		return imageNames{}, false
	}
	n = imageNames{tags: img.RepoTags, digests: img.RepoDigests}
	d.mu.Lock()
	if len(d.images) >= maxImages {
		clear(d.images)
	}
	d.images[id] = n
	d.mu.Unlock()
	return n, true
}

// engineIP is the container's primary address: the default bridge's, else
// that of the first network by name (the engine's map has no order).
func engineIP(ns *dockercontainer.NetworkSettings) string {
	if ns == nil {
		return ""
	}
	if ns.IPAddress != "" {
		return ns.IPAddress
	}
	for _, name := range slices.Sorted(maps.Keys(ns.Networks)) {
		if n := ns.Networks[name]; n != nil && n.IPAddress != "" {
			return n.IPAddress
		}
	}
	return ""
}
