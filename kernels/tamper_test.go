// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/sirupsen/logrus"
)

// upstreamFiles memoises what the tampering proxy fetched from the real
// mirror, so the subtests download each file once.
var upstreamFiles sync.Map // URL path → []byte

// tamperingMirror serves the real mirror's files, passing each through
// tamper (which may change a copy).
func tamperingMirror(t *testing.T, upstream string, tamper func(path string, body []byte) []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if v, ok := upstreamFiles.Load(r.URL.Path); ok {
			body = v.([]byte)
		} else {
			resp, err := http.Get(upstream + r.URL.Path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				http.Error(w, resp.Status, resp.StatusCode)
				return
			}
			body, err = io.ReadAll(resp.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			upstreamFiles.Store(r.URL.Path, body)
		}
		body = tamper(r.URL.Path, bytes.Clone(body))
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func flipByte(b []byte, i int) []byte {
	b[i] ^= 0x01
	return b
}

// assertNothingKept checks that a refused download left no final file, no
// temp file and no extracted tree in cache.
func assertNothingKept(t *testing.T, cache string, forbidden func(name string) bool) {
	t.Helper()
	filepath.Walk(cache, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		name := info.Name()
		if strings.HasSuffix(name, ".part") || strings.Contains(name, ".staging-") {
			t.Errorf("temp file left: %s", p)
		}
		if !info.IsDir() && forbidden(name) {
			t.Errorf("tampered file kept: %s", p)
		}
		return nil
	})
	entries, _ := os.ReadDir(filepath.Join(cache, "debian", "root"))
	for _, e := range entries {
		sub, _ := os.ReadDir(filepath.Join(cache, "debian", "root", e.Name()))
		if len(sub) > 0 {
			t.Errorf("extract dir %s not empty: %v", filepath.Join(cache, "debian", "root", e.Name()), sub)
		}
	}
}

func TestTamperedMirror(t *testing.T) {
	upstream := realMirror(t)
	ctx := context.Background()
	const suite = "bookworm"
	newCat := func(t *testing.T, srv *httptest.Server) (*Catalogue, string) {
		cache := t.TempDir()
		log := logrus.New()
		log.SetOutput(io.Discard)
		c, err := NewDebian(Options{Mirror: srv.URL, CacheDir: cache, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		return c, cache
	}
	expectVerify := func(t *testing.T, err error, wants ...string) {
		t.Helper()
		if !errors.Is(err, ErrVerify) {
			t.Fatalf("error = %v, want ErrVerify", err)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
		t.Logf("refused: %v", err)
	}

	t.Run("deb", func(t *testing.T) {
		var tampered string
		srv := tamperingMirror(t, upstream, func(p string, b []byte) []byte {
			if strings.HasSuffix(p, ".deb") && strings.HasPrefix(filepath.Base(p), "linux-kbuild-") {
				tampered = filepath.Base(p)
				return flipByte(b, len(b)/2)
			}
			return b
		})
		c, cache := newCat(t, srv)
		tg, err := c.Latest(ctx, suite, "cloud-amd64")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Fetch(ctx, tg, PartHeaders)
		expectVerify(t, err, "linux-kbuild-", srv.URL, "sha256")
		if tampered == "" {
			t.Fatal("the kbuild package was never requested")
		}
		assertNothingKept(t, cache, func(n string) bool { return n == tampered })
	})

	t.Run("Packages.xz", func(t *testing.T) {
		srv := tamperingMirror(t, upstream, func(p string, b []byte) []byte {
			if strings.HasSuffix(p, "/binary-amd64/Packages.xz") {
				return flipByte(b, len(b)/3)
			}
			return b
		})
		c, cache := newCat(t, srv)
		_, err := c.List(ctx, suite)
		expectVerify(t, err, "Packages.xz", "want")
		assertNothingKept(t, cache, func(n string) bool { return strings.HasPrefix(n, "Packages") })
	})

	t.Run("InRelease", func(t *testing.T) {
		srv := tamperingMirror(t, upstream, func(p string, b []byte) []byte {
			if strings.HasSuffix(p, "/InRelease") {
				i := bytes.Index(b, []byte("\nSHA256:\n"))
				if i < 0 {
					t.Error("no SHA256 field in InRelease")
					return b
				}
				return flipByte(b, i+len("\nSHA256:\n")+5)
			}
			return b
		})
		c, cache := newCat(t, srv)
		_, err := c.List(ctx, suite)
		expectVerify(t, err, "InRelease", "bad signature", c.Keyring())
		assertNothingKept(t, cache, func(n string) bool { return n == "InRelease" || strings.HasPrefix(n, "Packages") })
	})

	t.Run("foreign-key", func(t *testing.T) {
		ent, err := openpgp.NewEntity("vigil test", "throwaway", "nobody@example.invalid", nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := tamperingMirror(t, upstream, func(p string, b []byte) []byte {
			if !strings.HasSuffix(p, "/InRelease") {
				return b
			}
			block, _ := clearsign.Decode(b)
			if block == nil {
				t.Error("upstream InRelease is not clearsigned")
				return b
			}
			var out bytes.Buffer
			w, err := clearsign.Encode(&out, ent.PrivateKey, nil)
			if err != nil {
				t.Error(err)
				return b
			}
			w.Write(block.Plaintext)
			w.Close()
			return out.Bytes()
		})
		c, cache := newCat(t, srv)
		_, err = c.List(ctx, suite)
		expectVerify(t, err, "none of which is in the keyring")
		assertNothingKept(t, cache, func(n string) bool { return n == "InRelease" || strings.HasPrefix(n, "Packages") })
	})

	t.Run("cached-index", func(t *testing.T) {
		// A cached index that is missing or altered is fetched again.
		srv := tamperingMirror(t, upstream, func(p string, b []byte) []byte { return b })
		c, cache := newCat(t, srv)
		want, err := c.List(ctx, suite)
		if err != nil {
			t.Fatal(err)
		}
		idx := filepath.Join(cache, "debian", suite, "Packages.xz")
		for _, damage := range []func(){
			func() { os.Remove(idx) },
			func() { os.WriteFile(idx, []byte("not xz"), 0o644) },
		} {
			damage()
			c2, err := NewDebian(Options{Mirror: srv.URL, CacheDir: cache, Log: c.log})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c2.List(ctx, suite)
			if err != nil || len(got) != len(want) {
				t.Fatalf("List after damaging the cache = %d targets, %v; want %d", len(got), err, len(want))
			}
		}
	})

	t.Run("cached-deb-tampered", func(t *testing.T) {
		// A .deb altered in the cache after download is noticed, not used.
		srv := tamperingMirror(t, upstream, func(p string, b []byte) []byte { return b })
		c, cache := newCat(t, srv)
		tg, err := c.Latest(ctx, suite, "cloud-amd64")
		if err != nil {
			t.Fatal(err)
		}
		ix, _ := c.index(ctx, suite)
		pkgs, err := c.packagesFor(ix, tg, PartHeaders)
		if err != nil {
			t.Fatal(err)
		}
		var kb *pkgEntry
		for _, p := range pkgs {
			if strings.HasPrefix(p.Package, "linux-kbuild-") {
				kb = p
			}
		}
		if kb == nil {
			t.Fatalf("no kbuild in %v", pkgs)
		}
		local := filepath.Join(cache, "debian", "pool", kb.basename())
		if err := c.downloadVerified(ctx, c.url(kb.Filename), local, kb.Size, kb.SHA256); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(local)
		os.WriteFile(local, flipByte(data, len(data)/2), 0o644)
		f, err := c.Fetch(ctx, tg, PartHeaders)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := checkFile(local, kb.Size, kb.SHA256); !ok {
			t.Error("the tampered cached .deb was not replaced")
		}
		if _, err := os.Stat(filepath.Join(f.Headers, "Makefile")); err != nil {
			t.Error(err)
		}
	})
}
