// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// treeFiles maps each regular file under root to its content, and fails
// on anything else (a symlink, a device).
func treeFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s: %s, not a regular file", path, d.Type())
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// assertAbsent fails unless dir does not exist and its parent holds only
// the names keep (no staging left behind).
func assertAbsent(t *testing.T, dir string, keep ...string) {
	t.Helper()
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists after a refused import (%v)", dir, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			t.Errorf("%s left in %s", e.Name(), filepath.Dir(dir))
		}
	}
}

func TestBundleRoundTrip(t *testing.T) {
	root, oldPub, _, _ := newMirror(t)
	newPub, newPriv, _ := GenerateKey()
	if err := AddSignature(root, newPriv); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	bundle := filepath.Join(out, "mirror.tar.gz")
	if _, err := ExportBundle(root, bundle, NewTrustStore(oldPub)); err != nil {
		t.Fatal(err)
	}
	// Reproducible: the same mirror gives the same bytes.
	again := filepath.Join(out, "again.tar.gz")
	if _, err := ExportBundle(root, again, nil); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(bundle)
	b2, _ := os.ReadFile(again)
	if !bytes.Equal(b1, b2) {
		t.Error("two exports of one mirror differ")
	}
	checkBundleLayout(t, b1, root)

	// Import with either key of the two signatures.
	for name, key := range map[string]ed25519.PublicKey{"old": oldPub, "new": newPub} {
		dst := filepath.Join(t.TempDir(), "imported")
		ix, err := ImportBundle(bundle, dst, ImportOptions{Trust: NewTrustStore(key)})
		if err != nil {
			t.Fatalf("import trusting the %s key: %v", name, err)
		}
		if len(ix.Entries) != len(testNames) {
			t.Errorf("imported index has %d entries", len(ix.Entries))
		}
		want, got := treeFiles(t, root), treeFiles(t, dst)
		if len(got) != len(want) {
			t.Errorf("imported %d files, the mirror has %d", len(got), len(want))
		}
		for n, w := range want {
			if !bytes.Equal(got[n], w) {
				t.Errorf("%s differs after the round trip", n)
			}
		}
		if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("imported dir mode: %v, %v", st.Mode(), err)
		}
		if err := Verify(dst, key); err != nil {
			t.Error(err)
		}
		assertAbsent(t, filepath.Join(filepath.Dir(dst), "none"), "imported")
	}
}

// checkBundleLayout checks the bundle's order and fixed headers.
func checkBundleLayout(t *testing.T, b []byte, root string) {
	t.Helper()
	if !bytes.HasPrefix(b, bundleHeader) {
		t.Errorf("header % x", b[:bundleHeaderSize])
	}
	ix, _ := LoadIndex(root)
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.Mode != 0o644 || !h.ModTime.Equal(ix.Generated) {
			t.Errorf("%s: header %+v", h.Name, h)
		}
	}
	want := append([]string{IndexFile, SignatureFile}, testNames...)
	slices.Sort(want[2:])
	if !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
}

