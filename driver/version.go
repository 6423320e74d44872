// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

// DriverVersion is the version of vigil's kernel module: the <driver-version>
// directory of mirrors and of the loader's cache, the version the builder
// stamps into a mirror's index, and the version a loaded module reports in
// /sys/module/vigil/version. The C side cannot import a Go constant, so
// kmod/vigil_main.c (MODULE_VERSION) and kmod/dkms.conf (PACKAGE_VERSION)
// repeat it and TestDriverVersionMatchesKmod holds them to it.
const DriverVersion = "0.1.0"
