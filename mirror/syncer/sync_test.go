// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package syncer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/loader"
	"github.com/vigil-dev/vigil/mirror"
)

// source is a signed mirror in a temporary directory, as vigil driver
// build leaves it.
type source struct {
	root string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	ix   *mirror.Index
}

// artifact is one module of a test mirror.
type artifact struct {
	release, distro, arch string
	data                  []byte
}

func release(i int) string { return fmt.Sprintf("6.1.0-%d-cloud-amd64", 40+i) }

// testData is a module's content: distinct per seed, large enough to be
// cut mid-transfer.
func testData(seed, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + seed*13 + i/251)
	}
	return b
}

// newSource makes a mirror of n artifacts of 64 KiB, for releases 0..n-1.
func newSource(t *testing.T, n int) *source {
	t.Helper()
	pub, priv, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &source{root: t.TempDir(), pub: pub, priv: priv, ix: &mirror.Index{}}
	for i := range n {
		s.put(t, artifact{release: release(i), distro: "debian", arch: "x86_64", data: testData(i, 64<<10)})
	}
	s.sign(t)
	return s
}

func (s *source) put(t *testing.T, a artifact) string {
	t.Helper()
	name := mirror.ArtifactPath("0.1.0", a.arch, a.distro, a.release, "1")
	writeFile(t, filepath.Join(s.root, filepath.FromSlash(name)), a.data)
	e, err := mirror.EntryFor(s.root, name)
	if err != nil {
		t.Fatal(err)
	}
	e.Target = mirror.Target{Distro: a.distro, Release: a.release, Version: "1", Arch: a.arch}
	e.DriverVersion, e.BuilderImage = "0.1.0", "local"
	s.ix.Put(e)
	return name
}

func (s *source) drop(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(s.root, filepath.FromSlash(name))); err != nil {
		t.Fatal(err)
	}
	var keep []mirror.Entry
	for _, e := range s.ix.Entries {
		if e.Name != name {
			keep = append(keep, e)
		}
	}
	s.ix.Entries = keep
}

func (s *source) sign(t *testing.T) {
	t.Helper()
	if err := mirror.WriteSigned(s.root, s.ix, s.priv); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// server serves a mirror with mirror.NewServer on loopback and records the
// requests; hook, when not nil, may answer one itself (returning true).
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string // "GET /path Range"
}

