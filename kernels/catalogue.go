// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/sirupsen/logrus"
)

// DefaultKeyring is the Debian archive keyring shipped by the
// debian-archive-keyring package.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Environment variables read by NewDebian when the Options leave a field empty.
const (
	EnvMirror           = "VIGIL_DEBIAN_MIRROR"
	EnvKeyring          = "VIGIL_DEBIAN_KEYRING"
	EnvCacheDir         = "VIGIL_CACHE_DIR"
	EnvIgnoreValidUntil = "VIGIL_IGNORE_VALID_UNTIL"
)

// IndexMaxAge is how long a verified Release + Packages pair in the cache is
// reused before the mirror is asked again.
const IndexMaxAge = 6 * time.Hour

// Options configure NewDebian. Zero values select the defaults.
type Options struct {
	// Mirror is the Debian mirror URL (the directory holding dists/ and
	// pool/). Default: $VIGIL_DEBIAN_MIRROR, else MirrorFromApt("/").
	Mirror string
	// Keyring is a binary (or armored) OpenPGP keyring file. Default:
	// $VIGIL_DEBIAN_KEYRING, else DefaultKeyring.
	Keyring string
	// CacheDir holds downloads and extracted trees (under debian/).
	// Default: $VIGIL_CACHE_DIR, else DefaultCacheDir().
	CacheDir string
	// Client is the HTTP client. Default: a client that also serves file:// URLs.
	Client *http.Client
	// Log receives progress at Info level. Default: logrus.StandardLogger().
	Log logrus.FieldLogger
	// IgnoreValidUntil accepts Release files whose Valid-Until has passed
	// (also enabled by VIGIL_IGNORE_VALID_UNTIL=1).
	IgnoreValidUntil bool
	// Arch is the Debian architecture to catalogue. Default: "amd64".
	Arch string
}

// Catalogue is the Debian kernel catalogue.
type Catalogue struct {
	mirror           string
	keyringPath      string
	keyring          openpgp.EntityList
	cacheDir         string
	client           *http.Client
	log              logrus.FieldLogger
	ignoreValidUntil bool
	validUntilOffBy  string // why ignoreValidUntil is set, for the warning
	arch             string
	now              func() time.Time
	maxAge           time.Duration

	mu      sync.Mutex
	indexes map[string]*suiteIndex
}

// DefaultCacheDir returns $XDG_CACHE_HOME/vigil when XDG_CACHE_HOME is set,
// else /var/cache/vigil for root and ~/.cache/vigil for other users.
func DefaultCacheDir() string {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "vigil")
	}
	if os.Geteuid() != 0 {
		if h, err := os.UserHomeDir(); err == nil && h != "" {
			return filepath.Join(h, ".cache", "vigil")
		}
	}
	return "/var/cache/vigil"
}

// NewDebian returns the Debian catalogue, filling defaults for empty options.
// It reads the keyring at once; indexes are fetched lazily.
func NewDebian(opts Options) (*Catalogue, error) {
	c := &Catalogue{
		mirror:           firstNonEmpty(opts.Mirror, os.Getenv(EnvMirror)),
		keyringPath:      firstNonEmpty(opts.Keyring, os.Getenv(EnvKeyring), DefaultKeyring),
		cacheDir:         firstNonEmpty(opts.CacheDir, os.Getenv(EnvCacheDir), DefaultCacheDir()),
		client:           opts.Client,
		log:              opts.Log,
		ignoreValidUntil: opts.IgnoreValidUntil || envTrue(EnvIgnoreValidUntil),
		arch:             firstNonEmpty(opts.Arch, "amd64"),
		now:              time.Now,
		maxAge:           IndexMaxAge,
		indexes:          map[string]*suiteIndex{},
	}
	if c.log == nil {
		c.log = logrus.StandardLogger()
	}
	if opts.IgnoreValidUntil {
		c.validUntilOffBy = "the caller turned the check off"
	} else if c.ignoreValidUntil {
		c.validUntilOffBy = EnvIgnoreValidUntil + " is set"
	} else if c.mirror == "" {
		// The mirror comes from apt's configuration: so does the policy.
		if off, file := aptValidUntilOff("/"); off {
			c.ignoreValidUntil = true
			c.validUntilOffBy = "the host's apt configuration turns the check off (" + file + ")"
		}
	}
	if c.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
		c.client = &http.Client{Transport: tr}
	}
	if c.mirror == "" {
		m, err := MirrorFromApt("/")
		if err != nil {
			return nil, err
		}
		c.mirror = m
	}
	c.mirror = strings.TrimRight(c.mirror, "/")
	if !strings.Contains(c.mirror, "://") {
		return nil, fmt.Errorf("Debian mirror %q is not a URL (want http://, https:// or file://); fix %s or --mirror", c.mirror, EnvMirror)
	}
	kr, err := readKeyring(c.keyringPath)
	if err != nil {
		return nil, err
	}
	c.keyring = kr
	return c, nil
}

