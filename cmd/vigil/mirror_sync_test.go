// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/mirror"
)

// vigil mirror sync copies a mirror that verifies as it is; a filtered copy
// verifies with --partial only; an untrusted key copies nothing.
func TestMirrorSync(t *testing.T) {
	ko := mirror.ArtifactPath("0.1.0", "x86_64", "debian", "6.1.0-50-cloud-amd64", "1")
	src, pub, _ := signedMirror(t, ko, []byte("module"))

	dst := filepath.Join(t.TempDir(), "copy")
	r := run(t, "mirror", "sync", src, dst, "--trusted-key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "1 transferred") {
		t.Fatalf("sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "mirror", "verify", dst, "--key", pub); r.code != 0 {
		t.Fatalf("the copy does not verify: %s%s", r.stdout, r.stderr)
	}
	if r := run(t, "mirror", "sync", src, dst, "--key", pub); r.code != 0 || !strings.Contains(r.stdout, "0 transferred") || !strings.Contains(r.stdout, "1 up to date") {
		t.Fatalf("second sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	inv := filepath.Join(t.TempDir(), "nodes.txt")
	if err := os.WriteFile(inv, []byte("VIGIL_KERNEL_RELEASE=6.2.0-1-amd64\nVIGIL_ARCH=x86_64\nVIGIL_DRIVER_VERSION=0.1.0\nVIGIL_ARTIFACT=vigil_debian_6.2.0-1-amd64_1.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "part")
	r = run(t, "mirror", "sync", src, part, "--trusted-key", pub, "--inventory", inv)
	if r.code != 0 || !strings.Contains(r.stdout, "0 of 1 listed artifacts selected") || !strings.Contains(r.stderr, "not in the source") {
		t.Fatalf("filtered sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "mirror", "verify", part, "--key", pub); r.code == 0 || !strings.Contains(r.stderr, ko+": missing") {
		t.Errorf("a partial copy verified whole: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "mirror", "verify", part, "--key", pub, "--partial"); r.code != 0 || !strings.Contains(r.stdout, "ok: 0 of 1") {
		t.Errorf("verify --partial: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	other := filepath.Join(t.TempDir(), "other.pub")
	otherPub, _, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte(mirror.EncodePublicKey(otherPub)), 0o644); err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(t.TempDir(), "none")
	if r := run(t, "mirror", "sync", src, none, "--trusted-key", other); r.code == 0 || !strings.Contains(r.stderr, "nothing was copied") {
		t.Errorf("untrusted key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(none); err == nil {
		t.Error("an untrusted sync made its destination")
	}
}

// A trust store that revokes the key the source is signed with copies
// nothing, and says which key and why.
func TestMirrorSyncRevokedKey(t *testing.T) {
	ko := mirror.ArtifactPath("0.1.0", "x86_64", "debian", "6.1.0-50-cloud-amd64", "1")
	src, pub, _ := signedMirror(t, ko, []byte("module"))
	key, err := mirror.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, _ := mirror.GenerateKey()
	store := filepath.Join(t.TempDir(), "trusted.keys")
	text := mirror.EncodePublicKey(key) + " revoked\n" + mirror.EncodePublicKey(fresh) + "\n"
	if err := os.WriteFile(store, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	r := run(t, "mirror", "sync", src, dst, "--trusted-key", store)
	if r.code == 0 || !strings.Contains(r.stderr, "revoked") || !strings.Contains(r.stderr, mirror.KeyID(key)) {
		t.Errorf("sync with the signing key revoked: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("the destination was made although the source's key is revoked")
	}
}
