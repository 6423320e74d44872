// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifySignedIndex(t *testing.T) {
	root, pub, _, want := newMirror(t)
	data, err := os.ReadFile(filepath.Join(root, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(filepath.Join(root, SignatureFile))
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	for _, keys := range [][]ed25519.PublicKey{{pub}, {other, pub}} {
		ix, err := VerifySignedIndex(data, sig, "src", keys...)
		if err != nil || len(ix.Entries) != len(want.Entries) {
			t.Fatalf("with %d key(s): %v", len(keys), err)
		}
	}

	tampered := []byte(strings.Replace(string(data), `"size": `, `"size": 1`, 1))
	for _, tc := range []struct {
		name      string
		data, sig []byte
		keys      []ed25519.PublicKey
		want      string
	}{
		{"other key", data, sig, []ed25519.PublicKey{other}, EncodePublicKey(other)},
		{"tampered", tampered, sig, []ed25519.PublicKey{pub}, "index changed after signing"},
		{"not base64", data, []byte("!!"), []ed25519.PublicKey{pub}, "not base64"},
		{"short", data, []byte("AAAA"), []ed25519.PublicKey{pub}, "signature is 3 bytes"},
	} {
		_, err := VerifySignedIndex(tc.data, tc.sig, "src", tc.keys...)
		if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "src") {
			t.Errorf("%s: err = %v, want ErrBadSignature saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := VerifySignedIndex(data, sig, "src"); err == nil || !strings.Contains(err.Error(), "no trusted public key") {
		t.Errorf("no key: err = %v", err)
	}
	if _, err := VerifySignedIndex(data, sig, "src", pub[:3]); err == nil {
		t.Error("a 3-byte key was accepted")
	}
}