func serve(t *testing.T, root string, hook func(w http.ResponseWriter, r *http.Request) bool) *server {
	t.Helper()
	s := &server{}
	files := mirror.NewServer(root, nil)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Range")))
		s.mu.Unlock()
		if hook == nil || !hook(w, r) {
			files.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// take returns the requests so far and forgets them.
func (s *server) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

// artifactRequests are the requests for anything but the index.
func artifactRequests(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if !strings.Contains(r, "/"+mirror.IndexFile) {
			out = append(out, r)
		}
	}
	return out
}

func options(pub ed25519.PublicKey) Options {
	return Options{Keys: []ed25519.PublicKey{pub},
		Transfer: loader.RepoOptions{Timeout: 10 * time.Second, Backoff: time.Millisecond}}
}

func syncFrom(t *testing.T, spec, dst string, o Options) (Summary, error) {
	t.Helper()
	src, err := OpenSource(spec, o.Transfer)
	if err != nil {
		t.Fatal(err)
	}
	return Sync(context.Background(), src, dst, o)
}

// sameTree fails unless dst holds exactly src's files, byte for byte.
func sameTree(t *testing.T, src, dst string) {
	t.Helper()
	want, got := readTree(t, src), readTree(t, dst)
	for name, data := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: missing in the copy", name)
		} else if !bytes.Equal(g, data) {
			t.Errorf("%s: differs in the copy", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: in the copy, not in the source", name)
		}
	}
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A sync from a served mirror into an empty directory makes a byte-identical,
// verifying mirror; a second one asks for the index and nothing else.
func TestSyncHTTP(t *testing.T) {
	src := newSource(t, 3)
	srv := serve(t, src.root, nil)
	dst := filepath.Join(t.TempDir(), "copy")
	var progress bytes.Buffer
	o := options(src.pub)
	o.Progress = &progress
	sum, err := syncFrom(t, srv.URL, dst, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror.Verify(dst, src.pub); err != nil {
		t.Fatalf("the copy does not verify: %v", err)
	}
	sameTree(t, src.root, dst)
	if sum.Transferred != 3 || sum.Bytes != 3*64<<10 || sum.UpToDate != 0 || !sum.Published || sum.Absent != 0 {
		t.Errorf("first sync: %+v", sum)
	}
	if got := len(artifactRequests(srv.take())); got != 3 {
		t.Errorf("first sync asked for %d artifacts, want 3", got)
	}
	if !strings.Contains(progress.String(), "fetched 0.1.0/x86_64/") || !strings.Contains(sum.String(), "3 transferred") {
		t.Errorf("progress:\n%s\nsummary: %s", progress.String(), sum)
	}

	sum, err = syncFrom(t, srv.URL, dst, options(src.pub))
	if err != nil {
		t.Fatal(err)
	}
	if reqs := srv.take(); len(artifactRequests(reqs)) != 0 || len(reqs) != 2 {
		t.Errorf("a second sync made the requests %q, want the index and its signature alone", reqs)
	}
	if sum.Transferred != 0 || sum.UpToDate != 3 || sum.Published || sum.Bytes != 0 {
		t.Errorf("second sync: %+v", sum)
	}
}

// A directory and a file:// URL are sources too.
func TestSyncDirectory(t *testing.T) {
	src := newSource(t, 2)
	for _, spec := range []string{src.root, "file://" + src.root} {
		dst := t.TempDir()
		if _, err := syncFrom(t, spec, dst, options(src.pub)); err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		sameTree(t, src.root, dst)
	}
}

// cutAfter answers the first GET of an artifact with its first n bytes
// (announcing all of them), then drops the connection.
func cutAfter(t *testing.T, root string, n int, times int) func(w http.ResponseWriter, r *http.Request) bool {
	var mu sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if times == 0 || !strings.HasSuffix(r.URL.Path, ".ko") || r.Header.Get("Range") != "" {
			return false
		}
		times--
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))))
		if err != nil {
			t.Error(err)
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:n])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return true
		}
		conn.Close()
		return true
	}
}

