// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// This file fetches a driver artifact from a repository: a signed mirror
// (see package mirror) in a directory or behind HTTP. Nothing reaches the
// destination before the index's signature, then the artifact's size and
// sha256, check out.

package loader

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/internal/editdist"
	"github.com/vigil-dev/vigil/internal/tlsca"
	"github.com/vigil-dev/vigil/internal/uname"
	"github.com/vigil-dev/vigil/mirror"
)

// Errors a caller of Fetch branches on, wrapped with the repository, what
// failed and what to do.
var (
	// ErrNotInRepo: the signed index lists no such artifact.
	ErrNotInRepo = errors.New("artifact not in the repository")
	// ErrBadSignature: the index does not verify with any trusted key.
	ErrBadSignature = mirror.ErrBadSignature
	// ErrNoSignature: the repository has no index.json.sig.
	ErrNoSignature = mirror.ErrNoSignature
	// ErrChecksum: the artifact's size or sha256 is not the index's.
	ErrChecksum = errors.New("artifact does not match the signed index")
	// ErrUnreachable: the repository could not be reached (network errors,
	// 5xx or 429 on every try, a missing directory).
	ErrUnreachable = errors.New("repository unreachable")
)

// Defaults of RepoOptions.
const (
	DefaultTimeout  = time.Minute
	DefaultAttempts = 4
	DefaultBackoff  = 500 * time.Millisecond
)

const (
	maxBackoff = 30 * time.Second
	// An index or signature larger than these is not one: refuse it before
	// it fills memory.
	maxIndexSize = 64 << 20
	maxSigSize   = 4 << 10
)

// RepoOptions says whom to trust and how to reach a repository.
type RepoOptions struct {
	// Keys are the trusted public keys (mirror.LoadPublicKey parses them);
	// the index must verify with one of them. Required.
	Keys []ed25519.PublicKey
	// Trust, when not nil, also vouches for the index (and says which keys
	// are revoked or expired, even among Keys): a trust store file.
	Trust *mirror.TrustStore
	// DriverVersion and Arch pick the artifacts' directory,
	// <DriverVersion>/<Arch>/ (Step.Path's). They default to this vigil's
	// driver.DriverVersion and the running kernel's arch (uname -m).
	DriverVersion string
	Arch          string

	// Timeout bounds each try of each file, transfer included
	// (default DefaultTimeout).
	Timeout time.Duration
	// Attempts is how many times a file is tried when it fails transiently
	// (network errors, 5xx, 429), with Backoff, then twice as long, and so
	// on, between tries (defaults DefaultAttempts, DefaultBackoff). 1 means
	// no retry.
	Attempts int
	Backoff  time.Duration

	// Headers are sent with every HTTP request, each "Name: value" (for
	// instance credentials). Their values never appear in errors.
	Headers []string
	// CAFile is a PEM file of CA certificates trusted beside the system's,
	// for a repository with a private CA.
	CAFile string
	// RegistryConfig is the Docker config file holding the logins of oci://
	// repositories without one in their URL; empty means
	// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
	RegistryConfig string
	// Proxy is an HTTP proxy URL; empty means the environment's
	// ($HTTPS_PROXY, $HTTP_PROXY, $NO_PROXY).
	Proxy string
	// Progress, when not nil, gets a line a second for a transfer that lasts
	// longer than one (bytes, total, rate), a line at its end, and a line
	// per retry.
	Progress io.Writer
}

// Repo is a repository opened by OpenRepo. It is safe for concurrent use.
type Repo struct {
	name   string   // the spec, without any password: for messages
	dir    string   // a directory repository, or ""
	base   *url.URL // an HTTP repository, or nil
	oci    *ociRepo // an OCI registry's repository (repo_oci.go), or nil
	client *http.Client
	header http.Header
	host   string // a Host header: Go sends Request.Host, not Header["Host"]
	opts   RepoOptions
}

// Result describes a fetched artifact.
type Result struct {
	Entry    mirror.Entry  // the signed index's entry that vouches for it
	Path     string        // where it is now: Fetch's dst
	Source   string        // the URL or file it came from
	Attempts int           // tries of the artifact's download
	Bytes    int64         // bytes written to Path
	Duration time.Duration // of the whole Fetch, index included
}

