// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Parts selects what Fetch downloads.
type Parts uint

const (
	// PartImage is the kernel image (vmlinuz; for non-split packages with
	// its modules).
	PartImage Parts = 1 << iota
	// PartHeaders are the flavour headers plus the common headers and
	// kbuild packages they depend on.
	PartHeaders
	// PartModules adds the linux-modules-* package of kernels whose image
	// package is split (sid); other kernels ship modules with the image.
	PartModules

	// PartAll is the image and the headers.
	PartAll = PartImage | PartHeaders
)

// Fetched describes the extracted packages of one target.
type Fetched struct {
	Target   Target
	Root     string   // directory where all packages were extracted, laid out like a chroot
	Kernel   string   // path of the vmlinuz below Root ("" without PartImage)
	Headers  string   // Root/usr/src/linux-headers-<release> ("" without PartHeaders)
	Packages []string // the .deb names extracted
}

// InRoot resolves p (an absolute path as seen inside Root, or a path below
// Root) like a chroot would, following symlinks (absolute ones relative to
// Root), and returns the host path. The result need not exist.
func (f *Fetched) InRoot(p string) (string, error) {
	return resolveInRoot(f.Root, p)
}

func resolveInRoot(root, p string) (string, error) {
	if rel, err := filepath.Rel(root, p); err == nil && filepath.IsAbs(p) && !strings.HasPrefix(rel, "..") {
		p = "/" + rel
	}
	todo := strings.Split(path.Clean("/"+p), "/")[1:]
	var cur []string
	hops := 0
	for len(todo) > 0 {
		part := todo[0]
		todo = todo[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := append(append([]string{}, cur...), part)
		host := filepath.Join(append([]string{root}, next...)...)
		st, err := os.Lstat(host)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 255 {
			return "", fmt.Errorf("resolve %s in %s: too many symlinks", p, root)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return filepath.Join(append([]string{root}, cur...)...), nil
}

// packagesFor lists the packages to fetch for t.
func (c *Catalogue) packagesFor(ix *suiteIndex, t Target, what Parts) ([]*pkgEntry, error) {
	var out []*pkgEntry
	seen := map[string]bool{}
	add := func(p *pkgEntry) {
		if !seen[p.Package] {
			seen[p.Package] = true
			out = append(out, p)
		}
	}
	if what&(PartImage|PartModules) != 0 {
		img := ix.find(dep{name: t.Package, op: "=", version: t.PackageVersion})
		if img == nil {
			return nil, fmt.Errorf("%w: %s %s is no longer in the %s index; run `vigil kernels list --suite %s`",
				ErrUnknownKernel, t.Package, t.PackageVersion, t.Suite, t.Suite)
		}
		if what&PartImage != 0 {
			add(img)
		}
		// Split image packages (sid): the vmlinuz is in linux-binary-*,
		// the modules in linux-modules-*.
		for _, group := range parseDepends(img.Depends) {
			for _, d := range group {
				want := (what&PartImage != 0 && strings.HasPrefix(d.name, "linux-binary-")) ||
					(what&PartModules != 0 && strings.HasPrefix(d.name, "linux-modules-"))
				if !want {
					continue
				}
				if p := ix.find(d); p != nil {
					add(p)
					break
				}
			}
		}
	}
	if what&PartHeaders != 0 {
		name := "linux-headers-" + t.Release
		l := ix.pkgs[name]
		if len(l) == 0 {
			return nil, fmt.Errorf("no package %s in %s; the suite has no headers for this kernel", name, t.Suite)
		}
		hdr := l[0]
		for _, p := range l {
			if p.Version == t.PackageVersion {
				hdr = p
				break
			}
		}
		if hdr.Version != t.PackageVersion {
			c.log.Warnf("%s: headers version %s differs from image version %s", t.Name(), hdr.Version, t.PackageVersion)
		}
		queue := []*pkgEntry{hdr}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if seen[p.Package] {
				continue
			}
			add(p)
			for _, group := range parseDepends(p.Depends) {
				for _, d := range group {
					if !strings.HasPrefix(d.name, "linux-headers-") && !strings.HasPrefix(d.name, "linux-kbuild-") {
						continue
					}
					q := ix.find(d)
					if q == nil {
						return nil, fmt.Errorf("%s depends on %s %s %s, which is not in the %s index", p.Package, d.name, d.op, d.version, t.Suite)
					}
					queue = append(queue, q)
					break
				}
			}
		}
	}
	return out, nil
}

// Fetch downloads, verifies and extracts the packages of t selected by
// what into CacheDir/debian/root/<suite>/<release>/. Downloads are cached
// in CacheDir/debian/pool and re-hashed before use; extraction is reused
// when an earlier one covered the same packages.
func (c *Catalogue) Fetch(ctx context.Context, t Target, what Parts) (*Fetched, error) {
	if what&(PartAll|PartModules) == 0 {
		return nil, errors.New("fetch: nothing selected (want PartImage, PartHeaders or both)")
	}
	if t.Suite == "" || t.Release == "" {
		return nil, fmt.Errorf("fetch: incomplete target %+v; get targets from List or Resolve", t)
	}
	ix, err := c.index(ctx, t.Suite)
	if err != nil {
		return nil, err
	}
	pkgs, err := c.packagesFor(ix, t, what)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", t.Name(), err)
	}
	pool := filepath.Join(c.cacheDir, "debian", "pool")
	var debs []string
	for _, p := range pkgs {
		local := filepath.Join(pool, p.basename())
		ok, err := checkFile(local, p.Size, p.SHA256)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: check cached %s: %w", t.Name(), local, err)
		}
		if !ok {
			if _, err := os.Lstat(local); err == nil {
				c.log.Warnf("cached %s does not match the index; downloading it again", local)
				os.Remove(local)
			}
			c.log.Infof("fetch %s: %s %s", t.Name(), p.Package, humanSize(p.Size))
			if err := c.downloadVerified(ctx, c.url(p.Filename), local, p.Size, p.SHA256); err != nil {
				return nil, fmt.Errorf("fetch %s: %s: %w", t.Name(), p.Package, err)
			}
		}
		debs = append(debs, p.basename())
	}

	rootDir := filepath.Join(c.cacheDir, "debian", "root", t.Suite, t.Release)
	unlock, err := lockFile(filepath.Join(c.cacheDir, "debian", "locks", t.Suite+"_"+t.Release+".lock"))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", t.Name(), err)
	}
	defer unlock()
	have := readMarker(rootDir)
	want := map[string]bool{}
	for _, d := range debs {
		want[d] = true
	}
	covered := have != nil
	for d := range want {
		if !have[d] {
			covered = false
		}
	}
	if !covered {
		// Extract the union into a fresh staging directory, then swap.
		for d := range have {
			if _, err := os.Stat(filepath.Join(pool, d)); err == nil {
				want[d] = true
			}
		}
		var all []string
		for d := range want {
			all = append(all, d)
		}
		sort.Strings(all)
		if err := c.extractAll(ctx, t, pool, all, rootDir); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", t.Name(), err)
		}
	}
	fe := &Fetched{Target: t, Root: rootDir, Packages: debs}
	if what&PartImage != 0 {
		for _, p := range []string{"/boot/vmlinuz-" + t.Release, "/usr/lib/modules/" + t.Release + "/vmlinuz", "/lib/modules/" + t.Release + "/vmlinuz"} {
			hp, err := fe.InRoot(p)
			if err != nil {
				continue
			}
			if st, err := os.Stat(hp); err == nil && st.Mode().IsRegular() {
				fe.Kernel = hp
				break
			}
		}
		if fe.Kernel == "" {
			return nil, fmt.Errorf("fetch %s: no vmlinuz in %s (looked in /boot and /usr/lib/modules/%s) after extracting %s",
				t.Name(), rootDir, t.Release, strings.Join(debs, ", "))
		}
		vs, err := KernelVersionString(fe.Kernel)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", t.Name(), err)
		}
		rel, build, err := parseKernelVersionString(vs)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %s: %w", t.Name(), fe.Kernel, err)
		}
		if rel != t.Release {
			return nil, fmt.Errorf("fetch %s: %s says it is kernel %q, not %q; the package is not what its name says", t.Name(), fe.Kernel, rel, t.Release)
		}
		fe.Target.Version = build
	}
	if what&PartHeaders != 0 {
		fe.Headers = filepath.Join(rootDir, "usr", "src", "linux-headers-"+t.Release)
		if _, err := os.Stat(filepath.Join(fe.Headers, "Makefile")); err != nil {
			return nil, fmt.Errorf("fetch %s: headers incomplete: %w", t.Name(), err)
		}
	}
	return fe, nil
}

