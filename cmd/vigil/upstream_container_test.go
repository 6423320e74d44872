// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/internal/testenv/critest"
)

// packetSrc opens a packet socket and exits: dropped into a container and
// run there, it is what an attacker's freshly downloaded sniffer does, and
// raises both upstream rules at once.
const packetSrc = `package main

import (
	"os"
	"syscall"
)

func main() {
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0x0300) // htons(ETH_P_ALL)
	if err != nil {
		os.Stderr.WriteString("socket(AF_PACKET): " + err.Error() + "\n")
		os.Exit(1)
	}
	syscall.Close(fd)
}
`

// buildPacketProgram builds packetSrc as a static binary: it runs in any
// container, whatever its image holds.
func buildPacketProgram(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"main.go": packetSrc, "go.mod": "module pkt\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "pkt", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the packet program: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pkt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dropInto writes prog into the root file system of the container whose
// process is pid, through /proc/<pid>/root: the write goes through the
// container's overlayfs mount into its upper layer, as a file the
// container's own process downloaded would.
func dropInto(t *testing.T, pid int, path string, prog []byte) {
	t.Helper()
	dst := fmt.Sprintf("/proc/%d/root%s", pid, path)
	if err := os.WriteFile(dst, prog, 0o755); err != nil {
		t.Fatalf("drop the binary into the container: %v", err)
	}
}

// upstreamRules is Falco's stable ruleset, the fixture beside the
// repository.
func upstreamRules(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(falcoRules); err != nil {
		testenv.Unavailable(t, "upstream Falco rules fixture missing (expected beside the repository in ../shared/fixtures/falco-rules): "+err.Error())
	}
	return falcoRules
}

// checkContainerAlert checks that an upstream rule's alert names the
// container, in the text (suggested output: container_id=, container_name=)
// and in output_fields.
func checkContainerAlert(t *testing.T, a alert, shortID, name string) {
	t.Helper()
	if got := field(a, "container.id"); got != shortID {
		t.Errorf("%s: container.id = %q, want %q", a.Rule, got, shortID)
	}
	if got := field(a, "container.name"); got != name {
		t.Errorf("%s: container.name = %q, want %q", a.Rule, got, name)
	}
	for _, w := range []string{"container_id=" + shortID, "container_name=" + name} {
		if !strings.Contains(a.Output, w) {
			t.Errorf("%s: the output lacks %q: %s", a.Rule, w, a.Output)
		}
	}
}

// Falco's stable rules "Drop and execute new binary in container" and
// "Packet socket created in container", run by vigil run over the live
// probe: a binary written into a Docker container's upper layer and run
// there raises both, and each alert names the container.
func TestRunUpstreamRulesInDockerContainer(t *testing.T) {
	rules := upstreamRules(t)
	cli := dockerClient(t)
	prog := buildPacketProgram(t)
	d := startRun(t, "-r", rules)
	c := startContainer(t, cli, "upstream", nil)
	insp, err := cli.ContainerInspect(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Events first, so that the metadata is there before the exec.
	execIn(t, cli, c, false, nil, "true")
	time.Sleep(time.Second)
	dropInto(t, insp.State.Pid, "/tmp/sniff", prog)
	// Three runs: on a busy machine the ring buffer may drop an event.
	for range 3 {
		execIn(t, cli, c, false, nil, "/tmp/sniff")
	}
	inCtr := func(a alert) bool { return field(a, "container.id") == c.ID[:12] }

	a := d.wait(t, "Drop and execute new binary in container", inCtr)
	checkContainerAlert(t, a, c.ID[:12], c.Name)
	if got := field(a, "proc.exe"); got != "/tmp/sniff" {
		t.Errorf("proc.exe = %q, want /tmp/sniff: %s", got, a.Output)
	}
	a = d.wait(t, "Packet socket created in container", inCtr)
	checkContainerAlert(t, a, c.ID[:12], c.Name)
	if got := field(a, "proc.name"); got != "sniff" {
		t.Errorf("proc.name = %q, want sniff: %s", got, a.Output)
	}
}

// The same in a pod of containerd made through the CRI, on containerd's
// overlayfs snapshotter (the native one has no upper layer to drop into).
func TestRunUpstreamRulesInCRIContainer(t *testing.T) {
	rules := upstreamRules(t)
	prog := buildPacketProgram(t)
	tc := startContainerd(t, critest.Options{Snapshotter: "overlayfs"})
	d := startRun(t, "--host-root", "/", "--containerd-socket", tc.Sock, "-r", rules)
	id, pid := tc.RunPod(t, critest.Pod{Name: "sniff-0", Namespace: "prod", UID: "8a6f4b3d-0000-4000-8000-00000000c0de", Container: "sniffer"})
	// The sleeper's image has no /tmp: the binary goes to the root.
	tc.ExecSync(t, id, "/sleeper", "/etc/shadow")
	time.Sleep(time.Second)
	dropInto(t, pid, "/sniff", prog)
	for range 3 {
		tc.ExecSync(t, id, "/sniff")
	}
	inCtr := func(a alert) bool { return field(a, "container.id") == id[:12] }

	a := d.wait(t, "Drop and execute new binary in container", inCtr)
	checkContainerAlert(t, a, id[:12], "sniffer")
	if got := field(a, "proc.exe"); got != "/sniff" {
		t.Errorf("proc.exe = %q, want /sniff: %s", got, a.Output)
	}
	a = d.wait(t, "Packet socket created in container", inCtr)
	checkContainerAlert(t, a, id[:12], "sniffer")
}