// OpenRepo checks spec and opts; it reads nothing yet. spec is a directory,
// a file:// URL or an http(s):// URL, the root of a mirror (the directory
// holding index.json), or oci://[USER:PASSWORD@]REGISTRY/REPO, a mirror
// that `vigil mirror push` sent to an OCI registry.
func OpenRepo(spec string, opts RepoOptions) (*Repo, error) {
	r := &Repo{name: spec, opts: opts}
	if err := r.parseSpec(spec); err != nil {
		return nil, fmt.Errorf("loader: repository %q: %w", spec, err)
	}
	if err := r.checkOptions(); err != nil {
		return nil, fmt.Errorf("loader: repository %s: %w", r.name, err)
	}
	return r, nil
}

func (r *Repo) parseSpec(spec string) error {
	if spec == "" {
		return errors.New("empty: give a directory, a file:// or an http(s):// URL")
	}
	if !strings.Contains(spec, "://") {
		r.dir = filepath.Clean(spec)
		return nil
	}
	u, err := url.Parse(spec)
	if err != nil {
		return err
	}
	r.name = u.Redacted()
	switch u.Scheme {
	case "file":
		// file://host/path names another machine's file; only the local one
		// can be read.
		if u.Host != "" && u.Host != "localhost" {
			return fmt.Errorf("file URL names host %q: only file:///path (this machine) can be read", u.Host)
		}
		if u.Path == "" {
			return errors.New("file URL has no path: write file:///absolute/path")
		}
		r.dir = filepath.Clean(u.Path)
	case "http", "https":
		if u.Host == "" {
			return errors.New("URL has no host")
		}
		r.base = u
	case "oci":
		return r.parseOCI(u)
	default:
		return fmt.Errorf("scheme %q is not supported: give a directory, a file://, an http(s):// or an oci:// URL", u.Scheme)
	}
	return nil
}

func (r *Repo) checkOptions() error {
	o := &r.opts
	if len(o.Keys) == 0 {
		return errors.New("no trusted key: give the mirror's public key (the .pub file from `vigil mirror keygen`)")
	}
	for i, k := range o.Keys {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("trusted key %d is %d bytes, want an ed25519 public key (%d)", i+1, len(k), ed25519.PublicKeySize)
		}
	}
	if o.DriverVersion == "" {
		o.DriverVersion = driver.DriverVersion
	}
	if err := checkSegment("driver version", o.DriverVersion); err != nil {
		return err
	}
	if o.Arch == "" {
		u, err := uname.Read()
		if err != nil {
			return err
		}
		o.Arch = u.Machine
	}
	if err := checkSegment("arch", o.Arch); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	h, host, err := parseHeaders(o.Headers)
	if err != nil {
		return err
	}
	r.header, r.host = h, host
	if r.base != nil || r.oci != nil {
		if r.client, err = newClient(o.Proxy, o.CAFile); err != nil {
			return err
		}
	}
	if r.oci != nil {
		return r.openOCI()
	}
	return nil
}

// checkSegment refuses a value that is to be one element of a path but
// could name another directory.
func checkSegment(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("no %s given", what)
	case s == "." || s == ".." || strings.Contains(s, ".."):
		return fmt.Errorf("%s %q has \"..\": refused", what, s)
	case strings.ContainsAny(s, "/\\\x00"):
		return fmt.Errorf("%s %q has a path separator: refused (give the file name alone)", what, s)
	}
	return nil
}

