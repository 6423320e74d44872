// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ci

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"

	"github.com/u-root/u-root/pkg/cpio"
)

// File is a host file to place in the initramfs.
type File struct {
	Host  string // path on the host
	Guest string // absolute path in the guest
}

// WriteInitramfs writes a newc cpio archive holding agent as /init, the
// directories the agent mounts on, /dev/console (the kernel opens it for
// init's stdio before devtmpfs is mounted) and extra files. The archive is
// reproducible: same inputs, same bytes.
func WriteInitramfs(path, agent string, extra ...File) (err error) {
	if err := checkStatic(agent); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := cpio.NewDedupWriter(cpio.Newc.Writer(f))
	recs := []cpio.Record{cpio.Directory("dev", 0o755), cpio.CharDev("dev/console", 0o600, 5, 1)}
	for _, d := range []string{"proc", "sys", "tmp", "etc", "lib", "lib/modules"} {
		recs = append(recs, cpio.Directory(d, 0o755))
	}
	rec := cpio.NewRecorder()
	files := append([]File{{Host: agent, Guest: "/init"}}, extra...)
	for _, x := range files {
		r, err := rec.GetRecord(x.Host)
		if err != nil {
			return fmt.Errorf("write initramfs: %w", err)
		}
		r.Name = filepath.Clean(x.Guest)[1:]
		recs = append(recs, r)
	}
	for i := range recs {
		recs[i] = cpio.MakeReproducible(recs[i])
	}
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write initramfs %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// checkStatic refuses a dynamically linked agent: the initramfs has no
// loader or libc, and the kernel would fail to start init with a bare
// ENOENT.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("agent %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("agent %s is dynamically linked: the VM has no libc; build it with CGO_ENABLED=0 (make build)", path)
		}
	}
	return nil
}