// Mirror returns the mirror URL in use.
func (c *Catalogue) Mirror() string { return c.mirror }

// CacheDir returns the cache directory in use.
func (c *Catalogue) CacheDir() string { return c.cacheDir }

// Keyring returns the path of the keyring in use.
func (c *Catalogue) Keyring() string { return c.keyringPath }

func readKeyring(path string) (openpgp.EntityList, error) {
	hint := "install the package debian-archive-keyring or point " + EnvKeyring + " / --keyring at a Debian archive keyring"
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w; %s", err, hint)
	}
	var kr openpgp.EntityList
	if strings.HasPrefix(strings.TrimSpace(string(data[:min(len(data), 64)])), "-----BEGIN") {
		kr, err = openpgp.ReadArmoredKeyRing(strings.NewReader(string(data)))
	} else {
		kr, err = openpgp.ReadKeyRing(strings.NewReader(string(data)))
	}
	if err != nil {
		return nil, fmt.Errorf("parse keyring %s: %w; %s", path, err, hint)
	}
	if len(kr) == 0 {
		return nil, fmt.Errorf("keyring %s holds no keys; %s", path, hint)
	}
	return kr, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func envTrue(name string) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// Suites returns the suites the catalogue crawls, oldest first.
func (c *Catalogue) Suites() []string {
	return []string{"bullseye", "bookworm", "bookworm-backports", "trixie", "sid"}
}

func suiteRank(s string) int {
	for i, x := range []string{"bullseye", "bullseye-backports", "bookworm", "bookworm-backports", "trixie", "trixie-backports", "forky", "sid", "experimental"} {
		if x == s {
			return i
		}
	}
	return 100
}

func (c *Catalogue) url(rel string) string { return c.mirror + "/" + strings.TrimLeft(rel, "/") }

// get opens url; the caller closes the body.
func (c *Catalogue) get(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted or out of time: the mirror is not to blame.
			return nil, fmt.Errorf("GET %s: %w", url, ctx.Err())
		}
		return nil, fmt.Errorf("GET %s: %w (is the mirror reachable? set %s or --mirror to another one)", url, err, EnvMirror)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &httpStatusError{url: url, status: resp.Status, code: resp.StatusCode}
	}
	return resp.Body, nil
}

type httpStatusError struct {
	url, status string
	code        int
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("GET %s: %s", e.url, e.status) }

func isNotFound(err error) bool {
	var he *httpStatusError
	return errors.As(err, &he) && (he.code == http.StatusNotFound || he.code == http.StatusGone)
}

// downloadVerified downloads url into dest via a temp file in dest's
// directory, checking size and sha256 before the rename. On mismatch the temp
// file is removed and the error wraps ErrVerify.
func (c *Catalogue) downloadVerified(ctx context.Context, url, dest string, size int64, sum string) error {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cache dir: %w (set %s or --cache-dir to a writable directory)", err, EnvCacheDir)
	}
	body, err := c.get(ctx, url)
	if err != nil {
		return err
	}
	defer body.Close()
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".*.part")
	if err != nil {
		return fmt.Errorf("create temp file in %s: %w", dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, size+1))
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if n != size {
		return fmt.Errorf("%w: %s: size %d, want %d (sha256 %s, want %s); the mirror is inconsistent or tampered with, retry later or use another mirror",
			ErrVerify, url, n, size, got, sum)
	}
	if !strings.EqualFold(got, sum) {
		return fmt.Errorf("%w: %s: sha256 %s, want %s; the mirror is inconsistent or tampered with, retry later or use another mirror",
			ErrVerify, url, got, sum)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	ok = true
	return nil
}

// checkFile reports whether path exists with the given size and sha256.
func checkFile(path string, size int64, sum string) (bool, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	if st.Size() != size {
		return false, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return strings.EqualFold(hex.EncodeToString(h.Sum(nil)), sum), nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
