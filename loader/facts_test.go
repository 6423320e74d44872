// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/driver"
	"github.com/vigil-dev/vigil/kernels"
	"github.com/vigil-dev/vigil/mirror"
)

// os-release files as the distributions ship them.
const (
	osDebian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`
	osUbuntu2204 = `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
`
	osCentOS7 = `NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"

CENTOS_MANTISBT_PROJECT="CentOS-7"
CENTOS_MANTISBT_PROJECT_VERSION="7"
REDHAT_SUPPORT_PRODUCT="centos"
REDHAT_SUPPORT_PRODUCT_VERSION="7"
`
	osAmazon2023 = `NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023"
ANSI_COLOR="0;33"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"
HOME_URL="https://aws.amazon.com/linux/"
BUG_REPORT_URL="https://github.com/amazonlinux/amazon-linux-2023"
SUPPORT_END="2028-03-15"
`
	osAmazon2 = `NAME="Amazon Linux"
VERSION="2"
ID="amzn"
ID_LIKE="centos rhel fedora"
VERSION_ID="2"
PRETTY_NAME="Amazon Linux 2"
ANSI_COLOR="0;33"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2"
HOME_URL="https://amazonlinux.com/"
`
	osFedora39 = `NAME="Fedora Linux"
VERSION="39 (Cloud Edition)"
ID=fedora
VERSION_ID=39
VERSION_CODENAME=""
PLATFORM_ID="platform:f39"
PRETTY_NAME="Fedora Linux 39 (Cloud Edition)"
ANSI_COLOR="0;38;2;60;110;180"
LOGO=fedora-logo-icon
CPE_NAME="cpe:/o:fedoraproject:fedora:39"
HOME_URL="https://fedoraproject.org/"
VARIANT="Cloud Edition"
VARIANT_ID=cloud
`
	osFlatcar = `NAME="Flatcar Container Linux by Kinvolk"
ID=flatcar
ID_LIKE=coreos
VERSION=3815.2.0
VERSION_ID=3815.2.0
BUILD_ID=2024-02-12-1921
SYSEXT_LEVEL=1.0
PRETTY_NAME="Flatcar Container Linux by Kinvolk 3815.2.0 (Oklo)"
ANSI_COLOR="38;5;75"
HOME_URL="https://flatcar.org/"
BUG_REPORT_URL="https://issues.flatcar.org"
FLATCAR_BOARD="amd64-usr"
CPE_NAME="cpe:2.3:o:flatcar-linux:flatcar_linux:3815.2.0:*:*:*:*:*:*:*"
`
	osBottlerocket = `NAME=Bottlerocket
ID=bottlerocket
VERSION="1.19.2 (aws-k8s-1.29)"
PRETTY_NAME="Bottlerocket OS 1.19.2 (aws-k8s-1.29)"
VARIANT_ID=aws-k8s-1.29
VERSION_ID=1.19.2
BUILD_ID=29cc92cc
HOME_URL="https://github.com/bottlerocket-os/bottlerocket"
`
	osCOS = `NAME="Container-Optimized OS"
ID=cos
PRETTY_NAME="Container-Optimized OS from Google"
HOME_URL="https://cloud.google.com/container-optimized-os/docs"
GOOGLE_CRASH_ID=Lakitu
VERSION=109
VERSION_ID=109
BUILD_ID=17800.66.78
`
	osTalos = `NAME="Talos"
ID=talos
VERSION_ID=v1.7.0
PRETTY_NAME="Talos (v1.7.0)"
HOME_URL="https://www.talos.dev/"
BUG_REPORT_URL="https://github.com/siderolabs/talos/issues"
`
	osBuildroot = `NAME=Buildroot
VERSION=2021.02.12-1-g6f8f2f4-dirty
ID=buildroot
VERSION_ID=2021.02.12
PRETTY_NAME="Buildroot 2021.02.12"
`
)

// fakeRoot writes files under a new directory: "path": "content", or
// "path": "->target" for a symlink, or "path/": "" for a directory.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(c, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// with returns base plus more (more wins).
func with(base map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// A modules kernel's proc and sys, nothing loaded, no lockdown.
var modulesHost = map[string]string{
	"proc/modules":                             "ext4 1085440 1 - Live 0x0000000000000000\nvirtio_net 73728 0 - Live 0x0000000000000000\n",
	"sys/kernel/btf/vmlinux":                   "BTF",
	"sys/kernel/security/lockdown":             "[none] integrity confidentiality\n",
	"sys/module/module/parameters/sig_enforce": "N\n",
}

func TestReadFacts(t *testing.T) {
	const debRel = "6.1.0-50-cloud-amd64"
	for _, c := range []struct {
		name  string
		files map[string]string
		u     unameInfo
		want  Facts // compared field by field below; HostRoot, ProcDir and SysDir are filled in
	}{{
		name: "Debian 12 cloud kernel, vigil loaded, headers linked from /lib/modules",
		files: with(modulesHost, map[string]string{
			"etc/os-release":                         osDebian12,
			"proc/modules":                           "vigil 40960 0 - Live 0xffffffffc0a00000 (OE)\next4 1085440 1 - Live 0xffffffffc0400000\n",
			"sys/module/vigil/version":               "0.1.0\n",
			"lib/modules/" + debRel + "/build":       "->/usr/src/linux-headers-" + debRel,
			"usr/src/linux-headers-" + debRel + "/":  "",
			"usr/src/linux-headers-6.1.0-50-common/": "",
		}),
		u: unameInfo{debRel, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 1, 0}, KernelPackage: "6.1.176-1",
			Distro: Distro{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"},
			Target: Target{"debian", debRel, "1"},
			BTF:    true, Modules: true, Lockdown: "none",
			Headers: "lib/modules/" + debRel + "/build",
			Module:  &LoadedModule{State: "Live", Taints: "OE", Version: "0.1.0"},
		},
	}, {
		name: "Debian trixie, a module of another version unloading, headers only in /usr/src",
		files: with(modulesHost, map[string]string{
			"etc/os-release":                            strings.ReplaceAll(osDebian12, "12", "13"),
			"proc/modules":                              "vigil 40960 0 - Unloading 0x0000000000000000 (OE)\n",
			"sys/module/vigil/version":                  "0.0.9\n",
			"usr/src/linux-headers-6.12.9+deb13-amd64/": "",
		}),
		u: unameInfo{"6.12.9+deb13-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.12.9-1 (2025-01-12)", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 12, 9}, KernelPackage: "6.12.9-1",
			Distro: Distro{ID: "debian", VersionID: "13", Name: "Debian GNU/Linux 13 (bookworm)"},
			Target: Target{"debian", "6.12.9+deb13-amd64", "1"},
			BTF:    true, Modules: true, Lockdown: "none",
			Headers: "usr/src/linux-headers-6.12.9+deb13-amd64",
			Module:  &LoadedModule{State: "Unloading", Taints: "OE", Version: "0.0.9"},
		},
	}, {
		name:  "Ubuntu 22.04 on AWS, HWE kernel",
		files: with(modulesHost, map[string]string{"etc/os-release": osUbuntu2204}),
		u:     unameInfo{"6.5.0-1017-aws", "#17~22.04.2-Ubuntu SMP Mon Mar 25 20:47:22 UTC 2024", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 5, 0},
			Distro: Distro{ID: "ubuntu", VersionID: "22.04", Name: "Ubuntu 22.04.4 LTS"},
			Target: Target{"ubuntu-aws", "6.5.0-1017-aws", "17~22.04.2"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name: "Ubuntu 22.04 generic kernel, lockdown integrity (Secure Boot)",
		files: with(modulesHost, map[string]string{
			"etc/os-release":               osUbuntu2204,
			"sys/kernel/security/lockdown": "none [integrity] confidentiality\n",
		}),
		u: unameInfo{"5.15.0-105-generic", "#115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{5, 15, 0},
			Distro: Distro{ID: "ubuntu", VersionID: "22.04", Name: "Ubuntu 22.04.4 LTS"},
			Target: Target{"ubuntu-generic", "5.15.0-105-generic", "115"},
			BTF:    true, Modules: true, Lockdown: "integrity",
		},
	}, {
		name: "CentOS 7: old kernel, no BTF, no lockdown file, signatures enforced",
		files: map[string]string{
			"etc/os-release": osCentOS7,
			"proc/modules":   "xfs 997727 2 - Live 0xffffffffc0312000\n",
			"sys/module/module/parameters/sig_enforce": "Y\n",
		},
		u: unameInfo{"3.10.0-1160.el7.x86_64", "#1 SMP Mon Oct 19 16:18:59 UTC 2020", "x86_64"},
		want: Facts{
			Kernel:  KernelVersion{3, 10, 0},
			Distro:  Distro{ID: "centos", VersionID: "7", Name: "CentOS Linux 7 (Core)"},
			Target:  Target{"centos", "3.10.0-1160.el7.x86_64", "1"},
			Modules: true, SigEnforce: true,
		},
	}, {
		name:  "Amazon Linux 2023",
		files: with(modulesHost, map[string]string{"etc/os-release": osAmazon2023}),
		u:     unameInfo{"6.1.79-99.164.amzn2023.x86_64", "#1 SMP PREEMPT_DYNAMIC Tue Mar 12 19:41:46 UTC 2024", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 1, 79},
			Distro: Distro{ID: "amzn", VersionID: "2023", Name: "Amazon Linux 2023"},
			Target: Target{"amazonlinux2023", "6.1.79-99.164.amzn2023.x86_64", "1"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name:  "Amazon Linux 2 on arm64",
		files: with(modulesHost, map[string]string{"etc/os-release": osAmazon2}),
		u:     unameInfo{"5.10.213-201.855.amzn2.aarch64", "#1 SMP Tue Mar 26 18:28:58 UTC 2024", "aarch64"},
		want: Facts{
			Kernel: KernelVersion{5, 10, 213},
			Distro: Distro{ID: "amzn", VersionID: "2", Name: "Amazon Linux 2"},
			Target: Target{"amazonlinux2", "5.10.213-201.855.amzn2.aarch64", "1"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name:  "Fedora 39",
		files: with(modulesHost, map[string]string{"etc/os-release": osFedora39}),
		u:     unameInfo{"6.5.6-300.fc39.x86_64", "#1 SMP PREEMPT_DYNAMIC Fri Oct  6 19:57:21 UTC 2023", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 5, 6},
			Distro: Distro{ID: "fedora", VersionID: "39", VariantID: "cloud", Name: "Fedora Linux 39 (Cloud Edition)"},
			Target: Target{"fedora", "6.5.6-300.fc39.x86_64", "1"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name:  "Flatcar: the release is the OS version",
		files: with(modulesHost, map[string]string{"usr/lib/os-release": osFlatcar}),
		u:     unameInfo{"6.1.77-flatcar", "#1 SMP PREEMPT_DYNAMIC Mon Feb 12 19:37:41 -00 2024", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 1, 77},
			Distro: Distro{ID: "flatcar", VersionID: "3815.2.0", BuildID: "2024-02-12-1921", Name: "Flatcar Container Linux by Kinvolk 3815.2.0 (Oklo)"},
			Target: Target{"flatcar", "3815.2.0", "1"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name: "Bottlerocket: lockdown integrity, version carries OS version and variant",
		files: with(modulesHost, map[string]string{
			"etc/os-release":               osBottlerocket,
			"sys/kernel/security/lockdown": "none [integrity] confidentiality\n",
		}),
		u: unameInfo{"6.1.72", "#1 SMP PREEMPT_DYNAMIC Thu Feb  1 00:00:00 UTC 2024", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 1, 72},
			Distro: Distro{ID: "bottlerocket", VersionID: "1.19.2", VariantID: "aws-k8s-1.29", BuildID: "29cc92cc", Name: "Bottlerocket OS 1.19.2 (aws-k8s-1.29)"},
			Target: Target{"bottlerocket", "6.1.72", "1_1.19.2-aws"},
			BTF:    true, Modules: true, Lockdown: "integrity",
		},
	}, {
		name:  "Container-Optimized OS",
		files: with(modulesHost, map[string]string{"etc/os-release": osCOS}),
		u:     unameInfo{"6.1.58+", "#1 SMP PREEMPT_DYNAMIC Sat Dec  2 12:00:00 UTC 2023", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 1, 58},
			Distro: Distro{ID: "cos", VersionID: "109", BuildID: "17800.66.78", Name: "Container-Optimized OS from Google"},
			Target: Target{"cos", "6.1.58+", "1"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name:  "Talos",
		files: with(modulesHost, map[string]string{"etc/os-release": osTalos}),
		u:     unameInfo{"6.6.28-talos", "#1 SMP Tue Apr 23 12:00:00 UTC 2024", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 6, 28},
			Distro: Distro{ID: "talos", VersionID: "v1.7.0", Name: "Talos (v1.7.0)"},
			Target: Target{"talos", "6.6.28-talos", "1_v1.7.0"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name:  "minikube: Buildroot's os-release, /etc/VERSION says minikube",
		files: with(modulesHost, map[string]string{"etc/os-release": osBuildroot, "etc/VERSION": "v1.32.0\n"}),
		u:     unameInfo{"5.10.57", "#1 SMP Tue Nov 7 06:51:19 UTC 2023", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{5, 10, 57},
			Distro: Distro{ID: "minikube", VersionID: "1.32.0", Name: "Buildroot 2021.02.12"},
			Target: Target{"minikube", "5.10.57", "1_1.32.0"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name:  "no os-release, /etc/debian_version",
		files: with(modulesHost, map[string]string{"etc/debian_version": "12.5\n"}),
		u:     unameInfo{"6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 1, 0}, KernelPackage: "6.1.76-1",
			Distro: Distro{ID: "debian"},
			Target: Target{"debian", "6.1.0-18-amd64", "1"},
			BTF:    true, Modules: true, Lockdown: "none",
		},
	}, {
		name:  "nothing names the distribution",
		files: map[string]string{"proc/": "", "sys/": ""},
		u:     unameInfo{"6.18.44-fc-v1300", "#1 SMP PREEMPT_DYNAMIC @0", "x86_64"},
		want: Facts{
			Kernel: KernelVersion{6, 18, 44},
			Target: Target{"undetermined", "6.18.44-fc-v1300", "1"},
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			root := fakeRoot(t, c.files)
			got, err := readFacts(root, c.u)
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			want.HostRoot, want.ProcDir, want.SysDir = root, filepath.Join(root, "proc"), filepath.Join(root, "sys")
			want.Release, want.Version, want.Arch = c.u.Release, c.u.Version, c.u.Machine
			if want.Headers != "" {
				want.Headers = filepath.Join(root, want.Headers)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("facts:\n got %+v\nwant %+v", got, want)
				if got.Module != nil && want.Module != nil {
					t.Errorf("module: got %+v, want %+v", *got.Module, *want.Module)
				}
			}
		})
	}
}

// The Debian cloud kernel's artifact has the name builder/ gives the
// catalogue's target for it, under the same <driver-version>/<arch>.
func TestDebianArtifactIsBuilders(t *testing.T) {
	kt := kernels.Target{Distro: "debian", Suite: "bookworm", Release: "6.1.0-50-cloud-amd64", Version: "1",
		Flavour: "cloud-amd64", Arch: "amd64", PackageVersion: "6.1.176-1"}
	built := mirror.ArtifactPath(driver.DriverVersion, kt.KernelArch(), kt.Distro, kt.Release, kt.Version)

	root := fakeRoot(t, with(modulesHost, map[string]string{"etc/os-release": osDebian12}))
	f, err := readFacts(root, unameInfo{kt.Release, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)", "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(f, Options{Repos: []string{"https://mirror.example/vigil"}})
	if err != nil {
		t.Fatal(err)
	}
	repo := p.Steps[2]
	if repo.Kind != StepRepo || repo.Path != built || repo.Artifact != "vigil_debian_6.1.0-50-cloud-amd64_1.ko" {
		t.Errorf("repository step %+v, want path %s as builder/ writes it", repo, built)
	}
	if f.KernelPackage != kt.PackageVersion {
		t.Errorf("KernelPackage = %q, want the catalogue's %q", f.KernelPackage, kt.PackageVersion)
	}
}

func TestNewTarget(t *testing.T) {
	for _, c := range []struct {
		d          Distro
		release, v string
		want       Target
	}{
		{Distro{ID: "ubuntu"}, "5.0.0-1028-aws-5.0", "#30~18.04.1-Ubuntu SMP Fri Jan 17 06:14:09 UTC 2020", Target{"ubuntu-aws", "5.0.0-1028-aws-5.0", "30~18.04.1"}},
		{Distro{ID: "ubuntu"}, "4.15.0-72-generic", "#81-Ubuntu SMP Tue Nov 26 12:20:02 UTC 2019", Target{"ubuntu-generic", "4.15.0-72-generic", "81"}},
		{Distro{ID: "ubuntu"}, "5.15.0-1034-azure", "#41-Ubuntu SMP Fri Feb 10 19:59:45 UTC 2023", Target{"ubuntu-azure", "5.15.0-1034-azure", "41"}},
		{Distro{ID: "ubuntu"}, "5.15.0-1048-gcp", "#56-Ubuntu SMP Thu Oct 26 20:50:23 UTC 2023", Target{"ubuntu-gcp", "5.15.0-1048-gcp", "56"}},
		{Distro{ID: "ubuntu"}, "6.8.0-31-lowlatency", "#31.1-Ubuntu SMP PREEMPT_DYNAMIC Sun Apr 21 01:12:53 UTC 2024", Target{"ubuntu-lowlatency", "6.8.0-31-lowlatency", "31.1"}},
		{Distro{ID: "ubuntu"}, "5.4.0-42", "#46-Ubuntu SMP Fri Jul 10 00:24:02 UTC 2020", Target{"ubuntu-generic", "5.4.0-42", "46"}},
		{Distro{ID: "amzn", VersionID: "2022"}, "5.15.43-20.123.amzn2022.x86_64", "#1 SMP Thu Jun 2 2022", Target{"amazonlinux2022", "5.15.43-20.123.amzn2022.x86_64", "1"}},
		{Distro{ID: "amzn", VersionID: "2018.03"}, "4.14.26-46.32.amzn1.x86_64", "#1 SMP Tue Mar 13 2018", Target{"amazonlinux", "4.14.26-46.32.amzn1.x86_64", "1"}},
		{Distro{ID: "bottlerocket", VersionID: "1.17.0", VariantID: "aws"}, "5.15.148", "#1 SMP", Target{"bottlerocket", "5.15.148", "1_1.17.0-aws"}},
		{Distro{ID: "rhel", VersionID: "9.1"}, "5.14.0-162.12.1.el9_1.x86_64", "#1 SMP PREEMPT_DYNAMIC Tue Dec 20 06:06:30 EST 2022", Target{"rhel", "5.14.0-162.12.1.el9_1.x86_64", "1"}},
		{Distro{ID: "debian"}, "5.10.0-0.deb10.22-rt-amd64", "#1 SMP PREEMPT_RT Debian 5.10.178-3~deb10u1 (2023-06-09)", Target{"debian", "5.10.0-0.deb10.22-rt-amd64", "1"}},
	} {
		if got := NewTarget(c.d, c.release, c.v); got != c.want {
			t.Errorf("NewTarget(%+v, %q, %q) = %+v, want %+v", c.d, c.release, c.v, got, c.want)
		}
	}
}

func TestParseKernelVersion(t *testing.T) {
	for _, c := range []struct {
		in   string
		want KernelVersion
		ok   bool
	}{
		{"6.1.0-50-cloud-amd64", KernelVersion{6, 1, 0}, true},
		{"6.12.9+deb13-amd64", KernelVersion{6, 12, 9}, true},
		{"7.2.1+deb14-cloud-amd64", KernelVersion{7, 2, 1}, true},
		{"5.4.0-1009-aws", KernelVersion{5, 4, 0}, true},
		{"3.10.0-1160.el7.x86_64", KernelVersion{3, 10, 0}, true},
		{"6.1.58+", KernelVersion{6, 1, 58}, true},
		{"5.10", KernelVersion{5, 10, 0}, true},
		{"6.18.44-fc-v1300", KernelVersion{6, 18, 44}, true},
		{"6", KernelVersion{}, false},
		{"custom-kernel", KernelVersion{}, false},
		{"", KernelVersion{}, false},
	} {
		got, ok := ParseKernelVersion(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseKernelVersion(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// Files that exist but say something unexpected are errors naming the
// file, not silently "no": a wrong "no lockdown" would plan a module load
// the kernel then refuses.
func TestReadFactsMalformed(t *testing.T) {
	u := unameInfo{"6.1.0-50-cloud-amd64", "#1 SMP", "x86_64"}
	for _, c := range []struct{ file, content, want string }{
		{"sys/kernel/security/lockdown", "integrity\n", "no [mode]"},
		{"sys/module/module/parameters/sig_enforce", "maybe\n", "neither Y nor N"},
		{"proc/modules", "vigil 40960\n", "malformed line"},
	} {
		root := fakeRoot(t, with(modulesHost, map[string]string{"etc/os-release": osDebian12, c.file: c.content}))
		_, err := readFacts(root, u)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Join(root, c.file)) {
			t.Errorf("%s = %q: err = %v, want one naming the file and %q", c.file, c.content, err, c.want)
		}
	}
}

// On this host ReadFacts reports the running kernel and what its files say.
// This host's kernel has no module support (CONFIG_MODULES off, so no
// /proc/modules): Modules must be false here, and the plan the probe.
func TestReadFactsThisHost(t *testing.T) {
	for _, root := range []string{"", "/"} {
		f, err := ReadFacts(root)
		if err != nil {
			t.Fatal(err)
		}
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			t.Fatal(err)
		}
		if f.HostRoot != "/" || f.ProcDir != "/proc" || f.SysDir != "/sys" {
			t.Errorf("ReadFacts(%q): roots %q %q %q, want / /proc /sys", root, f.HostRoot, f.ProcDir, f.SysDir)
		}
		if want := unix.ByteSliceToString(u.Release[:]); f.Release != want {
			t.Errorf("Release = %q, uname says %q", f.Release, want)
		}
		if want := unix.ByteSliceToString(u.Version[:]); f.Version != want {
			t.Errorf("Version = %q, uname says %q", f.Version, want)
		}
		if want := unix.ByteSliceToString(u.Machine[:]); f.Arch != want {
			t.Errorf("Arch = %q, uname says %q", f.Arch, want)
		}
		_, statErr := os.Stat("/proc/modules")
		if f.Modules != (statErr == nil) {
			t.Errorf("Modules = %v, but stat /proc/modules: %v", f.Modules, statErr)
		}
		_, statErr = os.Stat("/sys/kernel/btf/vmlinux")
		if f.BTF != (statErr == nil) {
			t.Errorf("BTF = %v, but stat /sys/kernel/btf/vmlinux: %v", f.BTF, statErr)
		}
		if b, err := os.ReadFile("/etc/os-release"); err == nil {
			if id := strings.ToLower(parseOSRelease(b)["ID"]); f.Distro.ID != id {
				t.Errorf("Distro.ID = %q, /etc/os-release says %q", f.Distro.ID, id)
			}
		}
		if f.Modules {
			continue
		}
		p, err := NewPlan(f, Options{Repos: []string{"https://mirror.example/vigil"}, Build: true})
		if !f.BTF || f.Kernel.Less(5, 8) {
			if err == nil {
				t.Errorf("no modules, no probe, yet a plan:\n%s", p)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		first, _ := p.First()
		if first.Kind != StepProbe {
			t.Errorf("first usable step %v, want the probe:\n%s", first, p)
		}
		for _, s := range p.Steps[:len(p.Steps)-1] {
			if !strings.Contains(s.Skip, "no module support") {
				t.Errorf("step %q is not skipped for the missing module support", s)
			}
		}
	}
}

// A Live vigil module is asked its API and schema (through its device);
// a module speaking another schema is then not reused, though its version
// string matches.
func TestReadFactsAsksTheLoadedModule(t *testing.T) {
	saved := moduleVersions
	t.Cleanup(func() { moduleVersions = saved })
	var asked string
	moduleVersions = func(devDir string) (uint32, string, error) {
		asked = devDir
		return 1, "9.0.0", nil
	}
	root := fakeRoot(t, with(modulesHost, map[string]string{
		"etc/os-release":           "ID=debian\nVERSION_ID=12\n",
		"proc/modules":             "vigil 40960 0 - Live 0xffffffffc0a00000 (OE)\n",
		"sys/module/vigil/version": driver.DriverVersion + "\n",
		"dev/":                     "",
	}))
	f, err := readFacts(root, unameInfo{Release: "6.1.0-50-cloud-amd64", Version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-05)", Machine: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	if asked != filepath.Join(root, "dev") || f.Module == nil || f.Module.API != 1 || f.Module.Schema != "9.0.0" {
		t.Fatalf("asked %q; module %+v", asked, f.Module)
	}
	p, err := NewPlan(f, Options{HostRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Steps[0]; s.Kind != StepLoaded || !strings.Contains(s.Skip, "schema 9.0.0") || !p.Steps[1].Unload {
		t.Errorf("plan:\n%s", p)
	}
}
