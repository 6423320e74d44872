// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/mirror"
)

const (
	testDV      = driver.DriverVersion // what OpenRepo defaults to
	testArch    = "x86_64"
	testRelease = "6.1.0-50-cloud-amd64"
)

// testMirror is a signed mirror of one artifact in a temporary directory.
type testMirror struct {
	root string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	name string // the artifact's file name, what Fetch takes
	rel  string // its path in the mirror
	data []byte
}

func newTestMirror(t *testing.T) *testMirror {
	t.Helper()
	pub, priv, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	m := &testMirror{
		root: t.TempDir(), pub: pub, priv: priv,
		name: mirror.ArtifactName("debian", testRelease, "1"),
		rel:  mirror.ArtifactPath(testDV, testArch, "debian", testRelease, "1"),
		data: bytes.Repeat([]byte("not really a kernel module\n"), 3000),
	}
	writeTestFile(t, m.path(), m.data)
	e, err := mirror.EntryFor(m.root, m.rel)
	if err != nil {
		t.Fatal(err)
	}
	e.Target = mirror.Target{Distro: "debian", Suite: "bookworm", Release: testRelease, Version: "1", Flavour: "cloud", Arch: testArch}
	e.DriverVersion, e.BuilderImage = testDV, "local"
	ix := &mirror.Index{}
	ix.Put(e)
	if err := mirror.WriteSigned(m.root, ix, priv); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *testMirror) path() string { return filepath.Join(m.root, filepath.FromSlash(m.rel)) }

func (m *testMirror) opts() RepoOptions {
	return RepoOptions{Keys: []ed25519.PublicKey{m.pub}, Arch: testArch,
		Backoff: 10 * time.Millisecond, Timeout: 10 * time.Second}
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// recServer serves a mirror with mirror.NewServer and records every
// request; hook, when not nil, may answer a request itself (returning true).
type recServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func serveMirror(t *testing.T, root string, hook func(s *recServer, w http.ResponseWriter, r *http.Request) bool) *recServer {
	t.Helper()
	s := &recServer{}
	files := mirror.NewServer(root, nil)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		if hook == nil || !hook(s, w, r) {
			files.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *recServer) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p []string
	for _, r := range s.reqs {
		p = append(p, r.URL.Path)
	}
	return p
}

func (s *recServer) count(path string) int {
	n := 0
	for _, p := range s.paths() {
		if p == path {
			n++
		}
	}
	return n
}

// assertNothingAt checks that a failed Fetch left neither dst nor a
// temporary file beside it.
func assertNothingAt(t *testing.T, dst string) {
	t.Helper()
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists after a failed fetch (%v)", dst, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(dst))
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
}

func openRepo(t *testing.T, spec string, opts RepoOptions) *Repo {
	t.Helper()
	r, err := OpenRepo(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFetch(t *testing.T) {
	m := newTestMirror(t)
	srv := serveMirror(t, m.root, nil)
	for _, spec := range []string{m.root, "file://" + m.root, srv.URL, srv.URL + "/"} {
		t.Run(spec, func(t *testing.T) {
			var progress bytes.Buffer
			opts := m.opts()
			opts.Progress = &progress
			dst := filepath.Join(t.TempDir(), "cache", m.name)
			res, err := openRepo(t, spec, opts).Fetch(context.Background(), m.name, dst)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil || !bytes.Equal(got, m.data) {
				t.Fatalf("dst holds %d bytes (%v), want the artifact's %d", len(got), err, len(m.data))
			}
			if res.Path != dst || res.Entry.Name != m.rel || res.Attempts != 1 || res.Bytes != int64(len(m.data)) {
				t.Errorf("result = %+v", res)
			}
			if !strings.HasSuffix(res.Source, m.name) {
				t.Errorf("source %q does not name the artifact", res.Source)
			}
			if ents, _ := os.ReadDir(filepath.Dir(dst)); len(ents) != 1 {
				t.Errorf("dst's directory holds %d files, want only dst", len(ents))
			}
			if progress.Len() != 0 {
				t.Errorf("a quick fetch printed progress: %q", progress.String())
			}
		})
	}
}

func TestFetchTampered(t *testing.T) {
	m := newTestMirror(t)
	tampered := bytes.Clone(m.data)
	tampered[len(tampered)/2] ^= 1 // same size, other sha256
	writeTestFile(t, m.path(), tampered)
	srv := serveMirror(t, m.root, nil)
	for _, spec := range []string{m.root, "file://" + m.root, srv.URL} {
		t.Run(spec, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), m.name)
			_, err := openRepo(t, spec, m.opts()).Fetch(context.Background(), m.name, dst)
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "sha256") {
				t.Fatalf("err = %v, want ErrChecksum naming sha256", err)
			}
			assertNothingAt(t, dst)
		})
	}
	if n := srv.count("/" + m.rel); n != 1 {
		t.Errorf("artifact requested %d times: a bad checksum must not be retried", n)
	}
}

