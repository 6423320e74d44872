// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/ed25519"
	"encoding/base64"
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

// The matrix loads a mirror's modules as root in every VM: it verifies the
// index with --key and refuses entries that step out of the mirror (it
// read index.json unsigned and joined any name to the mirror's path).
func TestMatrixVerifiesModules(t *testing.T) {
	ko := mirror.ArtifactPath("0.1.0", "x86_64", "debian", "6.1.0-50-cloud-amd64", "1")
	dir, pub, priv := signedMirror(t, ko, []byte("module"))
	_, otherPub, _ := signedMirror(t, ko, []byte("module"))
	// Catalogue kernels from a mirror that answers nothing: a run that gets
	// past the modules stops there, before any VM.
	matrix := func(args ...string) result {
		return run(t, append([]string{"matrix", "run", "--kernels", "bookworm/6.1.0-50-cloud-amd64",
			"--mirror", "http://127.0.0.1:1/debian", "--cache-dir", t.TempDir(), "--out", t.TempDir(), "--modules", dir}, args...)...)
	}
	if r := matrix("--key", pub); strings.Contains(r.stderr, "--modules") || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("a good mirror and its key: want the run to get as far as the catalogue:\n%s", r.stderr)
	}
	for _, c := range []struct {
		name string
		args []string
		says []string
	}{
		{"no key", nil, []string{"--modules " + dir + " needs the mirror's public key", "--key"}},
		{"other key", []string{"--key", otherPub}, []string{"signature does not verify"}},
	} {
		r := matrix(c.args...)
		for _, s := range c.says {
			if r.code == 0 || !strings.Contains(r.stderr, s) {
				t.Errorf("%s: exit %d, stderr lacks %q:\n%s", c.name, r.code, s, r.stderr)
			}
		}
	}

	// A signed index (the key holder's mistake, or a stolen key) whose
	// entries step out of the mirror.
	ix, err := mirror.LoadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := ix.Entries[0]
	bad.Name = "../../etc/evil.ko"
	ix.Entries = append(ix.Entries, bad)
	data, err := mirror.MarshalIndex(ix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, mirror.IndexFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, data)) + "\n"
	if err := os.WriteFile(filepath.Join(dir, mirror.SignatureFile), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	r := matrix("--key", pub)
	for _, s := range []string{"does not verify", `"../../etc/evil.ko"`, "escapes the mirror root"} {
		if r.code == 0 || !strings.Contains(r.stderr, s) {
			t.Errorf("entry ../../etc/evil.ko: exit %d, stderr lacks %q:\n%s", r.code, s, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("the run went on past a mirror that does not verify:\n%s", r.stderr)
	}
}
