// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv/critest"
)

// A sensitive file read in a container made with ctr (containerd's own
// API, namespace k8s.io, no CRI and no pod) raises the alert with the
// container's metadata, asked of containerd in that namespace.
func TestRunSensitiveFileInCtrContainer(t *testing.T) {
	tc := startContainerd(t, critest.Options{})
	extra := appendToShadowAlert(t, "image=%container.image repo=%container.image.repository tag=%container.image.tag"+
		" digest=%container.image.digest type=%container.type full_id=%container.full_id"+
		" started=%container.start_ts up=%container.duration host_net=%container.host_network tier=%container.label[tier]")
	d := startRun(t, "--host-root", "/", "--containerd-socket", tc.Sock,
		"-r", "../../engine/ruleset/vigil_rules.yaml", "-r", extra)
	const id = "vigil-ctr-shadow"
	before := time.Now()
	tc.RunCtr(t, critest.CtrContainer{ID: id, Labels: map[string]string{"tier": "front"}})
	// The metadata is fetched in the background from the container's
	// first events: a read made before it came would alert with <NA>.
	// Read again until an alert carries it, a few times at most.
	var a alert
	for try := 0; ; try++ {
		if out := tc.CtrExec(t, id, "/sleeper", "/etc/shadow"); !strings.HasPrefix(string(out), "root:") {
			t.Fatalf("reading /etc/shadow in the container gave %q", out)
		}
		a = d.wait(t, "Sensitive file read by untrusted program", func(a alert) bool {
			return field(a, "container.id") == id
		})
		if field(a, "container.name") != "<NA>" || try == 4 {
			break
		}
		time.Sleep(500 * time.Millisecond)
		d.mu.Lock()
		d.alerts = nil // wait for the next read's alert
		d.mu.Unlock()
	}
	checkFields(t, a, map[string]string{
		"container.name":             id,
		"container.full_id":          id,
		"container.type":             "containerd",
		"container.image":            critest.Image,
		"container.image.repository": "localhost/vigil/sleeper",
		"container.image.tag":        "cri-test",
		"container.host_network":     "true",
		"container.label[tier]":      "front",
		"fd.name":                    "/etc/shadow",
	})
	if got := field(a, "container.image.digest"); !strings.HasPrefix(got, "sha256:") || len(got) != 71 {
		t.Errorf("container.image.digest = %q (output: %s)", got, a.Output)
	}
	// Numbers in output_fields (JSON: float64 here, exact to a
	// microsecond at today's epoch nanoseconds).
	started, ok := a.OutputFields["container.start_ts"].(float64)
	if !ok || started < float64(before.Add(-time.Second).UnixNano()) || started > float64(time.Now().UnixNano()) {
		t.Errorf("container.start_ts = %v, the test started the container after %d", a.OutputFields["container.start_ts"], before.UnixNano())
	}
	if up, ok := a.OutputFields["container.duration"].(float64); !ok || up < 0 || up > float64(time.Since(before)+time.Second) {
		t.Errorf("container.duration = %v, the container is %s old", a.OutputFields["container.duration"], time.Since(before))
	}
	if strings.Contains(d.logs(), "containerd container metadata unavailable") {
		t.Errorf("a containerd warning:\n%s", d.logs())
	}
}
