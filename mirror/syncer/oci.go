// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package syncer

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/mirror/oci"
)

// ociSource is a mirror pushed to an OCI registry (vigil mirror push):
// the signed index is the artifact tagged "index", each module is found by
// its tag. Blobs are read whole: a resumed file starts over (Part.Start 0),
// and Sync checks every file against the signed index as for any source.
type ociSource struct {
	name   string
	remote *oci.Remote
}

// openOCI opens oci://[USER:PASSWORD@]REGISTRY/REPO with o's registry
// config, proxy, CA file and headers.
func openOCI(u *url.URL, o loader.RepoOptions) (Source, error) {
	client, set, err := o.HTTPClient()
	if err != nil {
		return nil, fmt.Errorf("sync: source %s: %w", u.Redacted(), err)
	}
	// The extra headers, as the loader's client would set them.
	req, _ := http.NewRequest(http.MethodGet, "http://"+u.Host, nil)
	set(req)
	opts := oci.Options{RegistryConfig: o.RegistryConfig, HTTPClient: client, Header: req.Header}
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	ref := oci.Scheme + u.Host + u.Path
	r, err := oci.Open(ref, opts)
	if err != nil {
		return nil, fmt.Errorf("sync: source %s: %w", oci.Redact(u.String()), err)
	}
	return &ociSource{name: ref, remote: r}, nil
}

func (s *ociSource) String() string { return s.name }

func (s *ociSource) Index(ctx context.Context) ([]byte, []byte, error) {
	return s.remote.FetchIndex(ctx)
}

func (s *ociSource) Open(ctx context.Context, name string, _ int64) (*Part, error) {
	rc, size, err := s.remote.OpenModule(ctx, name)
	if err != nil {
		return nil, err
	}
	return &Part{ReadCloser: rc, Start: 0, Size: size}, nil
}
