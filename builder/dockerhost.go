// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package builder

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/client"
)

// NewDockerAt connects to the Docker Engine at host ("unix:///host/var/run/docker.sock",
// "tcp://10.0.0.1:2375"), or to the one the environment names when host is
// "", and checks that it answers. The loader in a container reaches the
// node's engine this way, through the socket under the host's root.
func NewDockerAt(ctx context.Context, host string) (*Docker, error) {
	if host == "" {
		return NewDocker(ctx)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine at %s does not answer: %w; start it, or point DOCKER_HOST at one that runs", host, err)
	}
	return &Docker{cli: cli}, nil
}
