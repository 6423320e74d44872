// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package oci keeps a signed driver mirror (see package mirror) in an OCI
// registry, for sites whose only way in is the registry they already run:
// Push sends a mirror directory to oci://REGISTRY/REPO, Pull brings it back
// into a directory, and the loader fetches one module from it by tag.
//
// Each module is an OCI artifact of its own (artifact type
// ArtifactTypeModule, one layer of MediaTypeModule) whose annotations say
// what the module is for (kernel release and version, distro, arch, driver
// and schema versions, sha256), tagged with Tag(its path in the mirror), so
// a loader that knows its kernel finds its module without listing the
// repository. The signed index, index.json and index.json.sig, is one
// more artifact (ArtifactTypeIndex) under the tag IndexTag, pushed last so
// that whoever sees a new index finds every module it lists.
//
// The registry is not trusted: Pull and the loader verify the index's
// signature (mirror.VerifySignedIndex) before anything else, and each
// module's size and sha256 against the index before it is written.
//
// oras-go rather than go-containerregistry: artifacts with media types and
// annotations of one's own are oras-go's core use (PackManifest and the
// OCI 1.1 artifactType), while go-containerregistry is built around
// container images and their config and layer conventions.
package oci

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/vigil-dev/vigil/internal/tlsca"
	"github.com/vigil-dev/vigil/mirror"
)

// Scheme prefixes a repository: oci://REGISTRY/REPO.
const Scheme = "oci://"

// IndexTag is the tag of the signed index's artifact.
const IndexTag = "index"

// Media types of vigil's artifacts.
const (
	ArtifactTypeModule = "application/vnd.vigil.driver.kmod.v1"
	MediaTypeModule    = "application/vnd.vigil.driver.kmod.v1+octet-stream"
	ArtifactTypeIndex  = "application/vnd.vigil.mirror.index.v1"
	MediaTypeIndex     = "application/vnd.vigil.mirror.index.v1+json"
	MediaTypeSignature = "application/vnd.vigil.mirror.index.signature.v1"
)

// Annotations of a module's manifest, in vigil's own namespace, beside
// org.opencontainers.image.title (the file name) and .created (its build
// time, so that pushing the same mirror twice gives the same manifests).
const (
	AnnotationName          = "dev.vigil.artifact.name" // its path in the mirror
	AnnotationSHA256        = "dev.vigil.artifact.sha256"
	AnnotationKernelRelease = "dev.vigil.kernel.release"
	AnnotationKernelVersion = "dev.vigil.kernel.version"
	AnnotationDistro        = "dev.vigil.distro"
	AnnotationArch          = "dev.vigil.arch"
	AnnotationDriverVersion = "dev.vigil.driver.version"
	AnnotationSchemaVersion = "dev.vigil.schema.version"
)

// Limits on what a registry sends before it is believed: an index, a
// signature or a manifest larger than these is not vigil's.
const (
	maxIndexSize    = 64 << 20
	maxSigSize      = 4 << 10
	maxManifestSize = 4 << 20
)

// Options say whom to trust and how to reach the registry.
type Options struct {
	// Keys are the trusted public keys. Pull requires one the index
	// verifies with; Push verifies the local mirror with them before
	// sending anything.
	Keys []ed25519.PublicKey
	// Trust, when set, names revoked and expired keys, so that an index
	// signed only by one is refused naming it.
	Trust *mirror.TrustStore
	// Username and Password log in; without a Username the credentials
	// come from RegistryConfig.
	Username, Password string
	// RegistryConfig is a Docker config file (the one `docker login`
	// writes); empty means $DOCKER_CONFIG/config.json, else
	// ~/.docker/config.json. A missing file means no credentials.
	RegistryConfig string
	// CAFile is a PEM file of CA certificates trusted beside the system's.
	CAFile string
	// PlainHTTP talks HTTP rather than HTTPS: for a registry on loopback.
	PlainHTTP bool
	// HTTPClient, when not nil, carries every request (its transport's
	// TLS and proxy settings; CAFile is then ignored). When nil, a client
	// that retries network errors, 5xx and 429 is used.
	HTTPClient *http.Client
	// Header is sent with every request.
	Header http.Header
	// Log, when not nil, gets a line per artifact pushed or pulled.
	Log io.Writer
}

