// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testNames = []string{
	ArtifactPath("0.1.0", "x86_64", "debian", "6.1.0-50-cloud-amd64", "1"),
	ArtifactPath("0.1.0", "x86_64", "ubuntu", "6.8.0-45-generic", "47"),
	ArtifactPath("0.1.0", "aarch64", "debian", "6.1.0-50-arm64", "1"),
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newMirror writes three artifacts, indexes and signs them.
func newMirror(t *testing.T) (string, ed25519.PublicKey, ed25519.PrivateKey, *Index) {
	t.Helper()
	root := t.TempDir()
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ix, err := LoadIndex(root)
	if err != nil {
		t.Fatalf("LoadIndex of an empty dir: %v", err)
	}
	if len(ix.Entries) != 0 || ix.SchemaVersion != SchemaVersion {
		t.Fatalf("empty index = %+v", ix)
	}
	// Put in reverse order to exercise sorting.
	for i := len(testNames) - 1; i >= 0; i-- {
		name := testNames[i]
		writeFile(t, filepath.Join(root, name), []byte(strings.Repeat("module "+name+"\n", 100+i)))
		e, err := EntryFor(root, name)
		if err != nil {
			t.Fatal(err)
		}
		e.Target = Target{Distro: "debian", Suite: "bookworm", Release: "6.1.0-50-cloud-amd64", Version: "1", Flavour: "cloud", Arch: "x86_64"}
		e.BuilderImage = "local"
		e.Compiler = "gcc-12 (Debian 12.2.0-14) 12.2.0"
		e.BuildTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		e.DriverVersion = "0.1.0"
		ix.Put(e)
	}
	if err := WriteSigned(root, ix, priv); err != nil {
		t.Fatal(err)
	}
	return root, pub, priv, ix
}

func TestArtifactPath(t *testing.T) {
	got := ArtifactPath("0.1.0", "x86_64", "debian", "6.1.0-50-cloud-amd64", "1")
	if want := "0.1.0/x86_64/vigil_debian_6.1.0-50-cloud-amd64_1.ko"; got != want {
		t.Errorf("ArtifactPath = %q, want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	root, pub, _, ix := newMirror(t)
	if err := Verify(root, pub); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	got, err := LoadIndex(root)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Entries, ix.Entries) {
		t.Errorf("entries after LoadIndex:\n%+v\nwant\n%+v", got.Entries, ix.Entries)
	}
	if len(got.Entries) != 3 || got.SchemaVersion != 1 || got.Generated.IsZero() {
		t.Errorf("index = %+v", got)
	}
	for i := 1; i < len(got.Entries); i++ {
		if got.Entries[i-1].Name >= got.Entries[i].Name {
			t.Errorf("entries not sorted: %q before %q", got.Entries[i-1].Name, got.Entries[i].Name)
		}
	}
	e, ok := got.Lookup(testNames[1])
	if !ok || e.Size == 0 || len(e.SHA256) != 64 {
		t.Errorf("Lookup(%q) = %+v, %v", testNames[1], e, ok)
	}
	if _, ok := got.Lookup("nope"); ok {
		t.Error("Lookup of an absent name found something")
	}
	// index.json is MarshalIndent + "\n" and the sig is one line,
	// "<key-id> <base64>\n".
	data, _ := os.ReadFile(filepath.Join(root, IndexFile))
	want, _ := MarshalIndex(got)
	if string(data) != string(want) {
		t.Errorf("index.json is not MarshalIndent(ix) + newline:\n%s", data)
	}
	sig, _ := os.ReadFile(filepath.Join(root, SignatureFile))
	id, b64, _ := strings.Cut(strings.TrimSuffix(string(sig), "\n"), " ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 64 || id != KeyID(pub) || !strings.HasSuffix(string(sig), "\n") || !ed25519.Verify(pub, data, raw) {
		t.Errorf("index.json.sig = %q", sig)
	}
	// Put replaces an entry of the same name.
	e.Compiler = "clang"
	got.Put(e)
	if len(got.Entries) != 3 {
		t.Errorf("Put of an existing name added an entry: %d", len(got.Entries))
	}
	if e2, _ := got.Lookup(e.Name); e2.Compiler != "clang" {
		t.Errorf("Put did not replace: %+v", e2)
	}
	// No temp files left.
	ents, _ := os.ReadDir(root)
	for _, d := range ents {
		if strings.HasPrefix(d.Name(), ".") {
			t.Errorf("leftover %s", d.Name())
		}
	}
}

func wantProblem(t *testing.T, err error, name, what string) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v (%T), want *VerifyError", err, err)
	}
	for _, p := range ve.Problems {
		if (strings.Contains(p, name) || strings.Contains(p, strconv.Quote(name))) && strings.Contains(p, what) {
			return
		}
	}
	t.Errorf("no problem naming %q with %q in:\n%v", name, what, err)
}

