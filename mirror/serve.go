// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"
)

// NewServer returns a read-only HTTP handler serving the mirror in dir, as
// loaders fetch it: for tests, and for sites hosting their own mirror.
//
// It serves index.json, index.json.sig and the files index.json lists,
// nothing else: no directory listing, no file a build left behind, no key.
// A mirror may hold what must never leave it (a signing key, builder
// debris), so an allow-list is the safe default; dotfiles and *.key files
// are refused even when listed. Paths with ".." and symbolic links leading
// out of dir are refused too. GET and HEAD only (405 otherwise), with
// Range, ETag (size and modification time) and If-None-Match; /healthz
// answers 200 "ok" while dir can be opened, 503 otherwise. Each request writes one line to log (nil: none):
//
//	2026-12-06T10:00:00.123Z 127.0.0.1:41234 GET "/index.json" 200 1234 1.2ms
//
// The index is re-read when it changes, so a rebuilt mirror is served
// without a restart.
func NewServer(dir string, log io.Writer) http.Handler {
	if log == nil {
		log = io.Discard
	}
	return &server{dir: dir, log: log}
}

type server struct {
	dir string

	logMu sync.Mutex // one line per write, whole
	log   io.Writer

	mu     sync.Mutex
	listed map[string]bool // the names index.json lists
	key    indexKey        // of the index.json listed comes from
}

// indexKey tells whether index.json changed since it was last read.
type indexKey struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := &logWriter{ResponseWriter: w}
	s.serve(lw, r)
	if r.Method == http.MethodHead {
		lw.bytes = 0 // net/http drops a HEAD's body
	}
	s.logMu.Lock()
	fmt.Fprintf(s.log, "%s %s %s %q %d %d %s\n", start.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		r.RemoteAddr, r.Method, r.URL.Path, lw.status(), lw.bytes, time.Since(start).Round(time.Microsecond))
	s.logMu.Unlock()
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only mirror: GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	// Opened per request, so that a mirror directory replaced by another is
	// served at once.
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		http.Error(w, "mirror directory unavailable", http.StatusServiceUnavailable)
		return
	}
	defer root.Close()
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
		return
	}
	// r.URL.Path is decoded: "%2e%2e" is ".." here.
	name, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	if name != IndexFile && name != SignatureFile {
		if err := checkName(name); err != nil {
			http.Error(w, "bad path: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	if !servable(name) || !s.isListed(root, name) {
		http.NotFound(w, r)
		return
	}
	// os.Root refuses a symbolic link out of the mirror.
	f, err := root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano()))
	// Caches must ask again: index.json and its signature change together,
	// and a cache mixing an old one with a new one breaks the signature.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if path.Ext(name) == ".json" {
		h.Set("Content-Type", "application/json")
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// servable refuses names never to be served, whatever the index says:
// dotfiles (temporary and staging files) and keys.
func servable(name string) bool {
	for _, el := range strings.Split(name, "/") {
		if strings.HasPrefix(el, ".") {
			return false
		}
	}
	return !strings.HasSuffix(name, ".key")
}

// isListed reports whether name is index.json, its signature, or an entry of
// index.json, which it re-reads when it changed.
func (s *server) isListed(root *os.Root, name string) bool {
	if name == IndexFile || name == SignatureFile {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := root.Open(IndexFile)
	if err != nil {
		s.listed, s.key = nil, indexKey{}
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	key := indexKey{size: st.Size(), mtime: st.ModTime(), ino: inode(st)}
	if s.listed == nil || key != s.key {
		s.listed, s.key = readListed(f), key
	}
	return s.listed[name]
}

// readListed returns the names an index lists; an index that does not parse
// lists nothing (index.json itself is still served, for the loader to say
// what is wrong with it).
func readListed(f *os.File) map[string]bool {
	listed := map[string]bool{}
	data, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return listed
	}
	ix, err := parseIndex(data, IndexFile)
	if err != nil {
		return listed
	}
	for _, e := range ix.Entries {
		listed[e.Name] = true
	}
	return listed
}

func inode(st fs.FileInfo) uint64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Ino
	}
	return 0
}

// logWriter records a response's status and size for the access log.
type logWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (l *logWriter) WriteHeader(code int) {
	if l.code == 0 {
		l.code = code
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *logWriter) Write(b []byte) (int, error) {
	if l.code == 0 {
		l.code = http.StatusOK
	}
	n, err := l.ResponseWriter.Write(b)
	l.bytes += int64(n)
	return n, err
}

func (l *logWriter) status() int {
	if l.code == 0 {
		return http.StatusOK
	}
	return l.code
}

// Unwrap lets http.ResponseController reach the connection.
func (l *logWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }
