// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// fakeModule makes an ELF file with a .modinfo section, as a module has.
func fakeModule(t *testing.T, modinfo string) string {
	t.Helper()
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		testenv.Unavailable(t, "objcopy (binutils) not installed")
	}
	dir := t.TempDir()
	info := filepath.Join(dir, "modinfo")
	if err := os.WriteFile(info, []byte(modinfo), 0o644); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	ko := filepath.Join(dir, "m.ko")
	if out, err := exec.Command(objcopy, "--add-section", ".modinfo="+info, self, ko).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	return ko
}

// A module built for another kernel is refused before finit_module: the
// error is ErrWrongKernel and names both releases and the fix.
func TestWrongKernelRefusedFirst(t *testing.T) {
	rel, err := KernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	ko := fakeModule(t, "name=vigil\x00vermagic=1.2.3-other SMP preempt mod_unload modversions \x00")
	_, err = LoadModule(ko, "")
	if !errors.Is(err, ErrWrongKernel) {
		t.Fatalf("err = %v, want ErrWrongKernel", err)
	}
	for _, w := range []string{"1.2.3-other", rel, "vigil driver build"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	// The right release passes the check.
	ko = fakeModule(t, "name=vigil\x00vermagic="+rel+" SMP mod_unload \x00")
	if name, err := CheckModule(ko); err != nil || name != "vigil" {
		t.Errorf("CheckModule of a module for this kernel: %q, %v", name, err)
	}
	// Not a module at all.
	if _, err := CheckModule("/proc/self/exe"); err == nil || !strings.Contains(err.Error(), ".modinfo") {
		t.Errorf("a plain binary: %v", err)
	}
}
