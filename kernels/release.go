// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// maxInRelease bounds the size of an InRelease file we read into memory.
const maxInRelease = 16 << 20

// fileSum is one line of a Release file's SHA256 field.
type fileSum struct {
	size int64
	sum  string
}

// release is a verified Release file.
type release struct {
	fields     map[string]string
	sha256     map[string]fileSum
	validUntil time.Time
	signer     string
}

// verifyInRelease checks the clearsigned data against the keyring: it is
// accepted when at least one of its signatures is a good one by a key of the
// keyring. It returns the signed text.
func verifyInRelease(data []byte, keyring openpgp.EntityList, now func() time.Time) (plain []byte, signer string, err error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("%w: not a clearsigned OpenPGP message", ErrVerify)
	}
	// Collect the issuers of all signatures; sid is signed by two keys and
	// go-crypto only checks the first one it knows, so try each known issuer.
	var issuers []uint64
	pr := packet.NewReader(block.ArmoredSignature.Body)
	for {
		p, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("%w: bad signature block: %v", ErrVerify, err)
		}
		if sig, ok := p.(*packet.Signature); ok && sig.IssuerKeyId != nil {
			issuers = append(issuers, *sig.IssuerKeyId)
		}
	}
	if len(issuers) == 0 {
		return nil, "", fmt.Errorf("%w: no signature with an issuer", ErrVerify)
	}
	cfg := &packet.Config{Time: now}
	var errs []string
	tried := false
	for _, id := range issuers {
		if len(keyring.KeysById(id)) == 0 {
			continue
		}
		tried = true
		b, _ := clearsign.Decode(data)
		ent, err := b.VerifySignature(onlyKey{keyring, id}, cfg)
		if err == nil {
			name := fmt.Sprintf("%016X", id)
			for n := range ent.Identities {
				name = n
				break
			}
			return block.Plaintext, name, nil
		}
		errs = append(errs, fmt.Sprintf("key %016X: %v", id, err))
	}
	if !tried {
		var ids []string
		for _, id := range issuers {
			ids = append(ids, fmt.Sprintf("%016X", id))
		}
		return nil, "", fmt.Errorf("%w: signed by %s, none of which is in the keyring", ErrVerify, strings.Join(ids, ", "))
	}
	return nil, "", fmt.Errorf("%w: bad signature: %s", ErrVerify, strings.Join(errs, "; "))
}

// onlyKey is a keyring restricted to one key id.
type onlyKey struct {
	openpgp.EntityList
	id uint64
}

func (k onlyKey) KeysById(id uint64) []openpgp.Key {
	if id != k.id {
		return nil
	}
	return k.EntityList.KeysById(id)
}

func (k onlyKey) KeysByIdUsage(id uint64, usage byte) []openpgp.Key {
	if id != k.id {
		return nil
	}
	return k.EntityList.KeysByIdUsage(id, usage)
}

// parseRelease parses the (already verified) text of a Release file.
func parseRelease(text []byte) (*release, error) {
	r := &release{fields: map[string]string{}, sha256: map[string]fileSum{}}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	cur := ""
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur == "SHA256" {
				f := strings.Fields(line)
				if len(f) != 3 {
					return nil, fmt.Errorf("bad SHA256 line %q", line)
				}
				n, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bad SHA256 line %q: %v", line, err)
				}
				r.sha256[f[2]] = fileSum{size: n, sum: strings.ToLower(f[0])}
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("bad Release line %q", line)
		}
		cur = k
		r.fields[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(r.sha256) == 0 {
		return nil, errors.New("Release file has no SHA256 entries")
	}
	if v := r.fields["Valid-Until"]; v != "" {
		t, err := parseReleaseDate(v)
		if err != nil {
			return nil, fmt.Errorf("bad Valid-Until %q: %v", v, err)
		}
		r.validUntil = t
	}
	return r, nil
}

