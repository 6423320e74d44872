// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

// This file reads the host's facts: what the running kernel is, what it
// allows, and how artifacts name it. Nothing here needs root or opens a
// device; NewPlan turns the facts into a plan.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver/kmod"
	"github.com/vigil-dev/vigil/internal/uname"
	"github.com/vigil-dev/vigil/mirror"
)

// ModuleName is the name of vigil's kernel module, as /proc/modules and
// /sys/module show it.
const ModuleName = "vigil"

// Facts is what the loader knows of the host before it tries anything.
type Facts struct {
	// HostRoot is the root the host's files were read under: "/", or the
	// host's root mounted in a container ("/host").
	HostRoot string
	// ProcDir and SysDir are where proc and sysfs were read:
	// <HostRoot>/proc and <HostRoot>/sys when the host root has them,
	// else the container's own /proc and /sys (they show the same kernel).
	ProcDir, SysDir string

	Release string        // uname -r: "6.1.0-50-cloud-amd64"
	Version string        // uname -v: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)"
	Arch    string        // uname -m: "x86_64"
	Kernel  KernelVersion // the numbers at the start of Release; zero when it has none

	Distro Distro // from the host's os-release
	Target Target // how artifacts name this kernel
	// KernelPackage is the distribution's kernel package version when
	// uname -v names it: "6.1.176-1" on Debian. Several package versions
	// share one ABI (one uname -r, one vermagic), so artifacts are not
	// named by it; it says which package's headers would match.
	KernelPackage string

	BTF     bool // /sys/kernel/btf/vmlinux exists: CO-RE programs can load
	Modules bool // /proc/modules exists: the kernel has CONFIG_MODULES
	// Lockdown is the active lockdown mode ("none", "integrity",
	// "confidentiality"), or "" when the kernel has no lockdown file
	// (no lockdown LSM, or securityfs not mounted).
	Lockdown string
	// SigEnforce is module.sig_enforce: the kernel loads only signed
	// modules. False too when the kernel has no module signing.
	SigEnforce bool
	// Headers is the first of HeaderDirs(HostRoot, Release) that exists,
	// or "" when the host has no headers for the running kernel.
	Headers string
	// Module is the vigil module already in the kernel, nil when none is.
	Module *LoadedModule
}

// LoadedModule is a vigil module found in /proc/modules.
type LoadedModule struct {
	State   string // "Live", "Loading" or "Unloading"
	Taints  string // "OE", from the parenthesised field; "" when untainted
	Version string // /sys/module/vigil/version; "" when it has none
	// API and Schema are what the module answers to its version ioctls.
	// ReadFacts opens no device, so they stay zero ("not asked"); a caller
	// holding driver/kmod's device fills them before NewPlan, which then
	// refuses a module speaking another API or schema major.
	API    uint32
	Schema string
}

// KernelVersion is the numeric version at the start of a kernel release.
type KernelVersion struct{ Major, Minor, Patch int }

func (v KernelVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is older than major.minor.
func (v KernelVersion) Less(major, minor int) bool {
	return v.Major < major || v.Major == major && v.Minor < minor
}

// ParseKernelVersion reads the leading "major.minor[.patch]" of a kernel
// release: "6.12.9+deb13-amd64" is 6.12.9, "5.10" is 5.10.0.
func ParseKernelVersion(release string) (KernelVersion, bool) {
	var n [3]int
	parts := 0
	rest := release
	for parts < 3 {
		i := 0
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			break
		}
		n[parts], _ = strconv.Atoi(rest[:i])
		parts++
		rest = rest[i:]
		if len(rest) == 0 || rest[0] != '.' {
			break
		}
		rest = rest[1:]
	}
	if parts < 2 {
		return KernelVersion{}, false
	}
	return KernelVersion{n[0], n[1], n[2]}, true
}

