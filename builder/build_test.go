// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package builder

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/mirror"
)

// env is what the builder tests share: the real catalogue and Docker
// Engine, the bookworm builder image, and a signing key.
type env struct {
	cat    *kernels.Catalogue
	docker *Docker
	images *Images
	target kernels.Target
	pub    ed25519.PublicKey
	key    ed25519.PrivateKey
}

var (
	envOnce sync.Once
	shared  env
	envErr  error
)

func setup(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root for debootstrap and the Docker Engine")
	}
	testenv.RequireDocker(t)
	envOnce.Do(func() {
		ctx := context.Background()
		e := &shared
		if e.cat, envErr = kernels.NewDebian(kernels.Options{}); envErr != nil {
			return
		}
		if e.target, envErr = e.cat.Latest(ctx, "bookworm", "cloud-amd64"); envErr != nil {
			return
		}
		if e.docker, envErr = NewDocker(ctx); envErr != nil {
			return
		}
		e.images = NewImages(e.docker, e.cat.Mirror(), e.cat.Keyring(), filepath.Join(e.cat.CacheDir(), "builder"), os.Stderr)
		e.pub, e.key, envErr = mirror.GenerateKey()
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return &shared
}

func (e *env) build(t *testing.T, out, src, module string, targets []kernels.Target, timeout time.Duration) []TargetResult {
	t.Helper()
	b := &Builder{Catalogue: e.cat, Images: e.images, Exec: e.docker}
	rs, err := b.Build(context.Background(), Request{
		Targets: targets, Source: src, Module: module, DriverVersion: "0.0.0-test",
		Out: out, Jobs: 2, Timeout: timeout, Key: e.key, Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The same target built twice from the same inputs gives the same bytes,
// and the index verifies with the public key, and only with it.
func TestBuildIsReproducibleAndSigned(t *testing.T) {
	e := setup(t)
	outs := []string{t.TempDir(), t.TempDir()}
	var kos [][]byte
	for _, out := range outs {
		rs := e.build(t, out, "testdata/hello", "vigil_hello", []kernels.Target{e.target}, 0)
		if rs[0].Err != nil {
			t.Fatalf("build: %v\n%s", rs[0].Err, rs[0].Tail)
		}
		want := "0.0.0-test/x86_64/vigil_debian_" + e.target.Release + "_" + e.target.Version + ".ko"
		if rs[0].Artifact != want {
			t.Errorf("artifact %s, want %s", rs[0].Artifact, want)
		}
		b, err := os.ReadFile(filepath.Join(out, rs[0].Artifact))
		if err != nil {
			t.Fatal(err)
		}
		kos = append(kos, b)
		vm, err := Vermagic(filepath.Join(out, rs[0].Artifact))
		if err != nil || !strings.HasPrefix(vm, e.target.Release+" SMP") {
			t.Errorf("vermagic %q, %v", vm, err)
		}
	}
	if !bytes.Equal(kos[0], kos[1]) {
		t.Fatalf("two builds of the same inputs differ (%d and %d bytes)", len(kos[0]), len(kos[1]))
	}

	out := outs[0]
	if err := mirror.Verify(out, e.pub); err != nil {
		t.Fatalf("verify: %v", err)
	}
	ix, err := mirror.LoadIndex(out)
	if err != nil || len(ix.Entries) != 1 {
		t.Fatalf("index: %v, %+v", err, ix)
	}
	en := ix.Entries[0]
	if en.Target.Release != e.target.Release || !strings.HasPrefix(en.BuilderImage, "sha256:") || !strings.Contains(en.Compiler, "gcc-12") || en.Size != int64(len(kos[0])) {
		t.Errorf("index entry %+v", en)
	}
	other, _, _ := mirror.GenerateKey()
	if err := mirror.Verify(out, other); !errors.Is(err, mirror.ErrBadSignature) {
		t.Errorf("verify with another key: %v, want ErrBadSignature", err)
	}
	// A flipped byte in the artifact, then in the index, is caught.
	ko := filepath.Join(out, en.Name)
	flip(t, ko, len(kos[0])/2)
	if err := mirror.Verify(out, e.pub); err == nil || !strings.Contains(err.Error(), en.Name) {
		t.Errorf("flipped artifact byte: %v", err)
	}
	flip(t, ko, len(kos[0])/2)
	flip(t, filepath.Join(out, "index.json"), 10)
	if err := mirror.Verify(out, e.pub); !errors.Is(err, mirror.ErrBadSignature) {
		t.Errorf("flipped index byte: %v, want ErrBadSignature", err)
	}
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x20
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Failures are per target, with the log's tail; what failed leaves nothing
// in the mirror, not even an index.
func TestBuildFailures(t *testing.T) {
	e := setup(t)
	ghost := e.target
	ghost.Release = "6.1.0-999-cloud-amd64"
	ghost.Package = "linux-image-6.1.0-999-cloud-amd64"

	t.Run("compiler error", func(t *testing.T) {
		out := t.TempDir()
		rs := e.build(t, out, "testdata/broken", "vigil_broken", []kernels.Target{e.target}, 0)
		if rs[0].Err == nil || !strings.Contains(rs[0].Tail, "this_is_not_declared") {
			t.Errorf("err %v, tail:\n%s", rs[0].Err, rs[0].Tail)
		}
		assertEmptyMirror(t, out)
	})
	t.Run("missing headers", func(t *testing.T) {
		out := t.TempDir()
		rs := e.build(t, out, "testdata/hello", "vigil_hello", []kernels.Target{ghost, e.target}, 0)
		if rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), "headers") {
			t.Errorf("ghost kernel: %v", rs[0].Err)
		}
		if rs[1].Err != nil {
			t.Errorf("the good target failed beside the bad one: %v", rs[1].Err)
		}
		ix, err := mirror.LoadIndex(out)
		if err != nil || len(ix.Entries) != 1 || ix.Entries[0].Target.Release != e.target.Release {
			t.Errorf("index should hold the good target only: %v %+v", err, ix)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		out := t.TempDir()
		start := time.Now()
		// testdata/slow stalls in Kbuild for ten minutes: a fast machine
		// cannot finish it inside the timeout, as it could a real module.
		rs := e.build(t, out, "testdata/slow", "vigil_slow", []kernels.Target{e.target}, 2*time.Second)
		if !errors.Is(rs[0].Err, ErrTimeout) {
			t.Errorf("err %v, want ErrTimeout", rs[0].Err)
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("a 2s timeout took %s to act", d)
		}
		assertEmptyMirror(t, out)
	})
}

func assertEmptyMirror(t *testing.T, out string) {
	t.Helper()
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		t.Errorf("mirror holds %s after a failed build", e.Name())
	}
}

// Builds have no network: the container sees loopback only.
func TestNoNetwork(t *testing.T) {
	e := setup(t)
	id, err := e.images.Ensure(context.Background(), RecipeFor("bookworm", "gcc-12"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := e.docker.Run(context.Background(), Job{
		Name: "net", Image: id, Log: &log, Timeout: time.Minute,
		Cmd: []string{"/bin/sh", "-c", "ls /sys/class/net; cat /proc/net/route | wc -l"},
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%v exit %d\n%s", err, res.ExitCode, log.String())
	}
	lines := strings.Fields(res.Tail)
	if len(lines) != 2 || lines[0] != "lo" || lines[1] != "1" {
		t.Fatalf("container network: %q, want only lo and an empty routing table", res.Tail)
	}
	// And the container is gone.
	cs, err := e.docker.Client().ContainerList(context.Background(), containerListAll())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Labels["vigil.job"] == "net" {
			t.Errorf("container %s was not removed", c.ID[:12])
		}
	}
}

func containerListAll() container.ListOptions { return container.ListOptions{All: true} }

// The local executor builds with this host's toolchain in private
// namespaces: it needs a target whose compiler the host has (Debian 12's
// gcc-12 builds bookworm's kernels), and it has no network either.
func TestLocalExecutor(t *testing.T) {
	e := setup(t)
	cc, _, err := Compiler(mustHeaders(t, e))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath(cc); err != nil {
		testenv.Unavailable(t, "the host has no "+cc+" for the local executor")
	}
	var log bytes.Buffer
	res, err := Local{}.Run(context.Background(), Job{Name: "net", Log: &log, Timeout: time.Minute,
		Cmd: []string{"/bin/sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"}})
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(res.Tail) != "lo" {
		t.Fatalf("local job network: %q (%v, exit %d)\n%s", res.Tail, err, res.ExitCode, log.String())
	}
	out := t.TempDir()
	b := &Builder{Catalogue: e.cat, Exec: Local{}}
	rs, err := b.Build(context.Background(), Request{
		Targets: []kernels.Target{e.target}, Source: "testdata/hello", Module: "vigil_hello",
		DriverVersion: "0.0.0-test", Out: out, Key: e.key, Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Err != nil || rs[0].Image != "local" {
		t.Fatalf("local build: image %q, %v\n%s", rs[0].Image, rs[0].Err, rs[0].Tail)
	}
	if err := mirror.Verify(out, e.pub); err != nil {
		t.Fatal(err)
	}
}

func mustHeaders(t *testing.T, e *env) string {
	t.Helper()
	f, err := e.cat.Fetch(context.Background(), e.target, kernels.PartHeaders)
	if err != nil {
		t.Fatal(err)
	}
	return f.Headers
}
