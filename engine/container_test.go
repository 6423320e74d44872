// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"os"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/engine/container"
	"github.com/vigil-dev/vigil/engine/eval"
	"github.com/vigil-dev/vigil/engine/output"
	"github.com/vigil-dev/vigil/engine/rules"
	"github.com/vigil-dev/vigil/engine/ruleset"
	"github.com/vigil-dev/vigil/internal/testenv"
)

// Events of processes in two containers of the real Docker Engine, one
// after the other and in runs: each event gets its own process's
// container's metadata, whatever the event before it had (the engine keeps
// the last container's, which must not leak onto another's events).
func TestContainerOfEachEvent(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the Docker Engine")
	}
	testenv.RequireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	image := benchImage(t)
	ctx := context.Background()
	names := map[string]string{} // id -> name
	var ids []string
	for _, name := range []string{"vigil-engine-a", "vigil-engine-b"} {
		name += "-" + randomSuffix()
		c, err := cli.ContainerCreate(ctx, &dcontainer.Config{Image: image, Cmd: []string{"sleep", "120"}},
			&dcontainer.HostConfig{NetworkMode: "none"}, nil, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true}) })
		if err := cli.ContainerStart(ctx, c.ID, dcontainer.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		names[c.ID] = name
		ids = append(ids, c.ID)
	}
	res := container.NewResolver(container.Config{})
	defer res.Close()
	set, err := rules.Load(ruleset.Name, ruleset.Default())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := eval.Compile(set, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(Config{Program: prog, Emit: func(*output.Alert) {}, Containers: res})
	if err != nil {
		t.Fatal(err)
	}
	emit := emitter(t, eng)
	host := uint32(50)
	emit(driver.EvProcFork, 1, func(b *driver.Builder) { b.Int(int64(host)).Int(int64(host)).Int(1).Str("sh") })
	pids := []uint32{100, 200}
	for i, pid := range pids {
		emit(driver.EvProcFork, 1, func(b *driver.Builder) { b.Int(int64(pid)).Int(int64(pid)).Int(1).Str("sh") })
		emit(driver.EvExecve, pid, func(b *driver.Builder) {
			b.Int(0).Str("/usr/bin/cat").Raw([]byte("cat\x00")).Str("/").Str("cat")
			b.Int(1).Int(1).Int(1).Int(0).Int(0)
			b.Int(0).Int(0).Int(0).Int(0).Int(0).Int(0).Str("/docker/" + ids[i]).Int(0).Int(0)
			b.Int(0).Int(0).Int(0)
		})
	}
	open := func(pid uint32) *container.Info {
		t.Helper()
		emit(driver.EvOpenat, pid, func(b *driver.Builder) {
			b.Int(3).Int(unix.AT_FDCWD).Str("/etc/hostname").Int(unix.O_RDONLY).Int(0).Int(0).Int(0)
		})
		return eng.ctx.Container
	}
	// Pending first; Ready once the resolver's workers have asked Docker.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if open(100).Status == container.Ready && open(200).Status == container.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metadata within 30s: %+v, %+v", open(100), open(200))
		}
	}
	for _, pid := range []uint32{100, 100, 200, 200, 100, 200, 100, host, 200, host, 100} {
		got := open(pid)
		if pid == host {
			if got.Runtime != container.Host {
				t.Errorf("event %d of the host's process: container %s (%s)", pid, got.FullID, got.Name)
			}
			continue
		}
		want := ids[0]
		if pid == 200 {
			want = ids[1]
		}
		if got.FullID != want || got.Name != names[want] {
			t.Errorf("event of process %d: container %s (%s), want %s (%s)", pid, got.FullID, got.Name, want, names[want])
		}
	}
}

func randomSuffix() string {
	return time.Now().Format("150405.000000")[7:]
}