// ParseRef splits "oci://REGISTRY/REPO" (the scheme may be left out) into
// a reference without tag or digest: the mirror is the whole repository,
// whose tags are vigil's.
func ParseRef(ref string) (registry.Reference, error) {
	s := strings.TrimPrefix(ref, Scheme)
	if strings.Contains(s, "://") {
		return registry.Reference{}, fmt.Errorf("oci: %q: want %sREGISTRY/REPO", ref, Scheme)
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		// oci://user:pass@host/repo: credentials go in Options; and
		// host/repo@sha256:...: a digest is one artifact, not a mirror.
		return registry.Reference{}, fmt.Errorf("oci: %q: give the repository alone, %sREGISTRY/REPO, with no credentials (a username and password, or the registry config) or digest", Redact(ref), Scheme)
	}
	r, err := registry.ParseReference(s)
	if err != nil {
		return registry.Reference{}, fmt.Errorf("oci: %q is not %sREGISTRY/REPO (a host[:port], then a repository path such as vigil/drivers): %w", ref, Scheme, err)
	}
	if r.Reference != "" {
		return registry.Reference{}, fmt.Errorf("oci: %q names a tag or digest: give the repository alone (%s%s/%s); vigil tags its artifacts itself", ref, Scheme, r.Registry, r.Repository)
	}
	return r, nil
}

// Redact drops the password of "oci://user:pass@host/repo".
func Redact(ref string) string {
	rest, ok := strings.CutPrefix(ref, Scheme)
	if !ok {
		return ref
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ref
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return Scheme + user + ":xxxxx" + rest[at:]
}

// Remote is a mirror's repository in a registry.
type Remote struct {
	repo *remote.Repository
	name string // oci://REGISTRY/REPO, for messages
}

// Open checks ref and opts and sets up the client; it sends nothing yet.
func Open(ref string, opts Options) (*Remote, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	name := Scheme + r.Registry + "/" + r.Repository
	client := opts.HTTPClient
	if client == nil {
		if client, err = retryClient(opts.CAFile); err != nil {
			return nil, fmt.Errorf("oci: %s: %w", name, err)
		}
	}
	cred, err := credential(r.Registry, opts)
	if err != nil {
		return nil, fmt.Errorf("oci: %s: %w", name, err)
	}
	repo := &remote.Repository{
		Reference: r,
		PlainHTTP: opts.PlainHTTP,
		Client: &auth.Client{
			Client:     client,
			Header:     opts.Header,
			Credential: cred,
			Cache:      auth.NewCache(),
		},
	}
	// No artifact has a subject: nothing needs the referrers API, which
	// older registries lack.
	if err := repo.SetReferrersCapability(false); err != nil {
		return nil, err
	}
	return &Remote{repo: repo, name: name}, nil
}

// String is oci://REGISTRY/REPO.
func (r *Remote) String() string { return r.name }

// Where names the artifact of the mirror file name (or the index's, for
// mirror.IndexFile and mirror.SignatureFile) in messages.
func (r *Remote) Where(name string) string {
	if name == mirror.IndexFile || name == mirror.SignatureFile {
		return r.name + ":" + IndexTag + " (" + name + ")"
	}
	tag, err := Tag(name)
	if err != nil {
		return r.name + " (" + name + ")"
	}
	return r.name + ":" + tag
}

// credential is the login for host: opts' username and password, else the
// Docker config's.
func credential(host string, opts Options) (auth.CredentialFunc, error) {
	if opts.Username != "" {
		return auth.StaticCredential(host, auth.Credential{Username: opts.Username, Password: opts.Password}), nil
	}
	if opts.Password != "" {
		return nil, errors.New("a password without a username: give both")
	}
	file := opts.RegistryConfig
	if file == "" {
		// credentials.NewStoreFromDocker's rule, without failing where
		// there is no home directory (a loader in an initramfs).
		if d := os.Getenv("DOCKER_CONFIG"); d != "" {
			file = filepath.Join(d, "config.json")
		} else if home, err := os.UserHomeDir(); err == nil {
			file = filepath.Join(home, ".docker", "config.json")
		} else {
			return auth.StaticCredential(host, auth.EmptyCredential), nil
		}
	} else if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	store, err := credentials.NewStore(file, credentials.StoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("registry config %s: %w (fix or remove it, or give a username and password)", file, err)
	}
	return credentials.Credential(store), nil
}

// retryClient retries network errors, 5xx and 429 with backoff, and trusts
// caFile's certificates beside the system's.
func retryClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		cfg, err := tlsca.Config(caFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	return &http.Client{Transport: retry.NewTransport(tr)}, nil
}

// Tag is the tag of the module whose path in the mirror is name. OCI tags
// are [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, so:
//
//   - "/" becomes "__";
//   - any other byte outside [A-Za-z0-9._-] becomes "_x" and its two
//     lowercase hex digits ("+" is "_x2b");
//   - a leading "." or "-" gets a "_" before it;
//   - a tag longer than 128 is cut to 111 bytes, then "_" and the first 16
//     hex digits of the sha256 of name.
//
// "0.1.0/x86_64/vigil_debian_6.12.117+deb13-cloud-amd64_1.ko" is
// "0.1.0__x86_64__vigil_debian_6.12.117_x2bdeb13-cloud-amd64_1.ko". Names
// holding "__" or "_x" could map to the same tag: Push refuses a mirror
// where two do, and a module's manifest names its path, which the loader
// checks. The name must be a mirror entry's (no "..", not absolute).
func Tag(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return "", fmt.Errorf("oci: %q is not an artifact's path in a mirror", name)
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '/':
			b.WriteString("__")
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
			if i == 0 && (c == '.' || c == '-') {
				b.WriteByte('_')
			}
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_x%02x", c)
		}
	}
	tag := b.String()
	if len(tag) > 128 {
		sum := sha256.Sum256([]byte(name))
		tag = tag[:111] + "_" + hex.EncodeToString(sum[:8])
	}
	if tag == IndexTag {
		return "", fmt.Errorf("oci: %q would be tagged %q, the index's tag", name, IndexTag)
	}
	return tag, nil
}