// parseHeaders parses "Name: value" lines. Errors name the header, never
// its value, which may be a secret.
func parseHeaders(lines []string) (http.Header, string, error) {
	h := http.Header{}
	host := ""
	for i, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validHeaderName(name) {
			return nil, "", fmt.Errorf("header %d is not \"Name: value\"", i+1)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, "", fmt.Errorf("header %s: value has a line break or NUL", name)
		}
		if strings.EqualFold(name, "Host") {
			host = value
			continue
		}
		h.Add(name, value)
	}
	return h, host, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func newClient(proxy, caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			return nil, errors.New("proxy is not a URL like http://host:port")
		}
		tr.Proxy = http.ProxyURL(u)
	}
	if caFile != "" {
		cfg, err := tlsca.Config(caFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	return &http.Client{Transport: tr}, nil
}

// String returns the repository as given, without any password.
func (r *Repo) String() string { return r.name }

// where returns the URL or path of name (slash-separated, relative to the
// root), without any password: for messages and Result.Source.
func (r *Repo) where(name string) string {
	if r.oci != nil {
		return r.oci.remote.Where(name)
	}
	if r.base != nil {
		return r.url(name).Redacted()
	}
	return filepath.Join(r.dir, filepath.FromSlash(name))
}

func (r *Repo) url(name string) *url.URL { return r.base.JoinPath(strings.Split(name, "/")...) }

// Index fetches index.json and its signature, and returns the index once
// the signature verifies with one of the trusted keys.
func (r *Repo) Index(ctx context.Context) (*mirror.Index, error) {
	data, err := r.readSmall(ctx, mirror.IndexFile, maxIndexSize)
	if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrUnreachable) {
		return nil, fmt.Errorf("loader: repository %s: no %s (%w): it is not a vigil mirror, or not its root (the directory holding %s)",
			r.name, mirror.IndexFile, err, mirror.IndexFile)
	}
	if err != nil {
		return nil, r.failed(err)
	}
	sig, err := r.readSmall(ctx, mirror.SignatureFile, maxSigSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loader: repository %s: %w (%w): do not use it until its operator signs it (vigil mirror keygen, then vigil driver build --key-file)",
			r.name, ErrNoSignature, err)
	}
	if err != nil {
		return nil, r.failed(err)
	}
	ix, err := r.opts.Trust.VerifySignedIndex(data, sig, r.where(mirror.IndexFile), r.opts.Keys...)
	if err != nil {
		return nil, fmt.Errorf("loader: repository %s: %w; nothing was downloaded from it: check that the key you trust is the one its operator signs with, or use another repository", r.name, err)
	}
	return ix, nil
}

// readSmall reads the whole of name, at most limit bytes.
func (r *Repo) readSmall(ctx context.Context, name string, limit int64) ([]byte, error) {
	var data []byte
	_, err := r.retry(ctx, r.where(name), func(ctx context.Context) error {
		body, _, err := r.open(ctx, name)
		if err != nil {
			return err
		}
		defer body.Close()
		data, err = io.ReadAll(io.LimitReader(body, limit+1))
		if err != nil {
			return &transientError{err: fmt.Errorf("reading %s: %w", r.where(name), err)}
		}
		if int64(len(data)) > limit {
			return fmt.Errorf("%s is larger than %d bytes: not a vigil mirror's", r.where(name), limit)
		}
		return nil
	})
	return data, err
}

// Fetch downloads the artifact name (a file name such as
// mirror.ArtifactName gives, no directory) of the options' driver version
// and arch to dst. It verifies the index's signature first, then downloads
// to a temporary file beside dst and renames it to dst only once its size
// and sha256 are the index's: dst is never a file nothing vouches for.
func (r *Repo) Fetch(ctx context.Context, name, dst string) (Result, error) {
	start := time.Now()
	if err := checkSegment("artifact name", name); err != nil {
		return Result{}, fmt.Errorf("loader: repository %s: %w", r.name, err)
	}
	ix, err := r.Index(ctx)
	if err != nil {
		return Result{}, err
	}
	rel := r.opts.DriverVersion + "/" + r.opts.Arch + "/" + name
	e, ok := ix.Lookup(rel)
	if !ok {
		return Result{}, r.notInRepo(ix, rel)
	}
	res := Result{Entry: e, Path: dst, Source: r.where(rel)}
	res.Attempts, err = r.retry(ctx, res.Source, func(ctx context.Context) error {
		return r.download(ctx, e, dst)
	})
	switch {
	case errors.Is(err, ErrChecksum):
		return res, fmt.Errorf("loader: repository %s: %w; nothing was written to %s: the repository is corrupt or tampered with: tell its operator (vigil mirror verify finds such files) or use another repository",
			r.name, err, dst)
	case errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrUnreachable):
		return res, fmt.Errorf("loader: repository %s: %s is listed in the signed index but missing (%w): the mirror is incomplete: tell its operator (vigil mirror verify names what is missing)",
			r.name, rel, err)
	case err != nil:
		return res, r.failed(err)
	}
	res.Bytes = e.Size
	res.Duration = time.Since(start)
	return res, nil
}

