// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/mirror"
)

// Summary says what Push or Pull did.
type Summary struct {
	Artifacts   int   // modules the index lists
	Transferred int   // modules sent or received; the others were there already
	Bytes       int64 // of the transferred modules
}

// Push sends the signed mirror in dir to ref (oci://REGISTRY/REPO): each
// module as an artifact tagged Tag(its path), then the index under
// IndexTag. Nothing is sent before the index verifies with one of
// opts.Keys and every module it lists matches it: the registry gets only
// what the signature vouches for. Blobs the registry has already are not
// sent again, and a module's manifest is the same on every push (its
// created time is its build time), so pushing again is cheap.
func Push(ctx context.Context, dir, ref string, opts Options) (Summary, error) {
	r, err := Open(ref, opts)
	if err != nil {
		return Summary{}, err
	}
	data, sig, ix, err := readMirror(dir, opts)
	if err != nil {
		return Summary{}, err
	}
	tags := make(map[string]string, len(ix.Entries)) // tag → name
	tagOf := make([]string, len(ix.Entries))
	for i, e := range ix.Entries {
		tag, err := Tag(e.Name)
		if err != nil {
			return Summary{}, err
		}
		if other, dup := tags[tag]; dup {
			return Summary{}, fmt.Errorf("oci: push %s: %s and %s would both be tagged %s (see oci.Tag): rename one", dir, other, e.Name, tag)
		}
		tags[tag], tagOf[i] = e.Name, tag
	}

	sum := Summary{Artifacts: len(ix.Entries)}
	for i, e := range ix.Entries {
		sent, err := r.pushModule(ctx, dir, e, tagOf[i], ix.Generated)
		if err != nil {
			return sum, fmt.Errorf("%w; the index was not pushed, so loaders still see the previous one: run push again", err)
		}
		if sent {
			sum.Transferred++
			sum.Bytes += e.Size
		}
		logf(opts.Log, "%s %s as %s", pushed(sent), e.Name, r.Where(e.Name))
	}
	// The index last: whoever sees it finds every module it lists.
	layers := make([]ocispec.Descriptor, 0, 2)
	for _, f := range []struct {
		name, mediaType string
		data            []byte
	}{{mirror.IndexFile, MediaTypeIndex, data}, {mirror.SignatureFile, MediaTypeSignature, sig}} {
		desc := ocispec.Descriptor{MediaType: f.mediaType, Digest: digest.FromBytes(f.data), Size: int64(len(f.data)),
			Annotations: map[string]string{ocispec.AnnotationTitle: f.name}}
		if _, err := r.pushBlob(ctx, desc, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }); err != nil {
			return sum, r.wrap("pushing "+f.name+" to", IndexTag, err)
		}
		layers = append(layers, desc)
	}
	annotations := map[string]string{ocispec.AnnotationCreated: ix.Generated.UTC().Format(time.RFC3339)}
	if err := r.pushManifest(ctx, ArtifactTypeIndex, layers, annotations, IndexTag); err != nil {
		return sum, err
	}
	logf(opts.Log, "pushed the signed index (%d modules) as %s", len(ix.Entries), r.Where(mirror.IndexFile))
	return sum, nil
}

func pushed(sent bool) string {
	if sent {
		return "pushed"
	}
	return "already there:"
}

// readMirror reads dir's index and signature, verifies them, and checks
// every module against the index: what `vigil mirror verify` does, but
// for files the index does not list, which are not pushed anyway.
func readMirror(dir string, opts Options) (data, sig []byte, ix *mirror.Index, err error) {
	indexPath := filepath.Join(dir, mirror.IndexFile)
	if data, err = os.ReadFile(indexPath); err != nil {
		return nil, nil, nil, fmt.Errorf("oci: push: %w (is %s a mirror's root, the directory holding %s?)", err, dir, mirror.IndexFile)
	}
	sig, err = os.ReadFile(filepath.Join(dir, mirror.SignatureFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("oci: push %s: %w (%w): sign it first (vigil driver build --key-file)", dir, mirror.ErrNoSignature, err)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("oci: push: %w", err)
	}
	if ix, err = verifyIndex(data, sig, indexPath, opts.Trust, opts.Keys); err != nil {
		return nil, nil, nil, fmt.Errorf("%w; nothing was pushed", err)
	}
	for _, e := range ix.Entries {
		got, err := mirror.EntryFor(dir, e.Name)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("oci: push: %w; nothing was pushed (vigil mirror verify %s lists every problem)", err, dir)
		}
		if got.Size != e.Size || got.SHA256 != e.SHA256 {
			return nil, nil, nil, fmt.Errorf("oci: push: %s is %d bytes with sha256 %s, the signed index says %d and %s; nothing was pushed (vigil mirror verify %s lists every problem)",
				filepath.Join(dir, e.Name), got.Size, got.SHA256, e.Size, e.SHA256, dir)
		}
	}
	return data, sig, ix, nil
}

// pushModule pushes e's file and its manifest, tagged tag; it reports
// whether the file had to be sent.
func (r *Remote) pushModule(ctx context.Context, dir string, e mirror.Entry, tag string, generated time.Time) (bool, error) {
	layer := ocispec.Descriptor{
		MediaType:   MediaTypeModule,
		Digest:      digest.NewDigestFromEncoded(digest.SHA256, e.SHA256),
		Size:        e.Size,
		Annotations: map[string]string{ocispec.AnnotationTitle: filepath.Base(e.Name)},
	}
	// The registry checks the digest of what it is sent, so a file changed
	// since readMirror hashed it is refused there.
	sent, err := r.pushBlob(ctx, layer, func() (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, filepath.FromSlash(e.Name)))
	})
	if err != nil {
		return false, r.wrap("pushing "+e.Name+" to", tag, err)
	}
	created := e.BuildTime
	if created.IsZero() {
		created = generated
	}
	// The schema of the events a module writes is known for this vigil's
	// own driver version only.
	schema := ""
	if e.DriverVersion == driver.DriverVersion {
		schema = driver.SchemaVersion
	}
	annotations := moduleAnnotations(e, schema, created.UTC().Format(time.RFC3339))
	return sent, r.pushManifest(ctx, ArtifactTypeModule, []ocispec.Descriptor{layer}, annotations, tag)
}

// pushBlob sends desc's content, from open, unless the registry has it.
func (r *Remote) pushBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) (bool, error) {
	if ok, err := r.repo.Exists(ctx, desc); err != nil {
		return false, err
	} else if ok {
		return false, nil
	}
	rc, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	return true, r.repo.Push(ctx, desc, rc)
}

// pushManifest packs an OCI 1.1 artifact manifest of layers (its config the
// empty JSON, as OCI's artifact guidelines want) and tags it.
func (r *Remote) pushManifest(ctx context.Context, artifactType string, layers []ocispec.Descriptor, annotations map[string]string, tag string) error {
	desc, err := oras.PackManifest(ctx, r.repo, oras.PackManifestVersion1_1, artifactType,
		oras.PackManifestOptions{Layers: layers, ManifestAnnotations: annotations})
	if err != nil {
		return r.wrap("pushing the manifest of", tag, err)
	}
	if err := r.repo.Tag(ctx, desc, tag); err != nil {
		return r.wrap("tagging", tag, err)
	}
	return nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
