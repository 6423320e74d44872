// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import "net/http"

// HTTPClient returns a client for o's Proxy and CAFile and a function that
// sets o's Headers on a request (Host included), so that another fetcher of
// mirrors (vigil mirror sync) reaches an http(s) repository exactly as the
// loader does, with the same checks of headers and CA file. Errors name a
// header, never its value.
func (o RepoOptions) HTTPClient() (*http.Client, func(*http.Request), error) {
	h, host, err := parseHeaders(o.Headers)
	if err != nil {
		return nil, nil, err
	}
	c, err := newClient(o.Proxy, o.CAFile)
	if err != nil {
		return nil, nil, err
	}
	set := func(req *http.Request) {
		for k, v := range h {
			req.Header[k] = append([]string(nil), v...)
		}
		if host != "" {
			req.Host = host
		}
	}
	return c, set, nil
}