// Distro is the host's distribution, from os-release.
type Distro struct {
	ID        string // lower case: "debian", "ubuntu", "amzn", "flatcar", ...
	VersionID string // "12", "22.04", "2023", "3815.2.0"
	VariantID string // bottlerocket's "aws-k8s-1.29"
	BuildID   string // COS's "18244.85.49"
	Name      string // PRETTY_NAME, for messages
}

// Target is how artifact names spell a kernel:
// vigil_<ID>_<Release>_<Version>.ko, Falco's driver names with vigil's
// prefix, so a host finds the same file Falco's tooling would look for.
type Target struct {
	ID      string // "debian", "ubuntu-aws", "amazonlinux2023", ...
	Release string // uname -r, except on Flatcar (its OS version)
	Version string // the build number of uname -v ("1"), or a distro's fix-up
}

// ArtifactName is the module's file name: the one mirror/ and builder/ use.
func (t Target) ArtifactName() string { return mirror.ArtifactName(t.ID, t.Release, t.Version) }

// ReadFacts reads the facts of the running kernel and of the host whose
// root is hostRoot ("" or "/": this root; "/host" for the host's root
// mounted into a container). The kernel's identity comes from uname, which
// a container shares with its host; files come from under hostRoot.
func ReadFacts(hostRoot string) (Facts, error) {
	u, err := uname.Read()
	if err != nil {
		return Facts{}, err
	}
	return readFacts(hostRoot, unameInfo(u))
}

// unameInfo is the part of uname(2) the facts use; tests make their own.
type unameInfo struct{ Release, Version, Machine string }

// KernelRelease returns uname -r.
func KernelRelease() (string, error) {
	u, err := uname.Read()
	return u.Release, err
}

func readFacts(hostRoot string, u unameInfo) (Facts, error) {
	root := "/"
	if hostRoot != "" {
		root = filepath.Clean(hostRoot)
	}
	f := Facts{
		HostRoot: root,
		ProcDir:  mountOr(root, "proc"),
		SysDir:   mountOr(root, "sys"),
		Release:  u.Release,
		Version:  u.Version,
		Arch:     u.Machine,
	}
	f.Kernel, _ = ParseKernelVersion(u.Release)
	f.KernelPackage = kernelPackage(u.Version)

	var err error
	if f.Distro, err = readDistro(root); err != nil {
		return f, err
	}
	f.Target = NewTarget(f.Distro, u.Release, u.Version)

	if f.BTF, err = exists(filepath.Join(f.SysDir, "kernel/btf/vmlinux")); err != nil {
		return f, err
	}
	if f.Modules, err = exists(filepath.Join(f.ProcDir, "modules")); err != nil {
		return f, err
	}
	if f.Lockdown, err = readLockdown(filepath.Join(f.SysDir, "kernel/security/lockdown")); err != nil {
		return f, err
	}
	if f.SigEnforce, err = readYN(filepath.Join(f.SysDir, "module/module/parameters/sig_enforce")); err != nil {
		return f, err
	}
	if f.Modules {
		if f.Module, err = readLoaded(f.ProcDir, f.SysDir); err != nil {
			return f, err
		}
	}
	if f.Module != nil && f.Module.State == "Live" {
		// What the module speaks decides whether it can be reused. A
		// reader holding the device (EBUSY) leaves them unknown: the
		// plan then trusts the version, and opening checks the rest.
		f.Module.API, f.Module.Schema, _ = moduleVersions(filepath.Join(root, "dev"))
	}
	for _, dir := range HeaderDirs(root, u.Release) {
		ok, err := existsIn(root, dir)
		if err != nil {
			return f, err
		}
		if ok {
			f.Headers = dir
			break
		}
	}
	return f, nil
}

// moduleVersions asks the loaded module its API and schema versions
// (kmod.Versions); a variable so that tests of fake roots ask no device.
var moduleVersions = func(devDir string) (uint32, string, error) {
	if _, err := os.Stat(devDir); err != nil {
		devDir = "/dev" // a container's /dev shows the host's devices when privileged
	}
	return kmod.Versions(devDir)
}

