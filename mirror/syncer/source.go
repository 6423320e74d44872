// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package syncer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/mirror"
)

// Source is a mirror Sync copies from. OpenSource makes one for a
// directory, a file:// or an http(s):// URL; an OCI registry plugs in by
// implementing it (and a case in OpenSource).
//
// Errors: a file the source has not got wraps fs.ErrNotExist; a failure
// worth another try (network, 5xx, 429) wraps ErrTransient. Sync retries
// the latter, with RepoOptions' Attempts and Backoff.
type Source interface {
	// Index returns the exact bytes of index.json and of index.json.sig,
	// unverified: Sync verifies them (mirror.VerifySignedIndex) before it
	// opens any artifact, and copies them byte for byte so the copy stays
	// signed by the build host.
	Index(ctx context.Context) (data, sig []byte, err error)
	// Open reads the file name (an index entry's Name) from byte offset
	// on. A source that cannot start there (a server ignoring Range) may
	// start at 0 instead: Part.Start says where it starts.
	Open(ctx context.Context, name string, offset int64) (*Part, error)
	// String names the source in messages, without any password.
	String() string
}

// Part is an open file of a Source, read from Start on.
type Part struct {
	io.ReadCloser
	Start int64 // the offset asked for, or 0
	Size  int64 // the whole file's size, or -1 when the source does not say
}

// ErrTransient is wrapped by a Source's errors that another try may not
// have.
var ErrTransient = errors.New("transient failure")

// Limits on the index and its signature: larger ones are not a mirror's,
// and are refused before they fill memory (the loader's limits).
const (
	maxIndexSize = 64 << 20
	maxSigSize   = 4 << 10
)

// OpenSource returns the source spec names: a mirror directory, a file://
// URL or an http(s):// URL of a mirror's root (the directory holding
// index.json). Of o, HTTP sources use Headers, CAFile and Proxy.
func OpenSource(spec string, o loader.RepoOptions) (Source, error) {
	if spec == "" {
		return nil, errors.New("sync: empty source: give a mirror directory, a file:// or an http(s):// URL")
	}
	if !strings.Contains(spec, "://") {
		return &dirSource{dir: filepath.Clean(spec)}, nil
	}
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("sync: source: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("sync: source %s names host %q: only file:///path (this machine) can be read", u.Redacted(), u.Host)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("sync: source %s has no path: write file:///absolute/path", u.Redacted())
		}
		return &dirSource{dir: filepath.Clean(u.Path)}, nil
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("sync: source %s has no host", u.Redacted())
		}
		client, set, err := o.HTTPClient()
		if err != nil {
			return nil, fmt.Errorf("sync: source %s: %w", u.Redacted(), err)
		}
		return &httpSource{base: u, client: client, set: set}, nil
	case "oci":
		return openOCI(u, o)
	}
	return nil, fmt.Errorf("sync: source %s: scheme %q is not supported: give a mirror directory, a file://, http(s):// or oci:// URL", u.Redacted(), u.Scheme)
}

// dirSource is a mirror in a local directory.
type dirSource struct{ dir string }

func (d *dirSource) String() string { return d.dir }

func (d *dirSource) Index(ctx context.Context) ([]byte, []byte, error) {
	data, err := d.readSmall(mirror.IndexFile, maxIndexSize)
	if err != nil {
		return nil, nil, err
	}
	sig, err := d.readSmall(mirror.SignatureFile, maxSigSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %w", mirror.ErrNoSignature, err)
	}
	return data, sig, err
}

func (d *dirSource) readSmall(name string, limit int64) ([]byte, error) {
	p, err := d.Open(context.Background(), name, 0)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if p.Size > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than a mirror's %s (%d)", filepath.Join(d.dir, name), p.Size, name, limit)
	}
	return io.ReadAll(p)
}

func (d *dirSource) Open(_ context.Context, name string, offset int64) (*Part, error) {
	// os.Root: a symbolic link in the mirror cannot lead out of it.
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return nil, fmt.Errorf("source directory: %w", err)
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(d.dir, name), err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	start := int64(0)
	if err == nil && offset > 0 && offset <= st.Size() {
		start, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(d.dir, name), err)
	}
	return &Part{ReadCloser: f, Start: start, Size: st.Size()}, nil
}

// httpSource is a mirror behind HTTP, such as `vigil mirror serve`.
type httpSource struct {
	base   *url.URL
	client *http.Client
	set    func(*http.Request) // the headers of loader.RepoOptions
}

func (h *httpSource) String() string { return h.base.Redacted() }

func (h *httpSource) url(name string) *url.URL { return h.base.JoinPath(strings.Split(name, "/")...) }

func (h *httpSource) Index(ctx context.Context) ([]byte, []byte, error) {
	data, err := h.readSmall(ctx, mirror.IndexFile, maxIndexSize)
	if err != nil {
		return nil, nil, err
	}
	sig, err := h.readSmall(ctx, mirror.SignatureFile, maxSigSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %w", mirror.ErrNoSignature, err)
	}
	return data, sig, err
}

func (h *httpSource) readSmall(ctx context.Context, name string, limit int64) ([]byte, error) {
	p, err := h.Open(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	data, err := io.ReadAll(io.LimitReader(p, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrTransient, h.url(name).Redacted(), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a vigil mirror's", h.url(name).Redacted(), limit)
	}
	return data, nil
}

// Open sends a GET with a Range from offset when offset is not 0. A
// server ignoring Range answers 200 with the whole file (Start 0); one
// whose file became shorter than offset answers 416, and the file is asked
// for again whole.
func (h *httpSource) Open(ctx context.Context, name string, offset int64) (*Part, error) {
	resp, err := h.get(ctx, name, offset)
	if err == nil && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0 {
		resp.Body.Close()
		resp, err = h.get(ctx, name, 0)
	}
	if err != nil {
		return nil, err
	}
	u := h.url(name).Redacted()
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return &Part{ReadCloser: resp.Body, Start: 0, Size: resp.ContentLength}, nil
	case code == http.StatusPartialContent && offset > 0:
		start, size, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s from byte %d: the server answered the range %q", u, offset, resp.Header.Get("Content-Range"))
		}
		return &Part{ReadCloser: resp.Body, Start: start, Size: size}, nil
	}
	resp.Body.Close()
	err = fmt.Errorf("GET %s: %s", u, resp.Status)
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound || code == http.StatusGone:
		return nil, fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, fmt.Errorf("%w: %w", ErrTransient, err)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return nil, fmt.Errorf("%w: the mirror wants credentials: pass them as a header (Authorization: ...)", err)
	}
	return nil, err
}

func (h *httpSource) get(ctx context.Context, name string, offset int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url(name).String(), nil)
	if err != nil {
		return nil, err
	}
	h.set(req)
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		// The client's errors name the URL without its password. An
		// untrusted certificate will not change on another try.
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			return nil, fmt.Errorf("%w: the mirror's certificate is not trusted: give its CA certificate (a PEM file) as the CA file", err)
		}
		return nil, fmt.Errorf("%w: %w", ErrTransient, err)
	}
	return resp, nil
}

// contentRange parses "bytes START-END/SIZE" (SIZE may be "*": -1).
func contentRange(v string) (start, size int64, ok bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, total, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if total == "*" {
		return start, -1, true
	}
	size, err = strconv.ParseInt(total, 10, 64)
	return start, size, err == nil
}
