// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package builder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Docker runs jobs in containers of the Docker Engine, through its API.
type Docker struct {
	cli *client.Client
}

// NewDocker connects to the Docker Engine named by the environment
// (DOCKER_HOST) or the default socket, and checks that it answers.
func NewDocker(ctx context.Context) (*Docker, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine at %s does not answer: %w; start it (dockerd, from Debian's docker.io) or set DOCKER_HOST",
			cli.DaemonHost(), err)
	}
	return &Docker{cli: cli}, nil
}

// Client returns the Engine API client.
func (d *Docker) Client() *client.Client { return d.cli }

// Close releases the client.
func (d *Docker) Close() error { return d.cli.Close() }

// Name implements Executor.
func (d *Docker) Name() string { return "docker" }

// Run creates a container for the job, without network, with the job's
// mounts and limits, streams its output, waits for it or for the timeout,
// and removes it whatever happened.
func (d *Docker) Run(ctx context.Context, j Job) (res Result, err error) {
	var mounts []mount.Mount
	for _, m := range j.Mounts {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: m.Host, Target: m.Guest, ReadOnly: m.ReadOnly})
	}
	tmpfs := map[string]string{}
	for _, t := range j.Tmpfs {
		tmpfs[t] = "exec,mode=1777"
	}
	hc := &container.HostConfig{
		NetworkMode: "none",
		Mounts:      mounts,
		Tmpfs:       tmpfs,
		Resources: container.Resources{
			NanoCPUs: int64(j.CPUs * 1e9),
			Memory:   j.MemMiB << 20,
		},
	}
	cfg := &container.Config{
		Image:           j.Image,
		Cmd:             j.Cmd,
		Env:             j.Env,
		NetworkDisabled: true,
		Labels:          map[string]string{"vigil.job": j.Name},
	}
	created, err := d.cli.ContainerCreate(ctx, cfg, hc, nil, nil, "")
	if err != nil {
		return res, fmt.Errorf("create container for %s (image %s): %w", j.Name, j.Image, err)
	}
	// Removal must happen even when ctx is cancelled.
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if rerr := d.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true}); rerr != nil && err == nil {
			err = fmt.Errorf("remove container %s of %s: %w", created.ID[:12], j.Name, rerr)
		}
	}()
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return res, fmt.Errorf("start container for %s: %w", j.Name, err)
	}
	out := NewLineWriter(j.Log, "["+j.Name+"] ")
	logs, err := d.cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return res, fmt.Errorf("follow logs of %s: %w", j.Name, err)
	}
	copied := make(chan struct{})
	go func() {
		_, _ = stdcopy.StdCopy(out, out, logs)
		close(copied)
	}()
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	waitC, errC := d.cli.ContainerWait(wctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		res.ExitCode = int(w.StatusCode)
	case werr := <-errC:
		if !errors.Is(wctx.Err(), context.DeadlineExceeded) {
			logs.Close()
			return res, fmt.Errorf("wait for %s: %w", j.Name, werr)
		}
		kctx, kcancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = d.cli.ContainerKill(kctx, created.ID, "KILL")
		kcancel()
		res.TimedOut, res.ExitCode = true, -1
		fmt.Fprintf(out, "vigil: killed after %s (%v)\n", timeout, ErrTimeout)
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	logs.Close()
	res.Tail = out.Tail()
	return res, nil
}
