// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
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
	if len(keys) == 0 {
		return nil, fmt.Errorf("mirror: %s: no trusted public key to verify the index with", src)
	}
	for _, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("mirror: public key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigText)))
	if err != nil {
		return nil, fmt.Errorf("mirror: %s: %w: %s is not base64: %v", src, ErrBadSignature, SignatureFile, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("mirror: %s: %w: signature is %d bytes, want %d", src, ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	for _, k := range keys {
		if ed25519.Verify(k, data, sig) {
			return parseIndex(data, src)
		}
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = EncodePublicKey(k)
	}
	return nil, fmt.Errorf("mirror: %s: %w with the trusted key(s) %s (index changed after signing, or signed by another key)",
		src, ErrBadSignature, strings.Join(names, ", "))
}
