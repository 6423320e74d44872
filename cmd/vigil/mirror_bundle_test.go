// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/mirror"
)

// keygen runs vigil mirror keygen and returns the key files.
func keygen(t *testing.T, name string) (keyFile, pubFile, pub string) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), name)
	r := run(t, "mirror", "keygen", "--out", prefix)
	if r.code != 0 {
		t.Fatalf("keygen: exit %d\n%s", r.code, r.stderr)
	}
	return prefix + ".key", prefix + ".pub", strings.TrimSpace(r.stdout)
}

// writeKeyFile writes a private key as vigil mirror keygen does.
func writeKeyFile(t *testing.T, priv ed25519.PrivateKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(path, []byte(mirror.EncodePrivateKey(priv)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	files := func(root string) map[string][]byte {
		m := map[string][]byte{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				m[rel], _ = os.ReadFile(p)
			}
			return err
		})
		return m
	}
	fa, fb := files(a), files(b)
	if len(fa) != len(fb) {
		t.Errorf("%s holds %d files, %s %d", a, len(fa), b, len(fb))
	}
	for name, data := range fa {
		if !bytes.Equal(fb[name], data) {
			t.Errorf("%s differs between %s and %s", name, a, b)
		}
	}
}

// vigil mirror export and import carry a mirror byte for byte; a damaged
// bundle, an untrusted key or a full directory get nothing written.
func TestMirrorExportImport(t *testing.T) {
	ko := mirror.ArtifactPath("0.1.0", "x86_64", "debian", "6.1.0-50-cloud-amd64", "1")
	dir, pub, _ := signedMirror(t, ko, bytes.Repeat([]byte("module\n"), 1000))
	out := t.TempDir()
	bundle := filepath.Join(out, "mirror.tar.gz")
	if r := run(t, "mirror", "export", dir, "--to", bundle, "--key", pub); r.code != 0 || !strings.Contains(r.stderr, "1 artifacts") {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	site := t.TempDir()
	dst := filepath.Join(site, "mirror")
	r := run(t, "mirror", "import", bundle, dst, "--key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "ok: 1 artifacts verified and imported") {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	sameTree(t, dir, dst)
	if r := run(t, "mirror", "verify", dst, "--key", pub); r.code != 0 {
		t.Errorf("verify after import: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "mirror", "import", bundle, dst, "--key", pub); r.code == 0 || !strings.Contains(r.stderr, "--replace") {
		t.Errorf("import over a mirror: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "mirror", "import", bundle, dst, "--key", pub, "--replace"); r.code != 0 {
		t.Errorf("import --replace: exit %d\n%s", r.code, r.stderr)
	}

	// A byte flipped in the middle (an artifact's data), and at the end.
	data, _ := os.ReadFile(bundle)
	for _, i := range []int{len(data) / 2, len(data) - 3} {
		bad := filepath.Join(out, "bad.tar.gz")
		b := bytes.Clone(data)
		b[i] ^= 0x80
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fresh := filepath.Join(site, "fresh")
		r := run(t, "mirror", "import", bad, fresh, "--key", pub)
		if r.code == 0 || !strings.Contains(r.stderr, "damaged") || !strings.Contains(r.stderr, "nothing was written to "+fresh) {
			t.Errorf("byte %d flipped: exit %d\n%s", i, r.code, r.stderr)
		}
		if _, err := os.Lstat(fresh); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("byte %d flipped: %s exists", i, fresh)
		}
	}
	_, _, other := keygen(t, "other")
	if r := run(t, "mirror", "import", bundle, filepath.Join(site, "other"), "--key", other); r.code == 0 || !strings.Contains(r.stderr, "signature does not verify") {
		t.Errorf("other key: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "mirror", "import", bundle, filepath.Join(site, "nokey")); r.code == 0 || !strings.Contains(r.stderr, "needs the mirror's public key") {
		t.Errorf("no key: exit %d\n%s", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(site); len(ents) != 1 {
		t.Errorf("%s holds %d names after refused imports, want only the mirror", site, len(ents))
	}
}

// The README's key rotation through the CLI: mirror sign adds the new key,
// trust stores move, the old key signs no more and is revoked.
func TestMirrorSignRotation(t *testing.T) {
	ko := mirror.ArtifactPath("0.1.0", "x86_64", "debian", "6.1.0-50-cloud-amd64", "1")
	dir, oldPubFile, oldPriv := signedMirror(t, ko, []byte("module"))
	oldKey := writeKeyFile(t, oldPriv)
	oldPub := mirror.EncodePublicKey(oldPriv.Public().(ed25519.PublicKey))
	newKey, newPubFile, newPub := keygen(t, "new")
	sigPath := filepath.Join(dir, mirror.SignatureFile)
	before, _ := os.ReadFile(sigPath)

	if r := run(t, "mirror", "sign", dir, "--key-file", newKey); r.code != 0 || !strings.Contains(r.stderr, "signed "+dir) {
		t.Fatalf("sign: exit %d\n%s", r.code, r.stderr)
	}
	after, _ := os.ReadFile(sigPath)
	if !bytes.HasPrefix(after, before) || bytes.Count(after, []byte("\n")) != 2 {
		t.Fatalf("mirror sign dropped or changed the old signature:\n%s\nnow:\n%s", before, after)
	}
	for _, key := range []string{oldPubFile, newPubFile, newPub} {
		if r := run(t, "mirror", "verify", dir, "--key", key); r.code != 0 {
			t.Errorf("verify --key %s: exit %d\n%s", key, r.code, r.stderr)
		}
	}
	trust := filepath.Join(t.TempDir(), "trusted-keys")
	writeFile(t, trust, "# mirror keys\n"+oldPub+" revoked\n"+newPub+"\n")
	if r := run(t, "mirror", "verify", dir, "--key", trust); r.code != 0 {
		t.Errorf("verify with the trust store: exit %d\n%s", r.code, r.stderr)
	}

	// Signed by the old key alone, again: refused, naming it and why.
	if r := run(t, "mirror", "sign", dir, "--key-file", oldKey, "--replace"); r.code != 0 {
		t.Fatalf("sign --replace: exit %d\n%s", r.code, r.stderr)
	}
	r := run(t, "mirror", "verify", dir, "--key", trust)
	if r.code == 0 || !strings.Contains(r.stderr, oldPub) || !strings.Contains(r.stderr, "is revoked") || !strings.Contains(r.stderr, trust+":2") {
		t.Errorf("signed by the revoked key only: exit %d\n%s", r.code, r.stderr)
	}
	expired := filepath.Join(t.TempDir(), "expired")
	writeFile(t, expired, oldPub+" not-after=2020-06-01\n"+newPub+"\n")
	r = run(t, "mirror", "verify", dir, "--key", expired)
	if r.code == 0 || !strings.Contains(r.stderr, oldPub) || !strings.Contains(r.stderr, "expired: not-after=2020-06-01") {
		t.Errorf("signed by the expired key only: exit %d\n%s", r.code, r.stderr)
	}
	// A misspelt word never leaves a key trusted.
	writeFile(t, expired, oldPub+" revokd\n")
	if r := run(t, "mirror", "verify", dir, "--key", expired); r.code == 0 || !strings.Contains(r.stderr, `unknown word "revokd"`) {
		t.Errorf("misspelt revoked: exit %d\n%s", r.code, r.stderr)
	}

	// mirror sign vouches for the artifacts: a changed one is not signed.
	writeFile(t, filepath.Join(dir, ko), "changed")
	if r := run(t, "mirror", "sign", dir, "--key-file", newKey); r.code == 0 || !strings.Contains(r.stderr, ko) {
		t.Errorf("sign over a changed artifact: exit %d\n%s", r.code, r.stderr)
	}
}

// vigil driver install takes a trust store as --trusted-key: a mirror
// signed only by a revoked key gives nothing, and a store with no key
// trusted now is refused up front.
func TestDriverInstallTrustStore(t *testing.T) {
	const release = "6.1.0-50-cloud-amd64"
	host := t.TempDir()
	writeFile(t, filepath.Join(host, "etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n")
	dir := t.TempDir()
	rel := mirror.ArtifactPath(driver.DriverVersion, "x86_64", "debian", release, "1")
	writeFile(t, filepath.Join(dir, rel), string(fakeKo(t, release)))
	e, err := mirror.EntryFor(dir, rel)
	if err != nil {
		t.Fatal(err)
	}
	ix := &mirror.Index{}
	ix.Put(e)
	oldPub, oldPriv, _ := mirror.GenerateKey()
	if err := mirror.WriteSigned(dir, ix, oldPriv); err != nil {
		t.Fatal(err)
	}
	_, _, newPub := keygen(t, "new")
	trust := filepath.Join(t.TempDir(), "trusted-keys")
	writeFile(t, trust, mirror.EncodePublicKey(oldPub)+" revoked\n"+newPub+"\n")
	cached := filepath.Join(host, "var/cache/vigil/driver", rel)

	args := []string{"driver", "install", "--host-root", host, "--kernel-release", release,
		"--kernel-version", "#1 SMP", "--repo", dir, "--build=false", "--trusted-key", trust}
	r := run(t, args...)
	if r.code != exitNoDriver || !strings.Contains(r.stderr, "is revoked") || !strings.Contains(r.stderr, mirror.KeyID(oldPub)) {
		t.Errorf("signed by a revoked key: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(cached); err == nil {
		t.Fatal("a module whose index is signed by a revoked key is in the cache")
	}
	writeFile(t, trust, mirror.EncodePublicKey(oldPub)+" revoked\n")
	if r := run(t, args...); r.code == 0 || !strings.Contains(r.stderr, "no key is trusted now") {
		t.Errorf("no usable key: exit %d\n%s", r.code, r.stderr)
	}
}