func TestFetchWrongSize(t *testing.T) {
	m := newTestMirror(t)
	longer := append(bytes.Clone(m.data), "more"...)
	// chunked sends a longer artifact without Content-Length, so that only
	// the bytes themselves can tell.
	chunked := serveMirror(t, m.root, func(s *recServer, w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".ko") {
			return false
		}
		w.Write(longer[:100])
		w.(http.Flusher).Flush()
		w.Write(longer[100:])
		return true
	})
	for _, tc := range []struct {
		name, spec string
		content    []byte
		want       string
	}{
		{"dir shorter", m.root, m.data[:len(m.data)-1], fmt.Sprintf("%d bytes, the signed index says %d", len(m.data)-1, len(m.data))},
		{"http longer", "", longer, fmt.Sprintf("%d bytes, the signed index says %d", len(longer), len(m.data))},
		{"http chunked longer", chunked.URL, m.data, fmt.Sprintf("more than %d bytes", len(m.data))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeTestFile(t, m.path(), tc.content)
			spec := tc.spec
			if spec == "" {
				spec = serveMirror(t, m.root, nil).URL
			}
			dst := filepath.Join(t.TempDir(), m.name)
			_, err := openRepo(t, spec, m.opts()).Fetch(context.Background(), m.name, dst)
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrChecksum saying %q", err, tc.want)
			}
			assertNothingAt(t, dst)
		})
	}
}

func TestFetchOtherKey(t *testing.T) {
	m := newTestMirror(t)
	other, _, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := serveMirror(t, m.root, nil)
	opts := m.opts()
	opts.Keys = []ed25519.PublicKey{other}
	dst := filepath.Join(t.TempDir(), m.name)
	_, err = openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), mirror.EncodePublicKey(other)) || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("err = %v, want ErrBadSignature naming the trusted key and the repository", err)
	}
	assertNothingAt(t, dst)
	want := []string{"/" + mirror.IndexFile, "/" + mirror.SignatureFile}
	if got := srv.paths(); !slicesEqual(got, want) {
		t.Errorf("requests = %q, want only %q: nothing is fetched on an index that does not verify", got, want)
	}

	// While a key is rotated, the loader trusts both.
	opts.Keys = []ed25519.PublicKey{other, m.pub}
	if _, err := openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, dst); err != nil {
		t.Fatalf("with the signing key among the trusted ones: %v", err)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestFetchUnsigned(t *testing.T) {
	m := newTestMirror(t)
	if err := os.Remove(filepath.Join(m.root, mirror.SignatureFile)); err != nil {
		t.Fatal(err)
	}
	srv := serveMirror(t, m.root, nil)
	dst := filepath.Join(t.TempDir(), m.name)
	_, err := openRepo(t, srv.URL, m.opts()).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, ErrNoSignature) {
		t.Fatalf("err = %v, want ErrNoSignature", err)
	}
	assertNothingAt(t, dst)
	if n := srv.count("/" + m.rel); n != 0 {
		t.Errorf("artifact of an unsigned index requested %d times", n)
	}
}

