// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharedCacheDir is shared by the tests against the real mirror (and kept
// between runs), so a package is downloaded once; everything in it is
// re-verified on use anyway.
var sharedCacheDir = filepath.Join(os.TempDir(), "vigil-kernels-test-cache")

var (
	mirrorOnce sync.Once
	mirrorURL  string
	mirrorErr  error
)

// realMirror returns the Debian mirror to test against, skipping the test
// when it is unreachable outside CI (in CI, it fails).
func realMirror(t *testing.T) string {
	t.Helper()
	mirrorOnce.Do(func() {
		mirrorURL = os.Getenv(EnvMirror)
		if mirrorURL == "" {
			mirrorURL, mirrorErr = MirrorFromApt("/")
			if mirrorErr != nil {
				return
			}
		}
		mirrorURL = strings.TrimRight(mirrorURL, "/")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, mirrorURL+"/dists/bookworm/InRelease", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			mirrorErr = err
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			mirrorErr = errors.New(resp.Status)
		}
	})
	if mirrorErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Debian mirror %q unusable and CI is set, so not skipping: %v", mirrorURL, mirrorErr)
		}
		t.Skipf("skipping: the Debian mirror %q is unreachable (%v); set %s to a reachable one (in CI this fails)", mirrorURL, mirrorErr, EnvMirror)
	}
	if _, err := os.Stat(DefaultKeyring); err != nil && os.Getenv(EnvKeyring) == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Debian keyring: %v", err)
		}
		t.Skipf("skipping: no Debian archive keyring (%v); install debian-archive-keyring", err)
	}
	return mirrorURL
}

func realCatalogue(t *testing.T) *Catalogue {
	t.Helper()
	m := realMirror(t)
	c, err := NewDebian(Options{Mirror: m, CacheDir: sharedCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListBookworm(t *testing.T) {
	c := realCatalogue(t)
	ts, err := c.List(context.Background(), "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	var cloud []string
	seen := map[string]bool{}
	for _, x := range ts {
		if seen[x.Name()] {
			t.Errorf("duplicate target %s", x.Name())
		}
		seen[x.Name()] = true
		if x.Suite != "bookworm" || x.Arch != "amd64" || x.Distro != "debian" || x.Version != "1" || x.PackageVersion == "" {
			t.Errorf("bad target %+v", x)
		}
		if strings.HasSuffix(x.Package, "-dbg") || !strings.HasPrefix(x.Package, "linux-image-6.") {
			t.Errorf("target %s has package %s", x.Name(), x.Package)
		}
		if strings.HasPrefix(x.Release, "6.1.0-") && x.Flavour == "cloud-amd64" {
			cloud = append(cloud, x.Name())
		}
	}
	if len(cloud) == 0 {
		t.Fatalf("no 6.1.0-*-cloud-amd64 kernel in bookworm: %v", ts)
	}
	t.Logf("%d bookworm kernels, cloud: %v", len(ts), cloud)
	for i := 1; i < len(ts); i++ {
		if compareVersions(ts[i-1].PackageVersion, ts[i].PackageVersion) > 0 {
			t.Errorf("not sorted by version: %s %s before %s %s", ts[i-1].Name(), ts[i-1].PackageVersion, ts[i].Name(), ts[i].PackageVersion)
		}
	}
	got, err := c.Resolve(context.Background(), cloud[0])
	if err != nil || got.Name() != cloud[0] {
		t.Errorf("Resolve(%s) = %v, %v", cloud[0], got, err)
	}
	bare := strings.TrimPrefix(cloud[0], "bookworm/")
	if got, err := c.Resolve(context.Background(), bare); err != nil || got.Name() != cloud[0] {
		t.Errorf("Resolve(%s) = %v, %v", bare, got, err)
	}
}

func TestResolveUnknown(t *testing.T) {
	c := realCatalogue(t)
	_, err := c.Resolve(context.Background(), "bookworm/6.1.0-9999-nonesuch-amd64")
	if !errors.Is(err, ErrUnknownKernel) {
		t.Fatalf("Resolve(bogus) error = %v, want ErrUnknownKernel", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "vigil kernels list") || !strings.Contains(msg, "bookworm/6.1.0-") {
		t.Errorf("error %q should list real names and point at `vigil kernels list`", msg)
	}
	if _, err := c.List(context.Background(), "no-such-suite"); err == nil {
		t.Error("List(no-such-suite) succeeded")
	}
}

func TestFetchHeaders(t *testing.T) {
	c := realCatalogue(t)
	ctx := context.Background()
	tg, err := c.Latest(ctx, "bookworm", "cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	f, err := c.Fetch(ctx, tg, PartHeaders)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fetched headers of %s in %v: %v", tg.Name(), time.Since(t0), f.Packages)
	if f.Headers != filepath.Join(f.Root, "usr/src/linux-headers-"+tg.Release) {
		t.Errorf("Headers = %s", f.Headers)
	}
	mk, err := os.ReadFile(filepath.Join(f.Headers, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	// The flavour Makefile includes the common one by absolute path.
	inc := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(mk)), "include"))
	if !strings.HasPrefix(inc, "/usr/src/linux-headers-") {
		t.Fatalf("unexpected flavour Makefile %q", mk)
	}
	common, err := f.InRoot(inc)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(common); err != nil || !st.Mode().IsRegular() {
		t.Errorf("common Makefile %s (in root: %s) missing: %v", inc, common, err)
	}
	for _, p := range []string{"scripts/Makefile.build", "scripts/basic/fixdep", "include/generated/autoconf.h", ".config"} {
		hp, err := f.InRoot(filepath.Join("/usr/src/linux-headers-"+tg.Release, p))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hp, f.Root+"/") {
			t.Errorf("%s resolves outside the root: %s", p, hp)
		}
		if _, err := os.Stat(hp); err != nil {
			t.Errorf("%s not reachable in the root: %v", p, err)
		}
	}
	var kbuild, commonPkg bool
	for _, p := range f.Packages {
		kbuild = kbuild || strings.HasPrefix(p, "linux-kbuild-")
		commonPkg = commonPkg || strings.Contains(p, "-common")
	}
	if !kbuild || !commonPkg {
		t.Errorf("packages %v lack kbuild or common headers", f.Packages)
	}
	// A second fetch reuses the extraction.
	st1, _ := os.Stat(filepath.Join(f.Root, markerName))
	if _, err := c.Fetch(ctx, tg, PartHeaders); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(f.Root, markerName))
	if st1 == nil || st2 == nil || !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("second Fetch extracted again")
	}
}

func TestFetchImage(t *testing.T) {
	c := realCatalogue(t)
	ctx := context.Background()
	tg, err := c.Latest(ctx, "bookworm", "cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Fetch(ctx, tg, PartImage)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kernel != filepath.Join(f.Root, "boot/vmlinuz-"+tg.Release) {
		t.Errorf("Kernel = %s", f.Kernel)
	}
	vs, err := KernelVersionString(f.Kernel)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vs, tg.Release+" ") || f.Target.Version == "" {
		t.Errorf("version string %q, Version %q", vs, f.Target.Version)
	}
	t.Logf("%s: %s", tg.Name(), vs)
}
