// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package oci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/mirror"
)

func TestTag(t *testing.T) {
	long := "0.1.0/x86_64/vigil_debian_" + strings.Repeat("a", 120) + "_1.ko"
	for _, c := range []struct{ name, want string }{
		{"0.1.0/x86_64/vigil_debian_6.1.0-50-cloud-amd64_1.ko", "0.1.0__x86_64__vigil_debian_6.1.0-50-cloud-amd64_1.ko"},
		{"0.1.0/x86_64/vigil_debian_6.12.117+deb13-cloud-amd64_1.ko", "0.1.0__x86_64__vigil_debian_6.12.117_x2bdeb13-cloud-amd64_1.ko"},
		{".hidden", "_.hidden"},
		{"a b~", "a_x20b_x7e"},
	} {
		got, err := Tag(c.name)
		if err != nil || got != c.want {
			t.Errorf("Tag(%q) = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	got, err := Tag(long)
	if err != nil || len(got) != 128 || got == "" {
		t.Fatalf("Tag(long) = %q (%d), %v; want 128 bytes", got, len(got), err)
	}
	if again, _ := Tag(long); again != got {
		t.Errorf("Tag is not deterministic: %q then %q", got, again)
	}
	for _, bad := range []string{"", "/abs", "../x", "index"} {
		if tag, err := Tag(bad); err == nil {
			t.Errorf("Tag(%q) = %q, want an error", bad, tag)
		}
	}
}

// writeMirror makes a signed mirror in the shape `make mirror` writes:
// modules under <driver version>/x86_64/, one with a "+" in its release.
func writeMirror(t *testing.T, dir string) (ed25519.PublicKey, ed25519.PrivateKey, *mirror.Index) {
	t.Helper()
	pub, priv, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ix := &mirror.Index{}
	for i, rel := range []string{"6.1.0-50-cloud-amd64", "6.12.117+deb13-cloud-amd64", "5.10.0-32-cloud-amd64"} {
		name := mirror.ArtifactPath(driver.DriverVersion, "x86_64", "debian", rel, "1")
		data := bytes.Repeat([]byte("module "+rel+"\n"), 1000+i)
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		e, err := mirror.EntryFor(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		e.Target = mirror.Target{Distro: "debian", Release: rel, Version: "1", Arch: "x86_64"}
		e.DriverVersion = driver.DriverVersion
		e.BuildTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		ix.Put(e)
	}
	if err := mirror.WriteSigned(dir, ix, priv); err != nil {
		t.Fatal(err)
	}
	return pub, priv, ix
}

func login(reg *testenv.Registry, keys ...ed25519.PublicKey) Options {
	return Options{Keys: keys, Username: reg.Username, Password: reg.Password, CAFile: reg.CAFile}
}

// sameTree fails unless a and b hold the same files with the same bytes.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	files := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			sum := sha256.Sum256(data)
			rel, _ := filepath.Rel(root, p)
			m[rel] = hex.EncodeToString(sum[:])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	fa, fb := files(a), files(b)
	for name, sum := range fa {
		if fb[name] != sum {
			t.Errorf("%s: %s in %s, %q in %s", name, sum[:12], a, fb[name], b)
		}
	}
	for name := range fb {
		if _, ok := fa[name]; !ok {
			t.Errorf("%s: in %s, not in %s", name, b, a)
		}
	}
}

func TestPushPull(t *testing.T) {
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	src := t.TempDir()
	pub, _, ix := writeMirror(t, src)
	ref := Scheme + reg.Addr + "/vigil/drivers"

	start := time.Now()
	sum, err := Push(ctx, src, ref, login(reg, pub))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Artifacts != 3 || sum.Transferred != 3 {
		t.Errorf("push: %+v, want 3 artifacts, 3 sent", sum)
	}
	t.Logf("push of %d modules: %s", sum.Artifacts, time.Since(start))

	// The credentials from a Docker config file this time.
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := reg.WriteDockerConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "pulled")
	start = time.Now()
	if sum, err = Pull(ctx, ref, dst, Options{Keys: []ed25519.PublicKey{pub}, RegistryConfig: cfg, CAFile: reg.CAFile}); err != nil {
		t.Fatal(err)
	}
	t.Logf("pull: %s", time.Since(start))
	if sum.Transferred != 3 {
		t.Errorf("pull: %+v, want 3 received", sum)
	}
	if err := mirror.Verify(dst, pub); err != nil {
		t.Errorf("the pulled mirror does not verify: %v", err)
	}
	sameTree(t, src, dst)

	// Again: nothing to send or receive, the manifests unchanged.
	if sum, err = Push(ctx, src, ref, login(reg, pub)); err != nil || sum.Transferred != 0 {
		t.Errorf("second push: %+v, %v; want nothing sent", sum, err)
	}
	if sum, err = Pull(ctx, ref, dst, login(reg, pub)); err != nil || sum.Transferred != 0 {
		t.Errorf("second pull: %+v, %v; want nothing received", sum, err)
	}

	// Each module's annotations say what it is for.
	r, err := Open(ref, login(reg))
	if err != nil {
		t.Fatal(err)
	}
	e := ix.Entries[1]
	tag, _ := Tag(e.Name)
	m, err := r.manifest(ctx, tag, ArtifactTypeModule)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		AnnotationName: e.Name, AnnotationSHA256: e.SHA256, AnnotationKernelRelease: e.Target.Release,
		AnnotationKernelVersion: "1", AnnotationDistro: "debian", AnnotationArch: "x86_64",
		AnnotationDriverVersion: driver.DriverVersion, AnnotationSchemaVersion: driver.SchemaVersion,
		"org.opencontainers.image.created": "2026-01-02T03:04:05Z",
	} {
		if got := m.Annotations[k]; got != want {
			t.Errorf("annotation %s = %q, want %q", k, got, want)
		}
	}
}

// The real `make mirror` output, when this machine has one.
func TestPushPullMakeMirror(t *testing.T) {
	src, keyFile := "../../out/mirror", "../../out/mirror-key.pub"
	pub, err := mirror.LoadPublicKey(keyFile)
	if err != nil {
		t.Skipf("no make mirror output here (%v); TestPushPull covers its shape", err)
	}
	if err := mirror.Verify(src, pub); err != nil {
		t.Skipf("out/mirror does not verify (%v); TestPushPull covers its shape", err)
	}
	reg := testenv.StartRegistry(t)
	ref := Scheme + reg.Addr + "/vigil/drivers"
	if _, err := Push(context.Background(), src, ref, login(reg, pub)); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := Pull(context.Background(), ref, dst, login(reg, pub)); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, dst)
}

