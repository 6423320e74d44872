// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package loader

// ForKernel returns the facts of another kernel on the same host: the
// distribution and host root stay, the kernel's identity (uname -r and -v)
// and what follows from it change. What only a running kernel can tell
// (module support, lockdown, BTF, a loaded module) is unknown and left
// out: plans for such facts are made with Options.Prepare.
func (f Facts) ForKernel(release, version string) Facts {
	o := Facts{
		HostRoot: f.HostRoot, ProcDir: f.ProcDir, SysDir: f.SysDir,
		Release: release, Version: version, Arch: f.Arch, Distro: f.Distro,
	}
	o.Kernel, _ = ParseKernelVersion(release)
	o.KernelPackage = kernelPackage(version)
	o.Target = NewTarget(f.Distro, release, version)
	for _, dir := range HeaderDirs(f.HostRoot, release) {
		if ok, err := existsIn(f.HostRoot, dir); err == nil && ok {
			o.Headers = dir
			break
		}
	}
	return o
}