func TestFetchNotInRepo(t *testing.T) {
	m := newTestMirror(t)
	dst := filepath.Join(t.TempDir(), "x.ko")
	r := openRepo(t, m.root, m.opts())
	_, err := r.Fetch(context.Background(), mirror.ArtifactName("debian", testRelease, "2"), dst)
	if !errors.Is(err, ErrNotInRepo) || !strings.Contains(err.Error(), "nearest "+m.name) {
		t.Fatalf("err = %v, want ErrNotInRepo naming the nearest artifact", err)
	}
	opts := m.opts()
	opts.Arch = "aarch64"
	_, err = openRepo(t, m.root, opts).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, ErrNotInRepo) || !strings.Contains(err.Error(), "is under "+testDV+"/"+testArch) {
		t.Fatalf("err = %v, want ErrNotInRepo naming the arch that has it", err)
	}
	opts = m.opts()
	opts.DriverVersion = "0.0.9"
	_, err = openRepo(t, m.root, opts).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, ErrNotInRepo) || !strings.Contains(err.Error(), "0.0.9/"+testArch+"/"+m.name) {
		t.Fatalf("err = %v, want ErrNotInRepo naming the driver version asked for", err)
	}
	assertNothingAt(t, dst)
}

func TestFetchRefusesNames(t *testing.T) {
	m := newTestMirror(t)
	srv := serveMirror(t, m.root, nil)
	r := openRepo(t, srv.URL, m.opts())
	for _, name := range []string{"", "..", "../" + m.name, testArch + "/" + m.name, `..\x.ko`, "a\x00.ko"} {
		if _, err := r.Fetch(context.Background(), name, filepath.Join(t.TempDir(), "x.ko")); err == nil {
			t.Errorf("Fetch(%q) succeeded", name)
		}
	}
	if p := srv.paths(); len(p) != 0 {
		t.Errorf("refused names still sent requests: %q", p)
	}
}

func TestOpenRepoRefuses(t *testing.T) {
	m := newTestMirror(t)
	good := m.opts()
	for _, tc := range []struct {
		spec string
		opts func(o *RepoOptions)
		want string
	}{
		{"", nil, "empty"},
		{"ftp://host/x", nil, "not supported"},
		{"file://otherhost/x", nil, "only file:///path"},
		{"http:///x", nil, "no host"},
		{m.root, func(o *RepoOptions) { o.Keys = nil }, "no trusted key"},
		{m.root, func(o *RepoOptions) { o.Keys = []ed25519.PublicKey{m.pub[:5]} }, "5 bytes"},
		{m.root, func(o *RepoOptions) { o.DriverVersion = "../x" }, `".."`},
		{m.root, func(o *RepoOptions) { o.Arch = "x86_64/../../y" }, `".."`},
		{"http://h/", func(o *RepoOptions) { o.Headers = []string{"Authorization Bearer s3cret"} }, "header 1"},
		{"http://h/", func(o *RepoOptions) { o.Headers = []string{"X-A: s3cret\r\nEvil: 1"} }, "line break"},
		{"http://h/", func(o *RepoOptions) { o.Proxy = "not a url" }, "proxy"},
		{"http://h/", func(o *RepoOptions) { o.CAFile = filepath.Join(m.root, mirror.IndexFile) }, "no PEM certificate"},
	} {
		opts := good
		if tc.opts != nil {
			tc.opts(&opts)
		}
		_, err := OpenRepo(tc.spec, opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenRepo(%q) = %v, want an error saying %q", tc.spec, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error echoes a header's value: %v", err)
		}
	}
}

func TestFetchUnreachable(t *testing.T) {
	m := newTestMirror(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	opts := m.opts()
	opts.Attempts = 3
	dst := filepath.Join(t.TempDir(), m.name)
	start := time.Now()
	_, err = openRepo(t, url, opts).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), url+"/index.json failed 3 time(s)") {
		t.Fatalf("err = %v, want ErrUnreachable after 3 tries", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("gave up after %s", el)
	}
	assertNothingAt(t, dst)

	_, err = openRepo(t, filepath.Join(m.root, "nowhere"), opts).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("missing directory: err = %v, want ErrUnreachable", err)
	}
}

