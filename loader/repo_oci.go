// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// This file reads a repository kept in an OCI registry,
// oci://[USER:PASSWORD@]REGISTRY/REPO, as `vigil mirror push` lays it out
// (see package mirror/oci): the signed index is the artifact tagged
// "index", each module an artifact tagged after its path. Repo's Index and
// Fetch do the rest as for any repository: the index's signature first,
// then the module's size and sha256, then the rename into place. A module
// is found by its tag alone: the repository is never listed.

package loader

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"sync"

	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/vigil-dev/vigil/mirror"
	"github.com/vigil-dev/vigil/mirror/oci"
)

// ociRepo is the registry side of an oci:// Repo.
type ociRepo struct {
	ref        string // oci://REGISTRY/REPO
	user, pass string // from the URL, or empty: then the Docker config's
	remote     *oci.Remote

	// Index reads index.json, then index.json.sig: both come from one
	// fetch of the index artifact, so that a push between the two reads
	// cannot pair an index with another's signature.
	mu  sync.Mutex
	sig []byte // of the index last read; nil: none read, or none in it
}

// parseOCI takes oci://[USER:PASSWORD@]REGISTRY/REPO.
func (r *Repo) parseOCI(u *url.URL) error {
	if u.Host == "" || u.Path == "" || u.Path == "/" {
		return errors.New("want oci://REGISTRY/REPO, e.g. oci://10.0.0.5:5000/vigil/drivers")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("an oci:// repository takes no query or fragment")
	}
	o := &ociRepo{ref: oci.Scheme + u.Host + u.Path}
	if u.User != nil {
		o.user = u.User.Username()
		o.pass, _ = u.User.Password()
	}
	r.oci = o
	return nil
}

// openOCI sets up the registry client once the options are checked: the
// same proxy, CA file and headers as for an http(s) repository.
func (r *Repo) openOCI() error {
	rem, err := oci.Open(r.oci.ref, oci.Options{
		Username:       r.oci.user,
		Password:       r.oci.pass,
		RegistryConfig: r.opts.RegistryConfig,
		HTTPClient:     r.client,
		Header:         r.header,
	})
	if err != nil {
		return err
	}
	r.oci.remote = rem
	return nil
}

// open is Repo.open for a registry: mirror.IndexFile and
// mirror.SignatureFile come from the index artifact, anything else is the
// module of that path, fetched by its tag.
func (o *ociRepo) open(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	switch name {
	case mirror.IndexFile:
		data, sig, err := o.remote.FetchIndex(ctx)
		if err != nil {
			return nil, 0, ociError(err)
		}
		o.mu.Lock()
		o.sig = sig
		o.mu.Unlock()
		return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
	case mirror.SignatureFile:
		o.mu.Lock()
		sig := o.sig
		o.mu.Unlock()
		if sig == nil {
			return nil, 0, fmt.Errorf("%s has no signature (%w)", o.remote.Where(name), fs.ErrNotExist)
		}
		return io.NopCloser(bytes.NewReader(sig)), int64(len(sig)), nil
	}
	rc, size, err := o.remote.OpenModule(ctx, name)
	if err != nil {
		return nil, 0, ociError(err)
	}
	return rc, size, nil
}

// redactSpec is a repository spec without the password of its URL (an
// oci:// login, most often), for what a plan and its report print.
func redactSpec(spec string) string {
	if u, err := url.Parse(spec); err == nil && u.User != nil {
		return u.Redacted()
	}
	return spec
}

// ociError marks what another try may cure (network errors, 5xx, 429) and
// says what to do about a refused login or an untrusted certificate.
func ociError(err error) error {
	var resp *errcode.ErrorResponse
	var cve *tls.CertificateVerificationError
	var ue *url.Error
	switch {
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%w (give the login in the URL, oci://USER:PASSWORD@REGISTRY/REPO, or in the Docker config file)", err)
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500):
		return &transientError{err: err}
	case errors.As(err, &cve):
		return fmt.Errorf("%w: the registry's certificate is not trusted: give its CA certificate (a PEM file) as the CA file", err)
	case errors.As(err, &ue):
		return &transientError{err: err}
	}
	return err
}