const markerName = ".complete"

func readMarker(rootDir string) map[string]bool {
	data, err := os.ReadFile(filepath.Join(rootDir, markerName))
	if err != nil {
		return nil
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			m[l] = true
		}
	}
	return m
}

// extractAll extracts debs from pool into a staging directory beside
// rootDir and swaps it in when complete. Each .deb is re-hashed first.
func (c *Catalogue) extractAll(ctx context.Context, t Target, pool string, debs []string, rootDir string) error {
	parent := filepath.Dir(rootDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	staging, err := os.MkdirTemp(parent, "."+filepath.Base(rootDir)+".staging-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(staging)
		}
	}()
	if err := os.Chmod(staging, 0o755); err != nil {
		return err
	}
	for _, d := range debs {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.log.Infof("extract %s: %s", t.Name(), d)
		if err := ExtractDeb(filepath.Join(pool, d), staging); err != nil {
			return fmt.Errorf("extract: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(staging, markerName), []byte(strings.Join(debs, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	var old string
	if _, err := os.Lstat(rootDir); err == nil {
		old = staging + ".old"
		if err := os.Rename(rootDir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(staging, rootDir); err != nil {
		if old != "" {
			os.Rename(old, rootDir)
		}
		return err
	}
	ok = true
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// lockFile takes an exclusive flock on path, creating it.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