func TestFetchTimeoutPerTry(t *testing.T) {
	m := newTestMirror(t)
	srv := serveMirror(t, m.root, func(s *recServer, w http.ResponseWriter, r *http.Request) bool {
		select { // a server that never answers
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return true
	})
	opts := m.opts()
	opts.Timeout, opts.Attempts = 200*time.Millisecond, 2
	start := time.Now()
	_, err := openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, filepath.Join(t.TempDir(), m.name))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("two tries of 200ms took %s", el)
	}
	if n := srv.count("/index.json"); n != 2 {
		t.Errorf("index.json tried %d times, want 2", n)
	}
}

func TestFetchRetries(t *testing.T) {
	m := newTestMirror(t)
	failures := map[string]int{"/" + m.rel: 2, "/" + mirror.IndexFile: 1}
	srv := serveMirror(t, m.root, func(s *recServer, w http.ResponseWriter, r *http.Request) bool {
		if s.count(r.URL.Path) > failures[r.URL.Path] {
			return false
		}
		if r.URL.Path == "/"+mirror.IndexFile {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		} else {
			http.Error(w, "try again", http.StatusServiceUnavailable)
		}
		return true
	})
	var progress bytes.Buffer
	opts := m.opts()
	opts.Progress = &progress
	dst := filepath.Join(t.TempDir(), m.name)
	res, err := openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 || srv.count("/"+m.rel) != 3 || srv.count("/index.json") != 2 {
		t.Errorf("attempts = %d, requests %q; want the artifact tried 3 times and the index twice", res.Attempts, srv.paths())
	}
	if !strings.Contains(progress.String(), "try 2 of 4 failed: GET "+srv.URL+"/"+m.rel+": 503 Service Unavailable; retrying in 20ms") {
		t.Errorf("progress does not tell the retries:\n%s", progress.String())
	}
}

func TestFetchNotFoundNotRetried(t *testing.T) {
	m := newTestMirror(t)
	srv := serveMirror(t, m.root, func(s *recServer, w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".ko") {
			http.NotFound(w, r)
			return true
		}
		return false
	})
	dst := filepath.Join(t.TempDir(), m.name)
	_, err := openRepo(t, srv.URL, m.opts()).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "listed in the signed index but missing") {
		t.Fatalf("err = %v, want the listed artifact missing", err)
	}
	if n := srv.count("/" + m.rel); n != 1 {
		t.Errorf("a 404 was tried %d times, want once", n)
	}
	assertNothingAt(t, dst)
}

func TestFetchHeaders(t *testing.T) {
	m := newTestMirror(t)
	srv := serveMirror(t, m.root, nil)
	opts := m.opts()
	opts.Headers = []string{"Authorization: Bearer s3cret", "X-Vigil-Test:  yes ", "Host: mirror.internal"}
	if _, err := openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, filepath.Join(t.TempDir(), m.name)); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(srv.reqs))
	}
	for _, r := range srv.reqs {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("X-Vigil-Test") != "yes" || r.Host != "mirror.internal" {
			t.Errorf("%s: headers %v, host %q", r.URL.Path, r.Header, r.Host)
		}
	}
}

func TestFetchCAFile(t *testing.T) {
	m := newTestMirror(t)
	srv := httptest.NewTLSServer(mirror.NewServer(m.root, nil))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), m.name)

	_, err := openRepo(t, srv.URL, m.opts()).Fetch(context.Background(), m.name, dst)
	if err == nil || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "CA certificate") {
		t.Fatalf("without the CA: err = %v, want an untrusted certificate, not retried", err)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeTestFile(t, ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	opts := m.opts()
	opts.CAFile = ca
	if _, err := openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, dst); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
}

// proxyFor starts an HTTP proxy that records the requests it gets and
// answers them from the mirror itself, so that the repository's host name
// is never resolved and no traffic leaves loopback.
func proxyFor(t *testing.T, root string) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var seen []string
	files := mirror.NewServer(root, nil)
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI)
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

const proxiedRepo = "http://vigil-repo.test" // .test never resolves: only a proxy can answer

