// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"golang.org/x/sys/unix"
)

// recipeVersion changes whenever the way images are made changes, so that
// every image is made again.
const recipeVersion = "1"

// imageRepo is the repository of every builder image.
const imageRepo = "vigil-builder"

// Recipe says what a builder image holds: a Debian suite and the packages
// a module build needs, with the compiler the target kernel was built with.
type Recipe struct {
	Suite    string
	Compiler string // the gcc package, e.g. gcc-12
	Packages []string
}

// RecipeFor is the image for kernels of suite built with compiler (gcc-N).
// Backports kernels are built in their base suite.
func RecipeFor(suite, compiler string) Recipe {
	base, _, _ := strings.Cut(suite, "-")
	pkgs := []string{compiler, "make", "libc6-dev", "libelf-dev", "bc", "dwarves", "kmod", "binutils"}
	sort.Strings(pkgs)
	return Recipe{Suite: base, Compiler: compiler, Packages: pkgs}
}

// With returns the recipe with more packages (dkms, say).
func (r Recipe) With(pkgs ...string) Recipe {
	r.Packages = append(append([]string(nil), r.Packages...), pkgs...)
	sort.Strings(r.Packages)
	return r
}

// Hash identifies the recipe: an image is reused while it is unchanged.
func (r Recipe) Hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "v%s\n%s\n%s\n", recipeVersion, r.Suite, strings.Join(r.Packages, ","))
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Tag is the image's reference: vigil-builder:<suite>-<compiler>-<hash>.
func (r Recipe) Tag() string {
	return fmt.Sprintf("%s:%s-%s-%s", imageRepo, r.Suite, r.Compiler, r.Hash())
}

// Images makes builder images with debootstrap and docker import: no
// registry is involved.
type Images struct {
	docker   *Docker
	mirror   string // Debian mirror for debootstrap
	keyring  string
	workDir  string // where root file systems are assembled
	log      io.Writer
	mu       sync.Mutex
	building map[string]*sync.Mutex
}

// NewImages returns the image maker. mirror is a Debian mirror URL (from
// the host's apt configuration), workDir a directory on a disk with room
// for a root file system per suite being made.
func NewImages(d *Docker, mirror, keyring, workDir string, log io.Writer) *Images {
	if log == nil {
		log = io.Discard
	}
	return &Images{docker: d, mirror: mirror, keyring: keyring, workDir: workDir, log: log, building: map[string]*sync.Mutex{}}
}

// ImageInfo describes one builder image.
type ImageInfo struct {
	Tag     string
	Suite   string // the Debian suite it holds, read from Tag
	ID      string
	Created time.Time
	Size    int64
}

