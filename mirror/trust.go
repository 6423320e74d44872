// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// A trust store file lists the keys a verifier trusts, one a line:
//
//	# comments start with #, here or after a key
//	vigil-ed25519-public:BASE64                        # trusted
//	vigil-ed25519-public:BASE64 not-after=2027-06-01   # trusted through that day (UTC)
//	vigil-ed25519-public:BASE64 not-after=2027-06-01T12:00:00Z
//	vigil-ed25519-public:BASE64 revoked                # never trusted again
//
// A .pub file from `vigil mirror keygen` is a trust store of one key. An
// unknown word is an error rather than ignored, so a misspelt "revoked"
// never leaves a key trusted.

// TrustedKey is one key of a TrustStore.
type TrustedKey struct {
	Key ed25519.PublicKey
	// NotAfter is the last instant the key is trusted; zero: no expiry.
	NotAfter time.Time
	// Revoked keys are never trusted; they are kept to say so by name.
	Revoked bool
	// From says where the key was read ("trust.txt:3"), for messages.
	From string
}

// TrustStore is the set of keys a verifier trusts, with their expiries and
// revocations. The zero value and nil are empty stores.
type TrustStore struct {
	keys []TrustedKey
}

// NewTrustStore returns a store trusting keys without expiry.
func NewTrustStore(keys ...ed25519.PublicKey) *TrustStore {
	s := &TrustStore{}
	for _, k := range keys {
		s.add(TrustedKey{Key: k})
	}
	return s
}

// Add adds k. A key already in the store keeps the stricter of the two
// entries: revoked if either is, the earlier not-after.
func (s *TrustStore) Add(k TrustedKey) error {
	if len(k.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("mirror: public key is %d bytes, want %d", len(k.Key), ed25519.PublicKeySize)
	}
	s.add(k)
	return nil
}

func (s *TrustStore) add(k TrustedKey) {
	for i := range s.keys {
		old := &s.keys[i]
		if !old.Key.Equal(k.Key) {
			continue
		}
		old.Revoked = old.Revoked || k.Revoked
		if !k.NotAfter.IsZero() && (old.NotAfter.IsZero() || k.NotAfter.Before(old.NotAfter)) {
			old.NotAfter = k.NotAfter
		}
		if k.From != "" && old.From != "" && k.From != old.From {
			old.From += ", " + k.From
		} else if old.From == "" {
			old.From = k.From
		}
		return
	}
	s.keys = append(s.keys, k)
}

// Merge adds every key of o (which may be nil).
func (s *TrustStore) Merge(o *TrustStore) {
	if o == nil {
		return
	}
	for _, k := range o.keys {
		s.add(k)
	}
}

// Keys returns a copy of the store's keys, revoked and expired ones too.
func (s *TrustStore) Keys() []TrustedKey {
	if s == nil {
		return nil
	}
	return append([]TrustedKey(nil), s.keys...)
}

// Usable returns the keys trusted at now: neither revoked nor expired.
func (s *TrustStore) Usable(now time.Time) []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, k := range s.with(nil) {
		if k.unusable(now) == nil {
			out = append(out, k.Key)
		}
	}
	return out
}

// VerifyIndex is the package's VerifyIndex with the keys of s.
func (s *TrustStore) VerifyIndex(root string) (*Index, error) {
	return verifyIndex(root, s)
}

// trustedKey is a TrustedKey with its KeyID, for matching signature lines.
type trustedKey struct {
	TrustedKey
	id string
}

// with returns the keys of s (nil: none) and keys, which are trusted
// without expiry unless s lists them.
func (s *TrustStore) with(keys []ed25519.PublicKey) []trustedKey {
	all := &TrustStore{}
	if s != nil {
		all.keys = append(all.keys, s.keys...)
	}
	for _, k := range keys {
		all.add(TrustedKey{Key: k})
	}
	out := make([]trustedKey, len(all.keys))
	for i, k := range all.keys {
		out[i] = trustedKey{k, KeyID(k.Key)}
	}
	return out
}

