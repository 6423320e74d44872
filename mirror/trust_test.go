// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readSig(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, SignatureFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// trustFile writes a trust store file and loads it as the CLI does.
func trustFile(t *testing.T, content string) *TrustStore {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trust.txt")
	writeFile(t, path, []byte(content))
	s, err := LoadTrustStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The README's key rotation, step by step, on a real mirror.
func TestKeyRotation(t *testing.T) {
	root, oldPub, oldPriv, _ := newMirror(t)
	newPub, newPriv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	before := readSig(t, root)

	// 1. The new key signs too; the old signature stays as it was.
	if err := AddSignature(root, newPriv); err != nil {
		t.Fatal(err)
	}
	sig := readSig(t, root)
	if !strings.HasPrefix(sig, before) || strings.Count(sig, "\n") != 2 ||
		!strings.HasPrefix(strings.SplitN(sig, "\n", 3)[1], KeyID(newPub)+" ") {
		t.Fatalf("after AddSignature, index.json.sig =\n%s\nwant the old line then the new key's", sig)
	}
	// Signing again with the same key replaces its line.
	if err := AddSignature(root, newPriv); err != nil {
		t.Fatal(err)
	}
	if got := readSig(t, root); strings.Count(got, "\n") != 2 || !strings.HasPrefix(got, before) {
		t.Errorf("signing twice with one key:\n%s", got)
	}

	// 2. Loaders trusting either key, or both, accept it.
	for name, keys := range map[string][]ed25519.PublicKey{"old": {oldPub}, "new": {newPub}, "both": {oldPub, newPub}} {
		if _, err := NewTrustStore(keys...).VerifyIndex(root); err != nil {
			t.Errorf("trusting the %s key: %v", name, err)
		}
	}
	// 3. With the old key revoked, the new signature carries it.
	rotated := trustFile(t, "# rotation\n"+EncodePublicKey(oldPub)+" revoked\n"+EncodePublicKey(newPub)+"  # current\n")
	if _, err := rotated.VerifyIndex(root); err != nil {
		t.Errorf("old revoked, new trusted: %v", err)
	}

	// 4. The mirror is signed by the new key only.
	if err := ReplaceSignatures(root, newPriv); err != nil {
		t.Fatal(err)
	}
	if got := readSig(t, root); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, KeyID(newPub)+" ") {
		t.Errorf("after ReplaceSignatures:\n%s", got)
	}
	if err := Verify(root, newPub); err != nil {
		t.Error(err)
	}
	if err := Verify(root, oldPub); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "which you do not trust") ||
		!strings.Contains(err.Error(), KeyID(newPub)) {
		t.Errorf("trusting only the old key: err = %v, want it to name the new key's id", err)
	}

	// 5. An index signed only by the old key is refused, naming it.
	if err := ReplaceSignatures(root, oldPriv); err != nil {
		t.Fatal(err)
	}
	_, err = rotated.VerifyIndex(root)
	if !errors.Is(err, ErrBadSignature) || !errors.Is(err, ErrKeyRevoked) {
		t.Fatalf("signed by the revoked key only: err = %v, want ErrKeyRevoked", err)
	}
	for _, want := range []string{EncodePublicKey(oldPub), KeyID(oldPub), "is revoked", "trust.txt:2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	t.Log(err)
}

