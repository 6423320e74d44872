// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/internal/testenv/podmantest"
)

// podmanRun starts a podman API service of the test's own with the Debian
// image loaded, and a container of it.
func podmanRun(t *testing.T, name string) (*podmantest.Podman, podmantest.Container) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for the probe and podman")
	}
	testenv.RequireProbe(t)
	p := podmantest.Start(t)
	p.LoadImage(t)
	return p, p.Run(t, fmt.Sprintf("vigil-e2e-%s-%d", name, time.Now().UnixNano()%1e6))
}

// `cat /etc/shadow` in a container of Debian's podman raises the alert
// with the container's id, name and image, asked of podman's API socket.
func TestRunSensitiveFileInPodman(t *testing.T) {
	p, c := podmanRun(t, "podman")
	extra := appendToShadowAlert(t, "image=%container.image.repository tag=%container.image.tag type=%container.type")
	d := startRun(t, "--host-root", "/", "--podman-socket", "unix://"+p.Sock,
		"-r", "../../engine/ruleset/vigil_rules.yaml", "-r", extra)
	// The container ran before vigil: its metadata is fetched when its
	// first event arrives, and the alert of a read after that carries it.
	p.Exec(t, c.ID, "true")
	time.Sleep(time.Second)
	if out := p.Exec(t, c.ID, "cat", "/etc/shadow"); !strings.HasPrefix(string(out), "root:") {
		t.Fatalf("cat /etc/shadow in the container gave %q", out)
	}
	a := d.wait(t, "Sensitive file read by untrusted program", func(a alert) bool {
		return field(a, "container.id") == c.ID[:12]
	})
	checkFields(t, a, map[string]string{
		"container.name":             c.Name,
		"container.image.repository": "localhost/vigil-podman",
		"container.image.tag":        "bookworm",
		"container.type":             "podman",
		"proc.name":                  "cat",
		"fd.name":                    "/etc/shadow",
	})
	if !strings.Contains(a.Output, "container_name="+c.Name) {
		t.Errorf("the alert's text lacks the container's name: %s", a.Output)
	}
	if strings.Contains(d.logs(), "podman container metadata unavailable") {
		t.Errorf("a podman warning:\n%s", d.logs())
	}
}

// With podman's socket missing, or left behind by a service that died
// (refused), the alert of a real podman container comes with its id, its
// metadata reads <NA>, and exactly one warning names the socket, the cause
// and the fix.
func TestRunPodmanWithoutSocket(t *testing.T) {
	p, c := podmanRun(t, "podman-nosock")
	refused := filepath.Join(t.TempDir(), "podman.sock")
	testenv.DeadSocket(t, refused)
	for _, tc := range []struct {
		name, sock, cause, fix string
	}{
		{"missing", filepath.Join(t.TempDir(), "podman.sock"), "no Podman socket at ", "enable the podman.socket unit"},
		{"refused", refused, "connection refused", "start the podman service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startRun(t, "--host-root", "/", "--podman-socket", tc.sock)
			// Several reads: several lookups, still one warning.
			for range 3 {
				p.Exec(t, c.ID, "cat", "/etc/shadow")
			}
			a := d.wait(t, "Sensitive file read by untrusted program", func(a alert) bool {
				return field(a, "container.id") == c.ID[:12]
			})
			if got := field(a, "container.name"); got != "<NA>" {
				t.Errorf("container.name = %q with the podman socket %s, want <NA>", got, tc.name)
			}
			// The warning may come after the first alert: give the
			// others time to come too.
			time.Sleep(time.Second)
			warnings := warningsWith(d.logs(), "podman")
			if len(warnings) != 1 {
				t.Fatalf("%d podman warnings, want 1:\n%s", len(warnings), d.logs())
			}
			if !strings.Contains(warnings[0], tc.sock) || !strings.Contains(warnings[0], tc.cause) || !strings.Contains(warnings[0], tc.fix) {
				t.Errorf("the warning does not name the socket %s, %q and %q: %s", tc.sock, tc.cause, tc.fix, warnings[0])
			}
		})
	}
}

// A --podman-socket vigil cannot use is refused before anything starts; a
// good one, unix:///path as podman's --url writes it, is taken.
func TestRunPodmanSocketChecked(t *testing.T) {
	for _, sock := range []string{"ftp://host/podman.sock", "unix://run/podman/podman.sock", "localhost:8080"} {
		r := run(t, "run", "--duration", "1ms", "--podman-socket", sock)
		if r.code == 0 {
			t.Errorf("--podman-socket %s: vigil run succeeded", sock)
			continue
		}
		if !strings.Contains(r.stderr, `--podman-socket "`+sock+`"`) {
			t.Errorf("--podman-socket %s: the error does not name the flag and value:\n%s", sock, r.stderr)
		}
		if strings.Contains(r.stderr, "rules loaded") {
			t.Errorf("--podman-socket %s: checked only after loading the rules:\n%s", sock, r.stderr)
		}
	}
	r := run(t, "run", "--duration", "1ms", "--podman-socket", "unix:///run/podman/podman.sock")
	if strings.Contains(r.stderr, "--podman-socket") {
		t.Errorf("a good --podman-socket refused:\n%s", r.stderr)
	}
}