func TestVerifyFlippedByte(t *testing.T) {
	for _, name := range testNames {
		t.Run(filepath.Base(name), func(t *testing.T) {
			root, pub, _, _ := newMirror(t)
			p := filepath.Join(root, name)
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 0x01
			writeFile(t, p, data)
			err := Verify(root, pub)
			wantProblem(t, err, name, "sha256")
			if n := len(err.(*VerifyError).Problems); n != 1 {
				t.Errorf("%d problems, want 1: %v", n, err)
			}
		})
	}
}

func TestVerifyListsEveryProblem(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	// truncated
	p0 := filepath.Join(root, testNames[0])
	data, _ := os.ReadFile(p0)
	writeFile(t, p0, data[:len(data)-10])
	// missing
	os.Remove(filepath.Join(root, testNames[1]))
	// flipped
	p2 := filepath.Join(root, testNames[2])
	data, _ = os.ReadFile(p2)
	data[0] ^= 0xff
	writeFile(t, p2, data)

	err := Verify(root, pub)
	wantProblem(t, err, testNames[0], "size")
	wantProblem(t, err, testNames[1], "missing")
	wantProblem(t, err, testNames[2], "sha256")
	if n := len(err.(*VerifyError).Problems); n != 3 {
		t.Errorf("%d problems, want 3:\n%v", n, err)
	}
	if got := strings.Count(err.Error(), "\n"); got != 2 {
		t.Errorf("Error() has %d newlines, want one problem per line:\n%v", got, err)
	}
	t.Logf("VerifyError:\n%v", err)
}

func TestVerifyTamperedIndex(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	path := filepath.Join(root, IndexFile)
	orig, _ := os.ReadFile(path)
	for _, i := range []int{0, 1, len(orig) / 3, len(orig) / 2, len(orig) - 2, len(orig) - 1} {
		data := append([]byte(nil), orig...)
		data[i] ^= 0x04
		writeFile(t, path, data)
		if err := Verify(root, pub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("byte %d flipped: err = %v, want ErrBadSignature", i, err)
		}
	}
	// An appended byte too.
	writeFile(t, path, append(append([]byte(nil), orig...), ' '))
	if err := Verify(root, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("byte appended: err = %v, want ErrBadSignature", err)
	}
	writeFile(t, path, orig)
	if err := Verify(root, pub); err != nil {
		t.Errorf("restored: %v", err)
	}
}

func TestVerifyOtherKey(t *testing.T) {
	root, pub, _, ix := newMirror(t)
	_, other, _ := GenerateKey()
	if err := WriteSigned(root, ix, other); err != nil {
		t.Fatal(err)
	}
	err := Verify(root, pub)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v, want ErrBadSignature", err)
	}
	t.Logf("%v", err)
	if err := Verify(root, other.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("with the signing key's public half: %v", err)
	}
}

func TestVerifyBadSigFile(t *testing.T) {
	for name, content := range map[string]string{
		"not base64": "!!!!\n",
		"short":      base64.StdEncoding.EncodeToString(make([]byte, 10)) + "\n",
		"empty":      "",
	} {
		t.Run(name, func(t *testing.T) {
			root, pub, _, _ := newMirror(t)
			writeFile(t, filepath.Join(root, SignatureFile), []byte(content))
			if err := Verify(root, pub); !errors.Is(err, ErrBadSignature) {
				t.Errorf("err = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestVerifyMissingSig(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	os.Remove(filepath.Join(root, SignatureFile))
	err := Verify(root, pub)
	if !errors.Is(err, ErrNoSignature) || !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v, want ErrNoSignature and fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), SignatureFile) || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("error does not say the .sig is missing: %v", err)
	}
	t.Logf("%v", err)
}

func TestVerifyMissingIndex(t *testing.T) {
	root := t.TempDir()
	pub, _, _ := GenerateKey()
	err := Verify(root, pub)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want not-exist", err)
	}
}

// signRaw writes index.json with content data and a good signature, as an
// attacker holding the key (or a buggy writer) might.
func signRaw(t *testing.T, root string, priv ed25519.PrivateKey, ix *Index) {
	t.Helper()
	data, err := MarshalIndex(ix)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, IndexFile), data)
	writeFile(t, filepath.Join(root, SignatureFile),
		[]byte(base64.StdEncoding.EncodeToString(ed25519.Sign(priv, data))+"\n"))
}