// A sync cut mid-transfer leaves a partial file; the next run resumes it
// with a Range from its size and ends with the same bytes.
func TestSyncResumesAfterCut(t *testing.T) {
	src := newSource(t, 1)
	name := src.ix.Entries[0].Name
	const cut = 20000
	// The server cuts the first transfer, then is down until the rerun.
	var down atomic.Bool
	cutOnce := cutAfter(t, src.root, cut, 1)
	srv := serve(t, src.root, func(w http.ResponseWriter, r *http.Request) bool {
		if cutOnce(w, r) {
			down.Store(true)
			return true
		}
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	dst := t.TempDir()
	o := options(src.pub)
	o.Transfer.Attempts = 2
	if _, err := syncFrom(t, srv.URL, dst, o); err == nil {
		t.Fatal("a sync cut, then refused, succeeded")
	}
	down.Store(false)
	if _, err := os.Stat(filepath.Join(dst, mirror.IndexFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unfinished sync published an index (%v)", err)
	}
	st, err := os.Stat(filepath.Join(dst, filepath.FromSlash(partialName(name))))
	if err != nil || st.Size() != cut {
		t.Fatalf("partial file after the cut: %v, %v bytes, want %d", err, st, cut)
	}
	srv.take()

	sum, err := syncFrom(t, srv.URL, dst, o)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, src.root, dst)
	if reqs := artifactRequests(srv.take()); len(reqs) != 1 || reqs[0] != fmt.Sprintf("GET /%s bytes=%d-", name, cut) {
		t.Errorf("the rerun asked %q, want one Range from byte %d", reqs, cut)
	}
	if sum.Transferred != 1 || sum.Resumed != 1 || sum.Bytes != 64<<10-cut {
		t.Errorf("rerun: %+v", sum)
	}
}

// Within one run, a cut transfer is resumed at once, and does not use up
// the tries: it made progress.
func TestSyncRetryResumes(t *testing.T) {
	src := newSource(t, 1)
	srv := serve(t, src.root, cutAfter(t, src.root, 1000, 3))
	dst := t.TempDir()
	o := options(src.pub)
	o.Transfer.Attempts = 2
	sum, err := syncFrom(t, srv.URL, dst, o)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, src.root, dst)
	reqs := artifactRequests(srv.take())
	if len(reqs) != 2 || !strings.HasSuffix(reqs[1], "bytes=1000-") {
		t.Errorf("requests %q, want a GET then a Range from 1000", reqs)
	}
	if sum.Resumed != 1 {
		t.Errorf("%+v", sum)
	}
}

// A sync whose context is cancelled mid-transfer keeps what it received;
// the rerun resumes from there.
func TestSyncCancelledResumes(t *testing.T) {
	src := newSource(t, 1)
	name := src.ix.Entries[0].Name
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	srv := serve(t, src.root, func(w http.ResponseWriter, r *http.Request) bool {
		first := false
		if strings.HasSuffix(r.URL.Path, ".ko") {
			once.Do(func() { first = true })
		}
		if !first {
			return false
		}
		data, _ := os.ReadFile(filepath.Join(src.root, filepath.FromSlash(name)))
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:30000])
		w.(http.Flusher).Flush()
		time.Sleep(50 * time.Millisecond) // the client has read it
		cancel()
		<-r.Context().Done()
		return true
	})
	dst := t.TempDir()
	s, err := OpenSource(srv.URL, loader.RepoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(ctx, s, dst, options(src.pub)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sync: %v", err)
	}
	st, err := os.Stat(filepath.Join(dst, filepath.FromSlash(partialName(name))))
	if err != nil || st.Size() != 30000 {
		t.Fatalf("partial file after cancelling: %v %v", st, err)
	}
	srv.take()
	if _, err := syncFrom(t, srv.URL, dst, options(src.pub)); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src.root, dst)
	if reqs := artifactRequests(srv.take()); len(reqs) != 1 || !strings.HasSuffix(reqs[0], "bytes=30000-") {
		t.Errorf("rerun requests %q", reqs)
	}
}

// A partial file whose bytes are not the artifact's prefix is found out
// by the whole file's sha256, and the transfer starts over.
func TestSyncWrongPrefixRestarts(t *testing.T) {
	src := newSource(t, 1)
	name := src.ix.Entries[0].Name
	srv := serve(t, src.root, nil)
	dst := t.TempDir()
	writeFile(t, filepath.Join(dst, filepath.FromSlash(partialName(name))), bytes.Repeat([]byte("x"), 5000))
	sum, err := syncFrom(t, srv.URL, dst, options(src.pub))
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, src.root, dst)
	reqs := artifactRequests(srv.take())
	if len(reqs) != 2 || !strings.HasSuffix(reqs[0], "bytes=5000-") || strings.Contains(reqs[1], "bytes") {
		t.Errorf("requests %q, want a Range from 5000, then the whole file", reqs)
	}
	if sum.Transferred != 1 {
		t.Errorf("%+v", sum)
	}
}

// A server ignoring Range sends the whole file: the partial file is
// started over rather than appended to.
func TestSyncServerWithoutRange(t *testing.T) {
	src := newSource(t, 1)
	name := src.ix.Entries[0].Name
	files := mirror.NewServer(src.root, nil)
	srv := serve(t, src.root, func(w http.ResponseWriter, r *http.Request) bool {
		r.Header.Del("Range")
		files.ServeHTTP(w, r)
		return true
	})
	dst := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(src.root, filepath.FromSlash(name)))
	writeFile(t, filepath.Join(dst, filepath.FromSlash(partialName(name))), data[:7000])
	if _, err := syncFrom(t, srv.URL, dst, options(src.pub)); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src.root, dst)
}

