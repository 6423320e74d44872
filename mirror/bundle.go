// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// An offline bundle carries a mirror to a site without network: one file,
// a gzip-compressed tar of index.json, index.json.sig and then every
// artifact the index lists, sorted by name, nothing else.
//
// gzip rather than zstd: the standard library writes and reads it (no
// dependency whose output could change under a reproducible bundle), and
// any machine can look inside with tar -tzf. Modules are small; the ratio
// zstd would add matters little on a USB stick.
//
// The bundle is reproducible: entries in a fixed order, mode 0644, owner
// 0:0 without names, every mtime the index's generated time, and a gzip
// header without name or time. The same mirror gives the same bytes.
//
// The gzip header carries, in an extra field (RFC 1952 FEXTRA, subfield
// "VB") that gzip and tar skip, the sha256 of every byte after the header.
// gzip's own CRC is not enough: deflate has several encodings of the same
// data, so some flipped bits still inflate to the same tar, and the
// header's time and flags are covered by nothing. With the sum, any
// changed byte is refused first, with a message that says the file was
// damaged; then index.json must verify with a trusted key and every
// artifact match its size and sha256.

// bundleHeader is the start of a bundle: gzip magic, deflate, FEXTRA, no
// time, no extra flags, OS unknown, 36 bytes of extra field holding
// subfield "VB" of 32 bytes. The sha256 follows.
var bundleHeader = []byte{0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 36, 0, 'V', 'B', 32, 0}

const bundleHeaderSize = 16 + sha256.Size

// Limits on the index and signature read from a bundle, before either is
// verified.
const (
	maxBundleIndex = 64 << 20
	maxBundleSig   = 64 << 10
)

// ExportBundle writes the mirror at root to the file bundle, replacing it
// only once it is whole. It refuses a mirror without a well-formed
// index.json.sig, and an artifact whose size or sha256 is not the index's
// (import would refuse the bundle). trust, when not nil, must verify the
// index too. Files the index does not list are left out.
func ExportBundle(root, bundle string, trust *TrustStore) (*Index, error) {
	data, err := os.ReadFile(filepath.Join(root, IndexFile))
	if err != nil {
		return nil, fmt.Errorf("mirror: export: %w", err)
	}
	sig, err := os.ReadFile(filepath.Join(root, SignatureFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mirror: export: %w: %w (sign it first: vigil mirror sign %s --key-file KEY)", ErrNoSignature, err, root)
	}
	if err != nil {
		return nil, fmt.Errorf("mirror: export: %w", err)
	}
	var ix *Index
	if trust != nil {
		ix, err = trust.VerifySignedIndex(data, sig, filepath.Join(root, IndexFile))
	} else if _, err = parseSignatures(sig); err == nil {
		ix, err = parseIndex(data, filepath.Join(root, IndexFile))
	} else {
		err = fmt.Errorf("mirror: %s: %w: %w", root, ErrBadSignature, err)
	}
	if err != nil {
		return nil, err
	}
	if err := checkEntries(ix); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("mirror: export: %w", err)
	}
	defer r.Close()
	err = writeFileAtomic(bundle, func(f *os.File) error {
		return writeBundle(f, func(w io.Writer) error { return writeTar(w, r, data, sig, ix) })
	})
	if err != nil {
		return nil, fmt.Errorf("mirror: export %s to %s: %w", root, bundle, err)
	}
	return ix, nil
}

