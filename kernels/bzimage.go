// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// KernelVersionString reads the version string of an x86 bzImage, as
// "uname -r" and "uname -v" print it, e.g.
// "6.1.0-50-cloud-amd64 (builder@example.invalid) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)".
// The setup header holds at 0x20E a 16-bit pointer to it, relative to 0x200.
func KernelVersionString(vmlinuz string) (string, error) {
	f, err := os.Open(vmlinuz)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return "", fmt.Errorf("%s: too short for a bzImage: %w", vmlinuz, err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", fmt.Errorf("%s: not an x86 bzImage (no HdrS magic at 0x202)", vmlinuz)
	}
	ptr := int64(binary.LittleEndian.Uint16(hdr[0x20E:0x210]))
	if ptr == 0 {
		return "", fmt.Errorf("%s: bzImage has no kernel version pointer", vmlinuz)
	}
	buf := make([]byte, 512)
	n, err := f.ReadAt(buf, ptr+0x200)
	if n == 0 {
		return "", fmt.Errorf("%s: read version string at %#x: %v", vmlinuz, ptr+0x200, err)
	}
	buf = buf[:n]
	end := bytes.IndexByte(buf, 0)
	if end < 0 {
		return "", fmt.Errorf("%s: version string at %#x is not terminated", vmlinuz, ptr+0x200)
	}
	s := string(buf[:end])
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return "", fmt.Errorf("%s: no printable version string at %#x", vmlinuz, ptr+0x200)
	}
	return s, nil
}

var buildNumberRE = regexp.MustCompile(`#(\d+)`)

// parseKernelVersionString splits a bzImage version string into the release
// (uname -r) and the build number N of "#N" (uname -v).
func parseKernelVersionString(s string) (release, build string, err error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return "", "", fmt.Errorf("empty kernel version string")
	}
	m := buildNumberRE.FindStringSubmatch(s)
	if m == nil {
		return f[0], "", fmt.Errorf("kernel version string %q has no #N build number", s)
	}
	return f[0], m[1], nil
}