// mountOr returns <root>/<name> when the host root has that directory,
// else /<name>: Falco's chart mounts /host/proc but not always /host/sys,
// and a container's own proc and sysfs describe the same kernel.
func mountOr(root, name string) string {
	dir := filepath.Join(root, name)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	return "/" + name
}

// HeaderDirs are where a host keeps the headers of kernel release, in the
// order a build tries them. /lib/modules/R/build is usually a symlink to an
// absolute /usr/src path, which a builder must resolve under hostRoot.
func HeaderDirs(hostRoot, release string) []string {
	return []string{
		filepath.Join(hostRoot, "lib/modules", release, "build"),
		filepath.Join(hostRoot, "usr/src/linux-headers-"+release),
	}
}

// readDistro reads os-release as systemd's os-release(5) says: /etc first,
// then /usr/lib. Minikube's os-release says Buildroot; /etc/VERSION (as
// falcoctl reads it) says minikube and its version. Without os-release, a
// few release files still name the family.
func readDistro(root string) (Distro, error) {
	var d Distro
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return d, fmt.Errorf("read the host's %s: %w", filepath.Join(root, p), err)
		}
		kv := parseOSRelease(b)
		d = Distro{
			ID:        strings.ToLower(kv["ID"]),
			VersionID: kv["VERSION_ID"],
			VariantID: kv["VARIANT_ID"],
			BuildID:   kv["BUILD_ID"],
			Name:      kv["PRETTY_NAME"],
		}
		break
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/VERSION")); err == nil {
		if m := minikubeVersion.FindString(string(b)); m != "" {
			d.ID, d.VersionID = "minikube", m
		}
	}
	if d.ID != "" {
		return d, nil
	}
	for _, c := range []struct{ file, id string }{
		{"etc/debian_version", "debian"},
		{"etc/centos-release", "centos"},
		{"etc/redhat-release", "rhel"},
	} {
		if ok, err := exists(filepath.Join(root, c.file)); err != nil {
			return d, err
		} else if ok {
			d.ID = c.id
			return d, nil
		}
	}
	return d, nil
}

var minikubeVersion = regexp.MustCompile(`\d+\.\d+\.\d+`)

// parseOSRelease reads KEY=VALUE lines with shell-style quoting, as
// os-release(5) defines them.
func parseOSRelease(b []byte) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		kv[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
	}
	return kv
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		var sb strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			sb.WriteByte(v[i])
		}
		return sb.String()
	}
	return v
}

