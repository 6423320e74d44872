// SPDX-License-Identifier: Apache-2.0

// Package kernels is vigil's kernel catalogue: it crawls the Debian archive
// (verifying every index against the archive keyring), describes the kernel
// builds vigil can support as Targets, and downloads, verifies and extracts
// their image and header packages.
package kernels

import (
	"errors"
	"strings"
)

// ErrUnknownKernel is wrapped by Resolve errors for names not in the catalogue.
var ErrUnknownKernel = errors.New("unknown kernel")

// ErrVerify is wrapped by every signature, hash or size check failure.
var ErrVerify = errors.New("verification failed")

// Target is one kernel build vigil can support.
type Target struct {
	Distro         string `json:"distro" yaml:"distro"`                   // "debian"
	Suite          string `json:"suite" yaml:"suite"`                     // "bookworm", "bookworm-backports", ...
	Release        string `json:"release" yaml:"release"`                 // uname -r, e.g. "6.1.0-50-cloud-amd64"
	Version        string `json:"version" yaml:"version"`                 // the N of "#N" in uname -v
	Flavour        string `json:"flavour" yaml:"flavour"`                 // "cloud-amd64", "amd64"
	Arch           string `json:"arch" yaml:"arch"`                       // Debian arch name, "amd64"
	Package        string `json:"package" yaml:"package"`                 // linux-image-... package name
	PackageVersion string `json:"package_version" yaml:"package_version"` // Debian version, e.g. "6.1.158-1"
}

// Name is what users type: "<suite>/<release>".
func (t Target) Name() string { return t.Suite + "/" + t.Release }

// String returns Name.
func (t Target) String() string { return t.Name() }

// GoArch returns the GOARCH of the target ("amd64").
func (t Target) GoArch() string {
	switch t.Arch {
	case "i386":
		return "386"
	case "armhf", "armel":
		return "arm"
	case "ppc64el":
		return "ppc64le"
	}
	return t.Arch
}

// KernelArch returns the kernel's machine name as uname -m prints it ("x86_64").
func (t Target) KernelArch() string {
	switch t.Arch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "i386":
		return "i686"
	case "armhf", "armel":
		return "armv7l"
	case "ppc64el":
		return "ppc64le"
	}
	return t.Arch
}

// ABI returns the release without its flavour ("6.1.0-50").
func (t Target) ABI() string { return strings.TrimSuffix(t.Release, "-"+t.Flavour) }
