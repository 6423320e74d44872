// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package builder

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/client"
)

// fakeEngine answers the image list of the Docker Engine API with images
// of several suites, as a host that built for the whole matrix has them.
func fakeEngine(t *testing.T, tags ...string) *Docker {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/images/json") {
			http.Error(w, "not faked: "+r.URL.Path, http.StatusNotFound)
			return
		}
		var imgs []map[string]any
		for i, tag := range tags {
			imgs = append(imgs, map[string]any{"Id": "sha256:" + strings.Repeat(string(rune('a'+i)), 64),
				"RepoTags": []string{tag}, "Created": 1700000000 + i, "Size": 300 << 20})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(imgs)
	}))
	t.Cleanup(srv.Close)
	cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithVersion("1.43"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Docker{cli: cli}
}

// List with a suite lists that suite's images only (vigil builder images
// --suite listed every suite's).
func TestListSuite(t *testing.T) {
	tags := []string{
		RecipeFor("bullseye", "gcc-10").Tag(),
		RecipeFor("bookworm", "gcc-12").Tag(),
		RecipeFor("trixie", "gcc-14").Tag(),
		RecipeFor("trixie", "gcc-14").With("dkms").Tag(),
	}
	im := NewImages(fakeEngine(t, tags...), "", "", t.TempDir(), nil)
	for _, c := range []struct {
		suite string
		want  []string
	}{
		{"", tags},
		{"trixie", tags[2:]},
		{"bookworm", tags[1:2]},
		// Backports kernels build in their base suite's image.
		{"bookworm-backports", tags[1:2]},
		{"sid", nil},
	} {
		imgs, err := im.List(context.Background(), c.suite)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, i := range imgs {
			got = append(got, i.Tag)
			if want := RecipeFor(c.suite, "").Suite; c.suite != "" && i.Suite != want {
				t.Errorf("--suite %s: %s has suite %q, want %q", c.suite, i.Tag, i.Suite, want)
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %v, want %v", c.suite, got, want)
		}
	}
}

func TestTagSuite(t *testing.T) {
	for tag, want := range map[string]string{
		RecipeFor("trixie", "gcc-14").Tag():          "trixie",
		"localhost:5000/vigil-builder:sid-gcc-16-0a": "sid",
		"other-builder:trixie-gcc-14-0a":             "",
		"vigil-builder:latest":                       "",
	} {
		if got := tagSuite(tag); got != want {
			t.Errorf("tagSuite(%q) = %q, want %q", tag, got, want)
		}
	}
}