// FetchIndex returns index.json and index.json.sig from the index artifact,
// both from the same manifest, unverified: give them to
// mirror.VerifySignedIndex. sig is nil when the artifact has no signature.
func (r *Remote) FetchIndex(ctx context.Context) (data, sig []byte, err error) {
	m, err := r.manifest(ctx, IndexTag, ArtifactTypeIndex)
	if err != nil {
		return nil, nil, err
	}
	var idx, sg *ocispec.Descriptor
	for i, l := range m.Layers {
		switch l.MediaType {
		case MediaTypeIndex:
			idx = &m.Layers[i]
		case MediaTypeSignature:
			sg = &m.Layers[i]
		}
	}
	switch {
	case idx == nil:
		return nil, nil, fmt.Errorf("oci: %s: the index artifact has no %s layer: it was not pushed by vigil mirror push", r.Where(mirror.IndexFile), MediaTypeIndex)
	case idx.Size > maxIndexSize:
		return nil, nil, fmt.Errorf("oci: %s: index.json is %d bytes, more than %d: not a vigil mirror's", r.Where(mirror.IndexFile), idx.Size, maxIndexSize)
	case sg != nil && sg.Size > maxSigSize:
		return nil, nil, fmt.Errorf("oci: %s: index.json.sig is %d bytes, more than %d: not a vigil mirror's", r.Where(mirror.SignatureFile), sg.Size, maxSigSize)
	}
	// FetchAll checks size and digest.
	if data, err = content.FetchAll(ctx, r.repo, *idx); err != nil {
		return nil, nil, r.wrap("fetching index.json of", IndexTag, err)
	}
	if sg == nil {
		return data, nil, nil
	}
	if sig, err = content.FetchAll(ctx, r.repo, *sg); err != nil {
		return nil, nil, r.wrap("fetching index.json.sig of", IndexTag, err)
	}
	return data, sig, nil
}