func parseReleaseDate(s string) (time.Time, error) {
	var last error
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		t, err := time.Parse(layout, s)
		if err == nil {
			return t, nil
		}
		last = err
	}
	return time.Time{}, last
}

// loadRelease verifies and parses an InRelease for suite, checking that it
// describes that suite and is still valid.
func (c *Catalogue) loadRelease(suite string, data []byte, src string) (*release, error) {
	hint := fmt.Sprintf("check the keyring at %s (package debian-archive-keyring) and the mirror %s", c.keyringPath, c.mirror)
	plain, signer, err := verifyInRelease(data, c.keyring, c.now)
	if err != nil {
		return nil, fmt.Errorf("fetch InRelease for %s from %s: %w; %s", suite, src, err, hint)
	}
	r, err := parseRelease(plain)
	if err != nil {
		return nil, fmt.Errorf("fetch InRelease for %s from %s: %w", suite, src, err)
	}
	r.signer = signer
	if r.fields["Codename"] != suite && r.fields["Suite"] != suite {
		return nil, fmt.Errorf("fetch InRelease for %s from %s: %w: it describes suite %q (codename %q); the mirror serves the wrong file",
			suite, src, ErrVerify, r.fields["Suite"], r.fields["Codename"])
	}
	if !r.validUntil.IsZero() && c.now().After(r.validUntil) {
		if !c.ignoreValidUntil {
			return nil, fmt.Errorf("fetch InRelease for %s from %s: %w: expired, Valid-Until %s; the mirror is stale: use an up-to-date mirror, or set %s=1 to accept it",
				suite, src, ErrVerify, r.validUntil.Format(time.RFC1123), EnvIgnoreValidUntil)
		}
		c.log.Warnf("InRelease for %s from %s expired on %s; accepted because %s", suite, src, r.validUntil.Format(time.RFC1123), c.validUntilOffBy)
	}
	return r, nil
}

// fetchRelease returns the verified Release of suite, from the cache when it
// is fresh (re-verifying its signature) or else from the mirror. fromMirror tells
// whether it came from the mirror; fromMirrorOnly skips the cache.
func (c *Catalogue) fetchRelease(ctx context.Context, suite string, fromMirrorOnly bool) (r *release, fromMirror bool, err error) {
	dir := c.suiteDir(suite)
	cached := filepath.Join(dir, "InRelease")
	if st, err := os.Stat(cached); err == nil && !fromMirrorOnly && c.now().Sub(st.ModTime()) < c.maxAge {
		data, err := os.ReadFile(cached)
		if err == nil {
			r, err := c.loadRelease(suite, data, cached)
			if err == nil {
				return r, false, nil
			}
			c.log.Warnf("cached %v; fetching it again", err)
		}
	}
	url := c.url("dists/" + suite + "/InRelease")
	body, err := c.get(ctx, url)
	if err != nil {
		if isNotFound(err) {
			return nil, false, fmt.Errorf("fetch InRelease for %s: %w; is %q a Debian suite? known suites: %s", suite, err, suite, strings.Join(c.Suites(), ", "))
		}
		return nil, false, fmt.Errorf("fetch InRelease for %s: %w", suite, err)
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, maxInRelease+1))
	if err != nil {
		return nil, false, fmt.Errorf("fetch InRelease for %s from %s: %w", suite, url, err)
	}
	if len(data) > maxInRelease {
		return nil, false, fmt.Errorf("fetch InRelease for %s from %s: larger than %d bytes", suite, url, maxInRelease)
	}
	r, err = c.loadRelease(suite, data, url)
	if err != nil {
		return nil, false, err
	}
	if err := writeFileAtomic(cached, data); err != nil {
		c.log.Warnf("cache InRelease for %s: %v", suite, err)
	}
	return r, true, nil
}

func (c *Catalogue) suiteDir(suite string) string {
	return filepath.Join(c.cacheDir, "debian", suite)
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
