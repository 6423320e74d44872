// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/internal/testenv/critest"
)

// A sensitive file read in a Kubernetes-style pod of containerd (made
// through the CRI, as the kubelet does) raises the alert with the
// container's and the pod's metadata, asked of containerd's CRI: no API
// server involved.
func TestRunSensitiveFileInCRIPod(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the probe and containerd")
	}
	testenv.RequireProbe(t)
	tc := critest.Start(t)
	tc.ImportImage(t)
	// The default rules, with the pod's fields added to the alert's
	// output (an override, as a user would write it).
	extra := filepath.Join(t.TempDir(), "k8s.yaml")
	if err := os.WriteFile(extra, []byte(`- rule: Sensitive file read by untrusted program
  output: k8s_pod=%k8s.pod.name k8s_ns=%k8s.ns.name app=%k8s.pod.label[app] image=%container.image.repository
  override:
    output: append
`), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startRun(t, "--host-root", "/", "--containerd-socket", tc.Sock,
		"-r", "../../engine/ruleset/vigil_rules.yaml", "-r", extra)
	id, _ := tc.RunPod(t, critest.Pod{Name: "shop-0", Namespace: "prod", UID: "6e4d2f1b-0000-4000-8000-00000000c0de",
		Labels: map[string]string{"app": "shop"}, Container: "web"})
	if out := tc.ExecSync(t, id, "/sleeper", "/etc/shadow"); !strings.HasPrefix(string(out), "root:") {
		t.Fatalf("reading /etc/shadow in the container gave %q", out)
	}
	a := d.wait(t, "Sensitive file read by untrusted program", func(a alert) bool {
		return field(a, "container.id") == id[:12]
	})
	for name, want := range map[string]string{
		"container.name":             "web",
		"container.image.repository": "docker.io/vigil/sleeper",
		"k8s.pod.name":               "shop-0",
		"k8s.ns.name":                "prod",
		"k8s.pod.label[app]":         "shop",
		"fd.name":                    "/etc/shadow",
	} {
		if got := field(a, name); got != want {
			t.Errorf("%s = %q, want %q (output: %s)", name, got, want, a.Output)
		}
	}
	if strings.Contains(d.logs(), "containerd container metadata unavailable") {
		t.Errorf("a containerd warning:\n%s", d.logs())
	}
}
