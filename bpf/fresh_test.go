// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// TestObjectIsFresh rebuilds the probe from its C sources and compares it
// with the committed object: editing the C without `make bpf` fails here.
func TestObjectIsFresh(t *testing.T) {
	clang, strip := os.Getenv("BPF_CLANG"), os.Getenv("BPF_STRIP")
	if clang == "" {
		clang, strip = "clang-19", "llvm-strip-19"
	}
	if _, err := exec.LookPath(clang); err != nil {
		testenv.Unavailable(t, clang+" not installed (`make deps` installs it)")
	}
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	// Run exactly the go:generate lines (one per object), into a scratch
	// directory.
	lines := regexp.MustCompile(`(?m)^//go:generate go tool bpf2go (.*)$`).FindAllSubmatch(src, -1)
	if lines == nil {
		t.Fatal("no bpf2go line in gen.go")
	}
	dir := t.TempDir()
	var files []string
	for _, line := range lines {
		args := strings.Fields(strings.NewReplacer("${BPF_CLANG}", clang, "${BPF_STRIP}", strip).Replace(string(line[1])))
		cmd := exec.Command("go", append([]string{"tool", "bpf2go", "-output-dir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GOPACKAGE=bpf")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bpf2go: %v\n%s", err, out)
		}
		// The identifier follows the flags: probe, fentry.
		for i, a := range args {
			if strings.HasSuffix(a, ".bpf.c") && i > 0 {
				files = append(files, args[i-1]+"_x86_bpfel.o", args[i-1]+"_x86_bpfel.go")
			}
		}
	}
	if len(files) != 2*len(lines) {
		t.Fatalf("could not tell the objects of gen.go's bpf2go lines, found %v", files)
	}
	for _, f := range files {
		want, err := os.ReadFile(dir + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make bpf` and commit the result", f)
		}
	}
}
