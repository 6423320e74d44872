// SPDX-License-Identifier: GPL-2.0-only

// Package kmod carries the kernel module's source as data: the C, headers,
// Kbuild, Makefile and dkms.conf beside this file, embedded so that a vigil
// binary can build the module on a node that has no vigil source tree
// (loader/build writes them to a directory and runs kbuild there). No part
// of the module is Go; this file only makes its source travel. The C files
// say `//go:build ignore` on their second line: without it the go command
// takes them for cgo sources of this package and refuses to build it.
package kmod

import "embed"

// Source is the module's source directory: build it with
// `make -C <headers> M=<dir> modules` once written out, or register it
// with DKMS as vigil/<driver.DriverVersion>.
//
//go:embed Kbuild Makefile dkms.conf *.c *.h
var Source embed.FS