func TestVerifyRefusesEscapes(t *testing.T) {
	root, pub, priv, ix := newMirror(t)
	outside := filepath.Join(filepath.Dir(root), "x")
	writeFile(t, outside, []byte("x"))
	e, _ := EntryFor(root, testNames[0])
	bad := []string{"../x", "0.1.0/../../x", "/etc/passwd", "./" + testNames[0], testNames[0] + "/", `0.1.0\x.ko`}
	for _, n := range bad {
		e.Name = n
		ix.Entries = append(ix.Entries, e)
	}
	signRaw(t, root, priv, ix)
	err := Verify(root, pub)
	for _, n := range bad {
		wantProblem(t, err, n, "refused")
	}
	t.Logf("%v", err)

	// WriteSigned and EntryFor refuse them too.
	if err := WriteSigned(root, ix, priv); err == nil {
		t.Error("WriteSigned accepted an entry named ../x")
	}
	if _, err := EntryFor(root, "../x"); err == nil {
		t.Error("EntryFor accepted ../x")
	}
}

func TestVerifySymlinkOutOfRoot(t *testing.T) {
	root, pub, priv, ix := newMirror(t)
	outside := filepath.Join(t.TempDir(), "evil.ko")
	writeFile(t, outside, []byte("evil"))
	if _, err := EntryFor(root, testNames[0]); err != nil {
		t.Fatal(err)
	}
	link := "0.1.0/x86_64/link.ko"
	if err := os.Symlink(outside, filepath.Join(root, link)); err != nil {
		t.Fatal(err)
	}
	if _, err := EntryFor(root, link); err == nil {
		t.Error("EntryFor followed a symlink out of the root")
	}
	ix.Put(Entry{Name: link, SHA256: strings.Repeat("0", 64), Size: 4})
	signRaw(t, root, priv, ix)
	wantProblem(t, Verify(root, pub), link, "escape")
}

func TestVerifyDuplicateAndBadHash(t *testing.T) {
	root, pub, priv, ix := newMirror(t)
	ix.Entries = append(ix.Entries, ix.Entries[0])
	e := ix.Entries[1]
	e.SHA256 = "XYZ"
	ix.Entries[1] = e
	signRaw(t, root, priv, ix)
	err := Verify(root, pub)
	wantProblem(t, err, ix.Entries[0].Name, "more than once")
	wantProblem(t, err, e.Name, "hex")
}

func TestWriteSignedFailure(t *testing.T) {
	t.Run("root under a regular file", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "file")
		writeFile(t, file, []byte("x"))
		_, priv, _ := GenerateKey()
		if err := WriteSigned(filepath.Join(file, "mirror"), &Index{}, priv); err == nil {
			t.Fatal("WriteSigned under a regular file succeeded")
		}
		assertOnly(t, dir, "file")
	})

	for _, failAt := range []int{1, 2} {
		t.Run("rename "+string(rune('0'+failAt))+" fails", func(t *testing.T) {
			root, pub, priv, ix := newMirror(t)
			before, _ := os.ReadFile(filepath.Join(root, IndexFile))
			beforeSig, _ := os.ReadFile(filepath.Join(root, SignatureFile))
			n := 0
			rename = func(from, to string) error {
				n++
				if n == failAt {
					return &os.LinkError{Op: "rename", Old: from, New: to, Err: errors.New("injected failure")}
				}
				return os.Rename(from, to)
			}
			defer func() { rename = os.Rename }()
			ix.Entries = ix.Entries[:1]
			err := WriteSigned(root, ix, priv)
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("err = %v", err)
			}
			after, _ := os.ReadFile(filepath.Join(root, IndexFile))
			afterSig, _ := os.ReadFile(filepath.Join(root, SignatureFile))
			if string(after) != string(before) || string(afterSig) != string(beforeSig) {
				t.Error("a failed WriteSigned changed the existing index")
			}
			if err := Verify(root, pub); err != nil {
				t.Errorf("mirror no longer verifies: %v", err)
			}
			assertOnly(t, root, "0.1.0", IndexFile, SignatureFile)
		})
	}

	t.Run("index.json is a directory", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, IndexFile, "keep"), nil)
		_, priv, _ := GenerateKey()
		if err := WriteSigned(root, &Index{}, priv); err == nil {
			t.Fatal("WriteSigned over a directory succeeded")
		}
		assertOnly(t, root, IndexFile)
	})
}