// Every byte of a bundle counts: flipping any one is refused, and nothing
// is left behind.
func TestBundleFlippedByte(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar.gz")
	if _, err := ExportBundle(root, good, nil); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(good)
	bad := filepath.Join(dir, "bad.tar.gz")
	dst := filepath.Join(dir, "mirror")
	trust := ImportOptions{Trust: NewTrustStore(pub)}
	for i := range orig {
		b := bytes.Clone(orig)
		b[i] ^= 0x01
		writeFile(t, bad, b)
		if _, err := ImportBundle(bad, dst, trust); err == nil {
			t.Fatalf("byte %d of %d flipped: imported", i, len(orig))
		} else if !strings.Contains(err.Error(), "nothing was written to "+dst) ||
			!strings.Contains(err.Error(), "damaged") && !strings.Contains(err.Error(), "not a bundle") {
			t.Fatalf("byte %d: error does not say the file is damaged and nothing was written: %v", i, err)
		}
		assertAbsent(t, dst, "good.tar.gz", "bad.tar.gz")
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d flips refused", len(orig))
	// Cut short anywhere: refused too.
	for _, n := range []int{0, 5, len(orig) / 2, len(orig) - 1} {
		writeFile(t, bad, orig[:n])
		if _, err := ImportBundle(bad, dst, trust); err == nil {
			t.Errorf("first %d bytes imported", n)
		}
		assertAbsent(t, dst, "good.tar.gz", "bad.tar.gz")
	}
}

type tarEntry struct {
	name, link string
	typ        byte
	body       []byte
}

// craft writes a bundle of entries as export would, but with anything in
// it.
func craft(t *testing.T, path string, entries []tarEntry) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = writeBundle(f, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for _, e := range entries {
			typ := e.typ
			if typ == 0 {
				typ = tar.TypeReg
			}
			h := &tar.Header{Typeflag: typ, Name: e.name, Linkname: e.link, Mode: 0o644}
			if typ == tar.TypeReg {
				h.Size = int64(len(e.body))
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(e.body); err != nil {
				return err
			}
		}
		return tw.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBundleRefusesEntries(t *testing.T) {
	root, pub, priv, ix := newMirror(t)
	files := treeFiles(t, root)
	head := []tarEntry{{name: IndexFile, body: files[IndexFile]}, {name: SignatureFile, body: files[SignatureFile]}}
	var arts []tarEntry
	for _, n := range testNames {
		arts = append(arts, tarEntry{name: n, body: files[n]})
	}
	with := func(extra ...tarEntry) []tarEntry {
		return append(append(slices.Clone(head), arts...), extra...)
	}
	// A signed index listing an escaping name (a stolen key, or a bug).
	evilIx := *ix
	evilIx.Entries = append(slices.Clone(ix.Entries), ix.Entries[0])
	evilIx.Entries[len(evilIx.Entries)-1].Name = "../escape.ko"
	evilRoot := t.TempDir()
	signRaw(t, evilRoot, priv, &evilIx)
	evil := treeFiles(t, evilRoot)

	dir := t.TempDir()
	for name, tc := range map[string]struct {
		entries []tarEntry
		want    string
	}{
		"dot-dot":       {with(tarEntry{name: "0.1.0/../../x.ko", body: []byte("x")}), `".." escapes`},
		"absolute":      {with(tarEntry{name: "/etc/x.ko", body: []byte("x")}), "absolute path refused"},
		"symlink":       {with(tarEntry{name: "0.1.0/link.ko", typ: tar.TypeSymlink, link: "/etc/passwd"}), "is a link"},
		"hard link":     {with(tarEntry{name: "0.1.0/link.ko", typ: tar.TypeLink, link: testNames[0]}), "is a link"},
		"directory":     {with(tarEntry{name: "0.1.0/d/", typ: tar.TypeDir}), "not a clean path"},
		"unlisted":      {with(tarEntry{name: "0.1.0/x86_64/extra.ko", body: []byte("x")}), "not listed in the signed index"},
		"twice":         {with(arts[0]), "in the bundle twice"},
		"missing":       {append(slices.Clone(head), arts[1:]...), "listed in the index but not in the bundle"},
		"changed":       {append(slices.Clone(head), append([]tarEntry{{name: arts[0].name, body: bytes.ToUpper(arts[0].body)}}, arts[1:]...)...), "sha256"},
		"resized":       {append(slices.Clone(head), append([]tarEntry{{name: arts[0].name, body: arts[0].body[1:]}}, arts[1:]...)...), "index says"},
		"sig first":     {append([]tarEntry{head[1], head[0]}, arts...), "where index.json was expected"},
		"no sig":        {append([]tarEntry{head[0]}, arts...), "where index.json.sig was expected"},
		"empty":         {nil, "empty archive"},
		"evil index":    {[]tarEntry{{name: IndexFile, body: evil[IndexFile]}, {name: SignatureFile, body: evil[SignatureFile]}}, "escapes the mirror root"},
		"other key sig": {append([]tarEntry{head[0], {name: SignatureFile, body: []byte(otherSig(t, files[IndexFile]))}}, arts...), "do not trust"},
	} {
		bundle := filepath.Join(dir, "b.tar.gz")
		craft(t, bundle, tc.entries)
		dst := filepath.Join(dir, "mirror")
		_, err := ImportBundle(bundle, dst, ImportOptions{Trust: NewTrustStore(pub)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
		assertAbsent(t, dst, "b.tar.gz")
		if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "x.ko")); err == nil {
			t.Errorf("%s: wrote outside", name)
		}
	}
	// The crafted bundle of the mirror as it is imports: the cases above
	// fail for their own reason.
	bundle := filepath.Join(dir, "b.tar.gz")
	craft(t, bundle, with())
	if _, err := ImportBundle(bundle, filepath.Join(dir, "ok"), ImportOptions{Trust: NewTrustStore(pub)}); err != nil {
		t.Errorf("the crafted good bundle: %v", err)
	}
}

func otherSig(t *testing.T, data []byte) string {
	t.Helper()
	_, priv, _ := GenerateKey()
	return string(formatSignatures([]signature{sign(priv, data)}))
}

func TestBundleImportTarget(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "m.tar.gz")
	if _, err := ExportBundle(root, bundle, nil); err != nil {
		t.Fatal(err)
	}
	trust := NewTrustStore(pub)

	// No key, a revoked key: refused.
	dst := filepath.Join(dir, "m")
	if _, err := ImportBundle(bundle, dst, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "no trusted key") {
		t.Errorf("no key: err = %v", err)
	}
	revoked := &TrustStore{}
	revoked.Add(TrustedKey{Key: pub, Revoked: true})
	if _, err := ImportBundle(bundle, dst, ImportOptions{Trust: revoked}); !errors.Is(err, ErrKeyRevoked) {
		t.Errorf("revoked key: err = %v", err)
	}
	assertAbsent(t, dst, "m.tar.gz")

	// An empty directory is filled.
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportBundle(bundle, dst, ImportOptions{Trust: trust}); err != nil {
		t.Fatalf("into an empty dir: %v", err)
	}
	// A full one is refused, unless replaced; then it holds only the new.
	writeFile(t, filepath.Join(dst, "stale.ko"), []byte("old"))
	if _, err := ImportBundle(bundle, dst, ImportOptions{Trust: trust}); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("into a full dir: err = %v", err)
	}
	if _, err := ImportBundle(bundle, dst, ImportOptions{Trust: trust, Replace: true}); err != nil {
		t.Fatalf("--replace: %v", err)
	}
	if err := Verify(dst, pub); err != nil {
		t.Errorf("after --replace: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("%s holds %d names, want the bundle and the mirror", dir, len(ents))
	}
	// A file where the mirror should go is refused.
	file := filepath.Join(dir, "m.tar.gz")
	if _, err := ImportBundle(bundle, file, ImportOptions{Trust: trust, Replace: true}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("onto a file: err = %v", err)
	}
}

func TestBundleExportRefuses(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	out := filepath.Join(t.TempDir(), "m.tar.gz")
	writeFile(t, filepath.Join(root, testNames[1]), []byte("changed"))
	if _, err := ExportBundle(root, out, nil); err == nil || !strings.Contains(err.Error(), testNames[1]) {
		t.Errorf("changed artifact: err = %v", err)
	}
	root, _, _, _ = newMirror(t)
	other, _, _ := GenerateKey()
	if _, err := ExportBundle(root, out, NewTrustStore(other)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other key: err = %v", err)
	}
	os.Remove(filepath.Join(root, SignatureFile))
	if _, err := ExportBundle(root, out, nil); !errors.Is(err, ErrNoSignature) {
		t.Errorf("unsigned: err = %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Errorf("a refused export left %d files", len(ents))
	}
	_ = pub
}