func TestExpiredKey(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	_, err := trustFile(t, EncodePublicKey(pub)+" not-after=2020-01-31\n").VerifyIndex(root)
	if !errors.Is(err, ErrBadSignature) || !errors.Is(err, ErrKeyExpired) {
		t.Fatalf("err = %v, want ErrKeyExpired", err)
	}
	for _, want := range []string{EncodePublicKey(pub), "expired", "not-after=2020-01-31", "trust.txt:1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	t.Log(err)
	for _, na := range []string{"2999-12-31", time.Now().UTC().Format(time.DateOnly), "2999-01-01T00:00:00Z"} {
		if _, err := trustFile(t, EncodePublicKey(pub)+" not-after="+na+"\n").VerifyIndex(root); err != nil {
			t.Errorf("not-after=%s: %v", na, err)
		}
	}
	// A key given beside the store does not undo the store's expiry.
	s := trustFile(t, EncodePublicKey(pub)+" not-after=2020-01-31T10:00:00Z\n")
	data, _ := os.ReadFile(filepath.Join(root, IndexFile))
	if _, err := s.VerifySignedIndex(data, []byte(readSig(t, root)), "src", pub); !errors.Is(err, ErrKeyExpired) ||
		!strings.Contains(err.Error(), "not-after=2020-01-31T10:00:00Z") {
		t.Errorf("expired key given again as a plain key: err = %v", err)
	}
	if got := s.Usable(time.Now()); len(got) != 0 {
		t.Errorf("Usable = %d keys, want none", len(got))
	}
}

// A mirror signed before keys were named: one bare base64 line.
func TestLegacySignature(t *testing.T) {
	root, pub, priv, ix := newMirror(t)
	signRaw(t, root, priv, ix)
	legacy := readSig(t, root)
	if strings.Contains(legacy, " ") {
		t.Fatalf("signRaw wrote %q, not a bare line", legacy)
	}
	if err := Verify(root, pub); err != nil {
		t.Fatalf("legacy signature: %v", err)
	}
	// Adding a key keeps the legacy line; both keys verify.
	newPub, newPriv, _ := GenerateKey()
	if err := AddSignature(root, newPriv); err != nil {
		t.Fatal(err)
	}
	if got := readSig(t, root); !strings.HasPrefix(got, legacy) || strings.Count(got, "\n") != 2 {
		t.Errorf("legacy line not kept:\n%s", got)
	}
	for _, k := range []ed25519.PublicKey{pub, newPub} {
		if err := Verify(root, k); err != nil {
			t.Error(err)
		}
	}
	// Signing with the legacy line's own key replaces it by a named line.
	if err := AddSignature(root, priv); err != nil {
		t.Fatal(err)
	}
	got := readSig(t, root)
	// (ed25519 signatures are deterministic: the named line holds the
	// legacy line's base64.)
	if !strings.Contains(got, KeyID(pub)+" "+legacy) || strings.Count(got, " ") != 2 || strings.Count(got, "\n") != 2 {
		t.Errorf("re-signing with the legacy key:\n%s", got)
	}
	// A revoked key is named through a legacy line too.
	signRaw(t, root, priv, ix)
	if _, err := trustFile(t, EncodePublicKey(pub)+" revoked\n").VerifyIndex(root); !errors.Is(err, ErrKeyRevoked) ||
		!strings.Contains(err.Error(), EncodePublicKey(pub)) {
		t.Errorf("legacy line by a revoked key: err = %v", err)
	}
}

func TestSignRefuses(t *testing.T) {
	_, priv, _ := GenerateKey()
	if err := AddSignature(t.TempDir(), priv); err == nil || !strings.Contains(err.Error(), "nothing to sign") {
		t.Errorf("no index: err = %v", err)
	}
	// Signing vouches for the artifacts: a changed one is not signed.
	root, _, _, _ := newMirror(t)
	before := readSig(t, root)
	writeFile(t, filepath.Join(root, testNames[0]), []byte("changed"))
	var ve *VerifyError
	if err := AddSignature(root, priv); !errors.As(err, &ve) || !strings.Contains(err.Error(), testNames[0]) {
		t.Errorf("changed artifact: err = %v, want a *VerifyError naming it", err)
	}
	// A malformed signature file is not silently dropped.
	root, _, _, _ = newMirror(t)
	writeFile(t, filepath.Join(root, SignatureFile), []byte("zz "+before))
	if err := AddSignature(root, priv); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("malformed sig file: err = %v", err)
	}
	if err := ReplaceSignatures(root, priv); err != nil {
		t.Errorf("ReplaceSignatures over a malformed sig file: %v", err)
	}
}

