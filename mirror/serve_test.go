// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/testenv"
)

func newTestServer(t *testing.T) (root string, srv *httptest.Server, log *testenv.Buffer) {
	t.Helper()
	root, _, _, _ = newMirror(t)
	log = &testenv.Buffer{}
	srv = httptest.NewServer(NewServer(root, log))
	t.Cleanup(srv.Close)
	return root, srv, log
}

func do(t *testing.T, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestServeFiles(t *testing.T) {
	root, srv, _ := newTestServer(t)
	for _, name := range []string{IndexFile, SignatureFile, testNames[0]} {
		want, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		resp, body := do(t, "GET", srv.URL+"/"+name)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("GET %s: %s, %d bytes, want 200 and the file's %d", name, resp.Status, len(body), len(want))
		}
		if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: headers %v", name, resp.Header)
		}
	}
	resp, _ := do(t, "GET", srv.URL+"/"+IndexFile)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("index.json is served as %q", ct)
	}
	resp, _ = do(t, "GET", srv.URL+"/"+testNames[0])
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("a module is served as %q", ct)
	}
}

func TestServeHeadRangeETag(t *testing.T) {
	root, srv, _ := newTestServer(t)
	url := srv.URL + "/" + testNames[1]
	want, err := os.ReadFile(filepath.Join(root, testNames[1]))
	if err != nil {
		t.Fatal(err)
	}

	resp, body := do(t, "HEAD", url)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(want)) {
		t.Errorf("HEAD: %s, %d body bytes, length %d; want 200, none, %d", resp.Status, len(body), resp.ContentLength, len(want))
	}

	resp, body = do(t, "GET", url, "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[10:20]) ||
		resp.Header.Get("Content-Range") != "bytes 10-19/"+strconv.Itoa(len(want)) {
		t.Errorf("Range: %s %q %q", resp.Status, body, resp.Header.Get("Content-Range"))
	}
	// What a resuming download asks for.
	resp, body = do(t, "GET", url, "Range", "bytes=100-")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[100:]) {
		t.Errorf("open Range: %s, %d bytes", resp.Status, len(body))
	}

	resp, _ = do(t, "GET", url)
	etag := resp.Header.Get("ETag")
	resp, body = do(t, "GET", url, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match %s: %s, %d bytes; want 304", etag, resp.Status, len(body))
	}
	// A changed file has another ETag, so a cache fetches it again.
	time.Sleep(10 * time.Millisecond)
	writeFile(t, filepath.Join(root, testNames[1]), append(want, 'x'))
	resp, _ = do(t, "GET", url, "If-None-Match", etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Errorf("after a change: %s, ETag %s (was %s)", resp.Status, resp.Header.Get("ETag"), etag)
	}
}

func TestServeMethods(t *testing.T) {
	_, srv, _ := newTestServer(t)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		resp, _ := do(t, m, srv.URL+"/"+IndexFile)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %s, Allow %q", m, resp.Status, resp.Header.Get("Allow"))
		}
	}
}

// rawGet sends target exactly as written, as no client library would, and
// returns the status code and body.
func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeRefusesEscapes(t *testing.T) {
	root, srv, _ := newTestServer(t)
	outside := t.TempDir()
	secret := "root:x:0:0:secret"
	writeFile(t, filepath.Join(outside, "passwd"), []byte(secret))
	// A symbolic link out of the mirror, even listed in its index.
	link := "0.1.0/x86_64/vigil_debian_escape_1.ko"
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(root, link)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "0.1.0", "out")); err != nil {
		t.Fatal(err)
	}
	ix, err := LoadIndex(root)
	if err != nil {
		t.Fatal(err)
	}
	ix.Put(Entry{Name: link, SHA256: strings.Repeat("0", 64), Size: int64(len(secret))})
	ix.Put(Entry{Name: "0.1.0/out/passwd", SHA256: strings.Repeat("0", 64), Size: int64(len(secret))})
	_, priv, _ := GenerateKey()
	if err := WriteSigned(root, ix, priv); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, target := range []string{
		"/../etc/passwd",
		"/../../../../etc/passwd",
		"/%2e%2e/%2e%2e/etc/passwd",
		"/0.1.0/..%2f..%2f..%2fetc%2fpasswd",
		"/0.1.0/x86_64/../../index.json",
		"//etc/passwd",
		"/./index.json",
		"/" + link,
		"/0.1.0/out/passwd",
		"/0.1.0/x86_64/",
		"/0.1.0",
		"/",
		"/" + testNames[0] + "%00",
	} {
		code, body := rawGet(t, addr, target)
		if code == 200 || strings.Contains(body, "root:") {
			t.Errorf("GET %s: %d %q", target, code, body)
		}
	}
}