// assertOnly fails unless dir holds exactly names.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestWriteSignedRefusesBadEntries(t *testing.T) {
	root := t.TempDir()
	_, priv, _ := GenerateKey()
	good := Entry{Name: "a.ko", SHA256: strings.Repeat("a", 64), Size: 1}
	for name, e := range map[string]Entry{
		"bad hash":   {Name: "a.ko", SHA256: "abc"},
		"upper hash": {Name: "a.ko", SHA256: strings.Repeat("A", 64)},
		"abs":        {Name: "/a.ko", SHA256: good.SHA256},
		"negative":   {Name: "a.ko", SHA256: good.SHA256, Size: -1},
	} {
		if err := WriteSigned(root, &Index{Entries: []Entry{e}}, priv); err == nil {
			t.Errorf("%s: WriteSigned accepted %+v", name, e)
		}
	}
	if err := WriteSigned(root, &Index{Entries: []Entry{good, good}}, priv); err == nil {
		t.Error("WriteSigned accepted a duplicate")
	}
	if err := WriteSigned(root, &Index{}, ed25519.PrivateKey{1, 2}); err == nil {
		t.Error("WriteSigned accepted a short key")
	}
	assertOnly(t, root)
}

func TestLoadIndexMalformed(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, IndexFile), []byte("{\n  \"schema_version\": 1,\n  \"entries\": [}\n"))
	_, err := LoadIndex(root)
	if err == nil {
		t.Fatal("malformed index loaded")
	}
	for _, want := range []string{filepath.Join(root, IndexFile), "line 3", "column"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	writeFile(t, filepath.Join(root, IndexFile), []byte(`{"schema_version": 1, "entries": [{"size": "big"}]}`))
	if _, err := LoadIndex(root); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("type error: %v", err)
	}
	writeFile(t, filepath.Join(root, IndexFile), []byte(`{"schema_version": 2, "entries": []}`))
	if _, err := LoadIndex(root); err == nil || !strings.Contains(err.Error(), "schema_version 2") {
		t.Errorf("schema 2: %v", err)
	}
}

func FuzzLoadIndex(f *testing.F) {
	good, err := MarshalIndex(&Index{SchemaVersion: 1, Generated: time.Now().UTC(), Entries: []Entry{{
		Name: testNames[0], SHA256: strings.Repeat("ab", 32), Size: 42,
		Target:       Target{Distro: "debian", Suite: "bookworm", Release: "6.1.0-50-cloud-amd64", Version: "1", Arch: "x86_64"},
		BuilderImage: "local", BuildTime: time.Now(), DriverVersion: "0.1.0",
	}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(""))
	f.Add([]byte("null"))
	f.Add([]byte(`{"schema_version":1,"entries":[{"name":"../x","size":-1}]}`))
	f.Add([]byte(`{"schema_version":1,"generated":"9999-12-31T23:59:59Z","entries":null}`))
	f.Add([]byte("{\"schema_version\":1,\n\"entries\":[{]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// LoadIndex is os.ReadFile plus parseIndex; fuzz the parser
		// without the file system in the loop.
		ix, err := parseIndex(data, IndexFile)
		if err != nil {
			if ix != nil {
				t.Fatal("error with a non-nil index")
			}
			return
		}
		for _, e := range ix.Entries {
			ix.Lookup(e.Name)
			checkName(e.Name)
		}
		ix.Put(Entry{Name: "z.ko"})
		if _, err := MarshalIndex(ix); err != nil {
			// Times that parse always marshal back.
			t.Fatalf("re-marshal: %v", err)
		}
	})
}
