// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
)

// A --docker-socket vigil cannot use is refused before anything starts,
// saying which forms it takes.
func TestRunDockerSocketRefused(t *testing.T) {
	for _, sock := range []string{"ftp://host/docker.sock", "unix://var/run/docker.sock", "localhost:2375"} {
		r := run(t, "run", "--duration", "1ms", "--docker-socket", sock)
		if r.code == 0 {
			t.Errorf("--docker-socket %s: vigil run succeeded", sock)
			continue
		}
		if !strings.Contains(r.stderr, `--docker-socket "`+sock+`"`) {
			t.Errorf("--docker-socket %s: the error does not name the flag and value:\n%s", sock, r.stderr)
		}
		if strings.Contains(r.stderr, "rules loaded") {
			t.Errorf("--docker-socket %s: checked only after loading the rules:\n%s", sock, r.stderr)
		}
	}
}
