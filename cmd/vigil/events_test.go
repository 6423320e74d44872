// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/internal/testenv"
)

// A capture is readable by users without root unless asked otherwise, and
// --file-mode is applied exactly, whatever the umask.
func TestCaptureFileMode(t *testing.T) {
	testenv.RequireProbe(t)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want os.FileMode
	}{{nil, 0o644}, {[]string{"--file-mode", "0600"}, 0o600}, {[]string{"--file-mode", "640"}, 0o640}} {
		file := filepath.Join(dir, strings.Join(append([]string{"x"}, c.args...), "")+".vcap")
		r := run(t, append([]string{"capture", "-w", file, "--count", "1"}, c.args...)...)
		if r.code != 0 {
			t.Fatalf("capture %v: exit %d\n%s", c.args, r.code, r.stderr)
		}
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != c.want {
			t.Errorf("capture %v: mode %v (%v), want %04o", c.args, fi.Mode(), err, c.want)
		}
	}
}

// Flags are checked before the probe loads: no root needed to be told.
func TestCaptureFlagErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.vcap")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--file-mode", "0999"}, []string{`--file-mode "0999"`, "octal", "0600"}},
		{[]string{"--file-mode", "01777"}, []string{`--file-mode "01777"`, "0000 to 0777"}},
	} {
		r := run(t, append([]string{"capture", "-w", file}, c.args...)...)
		if r.code == 0 {
			t.Errorf("capture %v succeeded", c.args)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("capture %v: stderr lacks %q:\n%s", c.args, w, r.stderr)
			}
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("capture %v wrote %s: %v", c.args, file, err)
		}
	}
}

// --buffer-size is checked against what both drivers can map, with the
// range in the message; 4GiB once silently became 0.
func TestBufferSizeRange(t *testing.T) {
	for _, c := range []struct{ size, want string }{
		{"4GiB", "4GiB (4294967296 bytes)"},
		{"8G", "8GiB (8589934592 bytes)"},
		{"3MiB", "3MiB (3145728 bytes)"},
		{"100", "100 bytes"},
	} {
		for _, cmd := range [][]string{{"events"}, {"capture", "-w", filepath.Join(t.TempDir(), "x.vcap")}} {
			r := run(t, append(cmd, "--buffer-size", c.size, "--count", "1")...)
			if r.code == 0 {
				t.Errorf("%s --buffer-size %s succeeded", cmd[0], c.size)
			}
			for _, w := range []string{"--buffer-size " + c.size, c.want, "power of two", "to 2GiB"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("%s --buffer-size %s: stderr lacks %q:\n%s", cmd[0], c.size, w, r.stderr)
				}
			}
		}
	}
}
