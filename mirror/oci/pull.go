// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package oci

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/vigil-dev/vigil/mirror"
)

// Pull brings the mirror at ref (oci://REGISTRY/REPO) into dir, which it
// creates. The index's signature is verified with opts.Keys before
// anything is written; each module is fetched by its tag and written (to
// a temporary file, then renamed) only once its size and sha256 are the
// index's; a module dir already holds as the index says is kept. The
// index and its signature are written last, so an interrupted pull never
// leaves a directory that looks like a whole mirror; at the end dir must
// verify as `vigil mirror verify` checks it (a file the index does not
// list, left from before, fails it).
func Pull(ctx context.Context, ref, dir string, opts Options) (Summary, error) {
	r, err := Open(ref, opts)
	if err != nil {
		return Summary{}, err
	}
	data, sig, err := r.FetchIndex(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("%w; nothing was written to %s", err, dir)
	}
	if sig == nil {
		return Summary{}, fmt.Errorf("oci: %s: %w: the index artifact has no signature; nothing was written to %s: push a signed mirror (vigil driver build --key-file signs it)",
			r.name, mirror.ErrNoSignature, dir)
	}
	ix, err := verifyIndex(data, sig, r.Where(mirror.IndexFile), opts.Trust, opts.Keys)
	if err != nil {
		return Summary{}, fmt.Errorf("%w; nothing was written to %s: check that the key you trust is the one the mirror is signed with", err, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("oci: pull: %w", err)
	}
	// os.Root: whatever the index names, nothing is written outside dir.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Summary{}, fmt.Errorf("oci: pull: %w", err)
	}
	defer root.Close()

	sum := Summary{Artifacts: len(ix.Entries)}
	for _, e := range ix.Entries {
		if have, err := mirror.EntryFor(dir, e.Name); err == nil && have.Size == e.Size && have.SHA256 == e.SHA256 {
			logf(opts.Log, "already there: %s", e.Name)
			continue
		}
		if err := r.pullModule(ctx, root, e); err != nil {
			return sum, fmt.Errorf("%w; %s has no index yet, so it is not a mirror: run pull again", err, dir)
		}
		sum.Transferred++
		sum.Bytes += e.Size
		logf(opts.Log, "pulled %s from %s", e.Name, r.Where(e.Name))
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{mirror.IndexFile, data}, {mirror.SignatureFile, sig}} {
		if err := writeAtomic(root, f.name, func(w io.Writer) error { _, err := w.Write(f.data); return err }); err != nil {
			return sum, fmt.Errorf("oci: pull: writing %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	mirror.SyncDir(dir)
	return sum, verifyPulled(dir, opts)
}

// pullModule fetches e by its tag into root, checking its size and sha256
// against the signed index before it gets its name.
func (r *Remote) pullModule(ctx context.Context, root *os.Root, e mirror.Entry) error {
	rc, size, err := r.OpenModule(ctx, e.Name)
	if err != nil {
		return err
	}
	defer rc.Close()
	where := r.Where(e.Name)
	if size != e.Size {
		return fmt.Errorf("oci: %s is %d bytes, the signed index says %d: the registry's copy is not what was signed; nothing was written", where, size, e.Size)
	}
	if err := root.MkdirAll(path.Dir(e.Name), 0o755); err != nil {
		return fmt.Errorf("oci: pull: %w", err)
	}
	return writeAtomic(root, e.Name, func(w io.Writer) error {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(rc, e.Size+1))
		switch {
		case err != nil:
			return fmt.Errorf("oci: reading %s: %w", where, err)
		case n != e.Size:
			return fmt.Errorf("oci: %s sent %d bytes or more, the signed index says %d: nothing was written", where, n, e.Size)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
			return fmt.Errorf("oci: %s has sha256 %s, the signed index says %s: the registry's copy is not what was signed; nothing was written", where, got, e.SHA256)
		}
		return nil
	})
}

// writeAtomic writes name in root through a temporary file beside it,
// renamed to name once write succeeds and the data is on disk.
func writeAtomic(root *os.Root, name string, write func(io.Writer) error) (err error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".part-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			root.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return root.Rename(tmp, name)
}

// verifyPulled checks dir as `vigil mirror verify` does, with the first
// trusted key its index verifies with.
func verifyPulled(dir string, opts Options) error {
	var err error
	for _, k := range opts.Keys {
		if err = mirror.Verify(dir, k); !errors.Is(err, mirror.ErrBadSignature) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("oci: pulled %s, but it does not verify: %w", dir, err)
	}
	return nil
}
