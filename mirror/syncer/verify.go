// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package syncer

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/vigil-dev/vigil/mirror"
)

// VerifyPartial is mirror.Verify for a copy holding part of what its index
// lists (Sync with a filter): the index must verify with one of keys
// (mirror.VerifySignedIndex), every listed file present must have the
// listed size and sha256, and no file may be unlisted; but a listed file
// may be absent. It returns the index, how many of its entries are
// present, and a *mirror.VerifyError listing every problem; a bad or
// missing signature is returned at once, without the index.
func VerifyPartial(root string, keys ...ed25519.PublicKey) (ix *mirror.Index, present int, err error) {
	return VerifyPartialTrust(root, nil, keys...)
}

// VerifyPartialTrust is VerifyPartial with a trust store, whose revoked
// and expired keys are refused by name.
func VerifyPartialTrust(root string, trust *mirror.TrustStore, keys ...ed25519.PublicKey) (ix *mirror.Index, present int, err error) {
	indexPath := filepath.Join(root, mirror.IndexFile)
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, 0, fmt.Errorf("mirror: cannot verify: %w", err)
	}
	sig, err := os.ReadFile(filepath.Join(root, mirror.SignatureFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("mirror: %w: %w", mirror.ErrNoSignature, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("mirror: cannot verify: %w", err)
	}
	if ix, err = trust.VerifySignedIndex(data, sig, indexPath, keys...); err != nil {
		return nil, 0, err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, 0, fmt.Errorf("mirror: %w", err)
	}
	defer r.Close()

	var problems []string
	listed := make(map[string]bool, len(ix.Entries))
	for _, e := range ix.Entries {
		if err := checkName(e.Name); err != nil {
			problems = append(problems, fmt.Sprintf("%q: %v", e.Name, err))
			continue
		}
		if listed[e.Name] {
			problems = append(problems, e.Name+": listed more than once in the index")
			continue
		}
		listed[e.Name] = true
		sum, n, err := hashFile(r, e.Name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // a partial copy: not synced here
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", e.Name, err))
		case n != e.Size:
			problems = append(problems, fmt.Sprintf("%s: size %d, index says %d", e.Name, n, e.Size))
		case sum != e.SHA256:
			problems = append(problems, fmt.Sprintf("%s: sha256 %s, index says %s", e.Name, sum, e.SHA256))
		}
		present++
	}
	fs.WalkDir(r.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: cannot look for files the index does not list: %v", name, err))
		case d.IsDir() || name == mirror.IndexFile || name == mirror.SignatureFile || listed[name]:
		case strings.HasSuffix(path.Base(name), ".partial"):
			problems = append(problems, name+": not listed in the index, left by an interrupted `vigil mirror sync`: run it again, or remove it")
		default:
			problems = append(problems, name+": not listed in the index, so nothing vouches for it: remove it (`vigil mirror sync --prune` removes what the source dropped)")
		}
		return nil
	})
	if problems != nil {
		return ix, present, &mirror.VerifyError{Problems: problems}
	}
	return ix, present, nil
}