func TestSignatureFileErrors(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	data, _ := os.ReadFile(filepath.Join(root, IndexFile))
	good := readSig(t, root)
	id, b64, _ := strings.Cut(strings.TrimSpace(good), " ")
	for name, tc := range map[string]struct{ sig, want string }{
		"bad key id":    {"ZZ" + id[2:] + " " + b64 + "\n", "key id"},
		"short id":      {"abc " + b64 + "\n", "key id"},
		"bad base64":    {id + " !!!\n", "line 1 is not base64"},
		"short sig":     {id + " " + base64.StdEncoding.EncodeToString(make([]byte, 10)) + "\n", "line 1: signature is 10 bytes"},
		"second line":   {good + "\n" + id + " x y\n", "line 3 is not base64"},
		"only newlines": {"\n\n", "holds no signature"},
	} {
		_, err := VerifySignedIndex(data, []byte(tc.sig), "src", pub)
		if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrBadSignature saying %q", name, err, tc.want)
		}
	}
	// Blank lines and a line of an unknown key are fine beside a good one.
	other, _, _ := GenerateKey()
	otherLine := KeyID(other) + " " + base64.StdEncoding.EncodeToString(make([]byte, 64)) + "\n"
	if _, err := VerifySignedIndex(data, []byte("\n"+otherLine+"\n"+good), "src", pub); err != nil {
		t.Error(err)
	}
}

func TestTrustStoreFile(t *testing.T) {
	a, _, _ := GenerateKey()
	b, _, _ := GenerateKey()
	dir := t.TempDir()
	for name, tc := range map[string]struct{ content, want string }{
		"misspelt revoked": {EncodePublicKey(a) + " revokd\n", `unknown word "revokd"`},
		"bad date":         {"\n" + EncodePublicKey(a) + " not-after=2027-13-01\n", "trust.txt:2"},
		"not a key":        {"hello\n", "does not start with"},
		"empty":            {"# nothing\n\n", "holds no key"},
	} {
		path := filepath.Join(dir, "trust.txt")
		writeFile(t, path, []byte(tc.content))
		if _, err := LoadTrustStore(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	// A private key is refused without being echoed, on its own or after a key.
	_, priv, _ := GenerateKey()
	secret := EncodePrivateKey(priv)
	for _, content := range []string{secret, EncodePublicKey(a) + " " + secret} {
		path := filepath.Join(dir, "secret.txt")
		writeFile(t, path, []byte(content+"\n"))
		_, err := LoadTrustStore(path)
		if err == nil || strings.Contains(err.Error(), secret[len(PrivateKeyPrefix):]) {
			t.Errorf("private key in a trust store: err = %v", err)
		}
	}

	// The stricter entry of a key listed twice wins; values work too.
	s := trustFile(t, EncodePublicKey(a)+" not-after=2999-01-01\n"+EncodePublicKey(b)+"\n"+EncodePublicKey(a)+" not-after=2998-01-01\n"+EncodePublicKey(b)+" revoked\n")
	keys := s.Keys()
	if len(keys) != 2 || keys[0].NotAfter.Year() != 2998 || !keys[1].Revoked || keys[1].From == "" {
		t.Errorf("merged keys = %+v", keys)
	}
	if u := s.Usable(time.Now()); len(u) != 1 || !u[0].Equal(a) {
		t.Errorf("Usable = %v, want only a", u)
	}
	v, err := LoadTrustStore(EncodePublicKey(b) + " revoked")
	if err != nil || len(v.Keys()) != 1 || !v.Keys()[0].Revoked {
		t.Errorf("value with revoked: %+v, %v", v.Keys(), err)
	}
	// A .pub file is a store of one key.
	pubFile := filepath.Join(dir, "k.pub")
	writeFile(t, pubFile, []byte(EncodePublicKey(a)+"\n"))
	if p, err := LoadTrustStore(pubFile); err != nil || len(p.Keys()) != 1 || !p.Keys()[0].Key.Equal(a) {
		t.Errorf(".pub file: %v", err)
	}
}
