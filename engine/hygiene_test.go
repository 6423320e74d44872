// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// directSkip is a test skipping itself without testenv: such a skip stays a
// skip under CI=true, so a missing fixture or tool would pass CI silently.
var directSkip = regexp.MustCompile(`\b(t|b|tb|f)\.Skip(f|Now)?\(`)

// Every engine test that cannot run goes through testenv.Unavailable, which
// fails in CI instead of skipping.
func TestEngineTestsSkipThroughTestenv(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") || path == "hygiene_test.go" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if directSkip.MatchString(line) {
				t.Errorf("engine/%s:%d skips directly (%s): use testenv.Unavailable, which fails in CI",
					path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