// A source signed by a key not trusted is refused before any artifact is
// asked for, and the destination is left alone.
func TestSyncUntrustedKey(t *testing.T) {
	src := newSource(t, 2)
	trusted := src.pub
	_, other, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	src.priv = other
	src.sign(t)
	srv := serve(t, src.root, nil)
	dst := filepath.Join(t.TempDir(), "copy")
	_, err = syncFrom(t, srv.URL, dst, options(trusted))
	if !errors.Is(err, mirror.ErrBadSignature) || !strings.Contains(err.Error(), "nothing was copied") {
		t.Fatalf("untrusted source: %v", err)
	}
	if reqs := artifactRequests(srv.take()); len(reqs) != 0 {
		t.Errorf("artifacts asked for from an untrusted source: %q", reqs)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the destination was made: %v", err)
	}
}

// printenv is `vigil driver printenv`'s output on a node running kernel i.
func printenv(i int) string {
	return fmt.Sprintf(`VIGIL_KERNEL_RELEASE=%[1]s
VIGIL_KERNEL_VERSION=#1 SMP PREEMPT_DYNAMIC Debian 6.1.%[2]d-1
VIGIL_ARCH=x86_64
VIGIL_DISTRO=debian
VIGIL_TARGET=debian
VIGIL_DRIVER_VERSION=0.1.0
VIGIL_ARTIFACT=%[3]s
VIGIL_HOST_ROOT=/host
VIGIL_MODULES=true

plan (--driver auto):
  1. fetch 0.1.0/x86_64/%[3]s from http://mirror/
`, release(i), i, mirror.ArtifactName("debian", release(i), "1"))
}

// An inventory of two kernels (from three nodes) copies exactly their two
// modules; the copy keeps the whole signed index and verifies as partial.
func TestSyncInventory(t *testing.T) {
	src := newSource(t, 4)
	srv := serve(t, src.root, nil)
	inv, err := ParseInventory(strings.NewReader(printenv(1)+printenv(3)+printenv(1)+printenv(7)), "nodes.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Nodes) != 3 {
		t.Fatalf("inventory: %+v", inv.Nodes)
	}
	dst := t.TempDir()
	o := options(src.pub)
	o.Filter.Inventory = inv
	sum, err := syncFrom(t, srv.URL, dst, o)
	if err != nil {
		t.Fatal(err)
	}
	var kos []string
	for name := range readTree(t, dst) {
		if strings.HasSuffix(name, ".ko") {
			kos = append(kos, name)
		}
	}
	want := []string{mirror.ArtifactPath("0.1.0", "x86_64", "debian", release(1), "1"), mirror.ArtifactPath("0.1.0", "x86_64", "debian", release(3), "1")}
	if len(kos) != 2 || !(kos[0] == want[0] && kos[1] == want[1] || kos[0] == want[1] && kos[1] == want[0]) {
		t.Errorf("copied %q, want %q", kos, want)
	}
	if got := len(artifactRequests(srv.take())); got != 2 {
		t.Errorf("%d artifact requests, want 2", got)
	}
	if sum.Selected != 2 || sum.Transferred != 2 || sum.Absent != 2 || len(sum.Unavailable) != 1 || !strings.Contains(sum.Unavailable[0], release(7)) {
		t.Errorf("%+v", sum)
	}
	srcIndex, _ := os.ReadFile(filepath.Join(src.root, mirror.IndexFile))
	dstIndex, _ := os.ReadFile(filepath.Join(dst, mirror.IndexFile))
	if !bytes.Equal(srcIndex, dstIndex) {
		t.Error("the copy's index is not the source's signed one")
	}
	if _, present, err := VerifyPartial(dst, src.pub); err != nil || present != 2 {
		t.Errorf("VerifyPartial: %d present, %v", present, err)
	}
	var ve *mirror.VerifyError
	if err := mirror.Verify(dst, src.pub); !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Errorf("mirror.Verify of a partial copy: %v, want the two absent artifacts", err)
	}
	// A loader asking the copy for an artifact it does not hold is told it
	// is missing, and goes on to its next step.
	repo, err := loader.OpenRepo(dst, loader.RepoOptions{Keys: []ed25519.PublicKey{src.pub}, DriverVersion: "0.1.0", Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Fetch(context.Background(), mirror.ArtifactName("debian", release(0), "1"), filepath.Join(t.TempDir(), "m.ko")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("loader fetching an absent artifact: %v", err)
	}
	if _, err := repo.Fetch(context.Background(), mirror.ArtifactName("debian", release(3), "1"), filepath.Join(t.TempDir(), "m.ko")); err != nil {
		t.Errorf("loader fetching a synced artifact: %v", err)
	}
}

// --release and --arch filters combine: an artifact must pass both.
func TestSyncFilters(t *testing.T) {
	src := newSource(t, 3)
	arm := src.put(t, artifact{release: release(1), distro: "debian", arch: "aarch64", data: testData(9, 1000)})
	src.sign(t)
	dst := t.TempDir()
	o := options(src.pub)
	o.Filter = Filter{Releases: []string{release(1), release(2)}, Arches: []string{"aarch64"}}
	sum, err := syncFrom(t, src.root, dst, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Selected != 1 || sum.Transferred != 1 {
		t.Errorf("%+v", sum)
	}
	if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(arm))); err != nil {
		t.Error(err)
	}
}