func TestRefused(t *testing.T) {
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	src := t.TempDir()
	pub, _, ix := writeMirror(t, src)
	ref := Scheme + reg.Addr + "/vigil/drivers"
	if _, err := Push(ctx, src, ref, login(reg, pub)); err != nil {
		t.Fatal(err)
	}
	absent := func(t *testing.T, dir string) {
		t.Helper()
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was written (%v)", dir, err)
		}
	}

	t.Run("wrong password", func(t *testing.T) {
		o := login(reg, pub)
		o.Password = "wrong"
		dst := filepath.Join(t.TempDir(), "m")
		_, err := Pull(ctx, ref, dst, o)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("pull with a wrong password: %v, want 401", err)
		}
		absent(t, dst)
		if _, err := Push(ctx, src, Scheme+reg.Addr+"/other", o); err == nil {
			t.Error("push with a wrong password succeeded")
		}
	})

	t.Run("untrusted key", func(t *testing.T) {
		other, _, _ := mirror.GenerateKey()
		dst := filepath.Join(t.TempDir(), "m")
		_, err := Pull(ctx, ref, dst, login(reg, other))
		if !errors.Is(err, mirror.ErrBadSignature) {
			t.Errorf("pull with another key: %v, want ErrBadSignature", err)
		}
		absent(t, dst)
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		o := login(reg, pub)
		o.CAFile = ""
		dst := filepath.Join(t.TempDir(), "m")
		if _, err := Pull(ctx, ref, dst, o); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("pull without the CA: %v, want a certificate error", err)
		}
		absent(t, dst)
	})

	t.Run("tampered module", func(t *testing.T) {
		// Another file under the first module's tag, as a registry's
		// operator could push.
		e := ix.Entries[0]
		evil := t.TempDir()
		name := filepath.Join(evil, filepath.FromSlash(e.Name))
		os.MkdirAll(filepath.Dir(name), 0o755)
		if err := os.WriteFile(name, []byte("not the module"), 0o644); err != nil {
			t.Fatal(err)
		}
		fake, err := mirror.EntryFor(evil, e.Name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(ref, login(reg))
		if err != nil {
			t.Fatal(err)
		}
		tag, _ := Tag(e.Name)
		if _, err := r.pushModule(ctx, evil, fake, tag, time.Now()); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "m")
		_, err = Pull(ctx, ref, dst, login(reg, pub))
		if err == nil || !strings.Contains(err.Error(), "signed index says") {
			t.Errorf("pull of a tampered module: %v, want a size or sha256 mismatch", err)
		}
		if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(e.Name))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the tampered module was written (%v)", err)
		}
		if _, err := os.Stat(filepath.Join(dst, mirror.IndexFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the index was written after a refused module (%v)", err)
		}
	})
}

func TestParseRef(t *testing.T) {
	for _, ok := range []string{"oci://127.0.0.1:5000/vigil/drivers", "127.0.0.1:5000/vigil", "localhost/a/b"} {
		if _, err := ParseRef(ok); err != nil {
			t.Errorf("ParseRef(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"oci://127.0.0.1:5000/vigil:tag", "oci://u:secret@127.0.0.1/vigil", "http://127.0.0.1/x", "oci://127.0.0.1", "oci://127.0.0.1/Upper"} {
		_, err := ParseRef(bad)
		if err == nil {
			t.Errorf("ParseRef(%q) accepted it", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseRef(%q): the error shows the password: %v", bad, err)
		}
	}
}
