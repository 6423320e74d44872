// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package mirror

import (
	"os"
	"path/filepath"
	"testing"
)

// A file the index does not list is a problem, named with what to do about
// it; index.json, its signature and directories are not (Verify said ok
// with anything beside the listed artifacts).
func TestVerifyUnlistedFiles(t *testing.T) {
	root, pub, _, _ := newMirror(t)
	// What a build leaves and a mirror may hold: empty directories.
	for _, d := range []string{"0.2.0/x86_64", ".staging-empty"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := Verify(root, pub); err != nil {
		t.Fatalf("a mirror with only its listed files and empty directories: %v", err)
	}

	extra := map[string]string{ // file: what its problem says
		"0.1.0/x86_64/extra.ko":     "remove it (`vigil driver build` lists and signs",
		"README":                    "nothing vouches for it",
		"mirror-key.key":            "move a signing key out of it",
		".staging-123/vigil.ko":     "interrupted `vigil driver build`",
		".index.json.tmp-42":        "interrupted `vigil driver build`",
		"0.1.0/aarch64/index.json":  "not listed in the index", // only the root's is the index
		"0.1.0/x86_64/link-to-file": "not listed in the index",
	}
	for name := range extra {
		if name == "0.1.0/x86_64/link-to-file" {
			if err := os.Symlink(testNames[0], filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		writeFile(t, filepath.Join(root, name), []byte("x"))
	}
	err := Verify(root, pub)
	for name, says := range extra {
		wantProblem(t, err, name, says)
	}
	if ve, ok := err.(*VerifyError); ok && len(ve.Problems) != len(extra) {
		t.Errorf("%d problems, want %d (one per unlisted file):\n%v", len(ve.Problems), len(extra), err)
	}
	t.Logf("VerifyError:\n%v", err)
}
