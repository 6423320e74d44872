// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/mirror"
)

// vigil mirror push, then pull into an empty directory: the copy verifies
// and holds the same bytes.
func TestMirrorPushPull(t *testing.T) {
	reg := testenv.StartRegistry(t)
	ko := mirror.ArtifactPath("0.1.0", "x86_64", "debian", "6.12.117+deb13-cloud-amd64", "1")
	dir, pub, _ := signedMirror(t, ko, bytes.Repeat([]byte("module"), 5000))
	ref := "oci://" + reg.Addr + "/vigil/drivers"

	push := exec.Command(vigilBin, "mirror", "push", dir, ref, "--key", pub,
		"--username", reg.Username, "--password-stdin", "--ca-file", reg.CAFile)
	push.Stdin = strings.NewReader(reg.Password + "\n")
	if out, err := push.CombinedOutput(); err != nil || !strings.Contains(string(out), "pushed "+dir) {
		t.Fatalf("mirror push: %v\n%s", err, out)
	}

	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := reg.WriteDockerConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "pulled")
	if r := run(t, "mirror", "pull", ref, dst, "--key", pub, "--registry-config", cfg, "--ca-file", reg.CAFile); r.code != 0 {
		t.Fatalf("mirror pull: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "mirror", "verify", dst, "--key", pub); r.code != 0 {
		t.Errorf("the pulled mirror does not verify: %s%s", r.stdout, r.stderr)
	}
	for _, name := range []string{ko, mirror.IndexFile, mirror.SignatureFile} {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs after push and pull (%v)", name, err)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad")
	r := run(t, "mirror", "pull", ref, bad, "--key", pub, "--username", reg.Username, "--password", "wrong", "--ca-file", reg.CAFile)
	if r.code == 0 || !strings.Contains(r.stderr, "refused the login") {
		t.Errorf("mirror pull with a wrong password: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused pull created %s", bad)
	}
	if r := run(t, "mirror", "pull", "http://"+reg.Addr+"/x", bad, "--key", pub); r.code == 0 || !strings.Contains(r.stderr, "oci://") {
		t.Errorf("mirror pull of an http:// URL: exit %d\n%s", r.code, r.stderr)
	}
}
