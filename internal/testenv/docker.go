// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

const dockerSock = "/var/run/docker.sock"

var (
	dockerOnce sync.Once
	dockerErr  error
)

// RequireDocker makes sure a Docker Engine answers on the default socket,
// starting Debian's dockerd when none runs (it is left running for the
// other tests). Where that cannot be done, the test skips, or fails in CI.
func RequireDocker(t testing.TB) {
	t.Helper()
	dockerOnce.Do(func() { dockerErr = startDockerd() })
	if dockerErr != nil {
		Unavailable(t, dockerErr.Error())
	}
}

func dockerAnswers() bool { return APIAnswers(dockerSock) }

func startDockerd() error {
	if dockerAnswers() {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("no Docker Engine on %s, and starting dockerd needs root", dockerSock)
	}
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return fmt.Errorf("no Docker Engine on %s and no dockerd: install Debian's docker.io (make deps)", dockerSock)
	}
	log, err := os.CreateTemp("", "vigil-dockerd-*.log")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if dockerAnswers() {
			return nil
		}
	}
	return fmt.Errorf("started dockerd, but it did not answer on %s within 60s; its log: %s", dockerSock, log.Name())
}
