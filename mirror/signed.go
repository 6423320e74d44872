// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrKeyRevoked and ErrKeyExpired are wrapped (beside ErrBadSignature) when
// the only signatures that verify are by keys the trust store revokes, or
// whose not-after has passed.
var (
	ErrKeyRevoked = errors.New("signed only by a revoked key")
	ErrKeyExpired = errors.New("signed only by an expired key")
)

// VerifySignedIndex checks sigText (the content of index.json.sig) over data
// (the exact bytes of index.json) against each trusted key and, when one
// verifies, parses data. It is VerifyIndex for an index that is not on
// disk, such as one fetched over HTTP; src names where data came from in
// errors. Every signature failure wraps ErrBadSignature. Several keys are
// accepted so that a loader can trust the old and the new key while a
// mirror's key is being rotated.
//
// Unlike VerifyIndex it checks no artifact: a fetcher verifies the one it
// downloads against the returned entry.
func VerifySignedIndex(data, sigText []byte, src string, keys ...ed25519.PublicKey) (*Index, error) {
	return (*TrustStore)(nil).VerifySignedIndex(data, sigText, src, keys...)
}

// VerifySignedIndex is the package's VerifySignedIndex with the keys of s
// and keys (trusted without expiry unless s says otherwise); s may be nil.
// The index is accepted when a line of sigText verifies with a key that is
// neither revoked nor expired now. When the only lines that verify are by
// revoked or expired keys, the error names those keys and wraps
// ErrKeyRevoked or ErrKeyExpired.
func (s *TrustStore) VerifySignedIndex(data, sigText []byte, src string, keys ...ed25519.PublicKey) (*Index, error) {
	for _, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("mirror: public key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
	}
	trusted := s.with(keys)
	if len(trusted) == 0 {
		return nil, fmt.Errorf("mirror: %s: no trusted public key to verify the index with", src)
	}
	sigs, err := parseSignatures(sigText)
	if err != nil {
		return nil, fmt.Errorf("mirror: %s: %w: %w", src, ErrBadSignature, err)
	}
	now := time.Now()
	var refused []error
	var unknown []string // key ids of lines no trusted key has
	for _, sg := range sigs {
		known := false
		for _, k := range trusted {
			if sg.keyID != "" && sg.keyID != k.id {
				continue
			}
			known = true
			if !ed25519.Verify(k.Key, data, sg.sig) {
				continue
			}
			if err := k.unusable(now); err != nil {
				refused = append(refused, err)
				continue
			}
			return parseIndex(data, src)
		}
		if !known && !slices.Contains(unknown, sg.keyID) {
			unknown = append(unknown, sg.keyID)
		}
	}
	if refused != nil {
		return nil, fmt.Errorf("mirror: %s: %w: %w", src, ErrBadSignature, errors.Join(refused...))
	}
	names := make([]string, len(trusted))
	for i, k := range trusted {
		names[i] = EncodePublicKey(k.Key) + " (id " + k.id + ")"
	}
	also := ""
	if unknown = slices.DeleteFunc(unknown, func(id string) bool { return id == "" }); unknown != nil {
		also = fmt.Sprintf("; it is signed by key id(s) %s, which you do not trust", strings.Join(unknown, ", "))
	}
	return nil, fmt.Errorf("mirror: %s: %w with the trusted key(s) %s (index changed after signing, or signed by another key)%s",
		src, ErrBadSignature, strings.Join(names, ", "), also)
}
