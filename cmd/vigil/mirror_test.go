// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/mirror"
)

// signedMirror makes a mirror of one artifact as vigil driver build
// leaves it, and returns it with the public key's file.
func signedMirror(t *testing.T, artifact string, data []byte) (dir, pubFile string, priv ed25519.PrivateKey) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "mirror")
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(artifact)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, artifact), data, 0o644); err != nil {
		t.Fatal(err)
	}
	pub, priv, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e, err := mirror.EntryFor(dir, artifact)
	if err != nil {
		t.Fatal(err)
	}
	e.Target = mirror.Target{Distro: "debian", Suite: "bookworm", Release: "6.1.0-50-cloud-amd64", Version: "1", Arch: "x86_64"}
	if err := mirror.WriteSigned(dir, &mirror.Index{Entries: []mirror.Entry{e}}, priv); err != nil {
		t.Fatal(err)
	}
	pubFile = filepath.Join(t.TempDir(), "mirror-key.pub")
	if err := os.WriteFile(pubFile, []byte(mirror.EncodePublicKey(pub)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, pubFile, priv
}

// vigil mirror verify fails, naming each, on files the index does not list
// (it said ok).
func TestMirrorVerifyUnlisted(t *testing.T) {
	ko := mirror.ArtifactPath("0.1.0", "x86_64", "debian", "6.1.0-50-cloud-amd64", "1")
	dir, pub, _ := signedMirror(t, ko, []byte("module"))
	if r := run(t, "mirror", "verify", dir, "--key", pub); r.code != 0 || !strings.Contains(r.stdout, "ok: 1 artifacts verified") {
		t.Fatalf("a mirror as built: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	extra := []string{"0.1.0/x86_64/planted.ko", "notes.txt"}
	for _, name := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, "mirror", "verify", dir, "--key", pub)
	if r.code == 0 || strings.Contains(r.stdout, "ok:") {
		t.Fatalf("unlisted files verified: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, name := range extra {
		if !strings.Contains(r.stderr, name+": not listed in the index") {
			t.Errorf("stderr does not name %s:\n%s", name, r.stderr)
		}
	}
	if strings.Contains(r.stderr, ko+":") {
		t.Errorf("the listed artifact is named as a problem:\n%s", r.stderr)
	}
}
