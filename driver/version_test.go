// Copyright 2026 The vigil Authors
// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"os"
	"regexp"
	"testing"
)

// The module's own version strings are DriverVersion: a loader that
// compares /sys/module/vigil/version with DriverVersion would otherwise
// reject the module it just built, or a DKMS tree would be named for
// another version than the mirrors.
func TestDriverVersionMatchesKmod(t *testing.T) {
	for _, c := range []struct{ file, re string }{
		{"../kmod/vigil_main.c", `(?m)^MODULE_VERSION\("([^"]*)"\);`},
		{"../kmod/dkms.conf", `(?m)^PACKAGE_VERSION="([^"]*)"`},
		{"../kmod/dkms.conf", `/usr/src/vigil-(\S+),`},
		{"../kmod/dkms.conf", `dkms add vigil/(\S+) `},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(c.re).FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no match for %s: update this test with the file's new form", c.file, c.re)
			continue
		}
		if got := string(m[1]); got != DriverVersion {
			t.Errorf("%s says version %q, driver.DriverVersion is %q: change the file (or the constant) so they agree", c.file, got, DriverVersion)
		}
	}
}
