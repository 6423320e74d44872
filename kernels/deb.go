// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/blakesmith/ar"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ExtractDeb extracts the data archive of the .deb at debPath into dir,
// which must exist. Entries may not escape dir: ".." paths and writes
// through symlinks pointing outside are refused. Symlink targets are kept
// as they are (absolute ones are meant for a chroot view of dir).
func ExtractDeb(debPath, dir string) error {
	f, err := os.Open(debPath)
	if err != nil {
		return err
	}
	defer f.Close()
	rd := ar.NewReader(bufio.NewReaderSize(f, 1<<20))
	for {
		h, err := rd.Next()
		if err == io.EOF {
			return fmt.Errorf("%s: no data.tar member; is it a .deb?", debPath)
		}
		if err != nil {
			return fmt.Errorf("%s: read ar archive: %w", debPath, err)
		}
		name := strings.TrimSuffix(strings.TrimSpace(h.Name), "/")
		if !strings.HasPrefix(name, "data.tar") {
			continue
		}
		var r io.Reader = rd
		switch name {
		case "data.tar":
		case "data.tar.xz":
			r, err = xz.NewReader(rd)
		case "data.tar.zst":
			var zr *zstd.Decoder
			zr, err = zstd.NewReader(rd)
			if err == nil {
				defer zr.Close()
				r = zr
			}
		case "data.tar.gz":
			r, err = gzip.NewReader(rd)
		default:
			return fmt.Errorf("%s: unsupported member %s", debPath, name)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", debPath, name, err)
		}
		if err := extractTar(r, dir); err != nil {
			return fmt.Errorf("%s: %s: %w", debPath, name, err)
		}
		return nil
	}
}

// cleanEntry turns a tar entry name into a path relative to the root, or
// reports that it escapes.
func cleanEntry(name string) (string, error) {
	if strings.Contains(name, "\x00") {
		return "", fmt.Errorf("entry %q: NUL in name", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q escapes the extraction root", name)
		}
	}
	p := path.Clean("/" + name)
	if p == "/" {
		return ".", nil
	}
	return p[1:], nil
}

// extractTar writes the entries of the tar stream r below dir. All file
// system operations go through os.Root, so nothing can be written outside
// dir even through symlinks extracted earlier.
func extractTar(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	type dirMode struct {
		name string
		mode fs.FileMode
	}
	var dirs []dirMode
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name, err := cleanEntry(h.Name)
		if err != nil {
			return err
		}
		mode := fs.FileMode(h.Mode).Perm() | modeBits(h.Mode)
		if name != "." {
			if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if name != "." {
				if err := root.MkdirAll(name, 0o755); err != nil {
					return fmt.Errorf("entry %q: %w", h.Name, err)
				}
			}
			dirs = append(dirs, dirMode{name, mode})
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA appears in old archives
			if err := removeNonDir(root, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			_, err = io.Copy(f, tr)
			if err == nil {
				err = f.Chmod(mode)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			_ = root.Chtimes(name, h.ModTime, h.ModTime)
		case tar.TypeSymlink:
			if err := removeNonDir(root, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeLink:
			target, err := cleanEntry(h.Linkname)
			if err != nil {
				return fmt.Errorf("hard link %q: %w", h.Name, err)
			}
			if err := removeNonDir(root, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeXGlobalHeader:
		default:
			// Devices, FIFOs: not found in kernel packages, not needed.
		}
	}
	// Directory modes last, so read-only directories do not block writes.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chmod(dirs[i].name, dirs[i].mode); err != nil {
			return fmt.Errorf("chmod %q: %w", dirs[i].name, err)
		}
	}
	return nil
}

func modeBits(m int64) fs.FileMode {
	var b fs.FileMode
	if m&0o4000 != 0 {
		b |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		b |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		b |= fs.ModeSticky
	}
	return b
}

// removeNonDir removes name when it exists and is not a directory, so a
// later package may replace a file or symlink of an earlier one.
func removeNonDir(root *os.Root, name string) error {
	st, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", name)
	}
	return root.Remove(name)
}