// List returns the builder images present, newest first: all of them, or
// with a suite only that suite's (a backports suite's are its base
// suite's, as RecipeFor makes them).
func (im *Images) List(ctx context.Context, suite string) ([]ImageInfo, error) {
	imgs, err := im.docker.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", imageRepo))})
	if err != nil {
		return nil, fmt.Errorf("list builder images: %w", err)
	}
	want := ""
	if suite != "" {
		want = RecipeFor(suite, "").Suite
	}
	var out []ImageInfo
	for _, i := range imgs {
		for _, t := range i.RepoTags {
			info := ImageInfo{Tag: t, Suite: tagSuite(t), ID: i.ID, Created: time.Unix(i.Created, 0), Size: i.Size}
			if want == "" || info.Suite == want {
				out = append(out, info)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.After(out[b].Created) })
	return out, nil
}

// tagSuite reads the suite out of a tag that Recipe.Tag made,
// vigil-builder:<suite>-<compiler>-<hash>; "" for any other tag.
func tagSuite(tag string) string {
	i := strings.LastIndexByte(tag, ':')
	if i < 0 || tag[:i] != imageRepo && !strings.HasSuffix(tag[:i], "/"+imageRepo) {
		return ""
	}
	suite, _, ok := strings.Cut(tag[i+1:], "-")
	if !ok {
		return ""
	}
	return suite
}

// lookup returns the id of the image tagged tag, or "".
func (im *Images) lookup(ctx context.Context, tag string) (string, error) {
	imgs, err := im.docker.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", tag))})
	if err != nil {
		return "", fmt.Errorf("look up image %s: %w", tag, err)
	}
	if len(imgs) == 0 {
		return "", nil
	}
	return imgs[0].ID, nil
}

// Ensure returns the id of the recipe's image, making it first when it
// does not exist. Concurrent calls for one recipe make it once.
func (im *Images) Ensure(ctx context.Context, r Recipe) (string, error) {
	tag := r.Tag()
	im.mu.Lock()
	l := im.building[tag]
	if l == nil {
		l = &sync.Mutex{}
		im.building[tag] = l
	}
	im.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	if id, err := im.lookup(ctx, tag); err != nil || id != "" {
		return id, err
	}
	// Other processes (test binaries of other packages, a second vigil)
	// may be making the same image: one debootstrap is enough.
	unlock, err := im.lockFile(tag)
	if err != nil {
		return "", err
	}
	defer unlock()
	if id, err := im.lookup(ctx, tag); err != nil || id != "" {
		return id, err
	}
	// A fresh engine (a new CI machine) reloads images saved by an
	// earlier run instead of making them again.
	if id, err := im.load(ctx, tag); err == nil && id != "" {
		return id, nil
	} else if err != nil {
		fmt.Fprintf(im.log, "image %s: saved copy unusable, making it again: %v\n", tag, err)
	}
	id, err := im.make(ctx, r)
	if err != nil {
		return "", err
	}
	if err := im.save(ctx, tag); err != nil {
		fmt.Fprintf(im.log, "image %s: not saved for later runs: %v\n", tag, err)
	}
	return id, nil
}

// lockFile takes an exclusive lock on a file beside the saved image,
// blocking until the process that holds it is done.
func (im *Images) lockFile(tag string) (func(), error) {
	dir := filepath.Join(im.workDir, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("image %s: %w", tag, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, strings.ReplaceAll(tag, ":", "_")+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("image %s: lock: %w", tag, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("image %s: lock %s: %w", tag, f.Name(), err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// savedPath is where an image is kept between engines.
func (im *Images) savedPath(tag string) string {
	return filepath.Join(im.workDir, "images", strings.ReplaceAll(tag, ":", "_")+".tar")
}

func (im *Images) save(ctx context.Context, tag string) error {
	p := im.savedPath(tag)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	rc, err := im.docker.cli.ImageSave(ctx, []string{tag})
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, p)
}

// load brings a saved image into the engine; "" when none is saved.
func (im *Images) load(ctx context.Context, tag string) (string, error) {
	f, err := os.Open(im.savedPath(tag))
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	resp, err := im.docker.cli.ImageLoad(ctx, f)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Fprintf(im.log, "image %s: loaded from %s\n", tag, im.savedPath(tag))
	return im.lookup(ctx, tag)
}

// make runs debootstrap into a fresh directory and imports it.
func (im *Images) make(ctx context.Context, r Recipe) (id string, err error) {
	tag := r.Tag()
	start := time.Now()
	if err := os.MkdirAll(im.workDir, 0o755); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(im.workDir, "rootfs-"+r.Suite+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(im.log, "image %s: debootstrap %s with %s\n", tag, r.Suite, strings.Join(r.Packages, " "))
	out := NewLineWriter(im.log, "[debootstrap "+r.Suite+"] ")
	args := []string{"--variant=minbase", "--include=" + strings.Join(r.Packages, ",")}
	if im.keyring != "" {
		args = append(args, "--keyring="+im.keyring)
	}
	cmd := exec.CommandContext(ctx, "debootstrap", append(args, r.Suite, dir, im.mirror)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("make image %s: debootstrap %s: %w\n%s", tag, r.Suite, err, out.Tail())
	}
	// The compiler must be the one the recipe names, or the image is wrong
	// for its kernels.
	if _, err := os.Stat(filepath.Join(dir, "usr/bin", r.Compiler)); err != nil {
		return "", fmt.Errorf("make image %s: %s has no %s: the suite no longer ships that compiler", tag, r.Suite, r.Compiler)
	}
	// Nothing the builds need from apt: drop its caches from the image.
	_ = os.RemoveAll(filepath.Join(dir, "var/cache/apt/archives"))
	_ = os.RemoveAll(filepath.Join(dir, "var/lib/apt/lists"))

	tar := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", dir, "-c", ".")
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return "", err
	}
	tar.Stderr = out
	if err := tar.Start(); err != nil {
		return "", fmt.Errorf("make image %s: tar: %w", tag, err)
	}
	rc, err := im.docker.cli.ImageImport(ctx, image.ImportSource{Source: pipe, SourceName: "-"}, tag, image.ImportOptions{
		Message: "vigil builder image: debootstrap " + r.Suite + " + " + strings.Join(r.Packages, " "),
	})
	if err != nil {
		_ = tar.Process.Kill()
		_ = tar.Wait()
		return "", fmt.Errorf("make image %s: docker import: %w", tag, err)
	}
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
	if err := tar.Wait(); err != nil {
		return "", fmt.Errorf("make image %s: tar: %w", tag, err)
	}
	id, err = im.lookup(ctx, tag)
	if err == nil && id == "" {
		err = fmt.Errorf("make image %s: imported, but the engine does not list it", tag)
	}
	if err == nil {
		fmt.Fprintf(im.log, "image %s: made in %s\n", tag, time.Since(start).Round(time.Second))
	}
	return id, err
}
