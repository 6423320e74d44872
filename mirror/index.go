// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package mirror reads, writes, signs and verifies a driver mirror: a
// directory tree of prebuilt kernel modules that a loader later fetches over
// file://, HTTP or OCI.
//
// Layout:
//
//	<root>/<driver-version>/<arch>/vigil_<distro>_<kernelrelease>_<kernelversion>.ko
//	<root>/index.json       every artifact with its size, sha256 and build facts
//	<root>/index.json.sig   base64 ed25519 signature over the exact bytes of index.json
//
// The signature covers index.json only; index.json pins each artifact by
// size and sha256, so a verified index vouches for every file it lists.
package mirror

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// SchemaVersion is the index.json schema this package reads and writes.
const SchemaVersion = 1

// File names at the mirror root.
const (
	IndexFile     = "index.json"
	SignatureFile = "index.json.sig"
)

// Entry is one artifact in a mirror.
type Entry struct {
	// Name is the path relative to the mirror root, with forward slashes,
	// e.g. "0.1.0/x86_64/vigil_debian_6.1.0-50-cloud-amd64_1.ko".
	Name          string    `json:"name"`
	SHA256        string    `json:"sha256"` // lowercase hex
	Size          int64     `json:"size"`
	Target        Target    `json:"target"`
	BuilderImage  string    `json:"builder_image"` // image id (sha256:...) or "local"
	Compiler      string    `json:"compiler"`      // e.g. "gcc-12 (Debian 12.2.0-14) 12.2.0"
	BuildTime     time.Time `json:"build_time"`
	DriverVersion string    `json:"driver_version"`
}

// Target is the kernel an artifact was built for.
type Target struct {
	Distro  string `json:"distro"`
	Suite   string `json:"suite"`
	Release string `json:"release"` // uname -r
	Version string `json:"version"` // the kernel build number, as in uname -v's "#1"
	Flavour string `json:"flavour"`
	Arch    string `json:"arch"` // kernel arch, e.g. x86_64
}

// Index is the content of index.json.
type Index struct {
	SchemaVersion int       `json:"schema_version"`
	Generated     time.Time `json:"generated"`
	Entries       []Entry   `json:"entries"` // sorted by Name
}

// ArtifactName is the file name of a module: "vigil_<distro>_<release>_<version>.ko".
func ArtifactName(distro, release, version string) string {
	return "vigil_" + distro + "_" + release + "_" + version + ".ko"
}

// ArtifactPath is an artifact's Name, relative to the mirror root:
// "<driverVersion>/<arch>/vigil_<distro>_<release>_<version>.ko".
func ArtifactPath(driverVersion, arch, distro, release, version string) string {
	return driverVersion + "/" + arch + "/" + ArtifactName(distro, release, version)
}

// LoadIndex reads <root>/index.json without checking its signature (use
// Verify or VerifyIndex for that). A missing index.json is an empty Index,
// not an error, so a new mirror starts from LoadIndex too. Entries come back
// sorted by Name.
func LoadIndex(root string) (*Index, error) {
	path := filepath.Join(root, IndexFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Index{SchemaVersion: SchemaVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	return parseIndex(data, path)
}

// parseIndex decodes index.json; path only names the file in errors.
func parseIndex(data []byte, path string) (*Index, error) {
	var ix Index
	if err := json.Unmarshal(data, &ix); err != nil {
		var off int64 = -1
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			off = se.Offset
		case errors.As(err, &te):
			off = te.Offset
		}
		if off >= 0 {
			line, col := lineCol(data, off)
			return nil, fmt.Errorf("mirror: %s: malformed JSON at line %d, column %d (byte %d): %v", path, line, col, off, err)
		}
		return nil, fmt.Errorf("mirror: %s: malformed JSON: %v", path, err)
	}
	if ix.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("mirror: %s: schema_version %d, this vigil reads only %d", path, ix.SchemaVersion, SchemaVersion)
	}
	slices.SortStableFunc(ix.Entries, cmpName)
	return &ix, nil
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func cmpName(a, b Entry) int { return strings.Compare(a.Name, b.Name) }

// Put replaces the entry with e's Name, or adds e, keeping Entries sorted.
func (ix *Index) Put(e Entry) {
	if !slices.IsSortedFunc(ix.Entries, cmpName) {
		slices.SortStableFunc(ix.Entries, cmpName)
	}
	i, found := slices.BinarySearchFunc(ix.Entries, e, cmpName)
	if found {
		ix.Entries[i] = e
		return
	}
	ix.Entries = slices.Insert(ix.Entries, i, e)
}

// Lookup returns the entry named name.
func (ix *Index) Lookup(name string) (Entry, bool) {
	for _, e := range ix.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// checkName refuses names that are empty, absolute, not in clean
// slash-separated form, or that step out of the mirror root.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name):
		return errors.New("absolute path refused")
	case strings.ContainsRune(name, '\\'):
		return errors.New("backslash in name refused")
	case strings.ContainsRune(name, 0):
		return errors.New("NUL in name refused")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return errors.New(`".." escapes the mirror root, refused`)
		}
	}
	if clean := filepath.ToSlash(filepath.Clean(name)); clean != name {
		return fmt.Errorf("not a clean path (would be %q), refused", clean)
	}
	if name == IndexFile || name == SignatureFile {
		return errors.New("names the index itself, refused")
	}
	return nil
}

// validSHA256 reports whether s is 64 lowercase hex digits.
func validSHA256(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// EntryFor stats and hashes <root>/<name> and returns an Entry with Name,
// SHA256 and Size filled; the caller fills the rest. The file must be a
// regular file inside root (symlinks out of root are refused).
func EntryFor(root, name string) (Entry, error) {
	if err := checkName(name); err != nil {
		return Entry{}, fmt.Errorf("mirror: %s: %w", name, err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return Entry{}, fmt.Errorf("mirror: %w", err)
	}
	defer r.Close()
	sum, size, err := hashFile(r, name)
	if err != nil {
		return Entry{}, fmt.Errorf("mirror: %s: %w", filepath.Join(root, name), err)
	}
	return Entry{Name: name, SHA256: sum, Size: size}, nil
}

// errNotRegular is returned by hashFile for directories, devices and such.
var errNotRegular = errors.New("not a regular file")

func hashFile(r *os.Root, name string) (string, int64, error) {
	f, err := r.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	if !st.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%w (%s)", errNotRegular, st.Mode().Type())
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
