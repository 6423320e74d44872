// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Key text prefixes. A key is one line: prefix + base64 (standard, padded)
// of the 32-byte ed25519 seed (private) or public key.
const (
	PrivateKeyPrefix = "vigil-ed25519-private:"
	PublicKeyPrefix  = "vigil-ed25519-public:"
)

// GenerateKey makes a new signing key pair.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: generating key: %w", err)
	}
	return pub, priv, nil
}

// EncodePrivateKey returns "vigil-ed25519-private:" + base64 of k's seed,
// or "" if k is not an ed25519 private key.
func EncodePrivateKey(k ed25519.PrivateKey) string {
	if len(k) != ed25519.PrivateKeySize {
		return ""
	}
	return PrivateKeyPrefix + base64.StdEncoding.EncodeToString(k.Seed())
}

// EncodePublicKey returns "vigil-ed25519-public:" + base64 of k, or "" if k
// is not an ed25519 public key.
func EncodePublicKey(k ed25519.PublicKey) string {
	if len(k) != ed25519.PublicKeySize {
		return ""
	}
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(k)
}

// ParsePrivateKey parses EncodePrivateKey's format; surrounding whitespace
// is ignored. Errors never echo the key text.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, PublicKeyPrefix) {
		return nil, errors.New("mirror: this is a public key; signing needs the private key (" + PrivateKeyPrefix + "…)")
	}
	seed, err := decodeKey(s, PrivateKeyPrefix, ed25519.SeedSize, "private")
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKey parses EncodePublicKey's format; surrounding whitespace is
// ignored.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, PrivateKeyPrefix) {
		// Do not echo it: it is a secret.
		return nil, errors.New("mirror: this is a private key; verifying needs the public key (" + PublicKeyPrefix + "…, the .pub file)")
	}
	b, err := decodeKey(s, PublicKeyPrefix, ed25519.PublicKeySize, "public")
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(b), nil
}

func decodeKey(s, prefix string, size int, kind string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("mirror: empty %s key", kind)
	}
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, fmt.Errorf("mirror: %s key does not start with %q", kind, prefix)
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("mirror: %s key after %q is not standard base64: %v", kind, prefix, err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("mirror: %s key is %d bytes, want %d", kind, len(b), size)
	}
	return b, nil
}

// LoadPrivateKey reads the signing key from the file fileOrEmpty if it is
// not empty, else from the content of the environment variable envName.
// With neither, the error says how to make a key.
func LoadPrivateKey(fileOrEmpty, envName string) (ed25519.PrivateKey, error) {
	if fileOrEmpty != "" {
		b, err := os.ReadFile(fileOrEmpty)
		if err != nil {
			return nil, fmt.Errorf("mirror: reading private key: %w", err)
		}
		k, err := ParsePrivateKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, fileOrEmpty)
		}
		return k, nil
	}
	if envName != "" {
		if v := os.Getenv(envName); strings.TrimSpace(v) != "" {
			k, err := ParsePrivateKey(v)
			if err != nil {
				return nil, fmt.Errorf("%w (in $%s)", err, envName)
			}
			return k, nil
		}
	}
	where := "give a key file"
	if envName != "" {
		where += " or set $" + envName + " to the key itself"
	}
	return nil, errors.New("mirror: no signing key: " + where +
		"; make a key pair with `vigil mirror keygen --out PREFIX`")
}

// LoadPublicKey accepts the encoded public key itself or the path of a file
// holding it.
func LoadPublicKey(fileOrValue string) (ed25519.PublicKey, error) {
	v := strings.TrimSpace(fileOrValue)
	switch {
	case v == "":
		return nil, errors.New("mirror: no public key given (a " + PublicKeyPrefix + "… value or a .pub file)")
	case strings.HasPrefix(v, PublicKeyPrefix), strings.HasPrefix(v, PrivateKeyPrefix):
		return ParsePublicKey(v)
	}
	b, err := os.ReadFile(fileOrValue)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mirror: public key %q is neither a %s… value nor an existing file", fileOrValue, PublicKeyPrefix)
	}
	if err != nil {
		return nil, fmt.Errorf("mirror: reading public key: %w", err)
	}
	k, err := ParsePublicKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, fileOrValue)
	}
	return k, nil
}