// failed wraps an error of retry with the repository and what to do.
func (r *Repo) failed(err error) error {
	if errors.Is(err, ErrUnreachable) {
		fix := "check the address, the network and the proxy ($HTTPS_PROXY, $HTTP_PROXY, $NO_PROXY), or use another repository"
		if r.base == nil && r.oci == nil {
			fix = "check the directory, or use another repository"
		}
		return fmt.Errorf("loader: repository %s: %w; %s", r.name, err, fix)
	}
	return fmt.Errorf("loader: repository %s: %w", r.name, err)
}

// notInRepo says what the index has instead of rel: the nearest name, and
// the other driver versions and arches that have rel's file.
func (r *Repo) notInRepo(ix *mirror.Index, rel string) error {
	dir := path.Dir(rel) + "/"
	base := path.Base(rel)
	n, nearest, bestD := 0, "", len(base)/3+1
	var elsewhere []string
	for _, e := range ix.Entries {
		if strings.HasPrefix(e.Name, dir) {
			n++
			if d := editdist.Distance(base, path.Base(e.Name)); d < bestD {
				nearest, bestD = path.Base(e.Name), d
			}
		} else if path.Base(e.Name) == base {
			elsewhere = append(elsewhere, path.Dir(e.Name))
		}
	}
	var hint strings.Builder
	fmt.Fprintf(&hint, "it lists %d artifact(s) under %s", n, dir)
	if nearest != "" {
		fmt.Fprintf(&hint, ", the nearest %s", nearest)
	}
	if elsewhere != nil {
		fmt.Fprintf(&hint, "; %s is under %s", base, strings.Join(elsewhere, ", "))
	}
	return fmt.Errorf("loader: repository %s: %w: the signed index has no %s (%s): build it with vigil driver build, or use the eBPF probe",
		r.name, ErrNotInRepo, rel, hint.String())
}

