// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

// The loader driver fetches vigil's module over the network, so its guest
// needs a network card: QEMU's virtio-net. On Debian's cloud kernels
// virtio_net is a module, and on 5.10 and 6.1 virtio and virtio_pci are
// too. This file takes them, with what they depend on, from the kernel's
// own package, for the initramfs.

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/vigil-dev/vigil/internal/modinfo"
)

// guestNetModules is where the initramfs holds the network's modules,
// named NN-name.ko so that their order is the load order.
const guestNetModules = "/lib/modules/net"

// netRoots are the modules a guest needs for QEMU's virtio-net-pci card.
var netRoots = []string{"virtio_pci", "virtio_net"}

// netModules finds netRoots and every module they depend on in a kernel's
// module tree (<root>/lib/modules/<release> of its package), skips those
// the kernel has built in, writes each into dir uncompressed (newer
// kernels ship .ko.xz or .ko.zst, and finit_module takes them compressed
// only where the kernel was built to), and returns them in load order,
// dependencies first. The package has no modules.dep (depmod writes it at
// install), so the order comes from each module's own "depends" in
// .modinfo, which names modules only, never what is built in.
//
// A root missing from the tree is built in: modules.builtin says so where
// the package has it; sid's modules package does not (its linux-base
// package holds it), and there a missing root is taken for built in, which
// the guest finds out if it is not (no interface but lo).
func netModules(modDir, dir string) ([]File, error) {
	builtin, err := builtinModules(filepath.Join(modDir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	files := map[string]string{} // module name: its file in the tree
	err = filepath.WalkDir(filepath.Join(modDir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name, ok := moduleName(d.Name()); ok && !d.IsDir() {
			files[name] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("network modules: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var order []File
	seen := map[string]bool{}
	var visit func(name, from string) error
	visit = func(name, from string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		src, ok := files[name]
		switch {
		case ok:
		case builtin[name] || builtin == nil && from == "":
			return nil
		case from == "":
			return fmt.Errorf("network modules: %s is neither in %s nor built in (modules.builtin)", name, modDir)
		default:
			return fmt.Errorf("network modules: %s, which %s depends on, is not in %s", name, from, modDir)
		}
		ko := filepath.Join(dir, name+".ko")
		if err := decompress(src, ko); err != nil {
			return fmt.Errorf("network modules: %w", err)
		}
		mi, err := modinfo.Read(ko)
		if err != nil {
			return fmt.Errorf("network modules: %w", err)
		}
		for _, dep := range strings.Split(mi["depends"], ",") {
			if dep = normModule(dep); dep != "" {
				if err := visit(dep, name); err != nil {
					return err
				}
			}
		}
		order = append(order, File{Host: ko, Guest: fmt.Sprintf("%s/%02d-%s.ko", guestNetModules, len(order), name)})
		return nil
	}
	for _, m := range netRoots {
		if err := visit(m, ""); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// builtinModules reads modules.builtin: "kernel/drivers/virtio/virtio.ko"
// lines, one per module compiled into the kernel; nil when there is none.
func builtinModules(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network modules: %w", err)
	}
	defer f.Close()
	m := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, ok := moduleName(filepath.Base(sc.Text())); ok {
			m[name] = true
		}
	}
	return m, sc.Err()
}

// moduleName is the module a file holds: "virtio_net.ko.xz" is virtio_net.
func moduleName(file string) (string, bool) {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if base, ok := strings.CutSuffix(file, ext); ok {
			return normModule(base), true
		}
	}
	return "", false
}

// normModule spells a module name as the kernel does: '-' and '_' are the
// same in module names, and file names use either.
func normModule(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "-", "_") }

// decompress writes the module src to dst uncompressed.
func decompress(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	var r io.Reader = in
	switch {
	case strings.HasSuffix(src, ".xz"):
		if r, err = xz.NewReader(in); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	case strings.HasSuffix(src, ".zst"):
		zr, err := zstd.NewReader(in)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(src, ".gz"):
		gr, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		r = gr
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("decompress %s: %w", src, err)
	}
	return out.Close()
}
