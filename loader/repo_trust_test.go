// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/mirror"
)

// A key rotation as a loader sees it: a mirror signed by the old and the
// new key, then by the old one only once the trust store revokes it.
func TestFetchTrustStore(t *testing.T) {
	m := newTestMirror(t)
	newPub, newPriv, err := mirror.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror.AddSignature(m.root, newPriv); err != nil {
		t.Fatal(err)
	}
	store, err := mirror.ParseTrustStore([]byte(mirror.EncodePublicKey(m.pub)+" revoked\n"+mirror.EncodePublicKey(newPub)+"\n"), "trust.txt")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveMirror(t, m.root, nil)
	opts := m.opts()
	opts.Keys, opts.Trust = store.Usable(time.Now()), store
	dst := filepath.Join(t.TempDir(), m.name)
	if _, err := openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, dst); err != nil {
		t.Fatalf("signed by both, old revoked: %v", err)
	}

	// Signed by the revoked key only: refused, naming it, even when it is
	// also given as a plain key.
	if err := mirror.ReplaceSignatures(m.root, m.priv); err != nil {
		t.Fatal(err)
	}
	opts.Keys = []ed25519.PublicKey{newPub, m.pub}
	dst = filepath.Join(t.TempDir(), m.name)
	_, err = openRepo(t, srv.URL, opts).Fetch(context.Background(), m.name, dst)
	if !errors.Is(err, ErrBadSignature) || !errors.Is(err, mirror.ErrKeyRevoked) ||
		!strings.Contains(err.Error(), mirror.EncodePublicKey(m.pub)) || !strings.Contains(err.Error(), "trust.txt:1") {
		t.Fatalf("err = %v, want ErrKeyRevoked naming the old key", err)
	}
	assertNothingAt(t, dst)
}
