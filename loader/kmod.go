// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package loader puts a driver into the running kernel. This file loads and
// unloads kernel modules, refusing before the kernel sees it a module that
// was built for another kernel.
package loader

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/modinfo"
)

// ErrWrongKernel is returned for a module built for another kernel.
var ErrWrongKernel = errors.New("module built for another kernel")

// CheckModule reads a module's vermagic and compares its release with the
// running kernel's: the kernel would refuse a mismatch with a bare EINVAL
// (or, without MODVERSIONS, might not), so the loader says why first.
func CheckModule(ko string) (name string, err error) {
	rel, err := KernelRelease()
	if err != nil {
		return "", err
	}
	return CheckModuleFor(ko, rel)
}

// CheckModuleFor is CheckModule against kernel release rel (the host's,
// as the facts read it).
func CheckModuleFor(ko, rel string) (name string, err error) {
	mi, err := modinfo.Read(ko)
	if err != nil {
		return "", err
	}
	vm := mi["vermagic"]
	built, _, _ := strings.Cut(vm, " ")
	if built != rel {
		return "", fmt.Errorf("%w: %s was built for %s (vermagic %q), this kernel is %s: use the module built for %s (vigil driver build --target <suite>/%s)",
			ErrWrongKernel, ko, built, vm, rel, rel, rel)
	}
	if mi["name"] == "" {
		return "", fmt.Errorf("module %s has no name in its .modinfo", ko)
	}
	return mi["name"], nil
}

// LoadModule checks a module against the running kernel and loads it with
// finit_module, passing params ("key=value key=value").
func LoadModule(ko, params string) (name string, err error) {
	if name, err = CheckModule(ko); err != nil {
		return "", err
	}
	return name, finitModule(ko, name, params)
}

// finitModule hands ko, already checked and named name, to finit_module.
func finitModule(ko, name, params string) error {
	f, err := os.Open(ko)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), params, 0); err != nil {
		switch {
		case errors.Is(err, unix.EEXIST):
			return fmt.Errorf("load %s: module %s is already loaded: %w", ko, name, err)
		case errors.Is(err, unix.ENOSYS):
			return fmt.Errorf("load %s: this kernel has no module support (CONFIG_MODULES off): use the eBPF probe: %w", ko, err)
		case errors.Is(err, unix.EPERM):
			return fmt.Errorf("load %s: not permitted (needs CAP_SYS_MODULE; lockdown or module signing may forbid unsigned modules): %w", ko, err)
		}
		return fmt.Errorf("load %s: finit_module: %w", ko, err)
	}
	return nil
}

// UnloadModule removes a module; it fails while the module is in use.
func UnloadModule(name string) error {
	if err := unix.DeleteModule(name, unix.O_NONBLOCK); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("unload %s: in use (close its readers first): %w", name, err)
		}
		return fmt.Errorf("unload %s: %w", name, err)
	}
	return nil
}
