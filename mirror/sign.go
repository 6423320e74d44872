// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The signature file, index.json.sig, holds one signature per line:
//
//	<key-id> <base64 signature>
//
// key-id is KeyID of the public key that verifies it (16 lowercase hex
// digits: the first 8 bytes of the SHA-256 of the 32-byte public key), and
// the signature is the standard, padded base64 of the 64-byte ed25519
// signature over the exact bytes of index.json. Blank lines are ignored.
// A line may also be a bare base64 signature, as vigil wrote before keys
// were named; it is tried against every trusted key.
//
// Several lines let a mirror be signed by an old and a new key at once
// while trust stores move from one to the other (README: "Key rotation"):
// WriteSigned writes one line, AddSignature adds one. A verifier accepts the
// index when any line verifies with a trusted key that is neither revoked
// nor expired (TrustStore.VerifySignedIndex); lines of keys it does not
// know are ignored.

// ErrBadSignature is wrapped by every error that means index.json is not
// what the key holder signed: a signature that does not verify, or a
// malformed signature file.
var ErrBadSignature = errors.New("index signature does not verify")

// ErrNoSignature is wrapped (together with fs.ErrNotExist) when
// index.json.sig is missing.
var ErrNoSignature = errors.New("index is not signed")

// rename is os.Rename; tests replace it to fail mid-way.
var rename = os.Rename

// MarshalIndex returns the exact bytes WriteSigned writes as index.json:
// json.MarshalIndent(ix, "", "  ") plus "\n".
func MarshalIndex(ix *Index) ([]byte, error) {
	out := *ix
	if out.Entries == nil {
		out.Entries = []Entry{} // "entries": [] rather than null
	}
	b, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteSigned writes <root>/index.json and <root>/index.json.sig. It sets
// ix.SchemaVersion, sets ix.Generated to now (UTC) and sorts ix.Entries; it
// refuses entries with unsafe names or malformed hashes.
//
// Both files are written to temporary files in root first and then renamed
// into place, index first, signature second. On any error the temporary
// files are removed. If the second rename fails, the previous index.json is
// put back so the pair on disk still verifies.
func WriteSigned(root string, ix *Index, key ed25519.PrivateKey) error {
	if ix == nil {
		return errors.New("mirror: WriteSigned: nil index")
	}
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("mirror: WriteSigned: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	slices.SortStableFunc(ix.Entries, cmpName)
	if err := checkEntries(ix); err != nil {
		return err
	}
	ix.SchemaVersion = SchemaVersion
	ix.Generated = time.Now().UTC().Truncate(time.Second)
	data, err := MarshalIndex(ix)
	if err != nil {
		return fmt.Errorf("mirror: encoding index: %w", err)
	}
	sig := formatSignatures([]signature{sign(key, data)})

	var temps []string
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	tmpIndex, err := writeTemp(root, ".index.json.tmp-*", data)
	if err != nil {
		return err
	}
	temps = append(temps, tmpIndex)
	tmpSig, err := writeTemp(root, ".index.json.sig.tmp-*", []byte(sig))
	if err != nil {
		return err
	}
	temps = append(temps, tmpSig)

	indexPath := filepath.Join(root, IndexFile)
	sigPath := filepath.Join(root, SignatureFile)
	// Keep a hard link to the old index so a failed second rename can put
	// it back. Best effort: without it a failure leaves no .sig at all
	// rather than one that does not match.
	backup := ""
	if _, err := os.Lstat(indexPath); err == nil {
		b := filepath.Join(root, fmt.Sprintf(".index.json.bak-%d", time.Now().UnixNano()))
		if os.Link(indexPath, b) == nil {
			backup = b
			temps = append(temps, b)
		}
	}
	if err := rename(tmpIndex, indexPath); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	if err := rename(tmpSig, sigPath); err != nil {
		if backup != "" && rename(backup, indexPath) == nil {
			return fmt.Errorf("mirror: %w (index.json left as it was)", err)
		}
		// index.json is new; an old .sig would not match it.
		os.Remove(sigPath)
		return fmt.Errorf("mirror: %w (index.json written but left unsigned; run again)", err)
	}
	SyncDir(root)
	return nil
}

// checkEntries refuses an index (sorted by Name) with unsafe names,
// malformed hashes, negative sizes or a name listed twice.
func checkEntries(ix *Index) error {
	for i, e := range ix.Entries {
		if err := checkName(e.Name); err != nil {
			return fmt.Errorf("mirror: entry %q: %w", e.Name, err)
		}
		if !validSHA256(e.SHA256) {
			return fmt.Errorf("mirror: entry %q: sha256 %q is not 64 lowercase hex digits", e.Name, e.SHA256)
		}
		if e.Size < 0 {
			return fmt.Errorf("mirror: entry %q: negative size %d", e.Name, e.Size)
		}
		if i > 0 && ix.Entries[i-1].Name == e.Name {
			return fmt.Errorf("mirror: entry %q listed twice", e.Name)
		}
	}
	return nil
}

// KeyID is the short name of a public key in index.json.sig and in
// messages: the first 8 bytes of the SHA-256 of k, in lowercase hex.
func KeyID(k ed25519.PublicKey) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:8])
}

