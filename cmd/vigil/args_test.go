// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestFlagsFirst(t *testing.T) {
	app := newApp()
	for _, c := range []struct{ in, want string }{
		// The flag after the argument was taken for another kernel.
		{"vigil kernels fetch bookworm/x --mirror http://m/debian",
			"vigil kernels fetch --mirror http://m/debian bookworm/x"},
		{"vigil kernels fetch a --image-only b --cache-dir=/c",
			"vigil kernels fetch --image-only --cache-dir=/c a b"},
		{"vigil mirror verify out/mirror --key k.pub", "vigil mirror verify --key k.pub out/mirror"},
		{"vigil --log-level debug replay x.vcap -r r.yaml --no-stdout",
			"vigil --log-level debug replay -r r.yaml --no-stdout x.vcap"},
		{"vigil rules validate a.yaml b.yaml --json", "vigil rules validate --json a.yaml b.yaml"},
		// A value that looks like a flag stays with its flag.
		{"vigil events --duration -1s", "vigil events --duration -1s"},
		// After "--", arguments stay arguments.
		{"vigil replay x.vcap --no-stdout -- -odd", "vigil replay --no-stdout -- x.vcap -odd"},
		{"vigil replay - --no-stdout", "vigil replay --no-stdout -"},
		// No leaf command: nothing to reorder.
		{"vigil kernels --help", "vigil kernels --help"},
		{"vigil nosuch a --b", "vigil nosuch a --b"},
		{"vigil", "vigil"},
	} {
		got := strings.Join(flagsFirst(app, strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("flagsFirst(%s)\n  = %s\nwant %s", c.in, got, c.want)
		}
	}
}

// `vigil kernels fetch TARGET --mirror URL` fetches from URL: before, the
// flag and URL were taken for two more kernels and the default mirror was
// asked.
func TestKernelsFetchFlagAfterTarget(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()
	r := run(t, "kernels", "fetch", "bookworm/6.1.0-50-cloud-amd64", "--mirror", srv.URL+"/debian", "--cache-dir", t.TempDir())
	if r.code == 0 {
		t.Fatalf("fetch from a mirror that has nothing succeeded:\n%s", r.stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, "/debian/dists/bookworm/") }) {
		t.Errorf("the --mirror after the target was not asked (requests %v); stderr:\n%s", paths, r.stderr)
	}
	if strings.Contains(r.stderr, `"--mirror"`) {
		t.Errorf("--mirror was taken for a kernel name:\n%s", r.stderr)
	}
}