// writeFileAtomic writes path through a temporary file beside it.
func writeFileAtomic(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	err = write(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return rename(f.Name(), path)
}

// writeBundle writes the gzip envelope around what body writes: the
// header with a zero sum, the deflate stream and gzip's trailer, then the
// sum of all that into the header.
func writeBundle(f *os.File, body func(io.Writer) error) error {
	if _, err := f.Write(make([]byte, bundleHeaderSize)); err != nil {
		return err
	}
	sum := sha256.New()
	out := io.MultiWriter(f, sum)
	zw, err := flate.NewWriter(out, flate.DefaultCompression)
	if err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	n := &countWriter{}
	if err := body(io.MultiWriter(zw, crc, n)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	trailer := binary.LittleEndian.AppendUint32(nil, crc.Sum32())
	trailer = binary.LittleEndian.AppendUint32(trailer, uint32(n.n)) // ISIZE is the size mod 2^32
	if _, err := out.Write(trailer); err != nil {
		return err
	}
	_, err = f.WriteAt(append(bytes.Clone(bundleHeader), sum.Sum(nil)...), 0)
	return err
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// writeTar writes the bundle's tar stream: index.json, its signature and
// each artifact of ix, read from r.
func writeTar(w io.Writer, r *os.Root, data, sig []byte, ix *Index) error {
	mtime := ix.Generated.UTC().Truncate(time.Second)
	if mtime.Before(time.Unix(0, 0)) {
		mtime = time.Unix(0, 0).UTC()
	}
	tw := tar.NewWriter(w)
	put := func(name string, size int64, body io.Reader) error {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: mtime}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		_, err := io.CopyN(tw, body, size)
		return err
	}
	if err := put(IndexFile, int64(len(data)), bytes.NewReader(data)); err != nil {
		return err
	}
	if err := put(SignatureFile, int64(len(sig)), bytes.NewReader(sig)); err != nil {
		return err
	}
	for _, e := range ix.Entries {
		if err := exportEntry(r, e, put); err != nil {
			return fmt.Errorf("%s: %w (vigil mirror verify lists what is wrong)", e.Name, err)
		}
	}
	return tw.Close()
}

func exportEntry(r *os.Root, e Entry, put func(string, int64, io.Reader) error) error {
	f, err := r.Open(e.Name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w (%s)", errNotRegular, st.Mode().Type())
	case st.Size() != e.Size:
		return fmt.Errorf("size %d, index says %d", st.Size(), e.Size)
	}
	h := sha256.New()
	if err := put(e.Name, e.Size, io.TeeReader(f, h)); err != nil {
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != e.SHA256 {
		return fmt.Errorf("sha256 %s, index says %s", sum, e.SHA256)
	}
	return nil
}

// ImportOptions say whom to trust and what to do with an existing mirror.
type ImportOptions struct {
	// Trust must verify the bundle's index. Required.
	Trust *TrustStore
	// Replace lets a bundle replace a directory that is not empty (an
	// older import); without it such a directory is refused.
	Replace bool
}

// ImportBundle reads the offline bundle in the file bundle and makes dir
// the mirror it holds. Nothing is written into dir before everything is
// verified: the index's signature with o.Trust, then each entry in turn
// (a regular file, a clean relative name, listed in the index, once, with
// the index's size and sha256), then that none is missing. The files are
// staged in a directory beside dir, which is renamed into place only when
// whole; on any error it is removed and dir is as it was.
func ImportBundle(bundle, dir string, o ImportOptions) (*Index, error) {
	fail := func(err error) (*Index, error) {
		return nil, fmt.Errorf("mirror: import %s: %w; nothing was written to %s", bundle, err, dir)
	}
	if o.Trust == nil || len(o.Trust.keys) == 0 {
		return fail(errors.New("no trusted key: give the mirror's public key (a .pub file or a trust store file)"))
	}
	dir = filepath.Clean(dir)
	if err := checkImportTarget(dir, o.Replace); err != nil {
		return fail(err)
	}
	f, err := os.Open(bundle)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	stage, err := os.MkdirTemp(filepath.Dir(dir), ".vigil-import-*")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(stage) // after the rename, a no-op
	ix, err := readBundle(f, bundle, stage, o.Trust)
	if err != nil {
		return fail(err)
	}
	// MkdirTemp makes 0700; the mirror is served to loaders.
	if err := os.Chmod(stage, 0o755); err != nil {
		return fail(err)
	}
	SyncDir(stage)
	if err := swapIn(stage, dir, o.Replace); err != nil {
		return fail(err)
	}
	SyncDir(filepath.Dir(dir))
	return ix, nil
}

// checkImportTarget refuses a dir that is not a directory, or one that is
// not empty unless replace.
func checkImportTarget(dir string, replace bool) error {
	st, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s exists and is not a directory (%s)", dir, st.Mode().Type())
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(names) > 0 && !replace {
		return fmt.Errorf("%s is not empty: import into a new directory, or replace it (--replace)", dir)
	}
	return nil
}

// swapIn renames stage to dir. An existing dir is moved aside first and
// put back if the second rename fails; only then removed.
func swapIn(stage, dir string, replace bool) error {
	if err := checkImportTarget(dir, replace); err != nil {
		return err // it changed while the bundle was read
	}
	// os.Rename does not replace a directory, even an empty one; Remove
	// removes only an empty one.
	if err := os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
		return rename(stage, dir)
	}
	old, err := os.MkdirTemp(filepath.Dir(dir), ".vigil-import-old-*")
	if err != nil {
		return err
	}
	if err := os.Remove(old); err != nil {
		return err
	}
	if err := rename(dir, old); err != nil {
		return err
	}
	if err := rename(stage, dir); err != nil {
		if rerr := rename(old, dir); rerr != nil {
			return fmt.Errorf("%w (and the old mirror could not be put back from %s: %v)", err, old, rerr)
		}
		return err
	}
	os.RemoveAll(old)
	return nil
}

// readBundle verifies the bundle read from r and writes its files into
// stage.
func readBundle(f io.ReadSeeker, bundle, stage string, trust *TrustStore) (*Index, error) {
	// First the whole file against the sum in its header, so that a
	// damaged copy is named as such, and everything read next is what
	// export wrote.
	head := make([]byte, bundleHeaderSize)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.HasPrefix(head, bundleHeader) {
		return nil, errors.New("not a bundle written by vigil mirror export (no vigil gzip header)")
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return nil, err
	}
	if want := head[len(bundleHeader):]; !bytes.Equal(sum.Sum(nil), want) {
		return nil, fmt.Errorf("the file is damaged: its sha256 (after the header) is %x, its header says %x: copy it again from where it was exported", sum.Sum(nil), want)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	tr := tar.NewReader(zr)

	// index.json and its signature come first, so nothing else is written
	// before the index vouches for it.
	data, err := readSmallEntry(tr, IndexFile, maxBundleIndex)
	if err != nil {
		return nil, err
	}
	sig, err := readSmallEntry(tr, SignatureFile, maxBundleSig)
	if err != nil {
		return nil, err
	}
	ix, err := trust.VerifySignedIndex(data, sig, bundle+":"+IndexFile)
	if err != nil {
		return nil, err
	}
	if err := checkEntries(ix); err != nil {
		return nil, err
	}

	root, err := os.OpenRoot(stage)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	listed := make(map[string]Entry, len(ix.Entries))
	for _, e := range ix.Entries {
		listed[e.Name] = e
	}
	seen := make(map[string]bool, len(ix.Entries))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the tar stream: %w", err)
		}
		if err := checkHeader(h); err != nil {
			return nil, err
		}
		e, ok := listed[h.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s is not listed in the signed index, refused", h.Name)
		case seen[h.Name]:
			return nil, fmt.Errorf("%s is in the bundle twice, refused", h.Name)
		case h.Size != e.Size:
			return nil, fmt.Errorf("%s: size %d, index says %d", h.Name, h.Size, e.Size)
		}
		seen[h.Name] = true
		if err := stageEntry(root, tr, e); err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	for _, e := range ix.Entries {
		if !seen[e.Name] {
			return nil, fmt.Errorf("%s is listed in the index but not in the bundle", e.Name)
		}
	}
	// Read gzip to its end so that its CRC and length are checked, and
	// refuse anything but tar's zero padding after the archive.
	rest, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("after the tar archive: %w", err)
	}
	if len(bytes.Trim(rest, "\x00")) > 0 || len(rest) == 1<<20 {
		return nil, errors.New("data after the end of the tar archive, refused")
	}
	if err := writeRootFile(root, IndexFile, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	if err := writeRootFile(root, SignatureFile, bytes.NewReader(sig)); err != nil {
		return nil, err
	}
	return ix, nil
}

// checkHeader refuses tar entries that are not plain files with clean,
// relative names.
func checkHeader(h *tar.Header) error {
	if err := checkName(h.Name); err != nil {
		return fmt.Errorf("entry %q: %w", h.Name, err)
	}
	switch h.Typeflag {
	case tar.TypeReg:
		return nil
	case tar.TypeSymlink, tar.TypeLink:
		return fmt.Errorf("entry %q is a link (to %q), refused", h.Name, h.Linkname)
	}
	return fmt.Errorf("entry %q is not a regular file (tar type %q), refused", h.Name, h.Typeflag)
}

// readSmallEntry reads the next entry, which must be the regular file name
// of at most limit bytes.
func readSmallEntry(tr *tar.Reader, name string, limit int64) ([]byte, error) {
	h, err := tr.Next()
	if err == io.EOF {
		return nil, fmt.Errorf("empty archive, want %s first", name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the tar stream: %w", err)
	}
	switch {
	case h.Name != name:
		return nil, fmt.Errorf("entry %q where %s was expected (a bundle starts with %s and %s)", h.Name, name, IndexFile, SignatureFile)
	case h.Typeflag != tar.TypeReg:
		return nil, fmt.Errorf("entry %q is not a regular file (tar type %q), refused", h.Name, h.Typeflag)
	case h.Size > limit:
		return nil, fmt.Errorf("%s is %d bytes, more than %d: refused", name, h.Size, limit)
	}
	return io.ReadAll(tr)
}

// stageEntry copies e's content from r into root, checking its sha256.
func stageEntry(root *os.Root, r io.Reader, e Entry) error {
	h := sha256.New()
	if err := writeRootFile(root, e.Name, io.TeeReader(io.LimitReader(r, e.Size), h)); err != nil {
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != e.SHA256 {
		return fmt.Errorf("sha256 %s, index says %s: the bundle is corrupt or tampered with", sum, e.SHA256)
	}
	return nil
}

func writeRootFile(root *os.Root, name string, r io.Reader) error {
	if dir := filepath.Dir(filepath.FromSlash(name)); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