func TestFetchProxy(t *testing.T) {
	m := newTestMirror(t)
	p, seen := proxyFor(t, m.root)
	opts := m.opts()
	opts.Proxy = p.URL
	if _, err := openRepo(t, proxiedRepo, opts).Fetch(context.Background(), m.name, filepath.Join(t.TempDir(), m.name)); err != nil {
		t.Fatal(err)
	}
	want := []string{proxiedRepo + "/index.json", proxiedRepo + "/index.json.sig", proxiedRepo + "/" + m.rel}
	if got := seen(); !slicesEqual(got, want) {
		t.Errorf("proxy saw %q, want %q", got, want)
	}
}

// TestFetchProxyFromEnvironment runs a child test process with $HTTP_PROXY
// set: net/http reads the environment once per process.
func TestFetchProxyFromEnvironment(t *testing.T) {
	if key := os.Getenv("VIGIL_TEST_PROXY_KEY"); key != "" {
		proxyChild(t, key)
		return
	}
	m := newTestMirror(t)
	p, seen := proxyFor(t, m.root)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFetchProxyFromEnvironment$", "-test.count=1", "-test.v")
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !strings.EqualFold(name, "no_proxy") && !strings.EqualFold(name, "http_proxy") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HTTP_PROXY="+p.URL, "http_proxy="+p.URL, "VIGIL_TEST_PROXY_KEY="+mirror.EncodePublicKey(m.pub))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := seen(); len(got) != 3 || got[2] != proxiedRepo+"/"+m.rel {
		t.Errorf("proxy saw %q, want the index, its signature and the artifact", got)
	}
}

func proxyChild(t *testing.T, key string) {
	pub, err := mirror.ParsePublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	opts := RepoOptions{Keys: []ed25519.PublicKey{pub}, DriverVersion: testDV, Arch: testArch, Attempts: 1}
	dst := filepath.Join(t.TempDir(), "x.ko")
	if _, err := openRepo(t, proxiedRepo, opts).Fetch(context.Background(), mirror.ArtifactName("debian", testRelease, "1"), dst); err != nil {
		t.Fatal(err)
	}
}

func TestFetchProgress(t *testing.T) {
	m := newTestMirror(t)
	srv := serveMirror(t, m.root, func(s *recServer, w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".ko") {
			return false
		}
		// 8 pieces 180ms apart: about 1.4s, so more than one second.
		w.Header().Set("Content-Length", fmt.Sprint(len(m.data)))
		step := len(m.data)/8 + 1
		for i := 0; i < len(m.data); i += step {
			w.Write(m.data[i:min(i+step, len(m.data))])
			w.(http.Flusher).Flush()
			time.Sleep(180 * time.Millisecond)
		}
		return true
	})
	var progress bytes.Buffer
	opts := m.opts()
	opts.Progress = &progress
	if _, err := openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, filepath.Join(t.TempDir(), m.name)); err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	q := regexp.QuoteMeta(m.name)
	during := regexp.MustCompile(`(?m)^fetch ` + q + `: [0-9.]+ KiB of 79\.1 KiB \([0-9]+%\), [0-9.]+ (B|KiB|MiB)/s$`)
	end := regexp.MustCompile(`(?m)^fetch ` + q + `: 79\.1 KiB in [0-9.]+s, [0-9.]+ (B|KiB)/s$`)
	if !during.MatchString(out) || !end.MatchString(out) {
		t.Errorf("progress lines do not tell bytes, total and rate:\n%s", out)
	}
}

func TestFetchSymlinkOutOfDir(t *testing.T) {
	m := newTestMirror(t)
	outside := filepath.Join(t.TempDir(), "outside.ko")
	writeTestFile(t, outside, m.data) // the right bytes, but not in the mirror
	os.Remove(m.path())
	if err := os.Symlink(outside, m.path()); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), m.name)
	if _, err := openRepo(t, m.root, m.opts()).Fetch(context.Background(), m.name, dst); err == nil {
		t.Fatal("fetched through a symbolic link out of the repository")
	}
	assertNothingAt(t, dst)
}

func TestFetchNotAMirror(t *testing.T) {
	m := newTestMirror(t)
	srv := serveMirror(t, t.TempDir(), nil)
	_, err := openRepo(t, srv.URL, m.opts()).Fetch(context.Background(), m.name, filepath.Join(t.TempDir(), m.name))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "not a vigil mirror") {
		t.Fatalf("err = %v, want no index.json", err)
	}
}