// unusable says why k is not trusted at now, or returns nil.
func (k trustedKey) unusable(now time.Time) error {
	from := ""
	if k.From != "" {
		from = ", in " + k.From
	}
	switch {
	case k.Revoked:
		return fmt.Errorf("%w: key %s (id %s) is revoked%s: trust the mirror's current key, or have its operator sign with that one (vigil mirror sign)",
			ErrKeyRevoked, EncodePublicKey(k.Key), k.id, from)
	case !k.NotAfter.IsZero() && now.After(k.NotAfter):
		return fmt.Errorf("%w: key %s (id %s) expired: not-after=%s%s: trust the mirror's current key, or have its operator sign with that one (vigil mirror sign)",
			ErrKeyExpired, EncodePublicKey(k.Key), k.id, formatNotAfter(k.NotAfter), from)
	}
	return nil
}

// ParseTrustStore reads a trust store file's content; src names it in
// errors and in each key's From.
func ParseTrustStore(text []byte, src string) (*TrustStore, error) {
	s := &TrustStore{}
	for i, line := range strings.Split(string(text), "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		where := fmt.Sprintf("%s:%d", src, i+1)
		k, err := parseTrustedKey(fields)
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, where)
		}
		k.From = where
		s.add(k)
	}
	return s, nil
}

func parseTrustedKey(fields []string) (TrustedKey, error) {
	pub, err := ParsePublicKey(fields[0])
	if err != nil {
		return TrustedKey{}, err
	}
	k := TrustedKey{Key: pub}
	for _, f := range fields[1:] {
		v, isNotAfter := strings.CutPrefix(f, "not-after=")
		switch {
		case f == "revoked":
			k.Revoked = true
		case isNotAfter:
			if k.NotAfter, err = parseNotAfter(v); err != nil {
				return TrustedKey{}, err
			}
		case strings.HasPrefix(f, PrivateKeyPrefix):
			return TrustedKey{}, errors.New("mirror: a private key in a trust store: remove it (and make a new key pair if the file was shared)")
		default:
			return TrustedKey{}, fmt.Errorf("mirror: unknown word %q after the key (want not-after=YYYY-MM-DD or revoked)", f)
		}
	}
	return k, nil
}

// parseNotAfter reads a date (the key is trusted through that day, UTC) or
// an RFC 3339 time (the last instant it is trusted).
func parseNotAfter(v string) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		return d.AddDate(0, 0, 1).Add(-time.Nanosecond), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("mirror: not-after=%q is neither a date (2027-06-01) nor an RFC 3339 time (2027-06-01T12:00:00Z)", v)
	}
	return t, nil
}

// formatNotAfter undoes parseNotAfter, for messages.
func formatNotAfter(t time.Time) string {
	if end := t.Add(time.Nanosecond); end.Equal(end.Truncate(24 * time.Hour)) {
		return t.UTC().Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// LoadTrustStore accepts a public key value (optionally followed by
// not-after= and revoked, as in a trust store line), or the path of a .pub
// file or a trust store file.
func LoadTrustStore(fileOrValue string) (*TrustStore, error) {
	v := strings.TrimSpace(fileOrValue)
	switch {
	case v == "":
		return nil, errors.New("mirror: no public key given (a " + PublicKeyPrefix + "… value, a .pub file or a trust store file)")
	case strings.HasPrefix(v, PublicKeyPrefix), strings.HasPrefix(v, PrivateKeyPrefix):
		k, err := parseTrustedKey(strings.Fields(v))
		if err != nil {
			return nil, err
		}
		return &TrustStore{keys: []TrustedKey{k}}, nil
	}
	b, err := os.ReadFile(fileOrValue)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mirror: public key %q is neither a %s… value nor an existing file", fileOrValue, PublicKeyPrefix)
	}
	if err != nil {
		return nil, fmt.Errorf("mirror: reading trusted keys: %w", err)
	}
	s, err := ParseTrustStore(b, fileOrValue)
	if err != nil {
		return nil, err
	}
	if len(s.keys) == 0 {
		return nil, fmt.Errorf("mirror: %s holds no key (want lines of %s…, see vigil mirror keygen)", fileOrValue, PublicKeyPrefix)
	}
	return s, nil
}