// What the source dropped stays without --prune (and is reported), and is
// removed with it, after which the copy verifies.
func TestSyncPrune(t *testing.T) {
	src := newSource(t, 3)
	dst := t.TempDir()
	if _, err := syncFrom(t, src.root, dst, options(src.pub)); err != nil {
		t.Fatal(err)
	}
	gone := src.ix.Entries[1].Name
	src.drop(t, gone)
	src.sign(t)
	sum, err := syncFrom(t, src.root, dst, options(src.pub))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Dropped) != 1 || sum.Dropped[0] != gone || sum.Pruned != 0 {
		t.Errorf("without --prune: %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(gone))); err != nil {
		t.Errorf("removed without --prune: %v", err)
	}
	// The index no longer lists it: --prune removes it all the same, and
	// leaves a file that is no artifact for mirror.Verify to report.
	writeFile(t, filepath.Join(dst, "notes.txt"), []byte("site notes"))
	o := options(src.pub)
	o.Prune = true
	if sum, err = syncFrom(t, src.root, dst, o); err != nil {
		t.Fatal(err)
	}
	if sum.Pruned != 1 || len(sum.Dropped) != 0 {
		t.Errorf("with --prune: %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(gone))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s not pruned: %v", gone, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "notes.txt")); err != nil {
		t.Errorf("a file that is no artifact was pruned: %v", err)
	}
	os.Remove(filepath.Join(dst, "notes.txt"))
	if err := mirror.Verify(dst, src.pub); err != nil {
		t.Errorf("pruned copy: %v", err)
	}
}