// OpenModule starts reading the module whose path in the mirror is name,
// found by its tag alone, and returns its size as the manifest says. The
// caller checks size and sha256 against the signed index: the registry is
// not trusted.
func (r *Remote) OpenModule(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	tag, err := Tag(name)
	if err != nil {
		return nil, 0, err
	}
	m, err := r.manifest(ctx, tag, ArtifactTypeModule)
	if err != nil {
		return nil, 0, err
	}
	if got := m.Annotations[AnnotationName]; got != name {
		return nil, 0, fmt.Errorf("oci: %s:%s is the artifact of %q, not of %q (two names share a tag?): push the mirror again", r.name, tag, got, name)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeModule {
		return nil, 0, fmt.Errorf("oci: %s:%s: want one %s layer: it was not pushed by vigil mirror push", r.name, tag, MediaTypeModule)
	}
	l := m.Layers[0]
	rc, err := r.repo.Fetch(ctx, l)
	if err != nil {
		return nil, 0, r.wrap("fetching", tag, err)
	}
	return rc, l.Size, nil
}

// manifest fetches and decodes the manifest tagged tag, which must be of
// artifactType.
func (r *Remote) manifest(ctx context.Context, tag, artifactType string) (*ocispec.Manifest, error) {
	desc, rc, err := r.repo.FetchReference(ctx, tag)
	if err != nil {
		return nil, r.wrap("fetching the manifest of", tag, err)
	}
	defer rc.Close()
	if desc.Size > maxManifestSize {
		return nil, fmt.Errorf("oci: %s:%s: manifest of %d bytes, more than %d: not vigil's", r.name, tag, desc.Size, maxManifestSize)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return nil, r.wrap("reading the manifest of", tag, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil || len(b) > maxManifestSize {
		return nil, fmt.Errorf("oci: %s:%s: not an OCI manifest vigil can read (%v)", r.name, tag, err)
	}
	if m.ArtifactType != artifactType {
		return nil, fmt.Errorf("oci: %s:%s is of artifact type %q, want %q: the repository holds something other than a vigil mirror", r.name, tag, m.ArtifactType, artifactType)
	}
	return &m, nil
}

// wrap names the repository, the tag and what was being done; a missing
// tag or blob wraps fs.ErrNotExist as well as errdef.ErrNotFound.
func (r *Remote) wrap(doing, tag string, err error) error {
	err = fmt.Errorf("oci: %s %s:%s: %w", doing, r.name, tag, err)
	var resp *errcode.ErrorResponse
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%w: the registry refused the login: check the username and password, or the registry config's", err)
	}
	return err
}

// moduleAnnotations are the annotations of e's manifest.
func moduleAnnotations(e mirror.Entry, schema string, created string) map[string]string {
	a := map[string]string{
		ocispec.AnnotationTitle:   path.Base(e.Name),
		ocispec.AnnotationCreated: created,
		AnnotationName:            e.Name,
		AnnotationSHA256:          e.SHA256,
		AnnotationKernelRelease:   e.Target.Release,
		AnnotationKernelVersion:   e.Target.Version,
		AnnotationDistro:          e.Target.Distro,
		AnnotationArch:            e.Target.Arch,
		AnnotationDriverVersion:   e.DriverVersion,
	}
	if schema != "" {
		a[AnnotationSchemaVersion] = schema
	}
	return a
}

// verifyIndex checks data and sig with the trusted keys; trust, when set,
// also refuses revoked and expired keys by name.
func verifyIndex(data, sig []byte, src string, trust *mirror.TrustStore, keys []ed25519.PublicKey) (*mirror.Index, error) {
	if len(keys) == 0 {
		return nil, errors.New("oci: no trusted key: give the mirror's public key (the .pub file from vigil mirror keygen)")
	}
	return trust.VerifySignedIndex(data, sig, src, keys...)
}
