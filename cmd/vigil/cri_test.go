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
// server involved. The pod's sandbox and its container are of the
// Debian image vigil's builder makes (debootstrap; no registry), and the
// read is Debian's own /bin/cat.
func TestRunSensitiveFileInCRIPod(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the probe and containerd")
	}
	testenv.RequireProbe(t)
	// Only the Debian image is imported: a sandbox of any other image
	// would fail to pull.
	tc := critest.StartWith(t, critest.Options{SandboxImage: critest.DebianImage})
	imageDigest := tc.ImportDebian(t)
	// The default rules, with the pod's fields added to the alert's
	// output.
	extra := appendToShadowAlert(t, "k8s_pod=%k8s.pod.name k8s_ns=%k8s.ns.name app=%k8s.pod.label[app] image=%container.image.repository"+
		" tag=%container.image.tag digest=%container.image.digest")
	d := startRun(t, "--host-root", "/", "--containerd-socket", tc.Sock,
		"-r", "../../engine/ruleset/vigil_rules.yaml", "-r", extra)
	id, _ := tc.RunPod(t, critest.Pod{Name: "shop-0", Namespace: "prod", UID: "6e4d2f1b-0000-4000-8000-00000000c0de",
		Labels: map[string]string{"app": "shop"}, Container: "web", Image: critest.DebianImage})
	if out := tc.ExecSync(t, id, "/bin/cat", "/etc/shadow"); !strings.HasPrefix(string(out), "root:") {
		t.Fatalf("cat /etc/shadow in the container gave %q", out)
	}
	a := d.wait(t, "Sensitive file read by untrusted program", func(a alert) bool {
		return field(a, "container.id") == id[:12]
	})
	checkFields(t, a, map[string]string{
		"container.name":             "web",
		"container.image.repository": "localhost/vigil/debian",
		"container.image.tag":        "cri-test",
		"container.image.digest":     imageDigest,
		"k8s.pod.name":               "shop-0",
		"k8s.ns.name":                "prod",
		"k8s.pod.label[app]":         "shop",
		"fd.name":                    "/etc/shadow",
		"proc.name":                  "cat",
	})
	if strings.Contains(d.logs(), "containerd container metadata unavailable") {
		t.Errorf("a containerd warning:\n%s", d.logs())
	}
}

// With containerd's socket out of reach, the alert still comes with the
// container's id, its metadata fields read <NA>, and one warning names the
// socket, the cause and the fix.
func TestRunCRIPodWithoutSocket(t *testing.T) {
	tc := startContainerd(t, critest.Options{})
	missing := filepath.Join(t.TempDir(), "containerd.sock")
	d := startRun(t, "--host-root", "/", "--containerd-socket", missing)
	id, _ := tc.RunPod(t, critest.Pod{Name: "nosock-0", Namespace: "prod", UID: "7f5e3a2c-0000-4000-8000-00000000c0de", Container: "web"})
	// Several reads: several lookups, still one warning.
	for range 3 {
		tc.ExecSync(t, id, "/sleeper", "/etc/shadow")
	}
	a := d.wait(t, "Sensitive file read by untrusted program", func(a alert) bool {
		return field(a, "container.id") == id[:12]
	})
	if got := field(a, "container.name"); got != "<NA>" {
		t.Errorf("container.name = %q with no containerd socket, want <NA>", got)
	}
	warnings := warningsWith(d.logs(), missing)
	if len(warnings) != 1 {
		t.Fatalf("%d warnings name the socket %s, want 1:\n%s", len(warnings), missing, d.logs())
	}
	if !strings.Contains(warnings[0], "no containerd socket at "+missing) || !strings.Contains(warnings[0], "mount the host's /run/containerd") {
		t.Errorf("the warning does not say what is wrong and how to fix it: %s", warnings[0])
	}
}

// startContainerd starts a containerd of the test's own, as opts say, with
// critest.Image imported, for vigil run over the live probe to watch.
func startContainerd(t *testing.T, opts critest.Options) *critest.Containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the probe and containerd")
	}
	testenv.RequireProbe(t)
	tc := critest.StartWith(t, opts)
	tc.ImportImage(t)
	return tc
}

// appendToShadowAlert writes a rules file that appends output to the
// output of the default rule "Sensitive file read by untrusted program"
// (an override, as a user would write it), and returns its path.
func appendToShadowAlert(t *testing.T, output string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "override.yaml")
	if err := os.WriteFile(path, []byte(`- rule: Sensitive file read by untrusted program
  output: `+output+`
  override:
    output: append
`), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkFields checks the alert's output_fields against want, field by
// field.
func checkFields(t *testing.T, a alert, want map[string]string) {
	t.Helper()
	for name, w := range want {
		if got := field(a, name); got != w {
			t.Errorf("%s = %q, want %q (output: %s)", name, got, w, a.Output)
		}
	}
}

// warningsWith returns the lines of vigil's log that are warnings holding s.
func warningsWith(logs, s string) []string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"warning"`) && strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}
