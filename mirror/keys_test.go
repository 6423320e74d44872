// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyRoundTrip(t *testing.T) {
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ep, epub := EncodePrivateKey(priv), EncodePublicKey(pub)
	if !strings.HasPrefix(ep, "vigil-ed25519-private:") || !strings.HasPrefix(epub, "vigil-ed25519-public:") {
		t.Fatalf("encodings %q / %q", ep, epub)
	}
	if raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(ep, PrivateKeyPrefix)); len(raw) != 32 {
		t.Errorf("private key encodes %d bytes, want the 32-byte seed", len(raw))
	}
	priv2, err := ParsePrivateKey("  " + ep + "\n")
	if err != nil || !priv2.Equal(priv) {
		t.Errorf("ParsePrivateKey: %v", err)
	}
	pub2, err := ParsePublicKey(epub + "\r\n")
	if err != nil || !pub2.Equal(pub) {
		t.Errorf("ParsePublicKey: %v", err)
	}
	if !priv2.Public().(ed25519.PublicKey).Equal(pub) {
		t.Error("parsed private key has another public half")
	}
	if EncodePrivateKey(ed25519.PrivateKey{1}) != "" || EncodePublicKey(ed25519.PublicKey{1}) != "" {
		t.Error("encoding a malformed key gave a value")
	}
}

func TestParseKeyErrors(t *testing.T) {
	pub, priv, _ := GenerateKey()
	b32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	b31 := base64.StdEncoding.EncodeToString(make([]byte, 31))
	for _, tc := range []struct {
		name, in, want string
		public         bool
	}{
		{"priv wrong prefix", "ssh-ed25519:" + b32, "does not start with", false},
		{"priv no prefix", b32, "does not start with", false},
		{"priv given public", EncodePublicKey(pub), "public key", false},
		{"priv bad base64", PrivateKeyPrefix + "@@@", "base64", false},
		{"priv short", PrivateKeyPrefix + b31, "31 bytes, want 32", false},
		{"priv long", PrivateKeyPrefix + base64.StdEncoding.EncodeToString(priv), "64 bytes, want 32", false},
		{"priv empty", " \n", "empty", false},
		{"pub wrong prefix", "vigil-rsa-public:" + b32, "does not start with", true},
		{"pub given private", EncodePrivateKey(priv), "private key", true},
		{"pub bad base64", PublicKeyPrefix + "a", "base64", true},
		{"pub short", PublicKeyPrefix + b31, "31 bytes, want 32", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.public {
				_, err = ParsePublicKey(tc.in)
			} else {
				_, err = ParsePrivateKey(tc.in)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			// Never echo a private key in an error.
			if strings.Contains(err.Error(), strings.TrimPrefix(EncodePrivateKey(priv), PrivateKeyPrefix)) {
				t.Errorf("error leaks the private key: %v", err)
			}
		})
	}
}

func TestLoadPrivateKey(t *testing.T) {
	_, priv, _ := GenerateKey()
	_, other, _ := GenerateKey()
	const env = "VIGIL_TEST_MIRROR_KEY"

	t.Setenv(env, EncodePrivateKey(priv))
	k, err := LoadPrivateKey("", env)
	if err != nil || !k.Equal(priv) {
		t.Fatalf("from env: %v", err)
	}

	file := filepath.Join(t.TempDir(), "k.key")
	if err := os.WriteFile(file, []byte(EncodePrivateKey(other)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err = LoadPrivateKey(file, env)
	if err != nil || !k.Equal(other) {
		t.Fatalf("file should win over env: %v", err)
	}

	if _, err := LoadPrivateKey(filepath.Join(t.TempDir(), "nope.key"), env); err == nil {
		t.Error("missing file: no error")
	}

	t.Setenv(env, "garbage")
	if _, err := LoadPrivateKey("", env); err == nil || !strings.Contains(err.Error(), "$"+env) {
		t.Errorf("bad env value: %v", err)
	}

	t.Setenv(env, "")
	_, err = LoadPrivateKey("", env)
	if err == nil || !strings.Contains(err.Error(), "vigil mirror keygen") || !strings.Contains(err.Error(), env) {
		t.Errorf("no key anywhere: %v", err)
	}
	if _, err := LoadPrivateKey("", ""); err == nil || !strings.Contains(err.Error(), "vigil mirror keygen") {
		t.Errorf("no key, no env name: %v", err)
	}
}

func TestLoadPublicKey(t *testing.T) {
	pub, priv, _ := GenerateKey()
	k, err := LoadPublicKey(EncodePublicKey(pub))
	if err != nil || !k.Equal(pub) {
		t.Fatalf("value: %v", err)
	}
	file := filepath.Join(t.TempDir(), "k.pub")
	os.WriteFile(file, []byte(EncodePublicKey(pub)+"\n"), 0o644)
	k, err = LoadPublicKey(file)
	if err != nil || !k.Equal(pub) {
		t.Fatalf("file: %v", err)
	}
	for _, in := range []string{"", filepath.Join(t.TempDir(), "none.pub"), EncodePrivateKey(priv)} {
		if _, err := LoadPublicKey(in); err == nil {
			t.Errorf("LoadPublicKey(%q) succeeded", in)
		}
	}
}
