// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Every program the build and the tests run, and every system header the
// probe's C includes, comes from a package scripts/deps installs or from
// one every Debian system has (Essential, or Priority required). A machine
// where earlier work left packages behind passes the tests whether or not
// scripts/deps lists them; this test is what fails there instead of on
// the first fresh machine.
func TestDepsInstallsWhatTestsUse(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		Unavailable(t, "needs dpkg (a Debian host) to map programs to packages")
	}
	root := repoRoot(t)
	listed := depsPackages(t, filepath.Join(root, "scripts", "deps"))
	for _, use := range usedPrograms(t, root) {
		path, err := exec.LookPath(use.name)
		if err != nil {
			t.Errorf("%s runs %q, which is not installed after scripts/deps test: add its package there", use.where, use.name)
			continue
		}
		checkOwner(t, listed, use.where, use.name, path)
	}
	for _, use := range usedHeaders(t, root) {
		path := filepath.Join("/usr/include", use.name)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s includes <%s>, which is not installed after scripts/deps test: add its -dev package there", use.where, use.name)
			continue
		}
		checkOwner(t, listed, use.where, use.name, path)
	}
}

// notPackaged are programs the machine has outside Debian's packages: Go
// (at /usr/local/go on every machine of this kind).
var notPackaged = []string{"go"}

type use struct{ name, where string }

func checkOwner(t *testing.T, listed []string, where, name, path string) {
	t.Helper()
	if slices.Contains(notPackaged, name) {
		return
	}
	pkg := owner(path)
	switch {
	case pkg == "":
		t.Errorf("%s uses %s (%s), which no Debian package owns: install it through scripts/deps", where, name, path)
	case slices.Contains(listed, pkg), baseSystem(pkg):
	default:
		t.Errorf("%s uses %s from package %s, which scripts/deps does not install: add %s to its list", where, name, pkg, pkg)
	}
}

// owner is the package that installed path, trying the merged-/usr twin
// (dpkg may record /bin/sh where PATH finds /usr/bin/sh).
func owner(path string) string {
	cands := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		cands = append(cands, real)
	}
	for _, p := range slices.Clone(cands) {
		if rest, ok := strings.CutPrefix(p, "/usr"); ok && (strings.HasPrefix(rest, "/bin/") || strings.HasPrefix(rest, "/sbin/") || strings.HasPrefix(rest, "/lib")) {
			cands = append(cands, rest)
		} else if strings.HasPrefix(p, "/bin/") || strings.HasPrefix(p, "/sbin/") {
			cands = append(cands, "/usr"+p)
		}
	}
	for _, p := range cands {
		out, err := exec.Command("dpkg-query", "-S", p).Output()
		if err != nil {
			continue
		}
		// "pkg:arch: /path" or "pkg1, pkg2: /path"; diversions start with "diversion".
		for _, line := range strings.Split(string(out), "\n") {
			pkgs, _, ok := strings.Cut(line, ": ")
			if !ok || strings.HasPrefix(line, "diversion") {
				continue
			}
			first, _, _ := strings.Cut(pkgs, ",")
			name, _, _ := strings.Cut(strings.TrimSpace(first), ":")
			return name
		}
	}
	return ""
}

// baseSystem reports whether every Debian system has pkg.
func baseSystem(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Essential} ${Priority}", pkg).Output()
	if err != nil {
		return false
	}
	f := strings.Fields(string(out))
	return slices.Contains(f, "yes") || slices.Contains(f, "required")
}

var needArray = regexp.MustCompile(`(?s)need\+?=\(([^)]*)\)`)

// depsPackages reads the packages scripts/deps installs for "test" (its
// base list and the test case), not those only scripts/debug-kernel needs.
func depsPackages(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if i := strings.Index(s, "\ndebug-kernel)"); i >= 0 {
		if j := strings.Index(s[i:], ";;"); j >= 0 {
			s = s[:i] + s[i+j:]
		}
	}
	var pkgs []string
	for _, m := range needArray.FindAllStringSubmatch(s, -1) {
		for _, line := range strings.Split(m[1], "\n") {
			line, _, _ = strings.Cut(line, "#")
			pkgs = append(pkgs, strings.Fields(line)...)
		}
	}
	if len(pkgs) < 5 {
		t.Fatalf("%s: found only %v in its need=(...) lists; has its shape changed?", path, pkgs)
	}
	return pkgs
}

// A program named by a string literal where Go starts or looks one up.
var goExec = regexp.MustCompile(`exec\.(?:Command\(|LookPath\(|CommandContext\(\w+, )"([^"]+)"`)

// Programs named outside Go: the Makefile's variables and the scripts
// make test runs.
var makeTool = regexp.MustCompile(`(?m)^BPF_(?:CLANG|STRIP)\s*\?=\s*(\S+)`)

func usedPrograms(t *testing.T, root string) []use {
	var uses []use
	walk(t, root, ".go", func(rel string, b []byte) {
		for _, m := range goExec.FindAllSubmatchIndex(b, -1) {
			name := string(b[m[2]:m[3]])
			if strings.Contains(name, "/") { // an absolute path: the shell, found by its name below
				name = filepath.Base(name)
			}
			uses = append(uses, use{name, rel + ":" + lineOf(b, m[0])})
		}
	})
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range makeTool.FindAllSubmatch(mk, -1) {
		uses = append(uses, use{string(m[1]), "Makefile"})
	}
	// scripts/dockerd asks the engine with curl; make test runs it.
	uses = append(uses, use{"curl", "scripts/dockerd"})
	if len(uses) < 10 {
		t.Fatalf("found only %d programs the tree runs; has the pattern stopped matching?", len(uses))
	}
	return uses
}

var cInclude = regexp.MustCompile(`(?m)^#include <([^>]+)>`)

// usedHeaders are the system headers the probe's C includes (the kernel
// module's come from each kernel's headers tree, not the host).
func usedHeaders(t *testing.T, root string) []use {
	var uses []use
	for _, ext := range []string{".h", ".c"} {
		walk(t, filepath.Join(root, "bpf"), ext, func(rel string, b []byte) {
			for _, m := range cInclude.FindAllSubmatchIndex(b, -1) {
				uses = append(uses, use{string(b[m[2]:m[3]]), "bpf/" + rel + ":" + lineOf(b, m[0])})
			}
		})
	}
	if len(uses) == 0 {
		t.Fatal("no #include <...> found in bpf/: has the probe's C moved?")
	}
	return uses
}

func walk(t *testing.T, root, ext string, fn func(rel string, b []byte)) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "out" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ext) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fn(rel, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func lineOf(b []byte, off int) string {
	return strconv.Itoa(bytes.Count(b[:off], []byte("\n")) + 1)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not at %s: %v", dir, err)
	}
	return dir
}