// NewTarget names a kernel for artifacts. The default is the distro's
// os-release ID, uname -r, and the build number of uname -v ("1" of
// "#1 SMP ..."), which is what builder/ names Debian's kernels with; the
// exceptions are falcoctl's and driverkit's documented fix-ups:
//
//   - ubuntu: the ID carries the flavour from the release's suffix
//     ("5.15.0-1009-aws" is ubuntu-aws, "6.8.0-45-generic" ubuntu-generic)
//     and the version keeps all of "#26~22.04.1-Ubuntu" but "-Ubuntu".
//   - amzn: amazonlinux2, amazonlinux2022, amazonlinux2023 by VERSION_ID,
//     else amazonlinux.
//   - flatcar: the release is Flatcar's VERSION_ID ("3815.2.0"): its kernel
//     releases do not say which image built them.
//   - minikube, bottlerocket, talos: the version is "1_" and the OS
//     version ("1_1.26.0"; bottlerocket adds its variant: "1_1.17.0-aws").
//   - no os-release and no release file: "undetermined", as falcoctl says.
//
// falcoctl also renames Debian kernels after the package version in
// uname -v ("6.1.0-50-cloud-amd64" becomes "6.1.176-1-cloud-amd64"). vigil
// does not: its catalogue and builder name Debian kernels by uname -r, the
// release vermagic and finit_module check, which every package version of
// one ABI shares. The package version is kept in Facts.KernelPackage.
func NewTarget(d Distro, release, unameV string) Target {
	build := strings.TrimPrefix(firstField(unameV), "#")
	t := Target{ID: d.ID, Release: release, Version: build}
	switch d.ID {
	case "":
		t.ID = "undetermined"
	case "ubuntu":
		t.ID = "ubuntu-" + ubuntuFlavour(release)
		t.Version = strings.TrimSuffix(build, "-Ubuntu")
	case "amzn":
		switch d.VersionID {
		case "2", "2022", "2023":
			t.ID = "amazonlinux" + d.VersionID
		default:
			t.ID = "amazonlinux"
		}
	case "flatcar":
		if d.VersionID != "" {
			t.Release = d.VersionID
		}
	case "minikube", "talos":
		t.Version = "1_" + d.VersionID
	case "bottlerocket":
		variant, _, _ := strings.Cut(d.VariantID, "-")
		t.Version = "1_" + d.VersionID + "-" + variant
	}
	return t
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// ubuntuFlavour is the first word of letters after a dash in the release's
// suffix: "5.0.0-1028-aws-5.0" is aws; a release without one is generic.
func ubuntuFlavour(release string) string {
	if m := ubuntuFlavourRE.FindStringSubmatch(release); m != nil {
		return m[1]
	}
	return "generic"
}

var ubuntuFlavourRE = regexp.MustCompile(`-([a-zA-Z]+)(-.*)?$`)

// kernelPackage finds the distribution's package version in uname -v:
// Debian writes "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)".
func kernelPackage(unameV string) string {
	if m := debianPackageRE.FindStringSubmatch(unameV); m != nil {
		return m[1]
	}
	return ""
}

var debianPackageRE = regexp.MustCompile(`\bDebian (\d+\.\d+[^\s()]*)`)

// readLockdown returns the bracketed mode of "none [integrity] confidentiality".
func readLockdown(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the lockdown mode: %w", err)
	}
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return "", fmt.Errorf("%s: no [mode] in %q: is this a lockdown file?", path, strings.TrimSpace(s))
	}
	return s[i+1 : j], nil
}

// readYN reads a boolean module parameter: "Y" or "N"; absent is false.
func readYN(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	switch v := strings.TrimSpace(string(b)); v {
	case "Y", "1":
		return true, nil
	case "N", "0":
		return false, nil
	default:
		return false, fmt.Errorf("%s: %q is neither Y nor N", path, v)
	}
}

// readLoaded finds vigil's line in /proc/modules:
// "vigil 16384 0 - Live 0xffffffffc0a00000 (OE)".
func readLoaded(procDir, sysDir string) (*LoadedModule, error) {
	path := filepath.Join(procDir, "modules")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the loaded modules: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != ModuleName {
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("%s: malformed line %q", path, strings.TrimSpace(line))
		}
		m := &LoadedModule{State: f[4]}
		if last := f[len(f)-1]; len(f) > 6 && strings.HasPrefix(last, "(") && strings.HasSuffix(last, ")") {
			m.Taints = strings.Trim(last, "()")
		}
		v, err := os.ReadFile(filepath.Join(sysDir, "module", ModuleName, "version"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read the loaded module's version: %w", err)
		}
		m.Version = strings.TrimSpace(string(v))
		return m, nil
	}
	return nil, nil
}

// exists reports whether path exists; errors other than its absence (a
// permission, an I/O error) are errors, since they hide the answer.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ENOTDIR):
		return false, nil
	}
	return false, fmt.Errorf("check %s: %w", path, err)
}

// existsIn is exists for a path under root whose last element may be a
// symlink to an absolute path meant on the host: /lib/modules/R/build links
// to /usr/src/linux-headers-R, which in a container is <root>/usr/src/....
func existsIn(root, path string) (bool, error) {
	for range 8 {
		target, err := os.Readlink(path)
		if err != nil {
			break // not a link, or absent: Stat decides
		}
		if filepath.IsAbs(target) {
			path = filepath.Join(root, target)
		} else {
			path = filepath.Join(filepath.Dir(path), target)
		}
	}
	return exists(path)
}