// A reader polling the copy's index while a sync adds, changes and drops
// artifacts never finds a file the index it read lists missing: artifacts
// are in place before the index naming them.
func TestSyncReaderNeverSeesMissing(t *testing.T) {
	src := newSource(t, 12)
	dst := t.TempDir()
	if _, err := syncFrom(t, src.root, dst, options(src.pub)); err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // changed
		src.put(t, artifact{release: release(i), distro: "debian", arch: "x86_64", data: testData(100+i, 50<<10)})
	}
	for i := 12; i < 24; i++ { // added
		src.put(t, artifact{release: release(i), distro: "debian", arch: "x86_64", data: testData(i, 64<<10)})
	}
	for _, e := range append([]mirror.Entry(nil), src.ix.Entries[4:8]...) { // dropped
		src.drop(t, e.Name)
	}
	src.sign(t)
	// Slow artifacts, so the reader gets many looks during the sync.
	srv := serve(t, src.root, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".ko") {
			time.Sleep(5 * time.Millisecond)
		}
		return false
	})

	done := make(chan struct{})
	looks := make(chan int)
	go func() {
		n := 0
		defer func() { looks <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			data, err := os.ReadFile(filepath.Join(dst, mirror.IndexFile))
			if err != nil {
				t.Errorf("the index went missing: %v", err)
				return
			}
			var ix mirror.Index
			if err := json.Unmarshal(data, &ix); err != nil {
				t.Errorf("a torn index: %v", err)
				return
			}
			n++
			for _, e := range ix.Entries {
				if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(e.Name))); err == nil {
					continue
				}
				// Pruned after the new index was published is fine.
				if now, _ := os.ReadFile(filepath.Join(dst, mirror.IndexFile)); bytes.Equal(now, data) {
					t.Errorf("the index lists %s, which is missing", e.Name)
				}
			}
		}
	}()
	o := options(src.pub)
	o.Prune = true
	sum, err := syncFrom(t, srv.URL, dst, o)
	close(done)
	n := <-looks
	if err != nil {
		t.Fatal(err)
	}
	if sum.Transferred != 16 || sum.UpToDate != 4 || sum.Pruned != 4 {
		t.Errorf("%+v", sum)
	}
	if n < 10 {
		t.Logf("the reader looked only %d times", n)
	}
	if err := mirror.Verify(dst, src.pub); err != nil {
		t.Error(err)
	}
	sameTree(t, src.root, dst)
}

// ParseInventory reads concatenated and host-prefixed, interleaved output.
func TestParseInventory(t *testing.T) {
	var b strings.Builder
	b.WriteString(printenv(1) + printenv(2))
	a, c := strings.Split(printenv(3), "\n"), strings.Split(printenv(4), "\n")
	for i := range a {
		fmt.Fprintf(&b, "node-a: %s\nnode-c: %s\n", a[i], c[i])
	}
	b.WriteString("VIGIL_ARTIFACT=vigil_debian_6.9.9_1.ko\n") // no arch or version: any directory
	inv, err := ParseInventory(strings.NewReader(b.String()), "inv")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range inv.Nodes {
		got = append(got, n.Path())
	}
	want := []string{
		mirror.ArtifactPath("0.1.0", "x86_64", "debian", release(1), "1"),
		mirror.ArtifactPath("0.1.0", "x86_64", "debian", release(2), "1"),
		mirror.ArtifactPath("0.1.0", "x86_64", "debian", release(3), "1"),
		mirror.ArtifactPath("0.1.0", "x86_64", "debian", release(4), "1"),
		"vigil_debian_6.9.9_1.ko",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("nodes\n%q\nwant\n%q", got, want)
	}
	if _, err := ParseInventory(strings.NewReader("hello\n"), "inv"); err == nil || !strings.Contains(err.Error(), "printenv") {
		t.Errorf("an inventory without artifacts: %v", err)
	}
}

// A source whose index lists a file it has not got fails the sync, which
// publishes nothing; the headers asked for reach the server.
func TestSyncSourceIncomplete(t *testing.T) {
	src := newSource(t, 2)
	if err := os.Remove(filepath.Join(src.root, filepath.FromSlash(src.ix.Entries[1].Name))); err != nil {
		t.Fatal(err)
	}
	var auth []string
	var mu sync.Mutex
	srv := serve(t, src.root, func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		return false
	})
	dst := t.TempDir()
	o := options(src.pub)
	o.Transfer.Headers = []string{"Authorization: Bearer site-token"}
	_, err := syncFrom(t, srv.URL, dst, o)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing there") {
		t.Fatalf("incomplete source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, mirror.IndexFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an index was published: %v", err)
	}
	for _, a := range auth {
		if a != "Bearer site-token" {
			t.Errorf("a request had Authorization %q", a)
		}
	}
}