// signature is one line of index.json.sig.
type signature struct {
	keyID string // "" for a legacy bare line
	sig   []byte
}

func sign(key ed25519.PrivateKey, data []byte) signature {
	return signature{keyID: KeyID(key.Public().(ed25519.PublicKey)), sig: ed25519.Sign(key, data)}
}

// parseSignatures reads index.json.sig. Errors name the line, never guess:
// a malformed file is refused whole rather than partly trusted.
func parseSignatures(text []byte) ([]signature, error) {
	var sigs []signature
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var s signature
		b64 := line
		if id, rest, ok := strings.Cut(line, " "); ok {
			s.keyID, b64 = id, strings.TrimSpace(rest)
			if len(id) != 16 || !isLowerHex(id) {
				return nil, fmt.Errorf("%s line %d: key id %q is not 16 lowercase hex digits (want \"<key-id> <base64 signature>\")", SignatureFile, i+1, id)
			}
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%s line %d is not base64: %v", SignatureFile, i+1, err)
		}
		if len(sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("%s line %d: signature is %d bytes, want %d", SignatureFile, i+1, len(sig), ed25519.SignatureSize)
		}
		s.sig = sig
		sigs = append(sigs, s)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%s holds no signature", SignatureFile)
	}
	return sigs, nil
}

func formatSignatures(sigs []signature) []byte {
	var b strings.Builder
	for _, s := range sigs {
		if s.keyID != "" {
			b.WriteString(s.keyID + " ")
		}
		b.WriteString(base64.StdEncoding.EncodeToString(s.sig) + "\n")
	}
	return []byte(b.String())
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// AddSignature signs <root>/index.json with key and adds the signature to
// index.json.sig, keeping the others: the step of a key rotation where a
// mirror is signed by the old and the new key. A signature by the same key
// is replaced. The mirror must verify apart from its signature (every
// artifact listed, whole, and nothing unlisted), since signing vouches for
// it; otherwise the error is a *VerifyError.
func AddSignature(root string, key ed25519.PrivateKey) error {
	return addSignature(root, key, true)
}

// ReplaceSignatures is AddSignature that drops every other signature: the
// step of a key rotation where the old key stops signing.
func ReplaceSignatures(root string, key ed25519.PrivateKey) error {
	return addSignature(root, key, false)
}

func addSignature(root string, key ed25519.PrivateKey, keep bool) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("mirror: sign: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	indexPath := filepath.Join(root, IndexFile)
	data, err := os.ReadFile(indexPath)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mirror: sign: %w: nothing to sign (build the mirror first: vigil driver build --out %s)", err, root)
	}
	if err != nil {
		return fmt.Errorf("mirror: sign: %w", err)
	}
	ix, err := parseIndex(data, indexPath)
	if err != nil {
		return err
	}
	if problems, err := checkArtifacts(root, ix); err != nil {
		return err
	} else if problems != nil {
		return &VerifyError{Problems: problems}
	}

	mine := sign(key, data)
	pub := key.Public().(ed25519.PublicKey)
	sigs := []signature{mine}
	if keep {
		old, err := os.ReadFile(filepath.Join(root, SignatureFile))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("mirror: sign: %w", err)
		}
		var prev []signature
		if len(old) > 0 {
			if prev, err = parseSignatures(old); err != nil {
				return fmt.Errorf("mirror: sign: %s: %w (fix or remove it, or sign with --replace to drop it)", root, err)
			}
		}
		sigs = sigs[:0]
		for _, s := range prev {
			// A legacy bare line is ours if our key verifies it.
			if s.keyID == mine.keyID || s.keyID == "" && ed25519.Verify(pub, data, s.sig) {
				continue
			}
			sigs = append(sigs, s)
		}
		sigs = append(sigs, mine)
	}
	tmp, err := writeTemp(root, ".index.json.sig.tmp-*", formatSignatures(sigs))
	if err != nil {
		return err
	}
	if err := rename(tmp, filepath.Join(root, SignatureFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mirror: sign: %w", err)
	}
	SyncDir(root)
	return nil
}

func writeTemp(dir, pattern string, data []byte) (name string, err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("mirror: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return "", fmt.Errorf("mirror: %w", err)
	}
	// The mirror is served to loaders; 0600 from CreateTemp is too tight.
	if err = f.Chmod(0o644); err != nil {
		return "", fmt.Errorf("mirror: %w", err)
	}
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("mirror: %w", err)
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("mirror: %w", err)
	}
	return f.Name(), nil
}

// SyncDir makes the renames in dir durable: a file renamed into place is
// there after a crash only once its directory is synced.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// VerifyError lists everything wrong with the artifacts of a mirror whose
// index signature is good.
type VerifyError struct {
	Problems []string // each names the file (relative to the root) and what is wrong
}

