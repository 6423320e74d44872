// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
	"github.com/vigil-dev/vigil/mirror"
	"github.com/vigil-dev/vigil/mirror/oci"
)

// pushTestMirror starts a registry, pushes a test mirror to it and returns
// both with the repository's oci:// spec, the login in it.
func pushTestMirror(t *testing.T) (*testMirror, *testenv.Registry, string) {
	t.Helper()
	reg := testenv.StartRegistry(t)
	m := newTestMirror(t)
	ref := oci.Scheme + reg.Addr + "/vigil/drivers"
	_, err := oci.Push(context.Background(), m.root, ref, oci.Options{
		Keys: []ed25519.PublicKey{m.pub}, Username: reg.Username, Password: reg.Password, CAFile: reg.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	spec := oci.Scheme + url.UserPassword(reg.Username, reg.Password).String() + "@" + reg.Addr + "/vigil/drivers"
	return m, reg, spec
}

func (m *testMirror) ociOpts(reg *testenv.Registry) RepoOptions {
	o := m.opts()
	o.CAFile = reg.CAFile
	return o
}

func TestFetchOCI(t *testing.T) {
	m, reg, spec := pushTestMirror(t)
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := reg.WriteDockerConfig(cfg); err != nil {
		t.Fatal(err)
	}
	withConfig := m.ociOpts(reg)
	withConfig.RegistryConfig = cfg
	for _, c := range []struct {
		what, spec string
		opts       RepoOptions
	}{
		{"login in the URL", spec, m.ociOpts(reg)},
		{"login in the Docker config", oci.Scheme + reg.Addr + "/vigil/drivers", withConfig},
	} {
		t.Run(c.what, func(t *testing.T) {
			r := openRepo(t, c.spec, c.opts)
			if strings.Contains(r.String(), reg.Password) {
				t.Errorf("String() shows the password: %s", r)
			}
			dst := filepath.Join(t.TempDir(), "cache", m.name)
			res, err := r.Fetch(context.Background(), m.name, dst)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil || !bytes.Equal(got, m.data) {
				t.Fatalf("fetched %d bytes (%v), want the module's %d", len(got), err, len(m.data))
			}
			tag, _ := oci.Tag(m.rel)
			if !strings.HasSuffix(res.Source, ":"+tag) || strings.Contains(res.Source, reg.Password) {
				t.Errorf("Source = %q, want the registry's reference ending in :%s, without the password", res.Source, tag)
			}
		})
	}
	// By tag alone: the repository was never listed.
	log := reg.Log()
	for _, listing := range []string{"/v2/_catalog", "/tags/list"} {
		if strings.Contains(log, listing) {
			t.Errorf("the loader listed the registry (%s):\n%s", listing, grepLines(log, listing))
		}
	}
	tag, _ := oci.Tag(m.rel)
	if !strings.Contains(log, "GET /v2/vigil/drivers/manifests/"+tag+" ") {
		t.Errorf("no GET of the module's manifest by its tag %s in the registry's log", tag)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestFetchOCITampered(t *testing.T) {
	m, reg, spec := pushTestMirror(t)
	ix, err := mirror.LoadIndex(m.root)
	if err != nil {
		t.Fatal(err)
	}
	// The registry's copy of the module, changed on its disk: a byte
	// flipped, the size kept.
	blob := reg.BlobFile(ix.Entries[0].SHA256)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[100] ^= 1
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "cache", m.name)
	_, err = openRepo(t, spec, m.ociOpts(reg)).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("Fetch of a tampered module: %v, want ErrChecksum", err)
	}
	assertNothingAt(t, dst)
}

func TestFetchOCIRefused(t *testing.T) {
	m, reg, spec := pushTestMirror(t)
	ctx := context.Background()

	other, _, _ := mirror.GenerateKey()
	o := m.ociOpts(reg)
	o.Keys = []ed25519.PublicKey{other}
	dst := filepath.Join(t.TempDir(), "cache", m.name)
	if _, err := openRepo(t, spec, o).Fetch(ctx, m.name, dst); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Fetch with another key: %v, want ErrBadSignature", err)
	}
	assertNothingAt(t, dst)
	tag, _ := oci.Tag(m.rel)
	if strings.Contains(reg.Log(), "GET /v2/vigil/drivers/manifests/"+tag+" ") {
		t.Error("the module was asked for although the index did not verify")
	}

	bad := strings.Replace(spec, reg.Password, "wrong", 1)
	dst = filepath.Join(t.TempDir(), "cache", m.name)
	_, err := openRepo(t, bad, m.ociOpts(reg)).Fetch(ctx, m.name, dst)
	if err == nil || !strings.Contains(err.Error(), "refused the login") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("Fetch with a wrong password: %v, want the login refused, without the password", err)
	}
	assertNothingAt(t, dst)

	if _, err := OpenRepo("oci://"+reg.Addr, m.ociOpts(reg)); err == nil {
		t.Error("OpenRepo accepted oci:// without a repository")
	}
}

// A plan's steps, which reports and logs print, never show the login.
func TestPlanRedactsLogin(t *testing.T) {
	s := Step{Kind: StepRepo, Path: "0.1.0/x86_64/m.ko", Repo: "oci://vigil:s3cret@127.0.0.1:5000/vigil/drivers"}
	if got := s.String(); strings.Contains(got, "s3cret") || !strings.Contains(got, "oci://vigil:xxxxx@127.0.0.1:5000/vigil/drivers") {
		t.Errorf("Step.String() = %q, want the login's password redacted", got)
	}
}