func TestServeOnlyListed(t *testing.T) {
	root, srv, _ := newTestServer(t)
	ix, err := LoadIndex(root)
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := GenerateKey()
	// Keys and dotfiles are refused even when the index lists them.
	for _, name := range []string{"mirror.key", "0.1.0/x86_64/.hidden.ko", ".staging-1/x.ko"} {
		writeFile(t, filepath.Join(root, name), []byte(EncodePrivateKey(priv)))
		e, err := EntryFor(root, name)
		if err != nil {
			t.Fatal(err)
		}
		ix.Put(e)
	}
	if err := WriteSigned(root, ix, priv); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "signing.key"), []byte(EncodePrivateKey(priv)))
	writeFile(t, filepath.Join(root, "0.1.0", "x86_64", "unlisted.ko"), []byte("nothing vouches for me"))
	writeFile(t, filepath.Join(root, ".index.json.tmp-1"), []byte("{}"))
	for _, name := range []string{"mirror.key", "signing.key", "0.1.0/x86_64/.hidden.ko", ".staging-1/x.ko", "0.1.0/x86_64/unlisted.ko", ".index.json.tmp-1"} {
		resp, body := do(t, "GET", srv.URL+"/"+name)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), PrivateKeyPrefix) {
			t.Errorf("GET %s: %s %q, want 404", name, resp.Status, body)
		}
	}

	// A newly listed file is served at once: the index is re-read.
	name := "0.1.0/x86_64/vigil_debian_new_1.ko"
	writeFile(t, filepath.Join(root, name), []byte("new module"))
	if resp, _ := do(t, "GET", srv.URL+"/"+name); resp.StatusCode != http.StatusNotFound {
		t.Errorf("before it is listed: %s", resp.Status)
	}
	e, err := EntryFor(root, name)
	if err != nil {
		t.Fatal(err)
	}
	ix.Put(e)
	if err := WriteSigned(root, ix, priv); err != nil {
		t.Fatal(err)
	}
	if resp, body := do(t, "GET", srv.URL+"/"+name); resp.StatusCode != 200 || string(body) != "new module" {
		t.Errorf("once listed: %s %q", resp.Status, body)
	}
}

func TestServeHealthz(t *testing.T) {
	_, srv, _ := newTestServer(t)
	resp, body := do(t, "GET", srv.URL+"/healthz")
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("healthz: %s %q", resp.Status, body)
	}
	if resp, _ := do(t, "HEAD", srv.URL+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("HEAD healthz: %s", resp.Status)
	}
}

func TestServeLog(t *testing.T) {
	root, srv, log := newTestServer(t)
	index, err := os.ReadFile(filepath.Join(root, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	do(t, "GET", srv.URL+"/"+IndexFile)
	do(t, "HEAD", srv.URL+"/"+IndexFile)
	do(t, "GET", srv.URL+"/"+testNames[0], "Range", "bytes=0-9")
	do(t, "GET", srv.URL+"/nothing%0Ahere")
	do(t, "DELETE", srv.URL+"/"+IndexFile)
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	const stamp = `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:\d+ `
	for i, want := range []string{
		`GET "/index.json" 200 ` + strconv.Itoa(len(index)),
		`HEAD "/index.json" 200 0`,
		`GET "/` + testNames[0] + `" 206 10`,
		`GET "/nothing\\nhere" 404 \d+`,
		`DELETE "/index.json" 405 \d+`,
	} {
		re := regexp.MustCompile(stamp + strings.ReplaceAll(want, ".", `\.`) + ` \d+(\.\d+)?(µs|ms|s)$`)
		if i >= len(lines) || !re.MatchString(lines[i]) {
			t.Errorf("log line %d does not match %s:\n%s", i+1, re, log.String())
			break
		}
	}
}

func TestServeMissingDir(t *testing.T) {
	srv := httptest.NewServer(NewServer(filepath.Join(t.TempDir(), "none"), nil))
	defer srv.Close()
	if resp, _ := do(t, "GET", srv.URL+"/"+IndexFile); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET index.json of a missing mirror: %s", resp.Status)
	}
	if resp, _ := do(t, "GET", srv.URL+"/healthz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("healthz of a missing mirror: %s", resp.Status)
	}
}
