// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sameFiles names the first file missing, extra or different.
func TestSameFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	put := func(root, name, data string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put(a, "index.json", "{}")
	put(a, "0.1.0/x86_64/m.ko", "module")
	if err := sameFiles(a, b); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("empty copy: %v", err)
	}
	put(b, "index.json", "{}")
	put(b, "0.1.0/x86_64/m.ko", "modulX")
	if err := sameFiles(a, b); err == nil || !strings.Contains(err.Error(), "m.ko differs") {
		t.Errorf("changed byte: %v", err)
	}
	put(b, "0.1.0/x86_64/m.ko", "module")
	if err := sameFiles(a, b); err != nil {
		t.Errorf("same trees: %v", err)
	}
	put(b, "extra", "x")
	if err := sameFiles(a, b); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("extra file: %v", err)
	}
}
