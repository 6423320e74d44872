// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// The probe variant claims that its four capabilities are enough for vigil
// run. No cluster runs here, and this machine's Docker Engine cannot name
// CAP_BPF or CAP_PERFMON; setpriv can: vigil run gets exactly the
// capabilities the manifest gives its detector as its bounding set, and
// must detect, and must fail without CAP_BPF (or the test proves nothing).
func TestProbeCapabilitiesRunTheProbe(t *testing.T) {
	testenv.RequireProbe(t)
	m := load(t)
	ds := m.daemonSets[probeFile]
	if ds == nil || len(ds.Spec.Template.Spec.Containers) == 0 || ds.Spec.Template.Spec.Containers[0].SecurityContext == nil ||
		ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities == nil {
		t.Fatalf("%s: no detector container with capabilities", probeFile)
	}
	var caps []string
	for _, c := range ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add {
		caps = append(caps, strings.ToLower(string(c)))
	}
	if missing := notInBoundingSet(t, caps); len(missing) > 0 {
		t.Logf("this machine's capability bounding set lacks %v: vigil runs without them", missing)
	}
	bin, err := testenv.BuildVigil("../../cmd/vigil")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Dir(bin))

	run := func(caps []string) (string, error) {
		bounding := "--bounding-set=-all"
		for _, c := range caps {
			bounding += ",+" + c
		}
		// As root, a program's capabilities after exec are its bounding set.
		out, err := exec.Command("setpriv", bounding, "--inh-caps=-all",
			bin, "--log-format", "json", "run", "--duration", "2s").CombinedOutput()
		return string(out), err
	}
	out, err := run(caps)
	if err != nil || !strings.Contains(out, `"msg":"detecting"`) {
		t.Fatalf("vigil run with only %v: %v\n%s", caps, err, out)
	}
	withoutBPF := slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return c == "bpf" })
	if out, err := run(withoutBPF); err == nil {
		t.Fatalf("vigil run with only %v ran: setpriv did not limit its capabilities\n%s", withoutBPF, out)
	}
}

// notInBoundingSet are the capabilities of caps (lower case, no CAP_) this
// process's bounding set lacks.
func notInBoundingSet(t *testing.T, caps []string) []string {
	t.Helper()
	numbers := map[string]int{"bpf": unix.CAP_BPF, "perfmon": unix.CAP_PERFMON,
		"sys_resource": unix.CAP_SYS_RESOURCE, "sys_ptrace": unix.CAP_SYS_PTRACE}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		bnd, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			t.Fatalf("CapBnd %q: %v", hex, err)
		}
		var missing []string
		for _, c := range caps {
			if n, ok := numbers[c]; ok && bnd&(1<<n) == 0 {
				missing = append(missing, "CAP_"+strings.ToUpper(c))
			}
		}
		return missing
	}
	t.Fatal("no CapBnd line in /proc/self/status")
	return nil
}