// download writes the artifact e to a temporary file beside dst and renames
// it to dst once its size and sha256 are the signed index's.
func (r *Repo) download(ctx context.Context, e mirror.Entry, dst string) (err error) {
	where := r.where(e.Name)
	body, length, err := r.open(ctx, e.Name)
	if err != nil {
		return err
	}
	defer body.Close()
	// A server announcing another size will not send the right file: say
	// so before downloading it.
	if length >= 0 && length != e.Size {
		return fmt.Errorf("%w: %s is %d bytes, the signed index says %d", ErrChecksum, where, length, e.Size)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return fmt.Errorf("creating a temporary file beside %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	src := &mirror.ReadTracker{R: io.LimitReader(body, e.Size+1)}
	h := sha256.New()
	p := newProgress(r.opts.Progress, path.Base(e.Name), e.Size)
	n, err := io.Copy(io.MultiWriter(tmp, h, p), src)
	p.done(n)
	if err != nil {
		if src.Err != nil {
			return &transientError{err: fmt.Errorf("reading %s: %w", where, err)}
		}
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if n != e.Size {
		if n > e.Size {
			return fmt.Errorf("%w: %s is more than %d bytes, the size the signed index says", ErrChecksum, where, e.Size)
		}
		return fmt.Errorf("%w: %s is %d bytes, the signed index says %d", ErrChecksum, where, n, e.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != e.SHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, the signed index says %s", ErrChecksum, where, sum, e.SHA256)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	mirror.SyncDir(dir)
	return nil
}

// open starts reading name (slash-separated, relative to the root) and
// returns its length, or -1 when the server does not say. A file the
// repository does not have wraps fs.ErrNotExist.
func (r *Repo) open(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	if r.oci != nil {
		return r.oci.open(ctx, name)
	}
	if r.base != nil {
		return r.get(ctx, name)
	}
	// os.Root: a symbolic link in the mirror cannot lead out of it.
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", r.where(name), err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("reading %s: %w", r.where(name), err)
	}
	return f, st.Size(), nil
}

// get sends a GET for name. Network errors, 5xx and 429 are transient.
func (r *Repo) get(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	u := r.url(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header = r.header.Clone()
	if r.host != "" {
		req.Host = r.host
	}
	resp, err := r.client.Do(req)
	if err != nil {
		// The client's errors name the URL without its password. An
		// untrusted certificate will not change on another try.
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			return nil, 0, fmt.Errorf("%w: the repository's certificate is not trusted: give its CA certificate (a PEM file) as the CA file", err)
		}
		return nil, 0, &transientError{err: err}
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, resp.ContentLength, nil
	}
	resp.Body.Close()
	err = fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound || code == http.StatusGone:
		return nil, 0, fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, 0, &transientError{err: err, after: retryAfter(resp.Header.Get("Retry-After"))}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return nil, 0, fmt.Errorf("%w: the repository wants credentials: pass them as a header (Authorization: ...)", err)
	}
	return nil, 0, err
}

// retryAfter parses a Retry-After of seconds; a date is ignored.
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// transientError marks a failure worth another try.
type transientError struct {
	err   error
	after time.Duration // the server's Retry-After, or 0
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// retry calls try, each call with its own deadline, until it succeeds,
// fails for good, or has been called Attempts times; between calls it
// waits Backoff, then twice as long, and so on (or longer if the server
// asks). It returns how many calls it made. What names the file in errors.
func (r *Repo) retry(ctx context.Context, what string, try func(context.Context) error) (int, error) {
	wait := r.opts.Backoff
	for n := 1; ; n++ {
		tctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
		err := try(tctx)
		cancel()
		var te *transientError
		if err == nil || !errors.As(err, &te) {
			return n, err
		}
		if ctx.Err() != nil {
			return n, fmt.Errorf("%s: %w (try %d: %w)", what, ctx.Err(), n, err)
		}
		if n >= r.opts.Attempts {
			return n, fmt.Errorf("%w: %s failed %d time(s), each try bounded by %s; last: %w", ErrUnreachable, what, n, r.opts.Timeout, err)
		}
		d := min(max(wait, te.after), maxBackoff)
		if r.opts.Progress != nil {
			fmt.Fprintf(r.opts.Progress, "fetch %s: try %d of %d failed: %v; retrying in %s\n", what, n, r.opts.Attempts, err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, fmt.Errorf("%s: %w (try %d: %w)", what, ctx.Err(), n, err)
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// progress is a writer counting a transfer's bytes that prints a line a
// second once the transfer has lasted one: quick transfers stay silent.
type progress struct {
	w           io.Writer
	name        string
	total, n    int64
	start, last time.Time
}

// progressEvery is how often a line is printed; a variable for tests.
var progressEvery = time.Second

func newProgress(w io.Writer, name string, total int64) *progress {
	now := time.Now()
	return &progress{w: w, name: name, total: total, start: now, last: now}
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.w != nil {
		if now := time.Now(); now.Sub(p.last) >= progressEvery {
			p.last = now
			fmt.Fprintf(p.w, "fetch %s: %s of %s (%d%%), %s/s\n", p.name, mirror.HumanBytes(p.n), mirror.HumanBytes(p.total),
				p.n*100/max(p.total, 1), mirror.HumanBytes(mirror.Rate(p.n, now.Sub(p.start))))
		}
	}
	return len(b), nil
}

// done prints the last line of a transfer that printed any.
func (p *progress) done(n int64) {
	if p.w == nil {
		return
	}
	if el := time.Since(p.start); el >= progressEvery {
		fmt.Fprintf(p.w, "fetch %s: %s in %s, %s/s\n", p.name, mirror.HumanBytes(n), el.Round(time.Millisecond), mirror.HumanBytes(mirror.Rate(n, el)))
	}
}