func (e *VerifyError) Error() string { return strings.Join(e.Problems, "\n") }

// Verify checks the signature of <root>/index.json with pub, then every
// entry: the file exists inside root, and its size and sha256 match; and
// that root holds no file the index does not list (beside index.json and
// its signature), since a loader or a person may take any file served from
// a mirror for a vouched-for one. A bad or missing signature is returned at
// once (wrapping ErrBadSignature or ErrNoSignature) since an
// unauthenticated index says nothing; otherwise every problem is collected
// into a *VerifyError.
func Verify(root string, pub ed25519.PublicKey) error {
	_, err := VerifyIndex(root, pub)
	return err
}

// VerifyIndex is Verify that also returns the index. The index is nil
// unless its signature verified and it parsed; with a *VerifyError it is
// returned too.
func VerifyIndex(root string, pub ed25519.PublicKey) (*Index, error) {
	return verifyIndex(root, nil, pub)
}

// verifyIndex is VerifyIndex with the keys of trust (which may be nil) and
// keys.
func verifyIndex(root string, trust *TrustStore, keys ...ed25519.PublicKey) (*Index, error) {
	indexPath := filepath.Join(root, IndexFile)
	sigPath := filepath.Join(root, SignatureFile)
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("mirror: cannot verify: %w", err)
	}
	sigText, err := os.ReadFile(sigPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mirror: %w: %w", ErrNoSignature, err)
	}
	if err != nil {
		return nil, fmt.Errorf("mirror: cannot verify: %w", err)
	}
	ix, err := trust.VerifySignedIndex(data, sigText, indexPath, keys...)
	if err != nil {
		return nil, err
	}

	problems, err := checkArtifacts(root, ix)
	if err != nil {
		return nil, err
	}
	if problems != nil {
		return ix, &VerifyError{Problems: problems}
	}
	return ix, nil
}

// checkArtifacts returns what is wrong with the artifacts under root that
// ix lists, and with the files it does not list.
func checkArtifacts(root string, ix *Index) ([]string, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	defer r.Close()
	var problems []string
	seen := make(map[string]bool, len(ix.Entries))
	for _, e := range ix.Entries {
		if p := checkEntry(r, e, seen); p != "" {
			problems = append(problems, p)
		}
	}
	return append(problems, unlisted(r, seen)...), nil
}

// checkEntry returns what is wrong with one entry, or "".
func checkEntry(r *os.Root, e Entry, seen map[string]bool) string {
	if err := checkName(e.Name); err != nil {
		return fmt.Sprintf("%q: %v", e.Name, err)
	}
	if seen[e.Name] {
		return e.Name + ": listed more than once in the index"
	}
	seen[e.Name] = true
	if !validSHA256(e.SHA256) {
		return fmt.Sprintf("%s: index has sha256 %q, not 64 lowercase hex digits", e.Name, e.SHA256)
	}
	st, err := r.Stat(e.Name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return e.Name + ": missing"
	case err != nil:
		return fmt.Sprintf("%s: %v", e.Name, err)
	case !st.Mode().IsRegular():
		return fmt.Sprintf("%s: %v (%s)", e.Name, errNotRegular, st.Mode().Type())
	case st.Size() != e.Size:
		return fmt.Sprintf("%s: size %d, index says %d", e.Name, st.Size(), e.Size)
	}
	sum, n, err := hashFile(r, e.Name)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v", e.Name, err)
	case n != e.Size:
		return fmt.Sprintf("%s: size %d, index says %d", e.Name, n, e.Size)
	case sum != e.SHA256:
		return fmt.Sprintf("%s: sha256 %s, index says %s", e.Name, sum, e.SHA256)
	}
	return ""
}

// unlisted returns a problem for each file under r that is neither index.json,
// its signature, nor listed (a name in listed). Directories are not files:
// the artifacts' own, or empty ones a build left.
func unlisted(r *os.Root, listed map[string]bool) []string {
	var problems []string
	fs.WalkDir(r.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: cannot look for files the index does not list: %v", name, err))
		case d.IsDir() || name == IndexFile || name == SignatureFile || listed[name]:
		default:
			problems = append(problems, name+": not listed in the index, "+unlistedFix(name))
		}
		return nil
	})
	return problems
}

// unlistedFix says what to do about a file the index does not list.
func unlistedFix(name string) string {
	base := path.Base(name)
	switch {
	// WriteSigned's temporary files, and Builder's staging directories.
	case strings.HasPrefix(name, ".staging-") || strings.HasPrefix(base, ".index.json."):
		return "left by an interrupted `vigil driver build`: remove it"
	case strings.HasSuffix(base, ".key"):
		return "and a key file: a mirror is served to everyone, so move a signing key out of it (and make a new one if it was served)"
	}
	return "so nothing vouches for it: remove it (`vigil driver build` lists and signs what it adds)"
}
